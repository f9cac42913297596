#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <signal.h>
#include <spdlog/cfg/env.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "crawler/browser_pool.hpp"
#include "crawler/city_task.hpp"
#include "crawler/rate_limiter.hpp"
#include "pipeline/transform.hpp"
#include "tests/crawler/replay_process.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using eventcrawl::crawler::browser_pool;
using eventcrawl::crawler::browser_pool_counters;
using eventcrawl::crawler::browser_pool_options;
using eventcrawl::crawler::city_report;
using eventcrawl::crawler::city_spec;
using eventcrawl::crawler::city_task_options;
using eventcrawl::crawler::page_sink;
using eventcrawl::crawler::paging_method;
using eventcrawl::crawler::resource_blocking;
using eventcrawl::crawler::run_city_task;
using eventcrawl::crawler::testing::replay_process;
using eventcrawl::crawler::testing::temp_folder;
using eventcrawl::pipeline::page_source;
using eventcrawl::pipeline::raw_page;

namespace {

std::string chromium_path() {
    const char* configured = std::getenv("EVENTCRAWL_CHROMIUM");
    if (configured == nullptr || *configured == '\0') {
        return eventcrawl::crawler::default_chromium_path();
    }
    return configured;
}

const std::string real_corpus = EVENTCRAWL_REPLAY_CORPUS;

// SPDLOG_LEVEL=debug shows every page and CDP connection step.
const bool log_levels_loaded = [] {
    spdlog::cfg::load_env_levels();
    return true;
}();

replay_process start_replay(const fs::path& corpus, int delay_ms = 0) {
    std::vector<std::string> arguments = {"--corpus", corpus.string()};
    if (delay_ms > 0) {
        arguments.push_back("--delay-ms");
        arguments.push_back(std::to_string(delay_ms));
    }
    return replay_process(EVENTCRAWL_REPLAY_BINARY, arguments);
}

class collecting_sink : public page_sink {
public:
    asio::awaitable<void> deliver(raw_page page) override {
        if (kill_browser_after_first_page && pages.empty() && pool != nullptr) {
            killed_pid = pool->browser_pid(0);
            ::kill(killed_pid, SIGKILL);
        }
        if (stop_signal != nullptr && pages.empty()) {
            stop_signal->emit(asio::cancellation_type::terminal);
        }
        if (kill_browser_after_pages > 0 &&
            static_cast<int>(pages.size()) + 1 == kill_browser_after_pages && pool != nullptr) {
            killed_pid = pool->browser_pid(0);
            ::kill(killed_pid, SIGKILL);
        }
        const auto slug = page.city_slug;
        pages.push_back(std::move(page));
        if (crash_tab_after_first_page && pages.size() == 1 && pool != nullptr) {
            co_await crash_tab(slug);
        }
    }

    std::vector<raw_page> pages;
    bool kill_browser_after_first_page = false;
    int kill_browser_after_pages = 0;  // SIGKILL browser 0 while delivering this page; 0 = never
    bool crash_tab_after_first_page = false;
    asio::cancellation_signal* stop_signal = nullptr;  // emitted while delivering the first page
    browser_pool* pool = nullptr;
    pid_t killed_pid = -1;
    int tabs_crashed = 0;

private:
    // Crashes the page target that shows `slug`'s listing with Page.crash, from a session of
    // its own on the same browser.
    asio::awaitable<void> crash_tab(std::string slug) {
        namespace json = boost::json;
        auto lease = co_await pool->lease();
        auto connection = lease.shared_connection();
        const std::chrono::milliseconds timeout(5000);
        auto targets = co_await connection->call("Target.getTargets", json::object(), "", timeout);
        const std::string listing_path = "/d/" + slug + "/";
        for (const auto& info : targets.at("targetInfos").as_array()) {
            const auto& target = info.as_object();
            const std::string url(target.at("url").as_string());
            if (target.at("type").as_string() != "page" ||
                url.find(listing_path) == std::string::npos) {
                continue;
            }
            json::object attach;
            attach["targetId"] = target.at("targetId");
            attach["flatten"] = true;
            auto attached =
                co_await connection->call("Target.attachToTarget", std::move(attach), "", timeout);
            const std::string session(attached.at("sessionId").as_string());
            // The target dies before it replies, so the call ends in an error or a timeout.
            co_await connection->try_call(
                "Page.crash", json::object(), session, std::chrono::milliseconds(2000));
            ++tabs_crashed;
            co_return;
        }
    }
};

// First and last day of a "start_date=YYYY-MM-DD&end_date=YYYY-MM-DD" query, as day numbers.
std::pair<long, long> window_days(const std::string& query) {
    int first_year = 0;
    unsigned first_month = 0;
    unsigned first_day = 0;
    int last_year = 0;
    unsigned last_month = 0;
    unsigned last_day = 0;
    std::sscanf(query.c_str(),
                "start_date=%d-%u-%u&end_date=%d-%u-%u",
                &first_year,
                &first_month,
                &first_day,
                &last_year,
                &last_month,
                &last_day);
    using namespace std::chrono;
    const sys_days first = year(first_year) / month(first_month) / day(first_day);
    const sys_days last = year(last_year) / month(last_month) / day(last_day);
    return {first.time_since_epoch().count(), last.time_since_epoch().count()};
}

// "city|query|page": the identity of a delivered page.
std::string page_key(const raw_page& page) {
    return fmt::format("{}|{}|{}", page.city_slug, page.query, page.page_number);
}

// Event ids in every delivered body, without duplicates.
std::set<std::string> unique_event_ids(const std::vector<raw_page>& pages) {
    std::set<std::string> ids;
    for (const auto& page : pages) {
        for (const auto& event : eventcrawl::pipeline::transform_page(page).events) {
            ids.insert(event.id);
        }
    }
    return ids;
}

// Everything a crawl run observed, checked after the io_context stopped.
struct crawl_run {
    browser_pool_options pool_options;
    city_task_options task_options;
    std::vector<city_spec> cities;
    bool throw_before_shutdown = false;
    bool one_city_at_a_time = false;

    collecting_sink sink;
    std::vector<city_report> reports;
    browser_pool_counters counters;
    std::vector<pid_t> process_groups;
    std::vector<fs::path> temp_dirs;
};

void remember_browsers(crawl_run* run, const browser_pool& pool) {
    for (int i = 0; i < static_cast<int>(pool.size()); ++i) {
        run->process_groups.push_back(pool.browser_pid(i));
        run->temp_dirs.push_back(pool.browser_temp_dir(i));
    }
}

// Starts a pool, crawls every city at once, and shuts the pool down.
asio::awaitable<void> crawl_all(crawl_run* run) {
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await browser_pool::start(executor, run->pool_options);
    remember_browsers(run, *pool);
    run->sink.pool = pool.get();
    if (run->throw_before_shutdown) {
        throw std::runtime_error("failure injected before shutdown");
    }

    run->reports.resize(run->cities.size());
    if (run->one_city_at_a_time) {
        for (std::size_t i = 0; i < run->cities.size(); ++i) {
            run->reports[i] =
                co_await run_city_task(*pool, run->cities[i], run->task_options, run->sink);
        }
    }
    std::size_t running = run->one_city_at_a_time ? 0 : run->cities.size();
    for (std::size_t i = 0; i < running; ++i) {
        asio::co_spawn(executor,
                       run_city_task(*pool, run->cities[i], run->task_options, run->sink),
                       [run, i, &running](std::exception_ptr error, city_report report) {
                           if (error) {
                               report.status = "exception";
                           }
                           run->reports[i] = std::move(report);
                           --running;
                       });
    }
    asio::steady_timer timer(executor);
    while (running > 0) {
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(asio::use_awaitable);
    }

    remember_browsers(run, *pool);
    run->counters = pool->counters();
    co_await pool->shutdown();
}

// Crawls the cities one after another under a stop signal that the sink emits, the way the
// crawl command's workers run: cancellation is recorded, not thrown.
asio::awaitable<void> crawl_until_stopped(crawl_run* run) {
    co_await asio::this_coro::throw_if_cancelled(false);
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await browser_pool::start(executor, run->pool_options);
    remember_browsers(run, *pool);
    run->sink.pool = pool.get();
    for (const auto& city : run->cities) {
        run->reports.push_back(co_await run_city_task(*pool, city, run->task_options, run->sink));
    }
    remember_browsers(run, *pool);
    run->counters = pool->counters();
    co_await pool->shutdown();
}

void execute(crawl_run& run) {
    asio::io_context io;
    std::exception_ptr failure;
    asio::co_spawn(io, crawl_all(&run), [&](std::exception_ptr error) { failure = error; });
    io.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
}

crawl_run make_run(const std::string& origin, std::vector<std::string> slugs) {
    crawl_run run;
    run.pool_options.chromium_path = chromium_path();
    run.pool_options.browsers = 1;
    for (auto& slug : slugs) {
        run.cities.push_back(city_spec{std::move(slug), origin});
    }
    return run;
}

// Number of live or zombie processes whose process group is `group`.
int processes_in_group(pid_t group) {
    int count = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
            continue;
        }
        std::ifstream stat(entry.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const auto close = text.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream fields(text.substr(close + 2));
        std::string state;
        long parent = 0;
        long process_group = 0;
        fields >> state >> parent >> process_group;
        if (process_group == group) {
            ++count;
        }
    }
    return count;
}

// Number of processes whose command line mentions `text` (a browser's temp dir).
int processes_mentioning(const std::string& text) {
    int count = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
            continue;
        }
        std::ifstream file(entry.path() / "cmdline", std::ios::binary);
        std::string command_line((std::istreambuf_iterator<char>(file)),
                                 std::istreambuf_iterator<char>());
        if (command_line.find(text) != std::string::npos) {
            ++count;
        }
    }
    return count;
}

void check_no_browser_left(const crawl_run& run) {
    REQUIRE_FALSE(run.process_groups.empty());
    for (std::size_t i = 0; i < run.process_groups.size(); ++i) {
        CAPTURE(run.process_groups[i]);
        CHECK(run.process_groups[i] > 0);
        CHECK(processes_in_group(run.process_groups[i]) == 0);
        CHECK(processes_mentioning(run.temp_dirs[i].string()) == 0);
        CHECK_FALSE(fs::exists(run.temp_dirs[i]));
    }
}

// Writes a corpus of cities that each serve New York's 33 recorded events (2 pages) with
// one fault rule.
void write_fault_corpus(const fs::path& folder,
                        const std::vector<std::pair<std::string, std::string>>& cities) {
    std::ofstream yaml(folder / "cities.yaml");
    yaml << "cities:\n";
    for (const auto& [slug, fault] : cities) {
        yaml << "  - slug: " << slug << "\n    name: Test " << slug
             << "\n    country: US\n    domain: www.eventbrite.com\n"
                "    timezone: America/New_York\n";
        fs::create_directories(folder / slug);
        fs::copy_file(fs::path(real_corpus) / "ny--new-york" / "results.json",
                      folder / slug / "results.json");
        std::ofstream(folder / slug / "faults.yaml") << "- " << fault << "\n";
    }
}

}  // namespace

TEST_SUITE("crawler.chromium") {
    TEST_CASE("city pages captured to the end") {
        struct paging_case {
            const char* slug;
            bool in_page_paging;
            int max_pages;
            int expected_pages;  // hand-counted from replay/corpus/real
            paging_method paging = paging_method::click;
        };
        // online--online-events: 150 events, 20 per page, continuation pagination (8 pages).
        // ny--new-york: 33 events, page_count 2. mi--ann-arbor: one recorded page announcing
        // page_count 21; page 2 has empty results.
        const paging_case cases[] = {
            {"online--online-events", true, 0, 8},
            {"online--online-events", false, 0, 8},
            {"online--online-events", true, 3, 3},
            {"ny--new-york", true, 0, 2},
            {"mi--ann-arbor", true, 0, 2},
            {"online--online-events", true, 0, 8, paging_method::fetch},
            {"online--online-events", true, 3, 3, paging_method::fetch},
            {"ny--new-york", true, 0, 2, paging_method::fetch},
            {"mi--ann-arbor", true, 0, 2, paging_method::fetch},
        };
        for (const auto& paging : cases) {
            const std::string slug = paging.slug;
            CAPTURE(slug);
            CAPTURE(paging.in_page_paging);
            CAPTURE(paging.max_pages);
            const bool fetch = paging.paging == paging_method::fetch;
            CAPTURE(fetch);
            auto replay = start_replay(real_corpus);
            auto run = make_run(replay.origin(), {paging.slug});
            run.task_options.in_page_paging = paging.in_page_paging;
            run.task_options.paging = paging.paging;
            run.task_options.max_pages = paging.max_pages;
            execute(run);

            REQUIRE(run.reports.size() == 1);
            const auto& report = run.reports[0];
            CHECK(report.status == "ok");
            CHECK(report.pages_captured == paging.expected_pages);
            CHECK(report.failures.empty());
            REQUIRE(run.sink.pages.size() == static_cast<std::size_t>(paging.expected_pages));
            for (std::size_t i = 0; i < run.sink.pages.size(); ++i) {
                const auto& page = run.sink.pages[i];
                CAPTURE(i);
                CHECK(page.page_number == static_cast<int>(i) + 1);
                CHECK(page.city_slug == paging.slug);
                CHECK(page.http_status == 200);
                const bool expect_xhr = paging.in_page_paging && i > 0;
                CHECK(page.source ==
                      (expect_xhr ? page_source::search_xhr : page_source::listing_html));
                if (page.source == page_source::listing_html) {
                    CHECK(page.body.find("window.__SERVER_DATA__") != std::string::npos);
                    CHECK(page.content_type == "text/html");
                } else {
                    CHECK(page.body.front() == '{');
                    CHECK(page.url.find("/api/v3/destination/search/") != std::string::npos);
                }
            }
            auto stats = replay.stats();
            CHECK(stats.at("requests").at("static").as_int64() == 0);
            if (paging.in_page_paging) {
                // One search request per page after the first, none rejected for CSRF.
                CHECK(stats.at("requests").at("search").as_int64() == paging.expected_pages - 1);
            }
            check_no_browser_left(run);
        }
    }

    TEST_CASE("headless shell and desktop binary capture the same pages") {
        // scripts/setup installs both Debian packages; the crawler prefers the headless shell.
        REQUIRE(::access(eventcrawl::crawler::headless_shell_path, X_OK) == 0);
        REQUIRE(::access(eventcrawl::crawler::desktop_chromium_path, X_OK) == 0);
        CHECK(eventcrawl::crawler::default_chromium_path() ==
              eventcrawl::crawler::headless_shell_path);

        for (const auto method : {paging_method::click, paging_method::fetch}) {
            const bool fetch = method == paging_method::fetch;
            CAPTURE(fetch);
            std::vector<std::vector<raw_page>> captured;
            for (const char* binary : {eventcrawl::crawler::headless_shell_path,
                                       eventcrawl::crawler::desktop_chromium_path}) {
                CAPTURE(binary);
                auto replay = start_replay(real_corpus);
                auto run = make_run(replay.origin(), {"online--online-events", "ny--new-york"});
                run.pool_options.chromium_path = binary;
                run.task_options.paging = method;
                run.one_city_at_a_time = true;
                execute(run);
                REQUIRE(run.reports.size() == 2);
                CHECK(run.reports[0].status == "ok");
                CHECK(run.reports[1].status == "ok");
                // 8 pages of online events and 2 of New York, hand-counted from the corpus.
                CHECK(run.sink.pages.size() == 10);
                CHECK(unique_event_ids(run.sink.pages).size() == 150 + 33);
                check_no_browser_left(run);
                captured.push_back(std::move(run.sink.pages));
            }
            REQUIRE(captured.size() == 2);
            REQUIRE(captured[0].size() == captured[1].size());
            for (std::size_t i = 0; i < captured[0].size(); ++i) {
                CAPTURE(i);
                CHECK(captured[0][i].city_slug == captured[1][i].city_slug);
                CHECK(captured[0][i].page_number == captured[1][i].page_number);
                CHECK(captured[0][i].source == captured[1][i].source);
                if (captured[0][i].source == page_source::search_xhr) {
                    CHECK(captured[0][i].body == captured[1][i].body);
                }
            }
        }
    }

    TEST_CASE("bot walls classified not delivered") {
        struct wall_case {
            const char* slug;
            const char* fault;
            const char* status;
            int pages_captured;
            int failed_page;
            int http_status;
            int attempts;  // a bot wall is requested twice, a 429 max_attempts (4) times
        };
        const wall_case cases[] = {
            {"tx--wall-listing-403",
             "{page: 1, endpoint: listing, kind: status, status: 403}",
             "blocked",
             0,
             1,
             403,
             2},
            {"tx--wall-no-place",
             "{page: 1, endpoint: listing, kind: no_place_id}",
             "blocked",
             0,
             1,
             200,
             2},
            {"tx--wall-search-html",
             "{page: 2, endpoint: search, kind: html_instead_of_json}",
             "failed",
             1,
             2,
             200,
             2},
            {"tx--wall-search-429",
             "{page: 2, endpoint: search, kind: status, status: 429}",
             "failed",
             1,
             2,
             429,
             4},
        };
        temp_folder corpus;
        std::vector<std::pair<std::string, std::string>> cities;
        for (const auto& wall : cases) {
            cities.emplace_back(wall.slug, wall.fault);
        }
        write_fault_corpus(corpus.path(), cities);
        auto replay = start_replay(corpus.path());
        std::vector<std::string> slugs;
        for (const auto& wall : cases) {
            slugs.emplace_back(wall.slug);
        }
        auto run = make_run(replay.origin(), slugs);
        execute(run);

        for (std::size_t i = 0; i < std::size(cases); ++i) {
            const auto& wall = cases[i];
            const auto& report = run.reports[i];
            const std::string slug = wall.slug;
            CAPTURE(slug);
            CHECK(report.status == wall.status);
            CHECK(report.pages_captured == wall.pages_captured);
            REQUIRE(report.failures.size() == 1);
            CHECK(report.failures[0].phase == "bot_wall");
            CHECK(report.failures[0].page == wall.failed_page);
            CHECK(report.failures[0].http_status == wall.http_status);
            CHECK(report.failures[0].attempts == wall.attempts);
            CHECK(report.retries == wall.attempts - 1);
            const auto delivered = std::count_if(
                run.sink.pages.begin(), run.sink.pages.end(), [&](const raw_page& page) {
                    return page.city_slug == wall.slug;
                });
            CHECK(delivered == wall.pages_captured);
        }
        check_no_browser_left(run);
    }

    TEST_CASE("failed pages retried and captured") {
        struct retry_case {
            const char* slug;
            const char* fault;
            int retries;
            page_source second_page_source;
        };
        // Each city serves New York's 33 events on 2 pages; every fault fires `times` times and
        // the next request gets the normal response. A 401 on the search API makes the crawler
        // reload ?page=2 (new CSRF token), so page 2 arrives as listing HTML.
        const retry_case cases[] = {
            {"tx--retry-429-header",
             "{page: 2, endpoint: search, kind: status, status: 429, retry_after: 1, times: 2}",
             2,
             page_source::search_xhr},
            {"tx--retry-429-backoff",
             "{page: 2, endpoint: search, kind: status, status: 429, times: 1}",
             1,
             page_source::search_xhr},
            {"tx--retry-listing-503",
             "{page: 1, endpoint: listing, kind: status, status: 503, times: 1}",
             1,
             page_source::search_xhr},
            {"tx--retry-truncated",
             "{page: 2, endpoint: search, kind: truncated_body, times: 1}",
             1,
             page_source::search_xhr},
            {"tx--retry-csrf",
             "{page: 2, endpoint: search, kind: status, status: 401, times: 1}",
             1,
             page_source::listing_html},
        };
        temp_folder corpus;
        std::vector<std::pair<std::string, std::string>> cities;
        std::vector<std::string> slugs;
        for (const auto& retry : cases) {
            cities.emplace_back(retry.slug, retry.fault);
            slugs.emplace_back(retry.slug);
        }
        write_fault_corpus(corpus.path(), cities);
        // Every case has the same outcome with either paging method.
        for (const auto method : {paging_method::click, paging_method::fetch}) {
            const bool fetch = method == paging_method::fetch;
            CAPTURE(fetch);
            auto replay = start_replay(corpus.path());
            auto run = make_run(replay.origin(), slugs);
            run.task_options.paging = method;
            execute(run);

            REQUIRE(run.reports.size() == std::size(cases));
            for (std::size_t i = 0; i < std::size(cases); ++i) {
                const auto& retry = cases[i];
                const auto& report = run.reports[i];
                const std::string slug = retry.slug;
                CAPTURE(slug);
                CHECK(report.status == "ok");
                CHECK(report.pages_captured == 2);
                CHECK(report.retries == retry.retries);
                CHECK(report.failures.empty());

                std::vector<const raw_page*> delivered;
                for (const auto& page : run.sink.pages) {
                    if (page.city_slug == retry.slug) {
                        delivered.push_back(&page);
                    }
                }
                REQUIRE(delivered.size() == 2);
                CHECK(delivered[0]->page_number == 1);
                CHECK(delivered[0]->http_status == 200);
                CHECK(delivered[1]->page_number == 2);
                CHECK(delivered[1]->http_status == 200);
                CHECK(delivered[1]->source == retry.second_page_source);
                if (delivered[1]->source == page_source::search_xhr) {
                    // Only the complete body is delivered, never the truncated first response.
                    boost::system::error_code parse_error;
                    boost::json::parse(delivered[1]->body, parse_error);
                    CHECK_FALSE(parse_error);
                }
            }
            check_no_browser_left(run);
        }
    }

    TEST_CASE("dropped connection retried") {
        struct drop_case {
            const char* slug;
            const char* fault;
            const char* endpoint;  // request kind counted by the replay site
            int requests;          // of that kind, dropped ones included
            int drops;
        };
        // Chromium 156 usually sends a request once more by itself when the server closes the
        // connection without a response, but not always (it depends on whether the socket was
        // reused), so the crawler's retries cover between none and every drop. The request
        // count is exact either way: every drop, then one request that gets a response.
        const drop_case cases[] = {
            {"tx--drop-listing-once",
             "{page: 1, endpoint: listing, kind: drop_connection, times: 1}",
             "listing",
             2,
             1},
            {"tx--drop-listing-twice",
             "{page: 1, endpoint: listing, kind: drop_connection, times: 2}",
             "listing",
             3,
             2},
            {"tx--drop-search-once",
             "{page: 2, endpoint: search, kind: drop_connection, times: 1}",
             "search",
             2,
             1},
            {"tx--drop-search-twice",
             "{page: 2, endpoint: search, kind: drop_connection, times: 2}",
             "search",
             3,
             2},
        };
        for (const auto& drop : cases) {
            const std::string slug = drop.slug;
            CAPTURE(slug);
            temp_folder corpus;
            write_fault_corpus(corpus.path(), {{drop.slug, drop.fault}});
            auto replay = start_replay(corpus.path());
            auto run = make_run(replay.origin(), {drop.slug});
            execute(run);

            const auto& report = run.reports[0];
            CHECK(report.status == "ok");
            CHECK(report.pages_captured == 2);
            CHECK(report.retries <= drop.drops);
            CHECK(report.failures.empty());
            CHECK(replay.stats().at("requests").at(drop.endpoint).as_int64() == drop.requests);
            REQUIRE(run.sink.pages.size() == 2);
            CHECK(run.sink.pages[0].page_number == 1);
            CHECK(run.sink.pages[1].page_number == 2);
            CHECK(run.sink.pages[1].source == page_source::search_xhr);
            check_no_browser_left(run);
        }
    }

    TEST_CASE("timed out search reloaded") {
        temp_folder corpus;
        write_fault_corpus(
            corpus.path(),
            {{"tx--slow-search",
              "{page: 2, endpoint: search, kind: delay, delay_ms: 8000, times: 1}"}});
        auto replay = start_replay(corpus.path());
        auto run = make_run(replay.origin(), {"tx--slow-search"});
        // The first search response arrives after the page budget, so that attempt times out.
        // The retry loads ?page=2 as a document, because the open page may still wait for its
        // request.
        run.task_options.page_timeout = std::chrono::milliseconds(4000);
        execute(run);

        const auto& report = run.reports[0];
        CHECK(report.status == "ok");
        CHECK(report.pages_captured == 2);
        CHECK(report.retries == 1);
        CHECK(report.failures.empty());
        REQUIRE(run.sink.pages.size() == 2);
        CHECK(run.sink.pages[1].page_number == 2);
        CHECK(run.sink.pages[1].source == page_source::listing_html);
        check_no_browser_left(run);
    }

    TEST_CASE("persistent bot wall retried once") {
        struct wall_case {
            const char* slug;
            const char* fault;
            const char* status;
            int pages_captured;
            int failed_page;
        };
        const wall_case cases[] = {
            {"tx--forbidden-listing",
             "{page: 1, endpoint: listing, kind: status, status: 403}",
             "blocked",
             0,
             1},
            {"tx--forbidden-search",
             "{page: 2, endpoint: search, kind: status, status: 403}",
             "failed",
             1,
             2},
        };
        temp_folder corpus;
        std::vector<std::pair<std::string, std::string>> cities;
        std::vector<std::string> slugs;
        for (const auto& wall : cases) {
            cities.emplace_back(wall.slug, wall.fault);
            slugs.emplace_back(wall.slug);
        }
        write_fault_corpus(corpus.path(), cities);
        auto replay = start_replay(corpus.path());
        auto run = make_run(replay.origin(), slugs);
        execute(run);

        for (std::size_t i = 0; i < std::size(cases); ++i) {
            const auto& wall = cases[i];
            const auto& report = run.reports[i];
            const std::string slug = wall.slug;
            CAPTURE(slug);
            CHECK(report.status == wall.status);
            CHECK(report.pages_captured == wall.pages_captured);
            CHECK(report.retries == 1);
            REQUIRE(report.failures.size() == 1);
            CHECK(report.failures[0].phase == "bot_wall");
            CHECK(report.failures[0].page == wall.failed_page);
            CHECK(report.failures[0].http_status == 403);
            CHECK(report.failures[0].attempts == 2);
        }
        check_no_browser_left(run);
    }

    TEST_CASE("static resources blocked per mode") {
        struct blocking_case {
            const char* name;
            resource_blocking blocking;
            bool expect_static_requests;
        };
        // The replay listing references a stylesheet, a preloaded font and an image, and the
        // browser requests /favicon.ico unless blocking gives the page an empty icon.
        const blocking_case cases[] = {
            {"none", resource_blocking::none, true},
            {"blocked_urls", resource_blocking::blocked_urls, false},
            {"fetch", resource_blocking::fetch, false},
        };
        for (const auto& blocking : cases) {
            const std::string name = blocking.name;
            CAPTURE(name);
            auto replay = start_replay(real_corpus);
            auto run = make_run(replay.origin(), {"ny--new-york"});
            run.task_options.blocking = blocking.blocking;
            execute(run);
            CHECK(run.reports[0].status == "ok");
            const auto static_requests = replay.stats().at("requests").at("static").as_int64();
            CAPTURE(static_requests);
            if (blocking.expect_static_requests) {
                CHECK(static_requests >= 3);
                CHECK(run.reports[0].static_requests_loaded >= 3);
            } else {
                CHECK(static_requests == 0);
                CHECK(run.reports[0].static_requests_loaded == 0);
                CHECK(run.reports[0].static_requests_blocked >= 3);
            }
            check_no_browser_left(run);
        }
    }

    TEST_CASE("two browsers crawl cities concurrently") {
        auto replay = start_replay(real_corpus, 150);
        auto run = make_run(replay.origin(),
                            {"ny--new-york", "australia--sydney", "va--ashburn", "mi--ann-arbor"});
        run.pool_options.browsers = 2;
        execute(run);
        for (const auto& report : run.reports) {
            CAPTURE(report.slug);
            CHECK(report.status == "ok");
            CHECK(report.pages_captured >= 1);
        }
        CHECK(run.counters.launched == 2);
        CHECK(replay.stats().at("max_in_flight").as_int64() >= 2);
        check_no_browser_left(run);
    }

    TEST_CASE("worn-out browser recycled") {
        auto replay = start_replay(real_corpus);
        auto run = make_run(replay.origin(), {"ny--new-york", "australia--sydney"});
        run.pool_options.pages_per_browser = 2;
        run.one_city_at_a_time = true;
        execute(run);
        CHECK(run.reports[0].status == "ok");
        CHECK(run.reports[0].pages_captured == 2);
        CHECK(run.reports[1].status == "ok");
        CHECK(run.reports[1].pages_captured == 1);
        CHECK(run.counters.recycled == 1);
        CHECK(run.counters.launched == 2);
        CHECK(run.counters.crashed == 0);
        REQUIRE(run.process_groups.size() == 2);
        CHECK(run.process_groups[0] != run.process_groups[1]);
        check_no_browser_left(run);
    }

    TEST_CASE("attached browser found via json version") {
        auto replay = start_replay(real_corpus);
        asio::io_context io;
        std::unique_ptr<eventcrawl::crawler::browser_process> browser;
        eventcrawl::crawler::browser_launch_options launch;
        launch.chromium_path = chromium_path();
        asio::co_spawn(io,
                       eventcrawl::crawler::browser_process::launch(io.get_executor(), launch),
                       [&](std::exception_ptr error,
                           std::unique_ptr<eventcrawl::crawler::browser_process> started) {
                           REQUIRE_FALSE(error);
                           browser = std::move(started);
                       });
        io.run();
        REQUIRE(browser);
        // ws://127.0.0.1:PORT/devtools/browser/<id> -> http://127.0.0.1:PORT
        const auto& url = browser->websocket_url();
        const auto port_end = url.find('/', std::string("ws://").size());
        const auto http_url = "http://" + url.substr(5, port_end - 5);

        auto run = make_run(replay.origin(), {"ny--new-york"});
        run.pool_options.browser_urls = {http_url};
        execute(run);
        CHECK(run.reports[0].status == "ok");
        CHECK(run.reports[0].pages_captured == 2);
        CHECK(run.counters.launched == 0);
        REQUIRE(run.process_groups.size() == 2);
        CHECK(run.process_groups[0] == -1);
        // The pool closes only its WebSocket to an attached browser; the browser keeps running.
        CHECK(processes_in_group(browser->pid()) > 0);
        const auto pid = browser->pid();
        const auto temp_dir = browser->temp_dir();
        browser.reset();
        CHECK(processes_in_group(pid) == 0);
        CHECK(processes_mentioning(temp_dir.string()) == 0);
        CHECK_FALSE(fs::exists(temp_dir));
    }

    TEST_CASE("shutdown after exception leaves nothing") {
        auto replay = start_replay(real_corpus);
        auto run = make_run(replay.origin(), {"ny--new-york"});
        run.pool_options.browsers = 2;
        run.throw_before_shutdown = true;
        CHECK_THROWS_WITH(execute(run), "failure injected before shutdown");
        CHECK(run.process_groups.size() == 2);
        check_no_browser_left(run);
    }

    TEST_CASE("killed browser replaced and city resumed") {
        auto replay = start_replay(real_corpus, 100);
        auto run = make_run(replay.origin(), {"online--online-events"});
        run.sink.kill_browser_after_first_page = true;
        execute(run);

        const auto& report = run.reports[0];
        CHECK(run.sink.killed_pid > 0);
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].phase == "browser");
        CHECK(report.failures[0].page == 2);
        CHECK(report.status == "ok");
        CHECK(report.pages_captured == 8);
        CHECK(run.counters.crashed == 1);
        CHECK(run.counters.launched == 2);
        CHECK(processes_in_group(run.sink.killed_pid) == 0);
        check_no_browser_left(run);
    }

    TEST_CASE("capped city split by date") {
        // One synthetic city of 3 pages: 60 rows, 59 unique events (page 2 repeats the last
        // event of page 1), starting every 2 days from 2027-01-04. With --result-cap 20 every
        // query matching more than 20 events announces a single page.
        auto replay = replay_process(
            EVENTCRAWL_REPLAY_BINARY,
            {"--synthetic-cities", "1", "--pages", "3", "--seed", "5", "--result-cap", "20"});
        auto run = make_run(replay.origin(), {"ny--new-york"});
        run.task_options.run_date =
            std::chrono::sys_days(std::chrono::year(2027) / std::chrono::January / 1);
        execute(run);

        REQUIRE(run.reports.size() == 1);
        const auto& report = run.reports[0];
        CHECK(report.status == "ok");
        CHECK(report.failures.empty());
        CHECK(report.split);
        REQUIRE(report.windows.size() > 2);
        CHECK(report.windows[0].query.empty());
        CHECK(report.windows[0].object_count == 60);
        CHECK(report.windows[0].capped);
        CHECK(report.windows[0].split);
        CHECK(report.windows[1].query == "start_date=2027-01-01&end_date=2027-12-31");
        CHECK(report.windows[1].split);

        // The windows that were crawled to the end tile the horizon without gaps.
        std::vector<std::string> leaves;
        int window_pages = 0;
        for (const auto& window : report.windows) {
            CAPTURE(window.query);
            window_pages += window.pages_captured;
            CHECK(window.split == window.capped);
            if (!window.split) {
                leaves.push_back(window.query);
            }
        }
        CHECK(window_pages == report.pages_captured);
        std::sort(leaves.begin(), leaves.end());
        REQUIRE_FALSE(leaves.empty());
        CHECK(leaves.front().starts_with("start_date=2027-01-01&"));
        CHECK(leaves.back().ends_with("&end_date=2027-12-31"));
        for (std::size_t i = 1; i < leaves.size(); ++i) {
            CAPTURE(leaves[i - 1]);
            CAPTURE(leaves[i]);
            CHECK(window_days(leaves[i]).first == window_days(leaves[i - 1]).second + 1);
        }

        std::set<std::string> keys;
        for (const auto& page : run.sink.pages) {
            CAPTURE(page_key(page));
            CHECK(keys.insert(page_key(page)).second);
            if (!page.query.empty()) {
                CHECK(page.page_number == 1);
                CHECK(page.url.find(page.query) != std::string::npos);
            }
        }
        CHECK(run.sink.pages.size() == static_cast<std::size_t>(report.pages_captured));
        CHECK(unique_event_ids(run.sink.pages).size() == 59);
        check_no_browser_left(run);
    }

    TEST_CASE("window limit leaves city partial") {
        auto replay = replay_process(
            EVENTCRAWL_REPLAY_BINARY,
            {"--synthetic-cities", "1", "--pages", "3", "--seed", "5", "--result-cap", "20"});
        auto run = make_run(replay.origin(), {"ny--new-york"});
        run.task_options.run_date =
            std::chrono::sys_days(std::chrono::year(2027) / std::chrono::January / 1);
        run.task_options.max_windows = 3;
        execute(run);

        const auto& report = run.reports[0];
        CHECK(report.status == "partial");
        CHECK(report.split);
        CHECK(report.windows.size() == 2);
        // The whole listing's page 1, then the one-year window's only announced page.
        CHECK(report.pages_captured == 2);
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].phase == "capped");
        CHECK(report.failures[0].page == 1);
        CHECK(report.failures[0].query == "start_date=2027-01-01&end_date=2027-12-31");
        CHECK(report.failures[0].message.find("max_windows") != std::string::npos);
        check_no_browser_left(run);
    }

    TEST_CASE("past capped listing split from events") {
        // The same city as above, crawled as if it ran in 2030, so every event lies before the
        // run date. The split range must start at the capped page's earliest start date
        // (2027-01-06) and still end a horizon after the run date.
        auto replay = replay_process(
            EVENTCRAWL_REPLAY_BINARY,
            {"--synthetic-cities", "1", "--pages", "3", "--seed", "5", "--result-cap", "20"});
        auto run = make_run(replay.origin(), {"ny--new-york"});
        run.task_options.run_date =
            std::chrono::sys_days(std::chrono::year(2030) / std::chrono::January / 1);
        execute(run);

        REQUIRE(run.reports.size() == 1);
        const auto& report = run.reports[0];
        CHECK(report.status == "ok");
        CHECK(report.failures.empty());
        CHECK(report.split);
        REQUIRE(report.windows.size() > 2);
        CHECK(report.windows[1].query == "start_date=2027-01-06&end_date=2030-12-31");
        CHECK(unique_event_ids(run.sink.pages).size() == 59);
        check_no_browser_left(run);
    }

    TEST_CASE("split_from sets range start") {
        // 33 of the 59 events start on or after 2027-03-01. The whole listing's capped page 1
        // adds 18 earlier ones, so 51 distinct events arrive.
        auto replay = replay_process(
            EVENTCRAWL_REPLAY_BINARY,
            {"--synthetic-cities", "1", "--pages", "3", "--seed", "5", "--result-cap", "20"});
        auto run = make_run(replay.origin(), {"ny--new-york"});
        run.task_options.run_date =
            std::chrono::sys_days(std::chrono::year(2027) / std::chrono::January / 1);
        run.task_options.split_from =
            std::chrono::sys_days(std::chrono::year(2027) / std::chrono::March / 1);
        execute(run);

        REQUIRE(run.reports.size() == 1);
        const auto& report = run.reports[0];
        CHECK(report.status == "ok");
        REQUIRE(report.windows.size() > 2);
        CHECK(report.windows[1].query == "start_date=2027-03-01&end_date=2027-12-31");
        CHECK(unique_event_ids(run.sink.pages).size() == 51);
        check_no_browser_left(run);
    }

    TEST_CASE("empty page retried not delivered") {
        struct empty_case {
            const char* fault;
            const char* status;
            int pages_captured;
            int retries;
            std::size_t unique_events;
        };
        // online--online-events: 150 events on 8 pages, each before the last with a
        // continuation. An emptied page keeps that continuation, so the crawler must request it
        // again: once for a single firing, and up to max_attempts (3 here) for a lasting one,
        // after which the city fails at page 3 with the events of pages 1 and 2.
        const empty_case cases[] = {
            {"empty_results,endpoint=search,page=2,times=1", "ok", 8, 1, 150},
            {"empty_results,endpoint=any,page=3", "failed", 2, 2, 40},
        };
        for (const auto& empty : cases) {
            const std::string fault = empty.fault;
            CAPTURE(fault);
            auto replay = replay_process(
                EVENTCRAWL_REPLAY_BINARY,
                {"--corpus", real_corpus, "--fault", fault + ",city=online--online-events"});
            auto run = make_run(replay.origin(), {"online--online-events"});
            run.task_options.retry.max_attempts = 3;
            run.task_options.retry.base_delay = std::chrono::milliseconds(50);
            execute(run);

            REQUIRE(run.reports.size() == 1);
            const auto& report = run.reports[0];
            CHECK(report.status == empty.status);
            CHECK(report.pages_captured == empty.pages_captured);
            CHECK(report.retries == empty.retries);
            CHECK(run.sink.pages.size() == static_cast<std::size_t>(empty.pages_captured));
            for (const auto& page : run.sink.pages) {
                CAPTURE(page.page_number);
                CHECK(eventcrawl::pipeline::read_page_facts(page).result_count > 0);
            }
            CHECK(unique_event_ids(run.sink.pages).size() == empty.unique_events);
            if (std::string(empty.status) == "failed") {
                REQUIRE(report.failures.size() == 1);
                CHECK(report.failures[0].phase == "empty_page");
                CHECK(report.failures[0].page == 3);
                CHECK(report.failures[0].attempts == 3);
            } else {
                CHECK(report.failures.empty());
            }
            check_no_browser_left(run);
        }
    }

    TEST_CASE("rate limit pauses other cities") {
        // Two 8-page cities on one host. The first city's page 2 gets one 429 with
        // Retry-After: 2, and that pause must hold back the other city's requests too.
        auto replay = replay_process(
            EVENTCRAWL_REPLAY_BINARY,
            {"--synthetic-cities",
             "2",
             "--pages",
             "8",
             "--delay-ms",
             "100",
             "--fault",
             "status,endpoint=search,city=ny--new-york,page=2,times=1,status=429,retry_after=2"});
        auto run = make_run(replay.origin(), {"ny--new-york", "ca--san-francisco"});
        auto limiter = std::make_shared<eventcrawl::crawler::rate_limiter>(
            eventcrawl::crawler::rate_limiter_options{});
        run.task_options.limiter = limiter;
        execute(run);

        REQUIRE(run.reports.size() == 2);
        for (const auto& report : run.reports) {
            CAPTURE(report.slug);
            CHECK(report.status == "ok");
            CHECK(report.pages_captured == 8);
        }
        CHECK(run.reports[0].retries == 1);
        CHECK(run.reports[1].retries == 0);
        const auto host = eventcrawl::crawler::origin_host(replay.origin());
        const auto stats = limiter->stats(host);
        CHECK(stats.rate_limited == 1);
        CHECK(stats.last_pause.count() == 2000);
        // The first city waits out Retry-After in its own retry delay. That delay starts after
        // the pause and so ends after it, which leaves the other city as the one that waited.
        CHECK(stats.waited_on_pause >= 1);
        CHECK(stats.granted == 17);
        check_no_browser_left(run);
    }

    TEST_CASE("browser killed while cities run") {
        auto replay =
            replay_process(EVENTCRAWL_REPLAY_BINARY,
                           {"--synthetic-cities", "4", "--pages", "6", "--delay-ms", "100"});
        auto run = make_run(
            replay.origin(),
            {"ny--new-york", "ca--san-francisco", "united-kingdom--london", "germany--berlin"});
        run.pool_options.browsers = 2;
        run.sink.kill_browser_after_pages = 5;
        execute(run);

        CHECK(run.sink.killed_pid > 0);
        CHECK(run.counters.crashed == 1);
        CHECK(run.counters.launched == 3);
        int cities_on_killed_browser = 0;
        for (const auto& report : run.reports) {
            CAPTURE(report.slug);
            CHECK(report.status == "ok");
            CHECK(report.pages_captured == 6);
            if (report.browser_leases > 1) {
                ++cities_on_killed_browser;
                REQUIRE(report.failures.size() == 1);
                CHECK(report.failures[0].phase == "browser");
            }
        }
        CHECK(cities_on_killed_browser >= 1);

        // Every page of every city arrives exactly once, whatever browser served it.
        std::map<std::string, std::set<int>> pages_by_city;
        std::set<std::string> keys;
        for (const auto& page : run.sink.pages) {
            CAPTURE(page_key(page));
            CHECK(keys.insert(page_key(page)).second);
            pages_by_city[page.city_slug].insert(page.page_number);
        }
        const std::set<int> all_pages = {1, 2, 3, 4, 5, 6};
        REQUIRE(pages_by_city.size() == 4);
        for (const auto& [slug, numbers] : pages_by_city) {
            CAPTURE(slug);
            CHECK(numbers == all_pages);
        }
        CHECK(run.sink.pages.size() == 24);
        CHECK(processes_in_group(run.sink.killed_pid) == 0);
        check_no_browser_left(run);
    }

    TEST_CASE("crashed tab replaced in context") {
        auto replay = start_replay(real_corpus, 100);
        auto run = make_run(replay.origin(), {"online--online-events"});
        run.sink.crash_tab_after_first_page = true;
        execute(run);

        const auto& report = run.reports[0];
        CHECK(run.sink.tabs_crashed == 1);
        CHECK(report.status == "ok");
        CHECK(report.tabs_replaced == 1);
        CHECK(report.browser_leases == 1);
        REQUIRE(report.failures.size() == 1);
        CHECK(report.failures[0].phase == "tab_crashed");
        CHECK(report.failures[0].page == 2);
        CHECK(run.counters.crashed == 0);
        CHECK(run.counters.launched == 1);
        REQUIRE(run.sink.pages.size() == 8);
        for (std::size_t i = 0; i < run.sink.pages.size(); ++i) {
            CAPTURE(i);
            CHECK(run.sink.pages[i].page_number == static_cast<int>(i) + 1);
        }
        check_no_browser_left(run);
    }

    TEST_CASE("stop request blocks retries") {
        auto replay = start_replay(real_corpus, 100);
        auto run = make_run(replay.origin(), {"online--online-events", "ny--new-york"});
        asio::cancellation_signal stop;
        run.sink.stop_signal = &stop;
        run.sink.kill_browser_after_first_page = true;
        asio::io_context io;
        std::exception_ptr failure;
        asio::co_spawn(io,
                       crawl_until_stopped(&run),
                       asio::bind_cancellation_slot(
                           stop.slot(), [&](std::exception_ptr error) { failure = error; }));
        io.run();
        if (failure) {
            std::rethrow_exception(failure);
        }

        REQUIRE(run.reports.size() == 2);
        const auto& stopped = run.reports[0];
        CHECK(stopped.status == "failed");
        CHECK(stopped.pages_captured == 1);
        CHECK(stopped.browser_leases == 1);
        const auto& not_started = run.reports[1];
        CHECK(not_started.status == "interrupted");
        CHECK(not_started.pages_captured == 0);
        CHECK(not_started.browser_leases == 0);
        CHECK(run.counters.launched == 1);
        CHECK(run.sink.pages.size() == 1);
        check_no_browser_left(run);
    }
}

namespace {

using eventcrawl::crawler::idle_page_target;

// Registers a parked target's session, runs `method` on it and parks the target again.
asio::awaitable<boost::json::object> call_on_parked_target(browser_pool* pool,
                                                           std::string method,
                                                           boost::json::object params,
                                                           idle_page_target* seen) {
    auto lease = co_await pool->lease();
    auto connection = lease.shared_connection();
    auto idle = lease.take_idle_target();
    if (!idle) {
        throw std::runtime_error("no page target parked on browser 0");
    }
    *seen = *idle;
    connection->register_session(idle->session_id, idle->target_id);
    auto result = co_await connection->call(
        std::move(method), std::move(params), idle->session_id, std::chrono::milliseconds(5000));
    connection->unregister_session(idle->session_id);
    lease.park_target(std::move(*idle));
    co_return result;
}

struct reuse_observations {
    idle_page_target after_first_city;
    idle_page_target after_second_city;
    std::int64_t cookies_after_second_city = -1;
    std::string cookie_list;
    std::string storage_after_second_city;
};

// Crawls two cities one after another, plants a cookie and localStorage in the target the
// first city parked, and reads both back after the second city took that target over.
asio::awaitable<void> crawl_with_planted_state(crawl_run* run, reuse_observations* seen) {
    namespace json = boost::json;
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await browser_pool::start(executor, run->pool_options);
    remember_browsers(run, *pool);

    run->reports.push_back(
        co_await run_city_task(*pool, run->cities[0], run->task_options, run->sink));
    json::object cookie;
    cookie["name"] = "planted";
    cookie["value"] = "by-first-city";
    cookie["url"] = run->cities[0].origin + "/";
    co_await call_on_parked_target(
        pool.get(), "Network.setCookie", cookie, &seen->after_first_city);
    json::object plant;
    plant["expression"] = "localStorage.setItem('planted', 'yes'); localStorage.length";
    plant["returnByValue"] = true;
    co_await call_on_parked_target(pool.get(), "Runtime.evaluate", plant, &seen->after_first_city);

    run->reports.push_back(
        co_await run_city_task(*pool, run->cities[1], run->task_options, run->sink));
    auto cookies = co_await call_on_parked_target(
        pool.get(), "Network.getCookies", json::object(), &seen->after_second_city);
    seen->cookie_list = boost::json::serialize(cookies);
    // The listing's own script sets a csrftoken cookie, so only the planted one is counted.
    seen->cookies_after_second_city = 0;
    for (const auto& item : cookies.at("cookies").as_array()) {
        if (item.at("name").as_string() == "planted") {
            ++seen->cookies_after_second_city;
        }
    }
    json::object read;
    read["expression"] = "String(localStorage.getItem('planted'))";
    read["returnByValue"] = true;
    auto stored = co_await call_on_parked_target(
        pool.get(), "Runtime.evaluate", read, &seen->after_second_city);
    seen->storage_after_second_city = std::string(stored.at("result").at("value").as_string());

    remember_browsers(run, *pool);
    run->counters = pool->counters();
    co_await pool->shutdown();
}

}  // namespace

TEST_SUITE("crawler.chromium.reuse") {
    TEST_CASE("page target reused with state cleared") {
        auto replay = start_replay(real_corpus);
        auto run = make_run(replay.origin(), {"ny--new-york", "australia--sydney"});
        reuse_observations seen;
        asio::io_context io;
        std::exception_ptr failure;
        asio::co_spawn(io, crawl_with_planted_state(&run, &seen), [&](std::exception_ptr error) {
            failure = error;
        });
        io.run();
        if (failure) {
            std::rethrow_exception(failure);
        }

        REQUIRE(run.reports.size() == 2);
        CHECK(run.reports[0].status == "ok");
        CHECK(run.reports[1].status == "ok");
        CHECK(run.reports[1].pages_captured >= 1);
        CHECK(seen.after_second_city.target_id == seen.after_first_city.target_id);
        CHECK(seen.after_second_city.context_id == seen.after_first_city.context_id);
        CAPTURE(seen.cookie_list);
        CHECK(seen.cookies_after_second_city == 0);
        CHECK(seen.cookie_list.find("csrftoken") != std::string::npos);
        CHECK(seen.storage_after_second_city == "null");
        // Parked by: city 1, two plants, city 2, two reads. Taken by: two plants, city 2, two
        // reads.
        CHECK(run.counters.targets_parked == 6);
        CHECK(run.counters.targets_reused == 5);
        check_no_browser_left(run);
    }

    TEST_CASE("fresh context per city parks nothing") {
        auto replay = start_replay(real_corpus);
        auto run = make_run(replay.origin(), {"ny--new-york", "australia--sydney"});
        run.task_options.fresh_context_per_city = true;
        run.one_city_at_a_time = true;
        execute(run);
        REQUIRE(run.reports.size() == 2);
        CHECK(run.reports[0].status == "ok");
        CHECK(run.reports[1].status == "ok");
        CHECK(run.counters.targets_parked == 0);
        CHECK(run.counters.targets_reused == 0);
        check_no_browser_left(run);
    }

    TEST_CASE("reused targets across sequential cities") {
        auto replay = start_replay(real_corpus);
        auto run = make_run(replay.origin(),
                            {"ny--new-york", "australia--sydney", "va--ashburn", "mi--ann-arbor"});
        run.one_city_at_a_time = true;
        execute(run);
        for (const auto& report : run.reports) {
            CAPTURE(report.slug);
            CHECK(report.status == "ok");
            CHECK(report.pages_captured >= 1);
        }
        CHECK(run.counters.targets_parked == 4);
        CHECK(run.counters.targets_reused == 3);
        check_no_browser_left(run);
    }
}
