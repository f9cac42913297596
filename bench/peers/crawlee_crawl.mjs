// Crawlee's PlaywrightCrawler doing eventcrawl's job, for bench/compare: one request per city
// (listing page 1), CONCURRENCY requests at once (minConcurrency = maxConcurrency), Crawlee's
// own resource blocking (playwrightUtils.blockRequests with its default patterns) before each
// navigation, then the same paging as the playwright-core script. Everything else keeps
// Crawlee's defaults (browser fingerprints, page reuse in one context, retries), except that
// one browser may hold CONCURRENCY pages so that every tool drives a single Chromium.
import { Configuration, log, PlaywrightCrawler, playwrightUtils } from 'crawlee';
import { chromium } from 'playwright';

import {
    launch_options,
    listing_url,
    page_through,
    parse_options,
    step_timeout_ms,
    write_result,
} from './common.mjs';

const options = parse_options(process.argv.slice(2));
log.setLevel(log.LEVELS.WARNING);

const ids = new Set();
const failures = [];
let pages = 0;

const crawler = new PlaywrightCrawler(
    {
        launchContext: {
            launcher: chromium,
            launchOptions: launch_options(options.chromium),
        },
        minConcurrency: options.concurrency,
        maxConcurrency: options.concurrency,
        navigationTimeoutSecs: step_timeout_ms / 1000,
        requestHandlerTimeoutSecs: 4 * step_timeout_ms / 1000,
        browserPoolOptions: {
            maxOpenPagesPerBrowser: Math.max(20, options.concurrency),
        },
        preNavigationHooks: [
            async ({ page }) => {
                await playwrightUtils.blockRequests(page);
            },
        ],
        async requestHandler({ page, request }) {
            const city_pages = await page_through(page, request.userData.city, ids);
            pages += city_pages;
        },
        failedRequestHandler({ request }, error) {
            failures.push({ city: request.userData.city, error: String(error.message || error) });
        },
    },
    new Configuration({ persistStorage: false, purgeOnStart: true }),
);

const requests = options.cities.map((city) => ({
    url: listing_url(options.base_url, city, 1),
    userData: { city },
}));
await crawler.run(requests);

write_result(options.output, {
    tool: 'crawlee',
    concurrency: options.concurrency,
    pages,
    ids,
    failures,
});
process.exitCode = failures.length === 0 ? 0 : 2;
