// Crawls the real replay corpus with one injected fault at a time and compares the stored rows
// with a fault-free reference crawl. It needs Chromium, and every crawl runs against a replay
// site on 127.0.0.1 that the test starts and stops.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/app/process.hpp"
#include "tests/app/sqlite_query.hpp"
#include "tests/faults/fault_support.hpp"

using namespace eventcrawl::faults_test;
namespace test = eventcrawl::test;
namespace fs = std::filesystem;

namespace {

// Exit codes of `eventcrawl crawl` (app/crawl_command.hpp): every city ok, or some cities
// failed or the run was interrupted.
constexpr int exit_ok = 0;
constexpr int exit_partial = 2;

// The city that the unrecoverable faults block. It has one listing page.
const std::string blocked_city = "fl--key-west";

// Stored rows of a fault-free crawl.
struct reference_crawl {
    std::vector<std::string> rows;
};

// The fault-free crawl of `cities` (every city when empty), run once per set of cities.
const reference_crawl& reference(const std::vector<std::string>& cities) {
    static std::map<std::vector<std::string>, reference_crawl> cache;
    if (const auto found = cache.find(cities); found != cache.end()) {
        return found->second;
    }
    test::temp_dir dir;
    copy_corpus(dir.path() / "corpus", "", "");
    fs::create_directories(dir.path() / "tmp");
    replay_site site(dir.path() / "corpus", {});
    crawl_setup setup;
    setup.corpus_dir = dir.path() / "corpus";
    setup.base_url = site.url();
    setup.dsn = "sqlite:" + (dir.path() / "events.db").string();
    setup.chromium_tmp = dir.path() / "tmp";
    setup.cities = cities;
    const auto result = test::run_command(crawl_argv(setup));
    if (result.exit_code != exit_ok) {
        throw std::runtime_error("the fault-free reference crawl failed: " + result.output);
    }
    reference_crawl crawl;
    crawl.rows = event_rows(dir.path() / "events.db");
    return cache[cities] = std::move(crawl);
}

std::string join_flags(const std::vector<std::string>& flags) {
    std::string text;
    for (const auto& flag : flags) {
        text += (text.empty() ? "" : " ") + flag;
    }
    return text;
}

std::vector<std::string> cities_except(const std::string& excluded) {
    std::vector<std::string> cities;
    for (const auto& city : corpus_cities(real_corpus)) {
        if (city != excluded) {
            cities.push_back(city);
        }
    }
    return cities;
}

std::string first_lines(const std::vector<std::string>& lines, std::size_t count) {
    std::string text;
    for (std::size_t i = 0; i < std::min(count, lines.size()); ++i) {
        std::string line = lines[i];
        std::replace(line.begin(), line.end(), '\x1f', '|');
        text += line + '\n';
    }
    return text;
}

// Compares stored rows with the reference: no row missing, none extra, none duplicated.
void check_rows_equal(const std::vector<std::string>& actual,
                      const std::vector<std::string>& expected) {
    std::vector<std::string> sorted_actual = actual;
    std::vector<std::string> sorted_expected = expected;
    std::sort(sorted_actual.begin(), sorted_actual.end());
    std::sort(sorted_expected.begin(), sorted_expected.end());
    std::vector<std::string> missing;
    std::vector<std::string> extra;
    std::set_difference(sorted_expected.begin(),
                        sorted_expected.end(),
                        sorted_actual.begin(),
                        sorted_actual.end(),
                        std::back_inserter(missing));
    std::set_difference(sorted_actual.begin(),
                        sorted_actual.end(),
                        sorted_expected.begin(),
                        sorted_expected.end(),
                        std::back_inserter(extra));
    const auto missing_sample = first_lines(missing, 3);
    const auto extra_sample = first_lines(extra, 3);
    CAPTURE(missing_sample);
    CAPTURE(extra_sample);
    CHECK(missing.size() == 0);
    CHECK(extra.size() == 0);
    CHECK(actual.size() == expected.size());
}

void check_no_chromium_left(const fs::path& chromium_tmp) {
    const auto left = processes_matching(chromium_tmp.string());
    CAPTURE(chromium_tmp);
    CHECK(left.size() == 0);
    for (const pid_t pid : left) {
        ::kill(pid, SIGKILL);
    }
}

// One injected fault and the outcome it must lead to.
struct fault_case {
    const char* name;
    std::string city;                       // city the fault hits
    std::vector<std::string> replay_flags;  // eventbrite-replay flags that inject it
    std::string faults_yaml;                // or rules for the city's faults.yaml
    std::string fault_kind;                 // counter in /__replay/stats "faults"; empty: none
    bool recoverable = true;
    std::string expected_status;  // run_cities.status of `city` when not recoverable
    std::string expected_reason;  // text in run_cities.last_error when not recoverable
};

std::vector<std::string> fault_flag(const std::string& rule) {
    return {"--fault", rule};
}

// A fault that the retry policy absorbs: the crawl must end with every reference row.
fault_case recoverable(const char* name,
                       const std::string& city,
                       std::vector<std::string> replay_flags,
                       const std::string& faults_yaml,
                       const std::string& fault_kind) {
    fault_case fault;
    fault.name = name;
    fault.city = city;
    fault.replay_flags = std::move(replay_flags);
    fault.faults_yaml = faults_yaml;
    fault.fault_kind = fault_kind;
    return fault;
}

// A fault that stays: `city` must fail with `status` and a reason containing `reason`.
fault_case unrecoverable(const char* name,
                         const std::string& city,
                         std::vector<std::string> replay_flags,
                         const std::string& fault_kind,
                         const std::string& status,
                         const std::string& reason) {
    fault_case fault = recoverable(name, city, std::move(replay_flags), "", fault_kind);
    fault.recoverable = false;
    fault.expected_status = status;
    fault.expected_reason = reason;
    return fault;
}

std::vector<fault_case> fault_cases() {
    const std::string online = "online--online-events";  // 150 events on 8 pages
    const std::string on_online = ",city=" + online;
    return {
        recoverable("429 with Retry-After",
                    online,
                    fault_flag("status,endpoint=search,page=2,status=429,retry_after=1,times=1" +
                               on_online),
                    "",
                    "status"),
        recoverable("429 without Retry-After",
                    online,
                    fault_flag("status,endpoint=search,page=3,status=429,times=2" + on_online),
                    "",
                    "status"),
        recoverable("503 on listing",
                    "mi--ann-arbor",
                    {},
                    "- {page: 1, endpoint: listing, kind: status, status: 503, times: 2}\n",
                    "status"),
        recoverable("403 blocked page once",
                    "ny--new-york",
                    fault_flag("blocked,endpoint=listing,page=1,times=1,city=ny--new-york"),
                    "",
                    "blocked"),
        recoverable("HTML instead of JSON",
                    online,
                    fault_flag("html_instead_of_json,endpoint=search,page=4,times=1" + on_online),
                    "",
                    "html_instead_of_json"),
        recoverable("truncated search JSON",
                    online,
                    fault_flag("truncated_body,endpoint=search,page=2,times=1" + on_online),
                    "",
                    "truncated_body"),
        recoverable(
            "truncated server data",
            "va--ashburn",
            fault_flag("truncated_server_data,endpoint=listing,page=1,times=1,city=va--ashburn"),
            "",
            "truncated_server_data"),
        recoverable(
            "listing without placeId once",
            "australia--sydney",
            fault_flag("no_place_id,endpoint=listing,page=1,times=1,city=australia--sydney"),
            "",
            "no_place_id"),
        recoverable("search stall past timeout",
                    online,
                    fault_flag("stall,endpoint=search,page=5,delay_ms=7000,times=1" + on_online),
                    "",
                    "stall"),
        recoverable(
            "listing delay past timeout",
            "germany--traunstein",
            fault_flag(
                "delay,endpoint=listing,page=1,delay_ms=7000,times=1,city=germany--traunstein"),
            "",
            "delay"),
        recoverable("connection reset",
                    online,
                    fault_flag("reset,endpoint=search,page=3,times=1" + on_online),
                    "",
                    "reset"),
        recoverable("clean connection drop",
                    online,
                    fault_flag("drop_connection,endpoint=search,page=6,times=2" + on_online),
                    "",
                    "drop_connection"),
        recoverable("empty results, full object_count",
                    online,
                    fault_flag("empty_results,endpoint=search,page=2,times=1" + on_online),
                    "",
                    "empty_results"),
        recoverable("page_count capped",
                    online,
                    fault_flag("capped_pages,endpoint=any,page_count=3" + on_online),
                    "",
                    "capped_pages"),
        // The replay site counts no firing for a result cap, so only the rows show its effect.
        recoverable("result cap, date windows", online, {"--result-cap", "40"}, "", ""),
        recoverable("latency with jitter",
                    online,
                    {"--jitter-ms",
                     "300",
                     "--fault-seed",
                     "1",
                     "--fault",
                     "delay,endpoint=any,delay_ms=100"},
                    "",
                    "delay"),
        unrecoverable("persistent 403",
                      blocked_city,
                      fault_flag("blocked,endpoint=listing,city=" + blocked_city),
                      "blocked",
                      "blocked",
                      "403"),
        unrecoverable("persistent missing placeId",
                      blocked_city,
                      fault_flag("no_place_id,endpoint=listing,city=" + blocked_city),
                      "no_place_id",
                      "blocked",
                      "placeId"),
    };
}

// Reads a --summary-json file, or returns an empty object when it is missing or invalid.
boost::json::object read_summary(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code error;
    const auto value = boost::json::parse(text.str(), error);
    if (error || !value.is_object()) {
        return {};
    }
    return value.get_object();
}

}  // namespace

TEST_SUITE("faults") {
    TEST_CASE("fault matrix rows") {
        const auto& fault_free = reference({});
        REQUIRE(fault_free.rows.size() > 200);
        const auto city_count = static_cast<long long>(corpus_cities(real_corpus).size());

        for (const auto& fault : fault_cases()) {
            const std::string case_name = fault.name;
            CAPTURE(case_name);
            CAPTURE(fault.faults_yaml);
            const std::string replay_flags = join_flags(fault.replay_flags);
            CAPTURE(replay_flags);
            test::temp_dir dir;
            copy_corpus(dir.path() / "corpus",
                        fault.faults_yaml.empty() ? "" : fault.city,
                        fault.faults_yaml);
            fs::create_directories(dir.path() / "tmp");
            replay_site site(dir.path() / "corpus", fault.replay_flags);

            crawl_setup setup;
            setup.corpus_dir = dir.path() / "corpus";
            setup.base_url = site.url();
            setup.dsn = "sqlite:" + (dir.path() / "events.db").string();
            setup.chromium_tmp = dir.path() / "tmp";
            setup.summary_json = (dir.path() / "summary.json").string();
            const auto result = test::run_command(crawl_argv(setup));
            const auto database = dir.path() / "events.db";
            CAPTURE(result.output);

            const auto stats = site.stats();
            if (!fault.fault_kind.empty()) {
                const auto firings = fault_firings(stats, fault.fault_kind);
                CHECK(firings.has_value());
                CHECK(firings.value_or(0) >= 1);
            }

            if (fault.recoverable) {
                CHECK(result.exit_code == exit_ok);
                check_rows_equal(event_rows(database), fault_free.rows);
                CHECK(test::query_number(database,
                                         "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
                      city_count);
            } else {
                CHECK(result.exit_code == exit_partial);
                check_rows_equal(event_rows(database), reference(cities_except(fault.city)).rows);
                const auto rows = test::query_rows(
                    database,
                    "SELECT status, coalesce(last_error, '') FROM run_cities WHERE city_slug = '" +
                        fault.city + "'");
                CHECK(rows.size() == 1);
                if (rows.size() == 1) {
                    CHECK(rows[0][0] == fault.expected_status);
                    CHECK(rows[0][1].find(fault.expected_reason) != std::string::npos);
                }
                CHECK(test::query_number(database,
                                         "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
                      city_count - 1);
                CHECK(test::query_number(
                          database, "SELECT count(*) FROM runs WHERE status = 'partial'") == 1);
                CHECK(result.output.find("failures by kind: bot_wall=1\n") != std::string::npos);
                const auto summary = read_summary(setup.summary_json);
                const auto* failures = summary.if_contains("failures_by_kind");
                CHECK(failures != nullptr);
                if (failures != nullptr && failures->is_object()) {
                    CHECK(failures->get_object().if_contains("bot_wall") != nullptr);
                }
            }
            check_no_chromium_left(setup.chromium_tmp);
        }
    }

    TEST_CASE("invalid split_from rejected") {
        const char* invalid_values[] = {"2024-13-01", "2024-02-30", "2024-1-01", "yesterday"};
        for (const std::string value : invalid_values) {
            CAPTURE(value);
            test::temp_dir dir;
            const auto database = dir.path() / "events.db";
            const auto result = test::run_command({eventcrawl_binary,
                                                   "crawl",
                                                   "--db",
                                                   "sqlite:" + database.string(),
                                                   "--split-from",
                                                   value,
                                                   "--no-progress"});
            CAPTURE(result.output);
            CHECK(result.exit_code == 1);
            CHECK(result.output ==
                  "error: --split-from '" + value +
                      "' is not a valid date; expected YYYY-MM-DD, such as 2024-01-31\n");
            CHECK_FALSE(fs::exists(database));
        }
    }

    TEST_CASE("browser killed mid run") {
        const auto& fault_free = reference({});
        test::temp_dir dir;
        copy_corpus(dir.path() / "corpus", "", "");
        fs::create_directories(dir.path() / "tmp");
        replay_site site(dir.path() / "corpus", {"--delay-ms", "150"});
        crawl_setup setup;
        setup.corpus_dir = dir.path() / "corpus";
        setup.base_url = site.url();
        setup.dsn = "sqlite:" + (dir.path() / "events.db").string();
        setup.chromium_tmp = dir.path() / "tmp";

        std::optional<pid_t> browser;
        int exit_code = -1;
        {
            test::background_process crawl(crawl_argv(setup));
            const bool started = wait_until(std::chrono::seconds(30), [&] {
                browser = browser_process(setup.chromium_tmp.string());
                return browser.has_value() &&
                       site.stats().at("requests").at("listing").to_number<long long>() >= 2;
            });
            REQUIRE(started);
            // The browser must belong to this crawl's process tree.
            const auto tree = descendants_of(crawl.pid());
            CHECK(std::find(tree.begin(), tree.end(), *browser) != tree.end());
            ::kill(*browser, SIGKILL);
            wait_until(std::chrono::minutes(3), [&] { return has_exited(crawl.pid()); });
            // stop() reaps the crawl (or ends it, when it hangs) and returns its exit code.
            exit_code = crawl.stop();
        }
        CHECK(exit_code == exit_ok);
        check_rows_equal(event_rows(dir.path() / "events.db"), fault_free.rows);
        check_no_chromium_left(setup.chromium_tmp);
    }

    TEST_CASE("sigterm then resume") {
        const auto& fault_free = reference({});
        test::temp_dir dir;
        copy_corpus(dir.path() / "corpus", "", "");
        fs::create_directories(dir.path() / "tmp");
        replay_site site(dir.path() / "corpus", {"--delay-ms", "300"});
        crawl_setup setup;
        setup.corpus_dir = dir.path() / "corpus";
        setup.base_url = site.url();
        setup.dsn = "sqlite:" + (dir.path() / "events.db").string();
        setup.chromium_tmp = dir.path() / "tmp";
        const auto database = dir.path() / "events.db";

        int exit_code = -1;
        {
            test::background_process crawl(crawl_argv(setup));
            const bool started = wait_until(std::chrono::seconds(30), [&] {
                return site.stats().at("requests").at("search").to_number<long long>() >= 2;
            });
            REQUIRE(started);
            exit_code = crawl.stop();
        }
        const auto run_statuses = test::query_rows(database, "SELECT status FROM runs");
        const std::string first_run_status = run_statuses.empty() ? "" : run_statuses[0].at(0);
        CAPTURE(first_run_status);
        CHECK(exit_code == exit_partial);
        CHECK(test::query_number(database,
                                 "SELECT count(*) FROM runs WHERE status = "
                                 "'interrupted'") == 1);
        check_no_chromium_left(setup.chromium_tmp);

        const auto run_id = test::query_number(database, "SELECT max(id) FROM runs");
        const auto resumed = test::run_command({"/usr/bin/env",
                                                "TMPDIR=" + setup.chromium_tmp.string(),
                                                eventcrawl_binary,
                                                "--log-level",
                                                "warn",
                                                "crawl",
                                                "--db",
                                                setup.dsn,
                                                "--resume",
                                                std::to_string(run_id),
                                                "--no-progress"});
        CAPTURE(resumed.output);
        CHECK(resumed.exit_code == exit_ok);
        CHECK(test::query_number(database, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
        check_rows_equal(event_rows(database), fault_free.rows);
        check_no_chromium_left(setup.chromium_tmp);
    }
}
