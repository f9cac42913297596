#include "app/crawl_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace eventcrawl::app {
namespace {

namespace kinds = failure_kind_names;

std::string kind_from_phase(const page_problem& problem) {
    const std::string& phase = problem.phase;
    if (phase == "bot_wall") {
        return std::string(kinds::bot_wall);
    }
    if (phase == "timeout") {
        return std::string(kinds::timeout);
    }
    if (phase == "browser") {
        return std::string(kinds::browser_died);
    }
    if (phase == "interrupted") {
        return std::string(kinds::interrupted);
    }
    if (phase == "capped") {
        return std::string(kinds::capped);
    }
    if (phase == "empty_page") {
        return std::string(kinds::empty_page);
    }
    if (phase != "transform" && problem.http_status >= 500 && problem.http_status <= 599) {
        return std::string(kinds::http_5xx);
    }
    if (phase != "transform" && problem.http_status >= 400 && problem.http_status <= 499) {
        return std::string(kinds::http_4xx);
    }
    if (phase == "connect" || phase == "navigate" || phase == "capture") {
        return std::string(kinds::network);
    }
    return std::string(kinds::other);
}

void add_counts(std::map<std::string, int>& target, const std::map<std::string, int>& source) {
    for (const auto& [kind, count] : source) {
        target[kind] += count;
    }
}

boost::json::object counts_to_json(const std::map<std::string, int>& counts) {
    boost::json::object object;
    for (const auto& [kind, count] : counts) {
        object[kind] = count;
    }
    return object;
}

// The per-city detail below a table row: problems, then retry and failure kinds.
void append_city_detail(std::string& out, const city_line& city) {
    for (const auto& problem : city.problems) {
        fmt::format_to(std::back_inserter(out),
                       "    page {} {}{}: {}\n",
                       problem.page,
                       problem.phase,
                       problem.http_status != 0 ? fmt::format(" (HTTP {})", problem.http_status)
                                                : std::string(),
                       problem.message);
    }
    const kind_counts counts = count_kinds(city);
    if (!counts.retries.empty() || !counts.failures.empty()) {
        fmt::format_to(std::back_inserter(out),
                       "    retries: {}; failures: {}\n",
                       format_counts(counts.retries),
                       format_counts(counts.failures));
    }
    if (city.date_windows > 0) {
        fmt::format_to(
            std::back_inserter(out), "    split into {} date windows\n", city.date_windows);
    }
}

void append_run_counts(std::string& out,
                       const std::vector<city_line>& cities,
                       const run_totals& totals) {
    std::map<std::string, int> failures_by_phase;
    for (const auto& city : cities) {
        for (const auto& problem : city.problems) {
            ++failures_by_phase[problem.phase];
        }
    }
    if (!failures_by_phase.empty()) {
        fmt::format_to(
            std::back_inserter(out), "failures by phase: {}\n", format_counts(failures_by_phase));
    }
    const kind_counts counts = count_kinds(cities);
    fmt::format_to(std::back_inserter(out),
                   "failures by kind: {}\nretries by kind: {}\n",
                   format_counts(counts.failures),
                   format_counts(counts.retries));
    if (counts.cities_split > 0) {
        fmt::format_to(
            std::back_inserter(out), "cities split into date windows: {}\n", counts.cities_split);
    }
    if (!totals.status_codes.empty()) {
        std::string line;
        for (const auto& [status, count] : totals.status_codes) {
            line += fmt::format("{}{}={}", line.empty() ? "" : " ", status, count);
        }
        fmt::format_to(std::back_inserter(out), "HTTP status of captured pages: {}\n", line);
    }
}

}  // namespace

std::string failure_kind(const page_problem& problem) {
    if (!problem.kind.empty()) {
        return problem.kind;
    }
    return kind_from_phase(problem);
}

std::string_view failure_kind(pipeline::transform_failure failure) {
    switch (failure) {
        case pipeline::transform_failure::invalid_json:
        case pipeline::transform_failure::incomplete_server_data:
            return kinds::truncated;
        case pipeline::transform_failure::bot_wall:
            return kinds::bot_wall;
        case pipeline::transform_failure::wrong_shape:
        case pipeline::transform_failure::missing_server_data:
        case pipeline::transform_failure::no_event_data:
            return kinds::bad_data;
    }
    return kinds::other;
}

kind_counts count_kinds(const city_line& city) {
    kind_counts counts;
    int retries_with_kind = 0;
    for (const auto& [kind, count] : city.retries_by_kind) {
        if (count > 0) {
            counts.retries[kind] += count;
            retries_with_kind += count;
        }
    }
    if (city.retries > retries_with_kind) {
        counts.retries[std::string(kinds::unknown)] += city.retries - retries_with_kind;
    }
    for (const auto& problem : city.problems) {
        ++counts.failures[failure_kind(problem)];
    }
    counts.cities_split = city.date_windows > 0 ? 1 : 0;
    return counts;
}

kind_counts count_kinds(const std::vector<city_line>& cities) {
    kind_counts total;
    for (const auto& city : cities) {
        const kind_counts counts = count_kinds(city);
        add_counts(total.retries, counts.retries);
        add_counts(total.failures, counts.failures);
        total.cities_split += counts.cities_split;
    }
    return total;
}

std::string format_counts(const std::map<std::string, int>& counts) {
    std::string line;
    for (const auto& [kind, count] : counts) {
        line += fmt::format("{}{}={}", line.empty() ? "" : " ", kind, count);
    }
    return line.empty() ? "none" : line;
}

void add_kind_counts(boost::json::object& city_json, const city_line& city) {
    const kind_counts counts = count_kinds(city);
    city_json["retries_by_kind"] = counts_to_json(counts.retries);
    city_json["failures_by_kind"] = counts_to_json(counts.failures);
    city_json["date_windows"] = city.date_windows;
}

void add_kind_counts(boost::json::object& run_json, const std::vector<city_line>& cities) {
    const kind_counts counts = count_kinds(cities);
    run_json["retries_by_kind"] = counts_to_json(counts.retries);
    run_json["failures_by_kind"] = counts_to_json(counts.failures);
    run_json["cities_split_into_date_windows"] = counts.cities_split;
}

std::string format_report(const std::vector<city_line>& cities, const run_totals& totals) {
    std::string out;
    fmt::format_to(std::back_inserter(out),
                   "\n{:<34} {:<11} {:>6} {:>7} {:>6} {:>7} {:>9}\n",
                   "city",
                   "status",
                   "pages",
                   "events",
                   "errors",
                   "retries",
                   "elapsed");
    int cities_ok = 0;
    std::int64_t pages = 0;
    std::int64_t events = 0;
    std::int64_t errors = 0;
    std::int64_t retries = 0;
    for (const auto& city : cities) {
        fmt::format_to(std::back_inserter(out),
                       "{:<34} {:<11} {:>6} {:>7} {:>6} {:>7} {:>8.1f}s\n",
                       city.slug,
                       city.status,
                       city.pages_captured,
                       city.events,
                       city.problems.size(),
                       city.retries,
                       static_cast<double>(city.elapsed.count()) / 1000.0);
        append_city_detail(out, city);
        cities_ok += city.status == "ok" ? 1 : 0;
        pages += city.pages_captured;
        events += city.events;
        errors += static_cast<std::int64_t>(city.problems.size());
        retries += city.retries;
    }

    const double seconds = std::max(0.001, static_cast<double>(totals.elapsed.count()) / 1000.0);
    fmt::format_to(std::back_inserter(out),
                   "\ncities: {} ({} ok, {} not ok){}\n",
                   cities.size(),
                   cities_ok,
                   cities.size() - static_cast<std::size_t>(cities_ok),
                   totals.interrupted ? ", run interrupted" : "");
    fmt::format_to(std::back_inserter(out),
                   "pages: {}, events: {}, page errors: {}, retries: {}\n",
                   pages,
                   events,
                   errors,
                   retries);
    fmt::format_to(std::back_inserter(out),
                   "elapsed: {:.2f} s, {:.1f} pages/s, {:.1f} events/s\n",
                   seconds,
                   static_cast<double>(pages) / seconds,
                   static_cast<double>(events) / seconds);
    fmt::format_to(
        std::back_inserter(out),
        "database: {} rows in events, {} batches, largest batch {} rows\n",
        totals.rows_in_database ? std::to_string(*totals.rows_in_database) : std::string{"unknown"},
        totals.batches,
        totals.max_batch_rows);
    append_run_counts(out, cities, totals);
    return out;
}

void print_report(const std::vector<city_line>& cities, const run_totals& totals) {
    const std::string report = format_report(cities, totals);
    std::fwrite(report.data(), 1, report.size(), stdout);
    std::fflush(stdout);
}

}  // namespace eventcrawl::app
