// Shared parts of the peer crawlers that bench/compare runs beside eventcrawl: command-line
// options, Chromium launch options, the paging loop over one city's listing, and the result file.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// Every wait on the browser or the site is bounded by this deadline.
export const step_timeout_ms = 30000;

const usage =
    'usage: node SCRIPT --base-url URL --cities FILE.json --concurrency N --chromium PATH ' +
    '--output FILE.json';

// Parses --name value pairs and checks that every option is present and valid.
export function parse_options(argv) {
    const options = {};
    for (let i = 0; i < argv.length; i += 2) {
        const name = argv[i];
        const value = argv[i + 1];
        if (!name.startsWith('--') || value === undefined) {
            throw new Error(`invalid argument '${name}'; ${usage}`);
        }
        options[name.slice(2)] = value;
    }
    for (const name of ['base-url', 'cities', 'concurrency', 'chromium', 'output']) {
        if (options[name] === undefined) {
            throw new Error(`missing option --${name}; ${usage}`);
        }
    }
    const concurrency = Number.parseInt(options.concurrency, 10);
    if (!(concurrency >= 1)) {
        throw new Error(`--concurrency must be a positive integer, got '${options.concurrency}'`);
    }
    const cities = JSON.parse(readFileSync(options.cities, 'utf8'));
    if (!Array.isArray(cities) || cities.length === 0) {
        throw new Error(`${options.cities} must contain a non-empty JSON array of city slugs`);
    }
    return {
        base_url: options['base-url'].replace(/\/+$/, ''),
        cities,
        concurrency,
        chromium: options.chromium,
        output: options.output,
    };
}

export function listing_url(base_url, slug, page) {
    return `${base_url}/d/${slug}/all-events/?page=${page}`;
}

// Reads the --disable-features list that the installed playwright-core passes by default.
// Chromium honours only the last --disable-features switch, and Playwright appends the caller's
// switches after its own, so the caller's list must repeat Playwright's to keep it in force.
function playwright_disabled_features() {
    const require = createRequire(import.meta.url);
    const package_dir = dirname(require.resolve('playwright-core/package.json'));
    const bundle_path = join(package_dir, 'lib', 'coreBundle.js');
    const bundle = readFileSync(bundle_path, 'utf8');
    const match = bundle.match(/disabledFeatures = \[([\s\S]*?)\]\.filter/);
    if (match === null) {
        throw new Error(
            `cannot find Playwright's disabledFeatures list in ${bundle_path}: the ` +
                'playwright-core in package.json changed its layout, so update ' +
                'playwright_disabled_features in bench/peers/common.mjs',
        );
    }
    const code = match[1].replace(/\/\/.*$/gm, '');
    return [...code.matchAll(/"([A-Za-z0-9]+)"/g)].map((found) => found[1]);
}

// Launch options for Debian's Chromium: headless, no sandbox (the benchmark runs as root) and
// the same two disabled WebUI features as eventcrawl's own launcher.
export function launch_options(chromium_path) {
    const features = new Set([
        ...playwright_disabled_features(),
        'WebUIOmniboxPopup',
        'WebUIOmniboxAimPopup',
    ]);
    return {
        executablePath: chromium_path,
        headless: true,
        timeout: step_timeout_ms,
        args: ['--no-sandbox', `--disable-features=${[...features].join(',')}`],
    };
}

function add_results(ids, events) {
    const results = (events && events.results) || [];
    for (const event of results) {
        ids.add(String(event.id));
    }
    return results.length;
}

function is_search_response(response) {
    return (
        response.url().includes('/api/v3/destination/search/') &&
        response.request().method() === 'POST'
    );
}

// Crawls one city in an open page, the way a hand-written Playwright scraper does it: load page
// 1 and read window.__SERVER_DATA__, then page through it. Returns the pages loaded.
export async function crawl_city(page, base_url, slug, ids) {
    await page.goto(listing_url(base_url, slug, 1), { timeout: step_timeout_ms });
    return page_through(page, slug, ids);
}

// Reads window.__SERVER_DATA__ of the loaded page 1, then clicks the page's own next button and
// keeps the JSON of each search request it sends, until the button is disabled. Adds every
// event id to `ids` and returns the pages read.
export async function page_through(page, slug, ids) {
    const server_data = await page.evaluate(() => window.__SERVER_DATA__ || null);
    if (server_data === null || !server_data.search_data) {
        throw new Error(`${slug} page 1 has no window.__SERVER_DATA__.search_data`);
    }
    add_results(ids, server_data.search_data.events);

    let pages = 1;
    const next = page.locator('[data-testid="page-next"]');
    while (!(await next.isDisabled({ timeout: step_timeout_ms }))) {
        const response_wait = page.waitForResponse(is_search_response, {
            timeout: step_timeout_ms,
        });
        await next.click({ timeout: step_timeout_ms });
        const response = await response_wait;
        if (!response.ok()) {
            throw new Error(`${slug} page ${pages + 1}: search returned HTTP ${response.status()}`);
        }
        const body = await response.json();
        pages += 1;
        // The page renders the results and updates the next button after the response.
        await page.waitForSelector(`body[data-page="${pages}"]`, { timeout: step_timeout_ms });
        add_results(ids, body.events);
    }
    return pages;
}

export function write_result(path, result) {
    const ids = [...result.ids].sort();
    const record = {
        tool: result.tool,
        concurrency: result.concurrency,
        pages: result.pages,
        unique_events: ids.length,
        failures: result.failures,
        ids,
    };
    writeFileSync(path, JSON.stringify(record));
}
