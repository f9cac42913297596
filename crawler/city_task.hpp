#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crawler/browser_pool.hpp"
#include "crawler/page_sink.hpp"
#include "crawler/rate_limiter.hpp"
#include "crawler/retry_policy.hpp"
#include "pipeline/event_record.hpp"

namespace eventcrawl::crawler {

// One city to crawl: its discovery slug ("ny--new-york") and the site origin
// ("https://www.eventbrite.com", or the replay site's "http://127.0.0.1:PORT").
struct city_spec {
    std::string slug;
    std::string origin;
};

// Blocking mode for images, fonts, stylesheets and media. Both blocking modes also give
// each document an empty icon link, so the browser does not request /favicon.ico.
// On the replay corpus both modes blocked every static request, and the per-page times were
// within a few percent (crawler_paging_bench), so the default is the mode with no round-trips.
enum class resource_blocking {
    none,
    blocked_urls,  // Network.setBlockedURLs with file-extension patterns: no round-trips
    fetch,         // Fetch.enable by resource type; each match costs one Fetch.failRequest call
};

// Method of requesting the later pages of a listing while in_page_paging is on. Both capture
// the search API response with its URL, status and content type. Fetch paging cut tree CPU per
// page by about a quarter in bench/compare (60 cities x 4 pages, 150 ms latency, 2 shared cores).
enum class paging_method {
    click,  // the listing's own next button: the page sends the request and renders the results
    fetch,  // the same request sent by Runtime.evaluate from the open listing, so nothing renders
};

struct city_task_options {
    int max_pages = 0;  // 0 = no limit
    // Page to start at; a later page is loaded directly (`?page=N`), for resumed runs.
    // NOTE: it applies to the whole listing only; a split city crawls all its windows again.
    int first_page = 1;
    std::chrono::milliseconds page_timeout{30000};        // whole budget of one page
    std::chrono::milliseconds navigation_timeout{20000};  // one document load
    std::chrono::milliseconds call_timeout{10000};        // one CDP call
    // Click the page's next button and capture the search XHR; false reloads ?page=N instead.
    // In-page paging took about half the wall time per page of a reload on the replay corpus.
    bool in_page_paging = true;
    paging_method paging = paging_method::click;
    resource_blocking blocking = resource_blocking::blocked_urls;
    int browser_retries = 1;  // new browser leases after the browser died mid-city
    // Retries of a page that failed in a way is_retryable() accepts. page_timeout bounds each
    // attempt on its own.
    retry_policy retry;
    // Time from the city's start within which a failed page may be retried: a retry whose wait
    // would end later is not made. It does not cut off pages that need no retry.
    std::chrono::milliseconds city_budget{std::chrono::minutes(30)};
    // Date windows for listings whose paging is capped (object_count > page_count * page_size):
    // the listing is crawled again as one date range, halved while a window is still capped.
    // The range starts at split_from, or else at the earlier of run_date and the earliest local
    // start date on the capped page. It ends at the later of run_date + split_horizon_days - 1
    // and the latest start date on that page. 0 turns splitting off.
    int split_horizon_days = 365;
    // Run date that the split range is computed from; empty means today in UTC.
    std::optional<std::chrono::sys_days> run_date;
    // First day of the split range, in place of the computed one.
    std::optional<std::chrono::sys_days> split_from;
    int max_windows = 512;  // date windows per city at most, split ones included
    // New page targets in the same browser context after a tab crashed, per browser lease.
    int tab_retries = 2;
    // When false, a city that finished parks its browser context and page target in the pool.
    // The next city on that browser takes them over after clearing the cookies of every site
    // and the storage of the last origin. When true, every city opens a new context and target
    // and closes them when it ends. Reuse lowered tree CPU per page from about 0.13 s to 0.085 s
    // in bench/compare (60 cities x 4 pages, 150 ms latency, 2 shared cores).
    bool fresh_context_per_city = false;
    // Shared by the city tasks of a crawl; gates every navigation and next-page click. Empty
    // means no per-host limit and no pause after HTTP 429.
    std::shared_ptr<rate_limiter> limiter;
};

// One page that was not captured, and why.
struct page_failure {
    int page = 0;
    // "connect", "navigate", "capture", "bot_wall", "timeout", "browser", "tab_crashed",
    // "empty_page" (no results, though the page's continuation states that more follow),
    // "interrupted" (a stop request ended a wait), or "capped" (a date window that cannot be
    // split further still contains more events than its pages reach)
    std::string phase;
    int http_status = 0;
    std::string message;
    int attempts = 1;           // requests of this page, retries included
    std::string network_error;  // Chromium's net::ERR_* text when no response arrived
    std::string retry_after;    // Retry-After header of the failed response, as received
    std::string query;          // raw_page::query of the failed page; empty for the whole listing
};

// One query of a city's listing: the whole listing or a date window of it.
struct listing_window {
    std::string query;  // raw_page::query, such as "start_date=2026-12-01&end_date=2026-12-31"
    std::int64_t object_count = -1;  // as the window's first page stated it; -1 when absent
    int pages_captured = 0;
    bool capped = false;  // object_count > page_count * page_size
    bool split = false;   // replaced by its two halves after its first page
};

struct city_report {
    std::string slug;
    // "ok", "failed" (stopped on a failure), "blocked" (page 1 bot wall), "partial" (every page
    // crawled, but a capped window left events unreachable), "interrupted" (a stop request came
    // before the city started)
    std::string status;
    int pages_captured = 0;
    int retries = 0;                    // page requests repeated after a retryable failure
    std::vector<page_failure> retried;  // the failure behind each retry, in order
    std::vector<page_failure> failures;
    int static_requests_loaded = 0;   // images, fonts, stylesheets, media that loaded
    int static_requests_blocked = 0;  // the same types that failed or were blocked
    std::chrono::system_clock::time_point started;
    std::chrono::system_clock::time_point finished;
    std::chrono::milliseconds elapsed{0};
    bool split = false;                   // the whole listing was capped and split by date
    std::vector<listing_window> windows;  // every query crawled, in crawl order
    int tabs_replaced = 0;                // page targets reopened after a tab crash
    int browser_leases = 0;               // browsers leased, the first one included
};

// Crawls every listing page of one city in its own browser context and delivers each body to
// `sink`: page 1 as listing_html, later pages as search_xhr (in-page paging) or listing_html
// (reload). A listing whose paging is capped is crawled again by date windows (see
// split_horizon_days); each window's pages carry its query and are numbered from 1. A page that
// fails in a retryable way is requested again as options.retry allows,
// and only counts as a failure when no retry succeeded. After a tab crash the city continues in
// a new page target of the same browser context, and after a lost browser on a new lease, both
// at the first page not yet delivered. A stop request (terminal cancellation of the calling
// coroutine) prevents both, and a city that starts after it returns "interrupted" untouched.
// Page failures go into the report instead of being thrown. Exceptions from the sink propagate
// after the browser context is closed.
boost::asio::awaitable<city_report> run_city_task(browser_pool& pool,
                                                  city_spec city,
                                                  city_task_options options,
                                                  page_sink& sink);

// True when the listing has more events (object_count) than its paging reaches (page_count
// pages of page_size), so that it has to be crawled by date windows.
bool is_capped(const pipeline::page_facts& facts);

// Returns why page `page` of a listing, with these pagination facts, is its last page ("empty
// results", "page_count reached", "no continuation"), or "" when pages follow it. A crawl stops
// there, and a resumed run needs no page after it.
std::string listing_end_reason(int page, const pipeline::page_facts& facts);

}  // namespace eventcrawl::crawler
