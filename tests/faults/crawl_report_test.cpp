// The end-of-run report's counts by kind, on hand-made city reports (no crawl, no Chromium).
#include "app/crawl_report.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

using namespace eventcrawl::app;
using eventcrawl::pipeline::transform_failure;

namespace {

page_problem make_problem(int page, std::string phase, int http_status, std::string kind = {}) {
    page_problem problem;
    problem.page = page;
    problem.phase = std::move(phase);
    problem.http_status = http_status;
    problem.message = "hand-made problem";
    problem.kind = std::move(kind);
    return problem;
}

// A city blocked on page 1 after retries for a 503 and a timeout, with one retry of no kind.
city_line blocked_city() {
    city_line city;
    city.slug = "fl--key-west";
    city.status = "blocked";
    city.retries = 3;
    city.retries_by_kind = {{"http_5xx", 1}, {"timeout", 1}};
    city.problems.push_back(make_problem(1, "bot_wall", 403));
    city.elapsed = std::chrono::milliseconds(1500);
    return city;
}

// A city split into date windows that lost one page to a truncated body and one to a reset.
city_line split_city() {
    city_line city;
    city.slug = "online--online-events";
    city.status = "failed";
    city.pages_captured = 7;
    city.events = 130;
    city.retries = 2;
    city.retries_by_kind = {{"truncated_body", 2}};
    city.problems.push_back(make_problem(4, "transform", 200, "truncated_body"));
    city.problems.push_back(make_problem(6, "navigate", 0));
    city.date_windows = 3;
    city.elapsed = std::chrono::milliseconds(4200);
    return city;
}

}  // namespace

TEST_SUITE("crawl_report") {
    TEST_CASE("failure kind from phase") {
        struct row {
            const char* phase;
            int status;
            const char* kind;
        };
        const std::vector<row> rows = {
            {"bot_wall", 403, "bot_wall"},
            {"timeout", 0, "timeout"},
            {"browser", 0, "browser_died"},
            {"interrupted", 0, "interrupted"},
            {"capped", 200, "capped"},
            {"navigate", 503, "http_5xx"},
            {"capture", 429, "http_4xx"},
            {"navigate", 404, "http_4xx"},
            {"connect", 0, "network_error"},
            {"navigate", 0, "network_error"},
            {"capture", 0, "network_error"},
            {"transform", 200, "other"},
            {"transform", 503, "other"},
            {"city", 0, "other"},
        };
        for (const auto& entry : rows) {
            CAPTURE(entry.phase);
            CAPTURE(entry.status);
            CHECK(failure_kind(make_problem(1, entry.phase, entry.status)) == entry.kind);
        }
    }

    TEST_CASE("failure kind set by producer") {
        CHECK(failure_kind(make_problem(2, "transform", 200, "truncated_body")) ==
              "truncated_body");
    }

    TEST_CASE("failure kind of transform") {
        struct row {
            transform_failure failure;
            const char* kind;
        };
        const std::vector<row> rows = {
            {transform_failure::invalid_json, "truncated_body"},
            {transform_failure::incomplete_server_data, "truncated_body"},
            {transform_failure::bot_wall, "bot_wall"},
            {transform_failure::wrong_shape, "bad_data"},
            {transform_failure::missing_server_data, "bad_data"},
            {transform_failure::no_event_data, "bad_data"},
        };
        for (const auto& entry : rows) {
            CAPTURE(entry.kind);
            CHECK(failure_kind(entry.failure) == entry.kind);
        }
    }

    TEST_CASE("count kinds of one city") {
        const auto counts = count_kinds(blocked_city());
        CHECK(format_counts(counts.retries) == "http_5xx=1 timeout=1 unknown=1");
        CHECK(format_counts(counts.failures) == "bot_wall=1");
        CHECK(counts.cities_split == 0);
    }

    TEST_CASE("count kinds of a run") {
        const auto counts = count_kinds(std::vector<city_line>{blocked_city(), split_city()});
        CHECK(format_counts(counts.retries) == "http_5xx=1 timeout=1 truncated_body=2 unknown=1");
        CHECK(format_counts(counts.failures) == "bot_wall=1 network_error=1 truncated_body=1");
        CHECK(counts.cities_split == 1);
    }

    TEST_CASE("count kinds without retries") {
        city_line city;
        city.slug = "va--ashburn";
        city.status = "ok";
        const auto counts = count_kinds(city);
        CHECK(format_counts(counts.retries) == "none");
        CHECK(format_counts(counts.failures) == "none");
    }

    TEST_CASE("report lines by kind") {
        run_totals totals;
        totals.elapsed = std::chrono::milliseconds(5000);
        totals.status_codes = {{200, 7}, {403, 1}};
        const auto report = format_report({blocked_city(), split_city()}, totals);
        CAPTURE(report);
        CHECK(report.find("    retries: http_5xx=1 timeout=1 unknown=1; failures: bot_wall=1\n") !=
              std::string::npos);
        CHECK(report.find("    retries: truncated_body=2; failures: network_error=1 "
                          "truncated_body=1\n") != std::string::npos);
        CHECK(report.find("    split into 3 date windows\n") != std::string::npos);
        CHECK(report.find("failures by kind: bot_wall=1 network_error=1 truncated_body=1\n") !=
              std::string::npos);
        CHECK(report.find("retries by kind: http_5xx=1 timeout=1 truncated_body=2 unknown=1\n") !=
              std::string::npos);
        CHECK(report.find("cities split into date windows: 1\n") != std::string::npos);
        CHECK(report.find("failures by phase: bot_wall=1 navigate=1 transform=1\n") !=
              std::string::npos);
        CHECK(report.find("HTTP status of captured pages: 200=7 403=1\n") != std::string::npos);
        CHECK(report.find("pages: 7, events: 130, page errors: 3, retries: 5\n") !=
              std::string::npos);
    }

    TEST_CASE("report of a clean run") {
        city_line city;
        city.slug = "va--ashburn";
        city.status = "ok";
        city.pages_captured = 1;
        city.events = 12;
        run_totals totals;
        totals.elapsed = std::chrono::milliseconds(2000);
        const auto report = format_report({city}, totals);
        CAPTURE(report);
        CHECK(report.find("failures by kind: none\n") != std::string::npos);
        CHECK(report.find("retries by kind: none\n") != std::string::npos);
        CHECK(report.find("    retries:") == std::string::npos);
        CHECK(report.find("date windows") == std::string::npos);
        CHECK(report.find("cities: 1 (1 ok, 0 not ok)\n") != std::string::npos);
    }

    TEST_CASE("summary json by kind") {
        boost::json::object city_json;
        add_kind_counts(city_json, split_city());
        CHECK(boost::json::serialize(city_json) ==
              R"({"retries_by_kind":{"truncated_body":2},)"
              R"("failures_by_kind":{"network_error":1,"truncated_body":1},"date_windows":3})");

        boost::json::object run_json;
        add_kind_counts(run_json, std::vector<city_line>{blocked_city(), split_city()});
        CHECK(boost::json::serialize(run_json) ==
              R"({"retries_by_kind":{"http_5xx":1,"timeout":1,"truncated_body":2,"unknown":1},)"
              R"("failures_by_kind":{"bot_wall":1,"network_error":1,"truncated_body":1},)"
              R"("cities_split_into_date_windows":1})");
    }
}
