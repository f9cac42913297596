// A hand-written playwright-core crawler doing eventcrawl's job, for bench/compare: one browser,
// CONCURRENCY workers, each taking the next city, opening a fresh context and page for it and
// paging through it with crawl_city. No resource blocking, as such scripts are usually written.
import { chromium } from 'playwright-core';

import { crawl_city, launch_options, parse_options, write_result } from './common.mjs';

const options = parse_options(process.argv.slice(2));
const browser = await chromium.launch(launch_options(options.chromium));
const ids = new Set();
const failures = [];
let pages = 0;
let next_city = 0;

async function worker() {
    while (next_city < options.cities.length) {
        const slug = options.cities[next_city];
        next_city += 1;
        const context = await browser.newContext();
        try {
            const page = await context.newPage();
            const city_pages = await crawl_city(page, options.base_url, slug, ids);
            pages += city_pages;
        } catch (error) {
            failures.push({ city: slug, error: String(error.message || error) });
        } finally {
            await context.close();
        }
    }
}

try {
    const workers = [];
    for (let i = 0; i < options.concurrency; ++i) {
        workers.push(worker());
    }
    await Promise.all(workers);
} finally {
    await browser.close();
}

write_result(options.output, {
    tool: 'playwright-core',
    concurrency: options.concurrency,
    pages,
    ids,
    failures,
});
process.exitCode = failures.length === 0 ? 0 : 2;
