#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace eventcrawl::app {

// Everything `eventcrawl crawl` needs, built from flags and environment in main.cpp.
struct crawl_options {
    std::string cities_file = "cities.yaml";
    std::vector<std::string> city_slugs;  // empty: every city in cities_file
    std::string base_url;                 // empty: each city's own https://<domain>
    bool base_url_explicit = false;       // given on the command line; wins over a resumed run's
    std::string db_dsn = "sqlite:events.db";
    std::string mode = "async";  // "async" or "sync"
    int concurrency = 8;  // measured: 8 beat 1, 2 and 4 on 2 cores at 150 ms latency (README)
    int browsers = 1;
    std::vector<std::string> browser_urls;
    std::string chromium_path;  // empty: crawler::default_chromium_path()
    int pages_per_browser = 200;
    // true: every city gets a new browser context and page target; false reuses them.
    bool fresh_context_per_city = false;
    // Method of requesting pages 2..N: "click" (the listing's next button) or "fetch" (the search
    // request sent from the open listing, without rendering the results).
    std::string paging = "click";
    int max_pages = 0;             // 0: no limit
    double rate_per_host = 0.0;    // page requests per second to one host; 0: unlimited
    int split_horizon_days = 365;  // days a capped listing is split over; 0: no splitting
    std::size_t queue_capacity = 16;
    // In bench/transform_load, 2000 rows used about 20% less store CPU per row than 500, and
    // 5000 about 5% less than 2000. A crawl's batches are usually cut sooner by batch_max_age.
    std::size_t batch_rows = 5000;
    std::chrono::milliseconds batch_max_age{1000};
    int db_load_connections = 1;  // PostgreSQL connections that load one batch together
    std::chrono::seconds page_timeout{30};
    std::chrono::seconds shutdown_grace{10};
    bool progress = true;
    std::string command_line;
    std::int64_t resume_run_id = 0;  // 0: a new run
    std::string summary_json_path;   // empty: no machine-readable summary
    // First day (YYYY-MM-DD) of a capped listing's date split; empty: the earlier of today and
    // the earliest event start on the capped page.
    std::string split_from;
};

// Parses a --split-from date such as "2024-01-31". Throws std::invalid_argument naming the value
// and the expected form.
std::chrono::sys_days parse_split_from(const std::string& text);

// Exit codes of `eventcrawl crawl`.
inline constexpr int exit_ok = 0;
inline constexpr int exit_could_not_start = 1;
inline constexpr int exit_some_cities_failed = 2;

// Crawls the selected cities into the database and prints the end-of-run report. With
// resume_run_id set, finishes that run instead: its stored options apply (but for --db and
// the concurrency settings), and only cities without an "ok" result are crawled.
int run_crawl(const crawl_options& options);

// The options that define what a run crawls, as a JSON object (stored with the run).
std::string options_to_json(const crawl_options& options);

// Reads options_to_json's output over `base`. Throws std::invalid_argument naming the field.
crawl_options options_from_json(const std::string& text, crawl_options base);

}  // namespace eventcrawl::app
