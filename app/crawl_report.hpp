#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/transform.hpp"

namespace eventcrawl::app {

// Kinds that the report and the run summary count retries and failures by.
namespace failure_kind_names {
inline constexpr std::string_view http_4xx = "http_4xx";      // 4xx response other than a bot wall
inline constexpr std::string_view http_5xx = "http_5xx";      // 5xx response
inline constexpr std::string_view bot_wall = "bot_wall";      // 403 WAF page or interstitial
inline constexpr std::string_view timeout = "timeout";        // page or CDP deadline passed
inline constexpr std::string_view network = "network_error";  // reset, refused or dropped
inline constexpr std::string_view truncated = "truncated_body";  // JSON or blob cut off
inline constexpr std::string_view empty_page = "empty_page";     // no results where more are stated
inline constexpr std::string_view capped = "capped";  // listing capped below its object count
inline constexpr std::string_view browser_died = "browser_died";
inline constexpr std::string_view bad_data = "bad_data";        // complete body of an unknown shape
inline constexpr std::string_view interrupted = "interrupted";  // stopped by SIGINT or SIGTERM
inline constexpr std::string_view other = "other";
inline constexpr std::string_view unknown = "unknown";  // retries the crawler gave no kind for
}  // namespace failure_kind_names

// One failed page of a city, from the crawler or from the transform stage.
struct page_problem {
    int page = 0;
    std::string phase;  // connect, navigate, capture, bot_wall, timeout, browser, transform, ...
    int http_status = 0;
    std::string message;
    // One of failure_kind_names, set by a producer that has a more precise cause than phase
    // and status, such as a transform failure's enum. When empty, failure_kind() derives it.
    std::string kind;
};

// One city's row in the end-of-run report.
struct city_line {
    std::string slug;
    std::string status;  // ok, failed, blocked, interrupted
    int pages_captured = 0;
    std::int64_t events = 0;
    int retries = 0;  // pages loaded again after a retryable failure
    std::vector<page_problem> problems;
    std::chrono::milliseconds elapsed{0};
    std::string started_at;
    std::string finished_at;
    bool resumed_from_earlier = false;  // finished in an earlier attempt of a resumed run
    // Retries counted by failure_kind_names, when the crawler reports why it retried. Retries
    // beyond the sum of these counts are reported as "unknown".
    std::map<std::string, int> retries_by_kind;
    int date_windows = 0;  // date windows the crawler split a capped listing into; 0: not split
};

struct run_totals {
    std::chrono::milliseconds elapsed{0};
    std::map<int, std::int64_t> status_codes;      // HTTP status of every captured page
    std::optional<std::int64_t> rows_in_database;  // empty when a database write failed
    std::size_t max_batch_rows = 0;
    std::int64_t batches = 0;
    bool interrupted = false;
};

// Retries and failures of one city or of a whole run, counted by kind.
struct kind_counts {
    std::map<std::string, int> retries;
    std::map<std::string, int> failures;
    int cities_split = 0;  // cities crawled in date windows
};

// Returns the problem's kind: `kind` when set, otherwise one derived from phase and status.
std::string failure_kind(const page_problem& problem);

// Returns the report kind of a transform failure (truncated_body, bot_wall or bad_data).
std::string_view failure_kind(pipeline::transform_failure failure);

kind_counts count_kinds(const city_line& city);
kind_counts count_kinds(const std::vector<city_line>& cities);

// Formats counts as "a=1 b=2" in key order, or "none" when there are none.
std::string format_counts(const std::map<std::string, int>& counts);

// Adds "retries_by_kind" and "failures_by_kind" objects (and "date_windows" for a city) to a
// --summary-json object.
void add_kind_counts(boost::json::object& city_json, const city_line& city);
void add_kind_counts(boost::json::object& run_json, const std::vector<city_line>& cities);

// Returns the per-city table, totals, rates, failures by phase and by kind, retries by kind and
// status-code counts as printed at the end of a crawl.
std::string format_report(const std::vector<city_line>& cities, const run_totals& totals);

// Prints format_report() to stdout.
void print_report(const std::vector<city_line>& cities, const run_totals& totals);

}  // namespace eventcrawl::app
