// End-to-end crawls with real Chromium against the local replay site.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <thread>

#include "tests/app/crawl_support.hpp"

using namespace eventcrawl::test;

TEST_SUITE("app") {
    TEST_CASE("crawl stores every corpus event") {
        replay_site site(corpus);
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        const auto result = run_command(crawl_argv(site.url(), database, "async"));
        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        CHECK(query_number(database, "SELECT count(*) FROM events") ==
              expected_value("unique_events"));
        CHECK(query_number(database, "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities"));
        CHECK(query_number(database, "SELECT sum(pages) FROM run_cities") ==
              expected_value("pages_crawled"));
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    }

    TEST_CASE("sync and async rows match") {
        replay_site site(corpus);
        temp_dir dir;
        const auto async_db = dir.path() / "async.db";
        const auto sync_db = dir.path() / "sync.db";
        const auto async_run = run_command(crawl_argv(site.url(), async_db, "async"));
        CAPTURE(async_run.output);
        REQUIRE(async_run.exit_code == 0);
        const auto sync_run = run_command(crawl_argv(site.url(), sync_db, "sync"));
        CAPTURE(sync_run.output);
        REQUIRE(sync_run.exit_code == 0);
        const auto async_rows = table_dump(async_db);
        CHECK(async_rows.size() > 1000);
        CHECK(async_rows == table_dump(sync_db));
    }

    TEST_CASE("blocked city keeps others") {
        temp_dir dir;
        const auto corpus_copy = dir.path() / "corpus";
        std::filesystem::copy(corpus, corpus_copy, std::filesystem::copy_options::recursive);
        {
            std::ofstream faults(corpus_copy / "fl--key-west" / "faults.yaml");
            faults << "- {page: 1, endpoint: listing, kind: status, status: 403}\n";
        }
        replay_site site(corpus_copy);
        const auto database = dir.path() / "events.db";
        auto argv = crawl_argv(site.url(), database, "async");
        argv[3] = (corpus_copy / "cities.yaml").string();
        const auto result = run_command(argv);
        CAPTURE(result.output);
        CHECK(result.exit_code == 2);
        CHECK(query_number(database,
                           "SELECT count(*) FROM run_cities WHERE city_slug = 'fl--key-west' AND "
                           "status = 'blocked'") == 1);
        CHECK(query_number(database, "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities") - 1);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'partial'") == 1);
        CHECK(result.output.find("bot_wall") != std::string::npos);
    }

    TEST_CASE("sigterm stops crawl cleanly") {
        const auto before = chromium_processes();
        replay_site site(corpus, 400);
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        background_process crawl(crawl_argv(site.url(), database, "async"));
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        const int exit_code = crawl.stop();

        CHECK(exit_code == 2);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'interrupted'") ==
              1);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE finished_at IS NULL") == 0);
        std::set<std::string> left;
        for (const auto& pid : chromium_processes()) {
            if (before.count(pid) == 0) {
                left.insert(pid);
            }
        }
        CHECK(left.empty());
    }

    TEST_CASE("resume after sigkill matches full run") {
        replay_site site(corpus, 500);
        temp_dir dir;
        const auto full_db = dir.path() / "full.db";
        const auto killed_db = dir.path() / "killed.db";
        const auto full = run_command(crawl_argv(site.url(), full_db, "async"));
        CAPTURE(full.output);
        REQUIRE(full.exit_code == 0);

        const auto before = chromium_processes();
        {
            background_process crawl(crawl_argv(site.url(), killed_db, "async"));
            std::this_thread::sleep_for(std::chrono::milliseconds(2500));
            crawl.send_signal(SIGKILL);
            CHECK(crawl.stop() == 128 + SIGKILL);
        }
        // The browsers die with the crawler (parent-death signal); give them time to exit.
        std::set<std::string> left;
        for (int attempt = 0; attempt < 50; ++attempt) {
            left.clear();
            for (const auto& pid : chromium_processes()) {
                if (before.count(pid) == 0) {
                    left.insert(pid);
                }
            }
            if (left.empty()) {
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        CHECK(left.empty());
        REQUIRE(query_number(killed_db, "SELECT count(*) FROM runs WHERE status = 'running'") == 1);

        const auto resumed = run_command({eventcrawl_binary,
                                          "crawl",
                                          "--resume",
                                          "1",
                                          "--db",
                                          "sqlite:" + killed_db.string(),
                                          "--no-progress"});
        CAPTURE(resumed.output);
        REQUIRE(resumed.exit_code == 0);
        CHECK(query_number(killed_db, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
        CHECK(query_number(killed_db, "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities"));
        CHECK(query_number(killed_db, "SELECT count(*) FROM events") ==
              expected_value("unique_events"));
        CHECK(table_dump(killed_db) == table_dump(full_db));
    }

    TEST_CASE("retransform rebuilds deleted rows") {
        replay_site site(corpus);
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        REQUIRE(run_command(crawl_argv(site.url(), database, "async")).exit_code == 0);
        const auto crawled = table_dump(database);
        REQUIRE(query_number(database, "SELECT count(*) FROM raw_pages") ==
                expected_value("pages_crawled"));

        execute_sql(database, "DELETE FROM event_tags; DELETE FROM events;");
        REQUIRE(query_number(database, "SELECT count(*) FROM events") == 0);
        const auto result = run_command({eventcrawl_binary,
                                         "retransform",
                                         "--db",
                                         "sqlite:" + database.string(),
                                         "--run",
                                         "1"});
        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        CHECK(query_number(database, "SELECT count(*) FROM events") ==
              expected_value("unique_events"));
        CHECK(table_dump(database) == crawled);
    }

    TEST_CASE("nightly locks and summarizes") {
        replay_site site(corpus);
        temp_dir dir;
        const auto state_dir = dir.path() / "var";
        std::filesystem::create_directories(state_dir);
        const std::string nightly = std::string(EVENTCRAWL_SOURCE_DIR) + "/scripts/nightly";
        const std::vector<std::string> environment = {
            "EVENTCRAWL_BINARY=" + eventcrawl_binary,
            "EVENTCRAWL_STATE_DIR=" + state_dir.string(),
            "EVENTCRAWL_DB=sqlite:" + (dir.path() / "nightly.db").string(),
            "EVENTCRAWL_CITIES=" + (corpus / "cities.yaml").string(),
            "EVENTCRAWL_BASE_URL=" + site.url(),
        };

        {
            const int lock = ::open((state_dir / "nightly.lock").c_str(), O_CREAT | O_RDWR, 0600);
            REQUIRE(lock >= 0);
            REQUIRE(::flock(lock, LOCK_EX) == 0);
            const auto blocked = run_command({"/bin/bash", nightly}, environment);
            CAPTURE(blocked.output);
            CHECK(blocked.exit_code == 75);
            ::close(lock);
        }

        const auto result = run_command({"/bin/bash", nightly}, environment);
        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        std::string summary;
        std::string log;
        for (const auto& entry : std::filesystem::directory_iterator(state_dir / "log")) {
            const auto name = entry.path().filename().string();
            if (name.ends_with(".summary.json")) {
                summary = read_text(entry.path());
            } else if (name.ends_with(".log")) {
                log = read_text(entry.path());
            }
        }
        CHECK(summary.find("\"status\":\"ok\"") != std::string::npos);
        CHECK(summary.find("\"rows_in_database\":" +
                           std::to_string(expected_value("unique_events"))) != std::string::npos);
        CHECK(log.find("\"logger\":\"app\"") != std::string::npos);
    }
}
