#include "app/crawl_report.hpp"

#include <fmt/format.h>

namespace eventcrawl::app {

void print_report(const std::vector<city_line>& cities, const run_totals& totals) {
    fmt::print("\n{:<34} {:<11} {:>6} {:>7} {:>6} {:>9}\n",
               "city",
               "status",
               "pages",
               "events",
               "errors",
               "elapsed");
    int cities_ok = 0;
    std::int64_t pages = 0;
    std::int64_t events = 0;
    std::int64_t errors = 0;
    std::int64_t retries = 0;
    std::map<std::string, int> failures_by_phase;
    for (const auto& city : cities) {
        fmt::print("{:<34} {:<11} {:>6} {:>7} {:>6} {:>8.1f}s\n",
                   city.slug,
                   city.status,
                   city.pages_captured,
                   city.events,
                   city.problems.size(),
                   static_cast<double>(city.elapsed.count()) / 1000.0);
        for (const auto& problem : city.problems) {
            ++failures_by_phase[problem.phase];
            fmt::print("    page {} {}{}: {}\n",
                       problem.page,
                       problem.phase,
                       problem.http_status != 0 ? fmt::format(" (HTTP {})", problem.http_status)
                                                : std::string(),
                       problem.message);
        }
        cities_ok += city.status == "ok" ? 1 : 0;
        pages += city.pages_captured;
        events += city.events;
        errors += static_cast<std::int64_t>(city.problems.size());
        retries += city.retries;
    }

    const double seconds = std::max(0.001, static_cast<double>(totals.elapsed.count()) / 1000.0);
    fmt::print("\ncities: {} ({} ok, {} not ok){}\n",
               cities.size(),
               cities_ok,
               cities.size() - static_cast<std::size_t>(cities_ok),
               totals.interrupted ? ", run interrupted" : "");
    fmt::print(
        "pages: {}, events: {}, page errors: {}, retries: {}\n", pages, events, errors, retries);
    fmt::print("elapsed: {:.2f} s, {:.1f} pages/s, {:.1f} events/s\n",
               seconds,
               static_cast<double>(pages) / seconds,
               static_cast<double>(events) / seconds);
    fmt::print("database: {} rows in events, {} batches, largest batch {} rows\n",
               totals.rows_in_database,
               totals.batches,
               totals.max_batch_rows);
    if (!failures_by_phase.empty()) {
        std::string line;
        for (const auto& [phase, count] : failures_by_phase) {
            line += fmt::format("{}{}={}", line.empty() ? "" : " ", phase, count);
        }
        fmt::print("failures by phase: {}\n", line);
    }
    if (!totals.status_codes.empty()) {
        std::string line;
        for (const auto& [status, count] : totals.status_codes) {
            line += fmt::format("{}{}={}", line.empty() ? "" : " ", status, count);
        }
        fmt::print("HTTP status of captured pages: {}\n", line);
    }
}

}  // namespace eventcrawl::app
