#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace eventcrawl::app {

// One failed page of a city, from the crawler or from the transform stage.
struct page_problem {
    int page = 0;
    std::string phase;  // connect, navigate, capture, bot_wall, timeout, browser, transform, ...
    int http_status = 0;
    std::string message;
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
};

struct run_totals {
    std::chrono::milliseconds elapsed{0};
    std::map<int, std::int64_t> status_codes;  // HTTP status of every captured page
    std::int64_t rows_in_database = 0;
    std::size_t max_batch_rows = 0;
    std::int64_t batches = 0;
    bool interrupted = false;
};

// Prints the per-city table, totals, rates, failures by phase and status-code counts.
void print_report(const std::vector<city_line>& cities, const run_totals& totals);

}  // namespace eventcrawl::app
