// Loads one replay listing page COUNT times in one of three ways, to price what a crawler pays
// per city for a fresh browser context and page. Run it under GNU time, whose user and system
// times include node and every descendant that its parent reaped (all of Chromium's):
//
//   /usr/bin/time -f '%U %S' node bench/peers/target_cost.mjs BASE_URL MODE COUNT
//
// MODE: reuse-page (one page navigates COUNT times), page-per-load (one context, a new page per
// load, closed after it) or context-per-load (a new context and page per load, both closed).
// COUNT 0 gives the cost of starting and stopping the browser, to subtract.
import { chromium } from 'playwright-core';

import { launch_options, listing_url, step_timeout_ms } from './common.mjs';

const modes = ['reuse-page', 'page-per-load', 'context-per-load'];
const [base_url, mode, count_text] = process.argv.slice(2);
const count = Number.parseInt(count_text, 10);
if (!base_url || !modes.includes(mode) || !(count >= 0)) {
    const given = process.argv.slice(2).join(' ');
    const usage = `usage: node target_cost.mjs BASE_URL ${modes.join('|')} COUNT`;
    throw new Error(`${usage}; got '${given}'`);
}

// Loads alternate between the first two cities, which every synthetic corpus has.
const cities = ['ny--new-york', 'ca--san-francisco'];
const chromium_path = process.env.EVENTCRAWL_CHROMIUM || '/usr/lib/chromium/chromium-headless-shell';
const browser = await chromium.launch(launch_options(chromium_path));
try {
    const shared_context = mode === 'context-per-load' ? null : await browser.newContext();
    const shared_page = mode === 'reuse-page' ? await shared_context.newPage() : null;
    for (let i = 0; i < count; ++i) {
        const context = shared_context ?? (await browser.newContext());
        const page = shared_page ?? (await context.newPage());
        const url = listing_url(base_url.replace(/\/+$/, ''), cities[i % 2], 1);
        await page.goto(url, { waitUntil: 'domcontentloaded', timeout: step_timeout_ms });
        if (shared_page === null) {
            await page.close();
        }
        if (shared_context === null) {
            await context.close();
        }
    }
} finally {
    await browser.close();
}
