#include "crawler/city_task.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "crawler/detail/logger.hpp"
#include "crawler/detail/page_tracker.hpp"
#include "crawler/rate_limiter.hpp"
#include "pipeline/transform.hpp"

namespace eventcrawl::crawler {

namespace asio = boost::asio;
namespace json = boost::json;
using steady_clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view search_path = "/api/v3/destination/search/";

// Clicks the listing's own next button, the way a reader pages. Resolves to "clicked",
// "disabled" (the listing has no next page) or "missing" (no button, so the crawl pages by
// reloading instead). It first waits (up to 5 s) until the document is parsed, so the page's
// own script has attached its click handler, and until an earlier search request has been
// rendered (the listing marks that time with data-loading="true" on <body>).
constexpr const char* click_next_script = R"js((async () => {
    const deadline = Date.now() + 5000;
    const busy = () => document.readyState === 'loading' ||
        (document.body && document.body.getAttribute('data-loading') === 'true');
    while (busy() && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const button = document.querySelector('[data-testid="page-next"]');
    if (!button) {
        return 'missing';
    }
    if (button.disabled || button.getAttribute('aria-disabled') === 'true') {
        return 'disabled';
    }
    button.click();
    return 'clicked';
})())js";

// Sends the listing's search request for page `page` from the open document, as the listing's
// own paging script does (same body, the csrftoken cookie in X-CSRFToken), without rendering the
// results. Called as `(function)(page)`. Resolves to "sent", or "missing" when the document has
// no window.__SERVER_DATA__.search_data.event_search to build the request from. It first waits
// (up to 5 s) until the document is parsed. The page reads the response body, as the listing's
// own script does, but does not parse or render it.
// NOTE: the body has the fields that the replay site's listing script and recorded live requests
// send. A live listing whose script adds fields (filters, aggs) would get a different search.
constexpr const char* fetch_next_function = R"js(async (page) => {
    const deadline = Date.now() + 5000;
    while (document.readyState === 'loading' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const data = window.__SERVER_DATA__;
    const search = data && data.search_data && data.search_data.event_search;
    if (!search || typeof search !== 'object') {
        return 'missing';
    }
    const cookie = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
    const body = {
        browse_surface: 'search',
        event_search: Object.assign({}, search, {page: page}),
        'expand.destination_event': ['primary_venue', 'image', 'ticket_availability', 'saves',
            'event_sales_status', 'primary_organizer', 'public_collections'],
    };
    const stableId = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
        : String(Date.now()) + String(Math.random()).slice(2);
    fetch('/api/v3/destination/search/?stable_id=' + stableId, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
            'Content-Type': 'application/json',
            'X-Requested-With': 'XMLHttpRequest',
            'X-CSRFToken': cookie ? decodeURIComponent(cookie[1]) : '',
        },
        body: JSON.stringify(body),
    }).then((response) => response.arrayBuffer()).catch(() => null);
    return 'sent';
})js";

// Gives every document an empty icon link. Without one the browser itself fetches /favicon.ico
// after a document loads, and that fetch bypasses the page session's blocking.
constexpr const char* empty_icon_script = R"js(document.addEventListener('DOMContentLoaded', () => {
    if (!document.querySelector('link[rel~="icon"]')) {
        const icon = document.createElement('link');
        icon.rel = 'icon';
        icon.href = 'data:,';
        document.head.appendChild(icon);
    }
});)js";

// Storage that a reused page target's previous origin may have written. Cookies of every site
// are cleared separately with Network.clearBrowserCookies.
constexpr const char* cleared_storage_types =
    "cookies,local_storage,indexeddb,websql,service_workers,cache_storage,file_systems";

// Clears what Storage.clearDataForOrigin leaves: the tab's sessionStorage and window.name, both
// kept across same-site navigations in one tab.
constexpr const char* clear_page_state_script = R"js((() => {
    try {
        sessionStorage.clear();
    } catch (error) {
    }
    window.name = '';
    return true;
})())js";

// Extensions of images, fonts, stylesheets and media for Network.setBlockedURLs.
const std::vector<std::string> blocked_url_patterns = {
    "*.png",  "*.jpg",  "*.jpeg",  "*.gif", "*.webp", "*.avif", "*.svg", "*.ico",
    "*.bmp",  "*.woff", "*.woff2", "*.ttf", "*.otf",  "*.eot",  "*.css", "*.mp4",
    "*.webm", "*.ogg",  "*.mp3",   "*.wav", "*.m4a",  "*.mov",
};

std::string string_at(const json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    if (value == nullptr || !value->is_string()) {
        return {};
    }
    return std::string(value->get_string());
}

bool is_bot_wall_status(int status) {
    return status == 401 || status == 403 || status == 429;
}

// The page number a search request asked for: "page" at the top level or in "event_search".
std::optional<int> requested_page(const std::string& post_data) {
    boost::system::error_code error;
    auto body = json::parse(post_data, error);
    if (error || !body.is_object()) {
        return std::nullopt;
    }
    const auto* page = body.as_object().if_contains("page");
    if (page == nullptr) {
        if (const auto* search = body.as_object().if_contains("event_search");
            search != nullptr && search->is_object()) {
            page = search->as_object().if_contains("page");
        }
    }
    if (page != nullptr && page->is_int64()) {
        return static_cast<int>(page->as_int64());
    }
    return std::nullopt;
}

enum class crawl_outcome { finished, stopped, browser_lost, tab_crashed };

// "2026-12-04" for a calendar day.
std::string format_date(std::chrono::sys_days day) {
    const std::chrono::year_month_day date(day);
    return fmt::format("{:04}-{:02}-{:02}",
                       static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()),
                       static_cast<unsigned>(date.day()));
}

// A date window of a city's listing, both days included (the listing's end_date is inclusive).
struct date_window {
    std::chrono::sys_days first;
    std::chrono::sys_days last;
    std::int64_t parent_object_count = -1;  // object_count of the capped query it came from

    int days() const { return static_cast<int>((last - first).count()) + 1; }

    std::string query() const {
        return fmt::format("start_date={}&end_date={}", format_date(first), format_date(last));
    }
};

// True when an event of `page` starts (local date) outside `window`, which shows that the site
// ignored the window's start_date and end_date. A body the transform rejects counts as inside.
bool lists_events_outside(const pipeline::raw_page& page, const date_window& window) {
    const auto first = format_date(window.first);
    const auto last = format_date(window.last);
    try {
        for (const auto& event : pipeline::transform_page(page).events) {
            if (!event.start_local || event.start_local->size() < 10) {
                continue;
            }
            const auto day = event.start_local->substr(0, 10);
            if (day < first || day > last) {
                return true;
            }
        }
    } catch (const pipeline::transform_error&) {
        return false;
    }
    return false;
}

// True when a page without results states by its own pagination that results follow it: a
// continuation token or has_more_items, while object_count exceeds the events of the pages before
// it and page_count (when present) reaches this page. Past its data the live site serves empty
// results with a null continuation but keeps object_count as it was, so object_count alone does
// not show that events are missing.
// NOTE: an emptied last page carries no continuation either, so it still ends the listing.
bool is_empty_page_with_more(int page, const pipeline::page_facts& facts) {
    if (facts.result_count != 0) {
        return false;
    }
    const bool more_stated = (facts.continuation && !facts.continuation->empty()) ||
                             facts.has_more_items.value_or(false);
    if (!more_stated) {
        return false;
    }
    const std::int64_t page_size = facts.page_size.value_or(0);
    const std::int64_t events_before = static_cast<std::int64_t>(page - 1) * page_size;
    if (facts.object_count && *facts.object_count <= events_before) {
        return false;
    }
    return !facts.page_count || page <= *facts.page_count;
}

// True when the failed page may be requested again: as is_retryable() decides, or an empty page
// whose pagination promised results (phase "empty_page"), while the policy has attempts left.
bool is_retryable_page(const page_failure& failure) {
    return failure.phase == "empty_page" || is_retryable(failure);
}

// Parses "2026-12-04"; nothing for any other text or an invalid day.
std::optional<std::chrono::sys_days> parse_date(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    const auto number = [&](std::size_t offset, std::size_t length) -> std::optional<int> {
        int value = 0;
        const auto* first = text.data() + offset;
        const auto* last = first + length;
        const auto [end, error] = std::from_chars(first, last, value);
        if (error != std::errc() || end != last) {
            return std::nullopt;
        }
        return value;
    };
    const auto year = number(0, 4);
    const auto month = number(5, 2);
    const auto day = number(8, 2);
    if (!year || !month || !day) {
        return std::nullopt;
    }
    const std::chrono::year_month_day date{std::chrono::year(*year),
                                           std::chrono::month(static_cast<unsigned>(*month)),
                                           std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok()) {
        return std::nullopt;
    }
    return std::chrono::sys_days(date);
}

// The earliest and latest local start dates of a page's events, or nothing when the page lists
// no event with a start date or the transform rejects its body.
std::optional<std::pair<std::chrono::sys_days, std::chrono::sys_days>> start_date_range(
    const pipeline::raw_page& page) {
    std::optional<std::pair<std::chrono::sys_days, std::chrono::sys_days>> range;
    try {
        for (const auto& event : pipeline::transform_page(page).events) {
            if (!event.start_local || event.start_local->size() < 10) {
                continue;
            }
            const auto parsed = parse_date(std::string_view(*event.start_local).substr(0, 10));
            if (!parsed) {
                continue;
            }
            const auto start = *parsed;
            if (!range) {
                range.emplace(start, start);
            } else {
                range->first = std::min(range->first, start);
                range->second = std::max(range->second, start);
            }
        }
    } catch (const pipeline::transform_error&) {
        return std::nullopt;
    }
    return range;
}

struct page_capture {
    bool captured = false;
    bool no_next_button = false;
    bool next_button_disabled = false;
    bool browser_lost = false;  // the browser, its WebSocket or the page target is gone
    bool tab_crashed = false;   // only the page target crashed; the browser may still be alive
    bool interrupted = false;   // a stop request cancelled the wait for the rate limiter
    bool retry_allowed = true;  // false after a CDP failure other than a timeout
    pipeline::raw_page page;
    pipeline::page_facts facts;
    page_failure failure;
};

// The state of one city's crawl; run_city_task's frame owns it.
class city_crawl {
public:
    city_crawl(browser_pool& pool, city_spec city, city_task_options options, page_sink& sink)
        : pool_(pool),
          city_(std::move(city)),
          options_(options),
          sink_(sink),
          host_(origin_host(city_.origin)),
          next_page_(std::max(1, options.first_page)) {}

    asio::awaitable<city_report> run();

private:
    asio::awaitable<crawl_outcome> crawl_in_new_target();
    asio::awaitable<crawl_outcome> crawl_target(bool target_open);
    asio::awaitable<crawl_outcome> crawl_pages();
    asio::awaitable<crawl_outcome> crawl_query_pages();
    bool finish_first_page(int page, const pipeline::page_facts& facts, bool filter_ignored);
    void start_next_window();
    date_window split_range() const;
    void reject_empty_page(page_capture& capture, int page) const;
    void record_capped(int page, std::int64_t object_count, std::string reason);
    std::string current_query() const;
    asio::awaitable<bool> stop_requested();
    asio::awaitable<page_capture> capture_page(int page, bool first_attempt);
    asio::awaitable<bool> wait_before_retry(milliseconds delay);
    std::optional<milliseconds> retry_delay(const page_capture& capture) const;
    void report_rate_outcome(const page_capture& capture);
    asio::awaitable<void> open_context();
    asio::awaitable<void> open_target();
    asio::awaitable<bool> reuse_idle_target();
    asio::awaitable<void> close_target(bool park);
    asio::awaitable<void> dispose_target(std::shared_ptr<cdp_connection> connection);
    asio::awaitable<void> close_page_target(std::shared_ptr<cdp_connection> connection);
    asio::awaitable<void> enable_blocking();
    asio::awaitable<page_capture> capture_navigation(int page, steady_clock::time_point deadline);
    asio::awaitable<page_capture> capture_next_click(int page, steady_clock::time_point deadline);
    asio::awaitable<json::object> page_call(std::string method,
                                            json::object params,
                                            steady_clock::time_point deadline);
    asio::awaitable<void> pump_event(steady_clock::time_point deadline,
                                     std::string_view waiting_for);
    asio::awaitable<std::string> response_body(std::string request_id,
                                               steady_clock::time_point deadline);

    void classify_listing(page_capture& capture) const;
    void classify_search(page_capture& capture) const;
    std::string stop_reason(int page, const pipeline::page_facts& facts) const;
    std::string page_url(int page) const;
    void record_failure(page_failure failure, std::string_view reason);

    browser_pool& pool_;
    city_spec city_;
    city_task_options options_;
    page_sink& sink_;
    city_report report_;

    std::string host_;  // rate limiter key: host[:port] of city_.origin

    // The query being crawled: the whole listing, or a date window after a capped first page.
    std::optional<date_window> window_;
    std::vector<date_window> pending_windows_;  // last element is crawled next
    bool first_page_seen_ = false;              // the current query's cap check is done
    std::size_t window_report_ = 0;             // index of the current query in report_.windows
    // Earliest and latest local start dates on the capped whole listing's first page captured.
    std::optional<std::pair<std::chrono::sys_days, std::chrono::sys_days>> capped_start_dates_;

    browser_lease lease_;
    std::shared_ptr<cdp_connection> connection_;
    std::string context_id_;
    std::string target_id_;
    std::string session_id_;
    detail::page_tracker tracker_;
    int next_page_ = 1;
    bool reload_next_ = true;
    // The last page delivered stated a continuation. Fetch paging stops without one, as the
    // listing's next button is disabled without one.
    bool continuation_stated_ = false;
    std::string phase_ = "connect";
    steady_clock::time_point city_deadline_;  // end of options_.city_budget
};

milliseconds remaining(steady_clock::time_point deadline) {
    return std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
}

asio::awaitable<city_report> city_crawl::run() {
    report_.slug = city_.slug;
    report_.started = std::chrono::system_clock::now();
    const auto started = steady_clock::now();
    city_deadline_ = started + options_.city_budget;
    report_.windows.emplace_back();

    // A stop request that came before this city started leaves it untouched.
    if (co_await stop_requested()) {
        report_.status = "interrupted";
        report_.finished = std::chrono::system_clock::now();
        detail::logger()->info("city not started city={} reason=\"stop requested\"", city_.slug);
        co_return std::move(report_);
    }
    detail::logger()->info("city starting city={} origin={}", city_.slug, city_.origin);

    auto outcome = crawl_outcome::stopped;
    for (int retries_left = options_.browser_retries;; --retries_left) {
        outcome = co_await crawl_in_new_target();
        if (outcome != crawl_outcome::browser_lost || retries_left <= 0) {
            break;
        }
        if (co_await stop_requested()) {
            detail::logger()->info("city not retried city={} page={} reason=\"stop requested\"",
                                   city_.slug,
                                   next_page_);
            break;
        }
        detail::logger()->info("city retrying on another browser city={} query=\"{}\" page={}",
                               city_.slug,
                               current_query(),
                               next_page_);
        reload_next_ = true;
    }

    const bool first_page_blocked =
        report_.pages_captured == 0 &&
        std::any_of(report_.failures.begin(), report_.failures.end(), [](const auto& failure) {
            return failure.page == 1 && failure.phase == "bot_wall";
        });
    if (first_page_blocked) {
        report_.status = "blocked";
    } else {
        report_.status = outcome == crawl_outcome::finished ? "ok" : "failed";
    }
    const bool capped_left =
        std::any_of(report_.failures.begin(), report_.failures.end(), [](const auto& failure) {
            return failure.phase == "capped";
        });
    if (report_.status == "ok" && capped_left) {
        report_.status = "partial";
    }
    report_.finished = std::chrono::system_clock::now();
    report_.elapsed = std::chrono::duration_cast<milliseconds>(steady_clock::now() - started);
    detail::logger()->info(
        "city stopped city={} status={} pages={} windows={} split={} retries={} failures={} "
        "elapsed_ms={}",
        city_.slug,
        report_.status,
        report_.pages_captured,
        report_.windows.size(),
        report_.split,
        report_.retries,
        report_.failures.size(),
        report_.elapsed.count());
    co_return std::move(report_);
}

asio::awaitable<crawl_outcome> city_crawl::crawl_in_new_target() {
    try {
        lease_ = co_await pool_.lease();
        connection_ = lease_.shared_connection();
        ++report_.browser_leases;
    } catch (const std::exception& error) {
        page_failure failure;
        failure.page = next_page_;
        failure.phase = "browser";
        failure.message = error.what();
        record_failure(std::move(failure), "no browser leased");
        co_return crawl_outcome::stopped;
    }

    auto outcome = crawl_outcome::stopped;
    std::exception_ptr unexpected;
    try {
        phase_ = "connect";
        const bool reused = co_await reuse_idle_target();
        if (!reused) {
            co_await open_context();
        }
        outcome = co_await crawl_target(reused);
    } catch (const cdp_error& error) {
        page_failure failure;
        failure.page = next_page_;
        failure.phase = error.is_browser_failure() ? "browser" : "connect";
        failure.message = error.what();
        record_failure(std::move(failure),
                       error.is_browser_failure() ? "browser lost" : "page target not opened");
        outcome = error.is_browser_failure() ? crawl_outcome::browser_lost : crawl_outcome::stopped;
    } catch (...) {
        unexpected = std::current_exception();
    }

    co_await close_target(outcome == crawl_outcome::finished);
    lease_ = browser_lease();
    if (unexpected) {
        std::rethrow_exception(unexpected);
    }
    co_return outcome;
}

// Opens a page target in the leased browser's context, unless `target_open` (a reused one), and
// crawls. After a tab crash it opens a new target in the same context (up to
// options_.tab_retries times per lease) and continues at the first page not captured; past that
// limit the city leases another browser.
asio::awaitable<crawl_outcome> city_crawl::crawl_target(bool target_open) {
    for (int retries_left = options_.tab_retries;; --retries_left) {
        if (!target_open) {
            co_await open_target();
        }
        target_open = false;
        const auto outcome = co_await crawl_pages();
        if (outcome != crawl_outcome::tab_crashed) {
            co_return outcome;
        }
        if (retries_left <= 0) {
            co_return crawl_outcome::browser_lost;
        }
        if (co_await stop_requested()) {
            co_return crawl_outcome::stopped;
        }

        report_.static_requests_loaded += tracker_.static_loaded();
        report_.static_requests_blocked += tracker_.static_failed();
        auto connection = connection_;
        co_await close_page_target(std::move(connection));
        ++report_.tabs_replaced;
        reload_next_ = true;
        detail::logger()->info("tab replaced city={} query=\"{}\" page={} tabs_replaced={}",
                               city_.slug,
                               current_query(),
                               next_page_,
                               report_.tabs_replaced);
    }
}

// Crawls the current query to its end, then each date window that a capped query left.
asio::awaitable<crawl_outcome> city_crawl::crawl_pages() {
    for (;;) {
        const auto outcome = co_await crawl_query_pages();
        if (outcome != crawl_outcome::finished || pending_windows_.empty()) {
            co_return outcome;
        }
        if (co_await stop_requested()) {
            co_return crawl_outcome::stopped;
        }
        start_next_window();
    }
}

void city_crawl::start_next_window() {
    window_ = pending_windows_.back();
    pending_windows_.pop_back();
    next_page_ = 1;
    reload_next_ = true;
    first_page_seen_ = false;
    listing_window window_report;
    window_report.query = window_->query();
    report_.windows.push_back(std::move(window_report));
    window_report_ = report_.windows.size() - 1;
}

std::string city_crawl::current_query() const {
    return window_ ? window_->query() : std::string();
}

asio::awaitable<bool> city_crawl::stop_requested() {
    const auto state = co_await asio::this_coro::cancellation_state;
    co_return state.cancelled() != asio::cancellation_type::none;
}

// Checks the first page captured for the current query for a result cap and splits the query
// by date when it is capped. Returns true when the query's later pages are left to its windows.
bool city_crawl::finish_first_page(int page,
                                   const pipeline::page_facts& facts,
                                   bool filter_ignored) {
    first_page_seen_ = true;
    auto& window_report = report_.windows[window_report_];
    const auto object_count = facts.object_count.value_or(-1);
    window_report.object_count = object_count;
    window_report.capped = is_capped(facts);
    if (!window_report.capped) {
        return false;
    }
    if (options_.split_horizon_days <= 0) {
        detail::logger()->warn(
            "listing capped, splitting turned off city={} object_count={} reachable={}",
            city_.slug,
            object_count,
            *facts.page_count * *facts.page_size);
        return false;
    }

    if (!window_) {
        auto horizon = split_range();
        horizon.parent_object_count = object_count;
        pending_windows_.push_back(horizon);
        report_.split = true;
        window_report.split = true;
        detail::logger()->info(
            "listing capped, splitting by date city={} object_count={} reachable={} query=\"{}\"",
            city_.slug,
            object_count,
            *facts.page_count * *facts.page_size,
            horizon.query());
        return true;
    }
    if (filter_ignored) {
        record_capped(page,
                      object_count,
                      "the site ignored start_date and end_date (the page lists events outside "
                      "the window), so narrower windows would not help");
        return false;
    }
    if (window_->days() <= 1) {
        record_capped(page, object_count, "a one-day window cannot be split further");
        return false;
    }
    if (static_cast<int>(report_.windows.size() + pending_windows_.size()) + 2 >
        options_.max_windows) {
        record_capped(
            page,
            object_count,
            fmt::format("the city reached max_windows ({}) date windows", options_.max_windows));
        return false;
    }

    const int half = window_->days() / 2;
    date_window earlier;
    earlier.first = window_->first;
    earlier.last = window_->first + std::chrono::days(half - 1);
    earlier.parent_object_count = object_count;
    date_window later;
    later.first = window_->first + std::chrono::days(half);
    later.last = window_->last;
    later.parent_object_count = object_count;
    pending_windows_.push_back(later);
    pending_windows_.push_back(earlier);
    window_report.split = true;
    detail::logger()->debug(
        "window split city={} query=\"{}\" object_count={} halves=\"{}\",\"{}\"",
        city_.slug,
        window_->query(),
        object_count,
        earlier.query(),
        later.query());
    return true;
}

// The date range that a capped whole listing is split over. It starts at split_from when set,
// else at the earlier of the run date and the earliest start date on the capped page, so a
// listing of past events (a recorded corpus) loses none that the capped page showed. It ends at
// the later of run date + split_horizon_days - 1 and the latest start date seen.
date_window city_crawl::split_range() const {
    const auto run_date = options_.run_date.value_or(
        std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()));
    date_window range;
    range.first = run_date;
    range.last = run_date + std::chrono::days(options_.split_horizon_days - 1);
    if (capped_start_dates_) {
        range.first = std::min(range.first, capped_start_dates_->first);
        range.last = std::max(range.last, capped_start_dates_->second);
    }
    if (options_.split_from) {
        range.first = *options_.split_from;
    }
    if (range.last < range.first) {
        range.last = range.first + std::chrono::days(options_.split_horizon_days - 1);
    }
    return range;
}

// Turns a captured page without results, whose pagination states that more exist, into a
// retryable failure, so that it is requested again and never delivered.
void city_crawl::reject_empty_page(page_capture& capture, int page) const {
    capture.captured = false;
    capture.failure.phase = "empty_page";
    capture.failure.http_status = capture.page.http_status;
    capture.failure.message = fmt::format(
        "{} returned no results on page {}, but its pagination states that more follow "
        "(continuation or has_more_items set, object_count {})",
        capture.page.url,
        page,
        capture.facts.object_count.value_or(-1));
}

void city_crawl::record_capped(int page, std::int64_t object_count, std::string reason) {
    page_failure failure;
    failure.page = page;
    failure.phase = "capped";
    failure.message = fmt::format(
        "listing of {} with query \"{}\" states object_count {} but its pages stop earlier, and "
        "{}; events of this window past the last page were not captured",
        city_.slug,
        current_query(),
        object_count,
        reason);
    record_failure(std::move(failure), "result cap");
}

// Crawls the pages of the current query from next_page_ until its last page.
asio::awaitable<crawl_outcome> city_crawl::crawl_query_pages() {
    for (;;) {
        const int page = next_page_;
        const auto page_started = steady_clock::now();
        page_capture capture;
        for (int attempt = 1;; ++attempt) {
            capture = co_await capture_page(page, attempt == 1);
            if (capture.captured && is_empty_page_with_more(page, capture.facts)) {
                reject_empty_page(capture, page);
            }
            if (capture.captured || capture.next_button_disabled) {
                break;
            }
            capture.failure.page = page;
            capture.failure.attempts = attempt;
            if (capture.interrupted) {
                record_failure(std::move(capture.failure), "stop requested");
                co_return crawl_outcome::stopped;
            }
            if (capture.tab_crashed) {
                record_failure(std::move(capture.failure), "tab crashed");
                co_return crawl_outcome::tab_crashed;
            }
            if (capture.browser_lost) {
                record_failure(std::move(capture.failure), "browser lost");
                co_return crawl_outcome::browser_lost;
            }

            const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
            if (cancelled != asio::cancellation_type::none) {
                record_failure(std::move(capture.failure), "stop requested");
                co_return crawl_outcome::stopped;
            }
            const auto delay = retry_delay(capture);
            if (!delay) {
                const bool retryable = capture.retry_allowed && is_retryable_page(capture.failure);
                record_failure(std::move(capture.failure),
                               retryable ? "no retry left within max_attempts and city_budget"
                                         : "not retryable");
                co_return crawl_outcome::stopped;
            }

            // A retry repeats the search request from the open listing unless it needs a fresh
            // document. A failed navigation is repeated, because reload_next_ is still set. An
            // empty page was rendered and moved the listing's own page number past it, so its
            // retry loads ?page=N.
            if (retry_needs_reload(capture.failure) || capture.failure.phase == "empty_page") {
                reload_next_ = true;
            }
            detail::logger()->debug(
                "retrying page city={} page={} attempt={} delay_ms={} status={} reason=\"{}\"",
                city_.slug,
                page,
                attempt + 1,
                delay->count(),
                capture.failure.http_status,
                capture.failure.message);
            ++report_.retries;
            report_.retried.push_back(capture.failure);
            if (!co_await wait_before_retry(*delay)) {
                record_failure(std::move(capture.failure), "stop requested");
                co_return crawl_outcome::stopped;
            }
        }
        if (capture.next_button_disabled) {
            detail::logger()->debug(
                "city last page city={} page={} reason=\"next button disabled\"",
                city_.slug,
                page - 1);
            co_return crawl_outcome::finished;
        }

        reload_next_ = false;
        const bool check_cap = !first_page_seen_;
        const bool filter_ignored = check_cap && window_ && is_capped(capture.facts) &&
                                    lists_events_outside(capture.page, *window_);
        if (check_cap && !window_ && is_capped(capture.facts)) {
            capped_start_dates_ = start_date_range(capture.page);
        }
        const auto source = capture.page.source;
        const auto bytes = capture.page.body.size();
        auto facts = capture.facts;
        auto raw_page = std::move(capture.page);
        co_await sink_.deliver(std::move(raw_page));
        continuation_stated_ = facts.continuation.has_value();
        ++report_.pages_captured;
        ++report_.windows[window_report_].pages_captured;
        lease_.count_page();
        detail::logger()->debug(
            "page captured city={} page={} source={} bytes={} results={} elapsed_ms={}",
            city_.slug,
            page,
            source == pipeline::page_source::search_xhr ? "search_xhr" : "listing_html",
            bytes,
            facts.result_count,
            std::chrono::duration_cast<milliseconds>(steady_clock::now() - page_started).count());

        if (check_cap && finish_first_page(page, facts, filter_ignored)) {
            co_return crawl_outcome::finished;
        }
        if (auto reason = stop_reason(page, facts); !reason.empty()) {
            detail::logger()->debug(
                "city last page city={} page={} reason=\"{}\"", city_.slug, page, reason);
            co_return crawl_outcome::finished;
        }
        next_page_ = page + 1;
    }
}

// Makes one attempt at `page`; CDP failures other than a lost browser come back as a failed
// capture. A retry whose click finds the next button disabled loads ?page=N instead, because
// the failed request left the open listing where it was.
asio::awaitable<page_capture> city_crawl::capture_page(int page, bool first_attempt) {
    page_capture capture;
    if (options_.limiter) {
        const bool granted = co_await options_.limiter->acquire(host_);
        if (!granted) {
            capture.interrupted = true;
            capture.retry_allowed = false;
            capture.failure.phase = "interrupted";
            capture.failure.message =
                fmt::format("stop requested while page {} of {} waited for the rate limit of {}",
                            page,
                            city_.slug,
                            host_);
            co_return capture;
        }
    }

    // The page budget starts once the rate limiter let the request through.
    const auto deadline = steady_clock::now() + options_.page_timeout;
    try {
        if (!reload_next_ && options_.in_page_paging) {
            capture = co_await capture_next_click(page, deadline);
            if (!first_attempt && capture.next_button_disabled) {
                capture.next_button_disabled = false;
                capture.no_next_button = true;
            }
        }
        if (reload_next_ || !options_.in_page_paging || capture.no_next_button) {
            capture = co_await capture_navigation(page, deadline);
        }
    } catch (const cdp_error& error) {
        capture = page_capture();
        if (error.is_browser_failure() || error.failure() == cdp_failure::event_overflow) {
            capture.failure.phase = "browser";
        } else if (error.failure() == cdp_failure::timeout) {
            capture.failure.phase = "timeout";
        } else {
            capture.failure.phase = phase_;
        }
        capture.failure.message = error.what();
        capture.browser_lost = error.is_browser_failure();
        capture.tab_crashed = error.failure() == cdp_failure::target_crashed;
        if (capture.tab_crashed) {
            capture.failure.phase = "tab_crashed";
        }
        capture.retry_allowed = error.failure() == cdp_failure::timeout;
    }
    report_rate_outcome(capture);
    co_return capture;
}

// Reports the host's response to the shared rate limiter: a 429 pauses every city of that host.
void city_crawl::report_rate_outcome(const page_capture& capture) {
    if (!options_.limiter) {
        return;
    }
    if (capture.captured) {
        options_.limiter->report_success(host_);
        return;
    }
    if (capture.failure.http_status == 429) {
        std::optional<milliseconds> retry_after;
        if (!capture.failure.retry_after.empty()) {
            retry_after =
                parse_retry_after(capture.failure.retry_after, std::chrono::system_clock::now());
        }
        options_.limiter->report_rate_limited(host_, retry_after);
    }
}

// Returns the wait before the failed page's next attempt, or nothing when it gets none.
std::optional<milliseconds> city_crawl::retry_delay(const page_capture& capture) const {
    const auto& failure = capture.failure;
    if (!capture.retry_allowed || !is_retryable_page(failure)) {
        return std::nullopt;
    }
    std::optional<milliseconds> retry_after;
    if (!failure.retry_after.empty()) {
        retry_after = parse_retry_after(failure.retry_after, std::chrono::system_clock::now());
    }
    // FNV-1a of the slug, mixed with page and attempt, so cities retrying the same page spread
    // out while a rerun waits the same.
    std::uint64_t seed = 0xcbf29ce484222325ULL;
    for (const char c : city_.slug) {
        seed = (seed ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    seed ^= (static_cast<std::uint64_t>(failure.page) << 32) ^
            static_cast<std::uint64_t>(failure.attempts);
    return next_delay(
        options_.retry, failure.attempts, retry_after, remaining(city_deadline_), seed);
}

// Waits `delay`; false when the wait was cancelled (a stop request).
asio::awaitable<bool> city_crawl::wait_before_retry(milliseconds delay) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(delay);
    auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !error;
}

std::string city_crawl::stop_reason(int page, const pipeline::page_facts& facts) const {
    if (options_.max_pages > 0 && page >= options_.max_pages && facts.result_count != 0) {
        return "max_pages reached";
    }
    return listing_end_reason(page, facts);
}

asio::awaitable<void> city_crawl::open_context() {
    json::object context_params;
    context_params["disposeOnDetach"] = true;
    auto context = co_await connection_->call(
        "Target.createBrowserContext", std::move(context_params), "", options_.call_timeout);
    context_id_ = string_at(context, "browserContextId");
}

// Opens a page target in context_id_ and attaches a session with the page domains enabled.
asio::awaitable<void> city_crawl::open_target() {
    json::object target_params;
    target_params["url"] = "about:blank";
    target_params["browserContextId"] = context_id_;
    auto target = co_await connection_->call(
        "Target.createTarget", std::move(target_params), "", options_.call_timeout);
    target_id_ = string_at(target, "targetId");

    json::object attach_params;
    attach_params["targetId"] = target_id_;
    attach_params["flatten"] = true;
    auto attached = co_await connection_->call(
        "Target.attachToTarget", std::move(attach_params), "", options_.call_timeout);
    session_id_ = string_at(attached, "sessionId");
    connection_->register_session(session_id_, target_id_);
    tracker_ = detail::page_tracker();

    // Listing pages are about 1 MB; the buffers keep bodies until getResponseBody reads them.
    const auto deadline = steady_clock::now() + options_.call_timeout;
    json::object network_params;
    network_params["maxTotalBufferSize"] = 256 * 1024 * 1024;
    network_params["maxResourceBufferSize"] = 64 * 1024 * 1024;
    network_params["maxPostDataSize"] = 1024 * 1024;
    co_await page_call("Network.enable", std::move(network_params), deadline);
    co_await page_call("Page.enable", json::object(), deadline);
    co_await page_call("Inspector.enable", json::object(), deadline);
    co_await enable_blocking();
}

asio::awaitable<void> city_crawl::enable_blocking() {
    const auto deadline = steady_clock::now() + options_.call_timeout;
    if (options_.blocking != resource_blocking::none) {
        json::object params;
        params["source"] = empty_icon_script;
        co_await page_call("Page.addScriptToEvaluateOnNewDocument", std::move(params), deadline);
    }
    if (options_.blocking == resource_blocking::blocked_urls) {
        json::array urls;
        for (const auto& pattern : blocked_url_patterns) {
            urls.emplace_back(pattern);
        }
        json::object params;
        params["urls"] = std::move(urls);
        co_await page_call("Network.setBlockedURLs", std::move(params), deadline);
    } else if (options_.blocking == resource_blocking::fetch) {
        json::array patterns;
        for (const char* type : {"Image", "Font", "Stylesheet", "Media"}) {
            json::object pattern;
            pattern["urlPattern"] = "*";
            pattern["resourceType"] = type;
            pattern["requestStage"] = "Request";
            patterns.emplace_back(std::move(pattern));
        }
        // The browser's own favicon request has resource type Other, so it is matched by URL.
        json::object favicon;
        favicon["urlPattern"] = "*/favicon.ico";
        favicon["requestStage"] = "Request";
        patterns.emplace_back(std::move(favicon));
        json::object params;
        params["patterns"] = std::move(patterns);
        co_await page_call("Fetch.enable", std::move(params), deadline);
    }
}

// Takes over a page target that an earlier city parked on the leased browser. It clears the
// cookies of the target's browser context and the storage of the origin it showed, so no city
// reads another city's state. Returns false when reuse is off, nothing is parked, or a call on
// the parked target fails while the socket stays open (the target is closed then). Throws
// cdp_error when the socket to the browser is closed.
asio::awaitable<bool> city_crawl::reuse_idle_target() {
    if (options_.fresh_context_per_city) {
        co_return false;
    }
    auto idle = lease_.take_idle_target();
    if (!idle) {
        co_return false;
    }
    context_id_ = idle->context_id;
    target_id_ = idle->target_id;
    session_id_ = idle->session_id;
    connection_->register_session(session_id_, target_id_);
    tracker_ = detail::page_tracker();

    const auto deadline = steady_clock::now() + options_.call_timeout;
    std::optional<cdp_error> failure;
    try {
        co_await page_call("Network.clearBrowserCookies", json::object(), deadline);
        json::object storage_params;
        storage_params["origin"] = idle->origin;
        storage_params["storageTypes"] = cleared_storage_types;
        co_await page_call("Storage.clearDataForOrigin", std::move(storage_params), deadline);
        json::object script_params;
        script_params["expression"] = clear_page_state_script;
        script_params["returnByValue"] = true;
        co_await page_call("Runtime.evaluate", std::move(script_params), deadline);
    } catch (const cdp_error& error) {
        failure = error;
    }
    if (!failure) {
        detail::logger()->debug("page target reused city={} target={} previous_origin={}",
                                city_.slug,
                                target_id_,
                                idle->origin);
        co_return true;
    }
    if (failure->failure() == cdp_failure::connection_closed) {
        throw *failure;
    }
    detail::logger()->info("parked page target dropped city={} target={} error=\"{}\"",
                           city_.slug,
                           target_id_,
                           failure->what());
    co_await dispose_target(connection_);
    co_return false;
}

// Parks the page target in the pool for the next city when `park` is set, reuse is on and the
// session is still usable. Otherwise it closes the target and disposes of its browser context.
asio::awaitable<void> city_crawl::close_target(bool park) {
    report_.static_requests_loaded += tracker_.static_loaded();
    report_.static_requests_blocked += tracker_.static_failed();
    tracker_ = detail::page_tracker();
    auto connection = std::move(connection_);
    if (!connection || !connection->is_open()) {
        session_id_.clear();
        target_id_.clear();
        context_id_.clear();
        co_return;
    }
    bool usable = !session_id_.empty() && !target_id_.empty() && !context_id_.empty() &&
                  connection->session_failure_message(session_id_).empty();
    if (park && usable && !options_.fresh_context_per_city) {
        // The renderer keeps each listing's garbage until V8 collects it, and a reused renderer
        // grew from about 27 to 60 MiB PSS over a crawl without this collection (bench/compare).
        auto collected = co_await connection->try_call(
            "HeapProfiler.collectGarbage", json::object(), session_id_, options_.call_timeout);
        if (!collected.ok()) {
            detail::logger()->debug(
                "garbage collection failed, closing target city={} error=\"{}\"",
                city_.slug,
                collected.message);
            usable = false;
        }
    }
    if (park && usable && !options_.fresh_context_per_city) {
        connection->unregister_session(session_id_);
        idle_page_target idle;
        idle.context_id = std::exchange(context_id_, std::string());
        idle.target_id = std::exchange(target_id_, std::string());
        idle.session_id = std::exchange(session_id_, std::string());
        idle.origin = city_.origin;
        lease_.park_target(std::move(idle));
        co_return;
    }
    co_await dispose_target(std::move(connection));
}

// Closes the page target and disposes of its browser context.
asio::awaitable<void> city_crawl::dispose_target(std::shared_ptr<cdp_connection> connection) {
    co_await close_page_target(connection);
    if (!context_id_.empty()) {
        json::object params;
        params["browserContextId"] = context_id_;
        auto disposed = co_await connection->try_call(
            "Target.disposeBrowserContext", std::move(params), "", options_.call_timeout);
        if (!disposed.ok()) {
            detail::logger()->debug(
                "dispose context failed city={} error=\"{}\"", city_.slug, disposed.message);
        }
        context_id_.clear();
    }
}

// Detaches the page session and closes the page target, keeping the browser context.
asio::awaitable<void> city_crawl::close_page_target(std::shared_ptr<cdp_connection> connection) {
    if (!session_id_.empty()) {
        connection->unregister_session(session_id_);
        session_id_.clear();
    }
    if (!target_id_.empty()) {
        json::object params;
        params["targetId"] = target_id_;
        auto closed = co_await connection->try_call(
            "Target.closeTarget", std::move(params), "", options_.call_timeout);
        if (!closed.ok()) {
            detail::logger()->debug(
                "close target failed city={} error=\"{}\"", city_.slug, closed.message);
        }
        target_id_.clear();
    }
}

asio::awaitable<json::object> city_crawl::page_call(std::string method,
                                                    json::object params,
                                                    steady_clock::time_point deadline) {
    const auto budget = std::min(options_.call_timeout, remaining(deadline));
    if (budget <= milliseconds(0)) {
        throw cdp_error(cdp_failure::timeout,
                        fmt::format("city {}: page budget of {} ms spent before {}",
                                    city_.slug,
                                    options_.page_timeout.count(),
                                    method));
    }
    co_return co_await connection_->call(std::move(method), std::move(params), session_id_, budget);
}

asio::awaitable<void> city_crawl::pump_event(steady_clock::time_point deadline,
                                             std::string_view waiting_for) {
    const auto budget = std::max(remaining(deadline), milliseconds(0));
    auto [failure, event] = co_await connection_->next_event(session_id_, budget);
    if (failure == cdp_failure::timeout) {
        throw cdp_error(
            cdp_failure::timeout,
            fmt::format(
                "city {} page {}: timed out waiting for {}", city_.slug, next_page_, waiting_for));
    }
    if (failure != cdp_failure::none) {
        throw cdp_error(failure,
                        fmt::format("city {} page {}: browser session lost while waiting for {}: "
                                    "{}",
                                    city_.slug,
                                    next_page_,
                                    waiting_for,
                                    connection_->session_failure_message(session_id_)));
    }
    detail::logger()->trace("cdp event city={} method={}", city_.slug, event.method);
    tracker_.apply(event);

    if (event.method == "Fetch.requestPaused") {
        // Only blocked resource types are intercepted, so every paused request is failed.
        json::object params;
        params["requestId"] = string_at(event.params, "requestId");
        params["errorReason"] = "BlockedByClient";
        auto budget_left = std::clamp(remaining(deadline), milliseconds(1), options_.call_timeout);
        co_await connection_->try_call(
            "Fetch.failRequest", std::move(params), session_id_, budget_left);
    }
}

asio::awaitable<std::string> city_crawl::response_body(std::string request_id,
                                                       steady_clock::time_point deadline) {
    json::object params;
    params["requestId"] = request_id;
    auto result = co_await page_call("Network.getResponseBody", std::move(params), deadline);
    auto body = string_at(result, "body");
    if (const auto* encoded = result.if_contains("base64Encoded");
        encoded != nullptr && encoded->is_bool() && encoded->get_bool()) {
        // Chromium base64-encodes bodies it treats as binary. Listing HTML and search JSON are
        // text, so a binary body becomes a marker that the checks classify as neither.
        body = "<binary body>";
    }
    co_return body;
}

std::string city_crawl::page_url(int page) const {
    auto url = fmt::format("{}/d/{}/all-events/?page={}", city_.origin, city_.slug, page);
    if (window_) {
        url += "&" + window_->query();
    }
    return url;
}

asio::awaitable<page_capture> city_crawl::capture_navigation(int page,
                                                             steady_clock::time_point deadline) {
    phase_ = "navigate";
    const auto url = page_url(page);
    const auto load_deadline =
        std::min(deadline, steady_clock::now() + options_.navigation_timeout);
    json::object params;
    params["url"] = url;
    auto navigation = co_await page_call("Page.navigate", std::move(params), load_deadline);

    page_capture capture;
    capture.failure.phase = "navigate";
    if (auto error_text = string_at(navigation, "errorText"); !error_text.empty()) {
        capture.failure.network_error = error_text;
        capture.failure.message = fmt::format("navigation to {} failed: {}", url, error_text);
        co_return capture;
    }
    const auto loader_id = string_at(navigation, "loaderId");
    if (loader_id.empty()) {
        capture.failure.message = fmt::format("navigation to {} started no document load", url);
        co_return capture;
    }

    // The document request's requestId equals the navigation's loaderId.
    const auto waiting_for = fmt::format("the document of {}", url);
    for (;;) {
        const auto* request = tracker_.find(loader_id);
        if (request != nullptr && request->done()) {
            break;
        }
        co_await pump_event(load_deadline, waiting_for);
    }
    const auto request = *tracker_.find(loader_id);
    capture.failure.retry_after = request.retry_after;
    if (request.failed) {
        capture.failure.network_error = request.error_text;
        capture.failure.http_status = request.status;
        capture.failure.message = fmt::format("loading {} failed: {}", url, request.error_text);
        co_return capture;
    }

    phase_ = "capture";
    capture.page.city_slug = city_.slug;
    capture.page.page_number = page;
    capture.page.query = current_query();
    capture.page.url = url;
    capture.page.http_status = request.status;
    capture.page.content_type = request.mime_type;
    capture.page.source = pipeline::page_source::listing_html;
    capture.page.body = co_await response_body(loader_id, deadline);
    capture.page.captured_at = std::chrono::system_clock::now();
    classify_listing(capture);
    co_return capture;
}

// Requests `page` from the open listing, by its next button or by an in-page fetch as
// options_.paging selects, and captures the search response.
asio::awaitable<page_capture> city_crawl::capture_next_click(int page,
                                                             steady_clock::time_point deadline) {
    phase_ = "navigate";

    // Pump events until the page's script ran: paused Fetch requests (a stylesheet blocks
    // scripts) are only failed while events are read, so Runtime.evaluate alone could stall.
    while (!tracker_.dom_content_loaded()) {
        co_await pump_event(deadline, "DOMContentLoaded before the next-page click");
    }

    page_capture capture;
    const bool fetch = options_.paging == paging_method::fetch;
    if (fetch && !continuation_stated_) {
        capture.next_button_disabled = true;
        co_return capture;
    }

    const auto since = tracker_.next_order();
    json::object params;
    params["expression"] =
        fetch ? fmt::format("({})({})", fetch_next_function, page) : std::string(click_next_script);
    params["returnByValue"] = true;
    params["awaitPromise"] = true;
    auto evaluation = co_await page_call("Runtime.evaluate", std::move(params), deadline);

    std::string click;
    const auto* remote = evaluation.if_contains("result");
    if (remote != nullptr && remote->is_object()) {
        click = string_at(remote->as_object(), "value");
    }
    if (click == "disabled") {
        capture.next_button_disabled = true;
        co_return capture;
    }
    if (click != "clicked" && click != "sent") {
        detail::logger()->debug(
            "no next button city={} page={} result={}", city_.slug, page, click);
        capture.no_next_button = true;
        co_return capture;
    }

    const auto waiting_for = fmt::format("POST {} for page {}", search_path, page);
    for (;;) {
        const auto* request = tracker_.find_after(since, "POST", search_path);
        if (request != nullptr && request->done()) {
            break;
        }
        co_await pump_event(deadline, waiting_for);
    }
    const auto request = *tracker_.find_after(since, "POST", search_path);
    capture.failure.http_status = request.status;
    capture.failure.retry_after = request.retry_after;
    if (request.failed) {
        capture.failure.network_error = request.error_text;
        capture.failure.phase = "capture";
        capture.failure.message =
            fmt::format("search request {} failed: {}", request.url, request.error_text);
        co_return capture;
    }

    // Read the body before anything navigates: a new document drops the stored bodies.
    phase_ = "capture";
    capture.page.city_slug = city_.slug;
    capture.page.page_number = requested_page(request.post_data).value_or(page);
    capture.page.query = current_query();
    capture.page.url = request.url;
    capture.page.http_status = request.status;
    capture.page.content_type = request.mime_type;
    capture.page.source = pipeline::page_source::search_xhr;
    capture.page.body = co_await response_body(request.request_id, deadline);
    capture.page.captured_at = std::chrono::system_clock::now();
    classify_search(capture);
    co_return capture;
}

void city_crawl::classify_listing(page_capture& capture) const {
    auto& page = capture.page;
    auto& failure = capture.failure;
    failure.http_status = page.http_status;
    if (is_bot_wall_status(page.http_status)) {
        failure.phase = "bot_wall";
        failure.message = fmt::format("{} returned HTTP {}", page.url, page.http_status);
        return;
    }
    if (page.http_status >= 400) {
        failure.phase = "navigate";
        failure.message = fmt::format("{} returned HTTP {}", page.url, page.http_status);
        return;
    }
    if (page.content_type != "text/html") {
        failure.phase = "bot_wall";
        failure.message =
            fmt::format("{} returned content type '{}' where a text/html listing was expected",
                        page.url,
                        page.content_type);
        return;
    }

    std::string server_data;
    try {
        server_data = pipeline::extract_server_data(page.body);
    } catch (const pipeline::transform_error& error) {
        const bool truncated =
            error.failure() == pipeline::transform_failure::incomplete_server_data;
        failure.phase = truncated ? "capture" : "bot_wall";
        failure.message = fmt::format("{}: {}", page.url, error.what());
        return;
    }
    boost::system::error_code parse_error;
    auto data = json::parse(server_data, parse_error);
    const json::value* place_id = nullptr;
    if (!parse_error && data.is_object()) {
        place_id = data.as_object().if_contains("placeId");
    }
    const bool has_place_id =
        place_id != nullptr && ((place_id->is_string() && !place_id->get_string().empty()) ||
                                place_id->is_int64() || place_id->is_uint64());
    if (!has_place_id) {
        failure.phase = parse_error ? "capture" : "bot_wall";
        failure.message = parse_error
                              ? fmt::format("{}: window.__SERVER_DATA__ is not valid JSON: {}",
                                            page.url,
                                            parse_error.message())
                              : fmt::format(
                                    "{}: window.__SERVER_DATA__ has no placeId, which marks "
                                    "a bot wall or an unknown place",
                                    page.url);
        return;
    }

    try {
        capture.facts = pipeline::read_page_facts(page);
    } catch (const pipeline::transform_error& error) {
        failure.phase = "capture";
        failure.message = fmt::format("{}: {}", page.url, error.what());
        return;
    }
    capture.captured = true;
}

void city_crawl::classify_search(page_capture& capture) const {
    auto& page = capture.page;
    auto& failure = capture.failure;
    failure.http_status = page.http_status;
    if (is_bot_wall_status(page.http_status)) {
        failure.phase = "bot_wall";
        failure.message = fmt::format("POST {} returned HTTP {}", page.url, page.http_status);
        return;
    }
    if (page.http_status >= 400) {
        failure.phase = "capture";
        failure.message = fmt::format("POST {} returned HTTP {}", page.url, page.http_status);
        return;
    }
    const auto first = page.body.find_first_not_of(" \t\r\n");
    const bool looks_like_json =
        first != std::string::npos && (page.body[first] == '{' || page.body[first] == '[');
    if (page.content_type.find("json") == std::string::npos || !looks_like_json) {
        failure.phase = "bot_wall";
        failure.message = fmt::format(
            "POST {} returned content type '{}' and a body that is not JSON (an interstitial)",
            page.url,
            page.content_type);
        return;
    }
    try {
        capture.facts = pipeline::read_page_facts(page);
    } catch (const pipeline::transform_error& error) {
        failure.phase =
            error.failure() == pipeline::transform_failure::bot_wall ? "bot_wall" : "capture";
        failure.message = fmt::format("POST {}: {}", page.url, error.what());
        return;
    }
    capture.captured = true;
}

void city_crawl::record_failure(page_failure failure, std::string_view reason) {
    failure.query = current_query();
    detail::logger()->warn(
        "page failed city={} query=\"{}\" page={} phase={} status={} attempts={} reason=\"{}\" "
        "error=\"{}\"",
        city_.slug,
        failure.query,
        failure.page,
        failure.phase,
        failure.http_status,
        failure.attempts,
        reason,
        failure.message);
    report_.failures.push_back(std::move(failure));
}

}  // namespace

asio::awaitable<city_report> run_city_task(browser_pool& pool,
                                           city_spec city,
                                           city_task_options options,
                                           page_sink& sink) {
    city_crawl crawl(pool, std::move(city), options, sink);
    co_return co_await crawl.run();
}

bool is_capped(const pipeline::page_facts& facts) {
    return facts.object_count && facts.page_count && facts.page_size &&
           *facts.object_count > static_cast<std::int64_t>(*facts.page_count) *
                                     static_cast<std::int64_t>(*facts.page_size);
}

std::string listing_end_reason(int page, const pipeline::page_facts& facts) {
    if (facts.result_count == 0) {
        return "empty results";
    }
    if (facts.page_count) {
        return page >= *facts.page_count ? "page_count reached" : "";
    }
    // NOTE: page_facts cannot tell a null continuation from an absent one; both stop here.
    if (!facts.continuation) {
        return "no continuation";
    }
    return {};
}

}  // namespace eventcrawl::crawler
