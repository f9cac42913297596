// End-to-end crawls with real Chromium against the local replay site.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/app/crawl_support.hpp"

using namespace eventcrawl::test;

TEST_SUITE("app") {
    TEST_CASE("crawl stores every corpus event") {
        replay_site site(corpus);
        temp_dir dir;
        const test_database database(dir.path());
        const auto result = run_command(crawl_argv(site.url(), database.dsn(), "async"));
        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        CHECK(database.number("SELECT count(*) FROM events") == expected_value("unique_events"));
        CHECK(database.number("SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities"));
        CHECK(database.number("SELECT sum(pages) FROM run_cities") ==
              expected_value("pages_crawled"));
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    }

    TEST_CASE("long batch age ends with crawl") {
        // The pipeline's flush timer runs every half batch age. Waiting it out after the last
        // page would add 300 s to this crawl.
        replay_site site(corpus);
        temp_dir dir;
        const test_database database(dir.path());
        auto argv = crawl_argv(site.url(), database.dsn(), "async");
        argv.insert(argv.end(), {"--batch-max-age-ms", "600000"});

        const auto started = std::chrono::steady_clock::now();
        const auto result = run_command(argv);
        const auto elapsed = std::chrono::steady_clock::now() - started;

        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        CHECK(elapsed < std::chrono::seconds(150));
        CHECK(database.number("SELECT count(*) FROM events") == expected_value("unique_events"));
    }

    TEST_CASE("sync and async rows match") {
        replay_site site(corpus);
        temp_dir dir;
        const test_database async_db(dir.path(), "async");
        const test_database sync_db(dir.path(), "sync");
        const auto async_run = run_command(crawl_argv(site.url(), async_db.dsn(), "async"));
        CAPTURE(async_run.output);
        REQUIRE(async_run.exit_code == 0);
        const auto sync_run = run_command(crawl_argv(site.url(), sync_db.dsn(), "sync"));
        CAPTURE(sync_run.output);
        REQUIRE(sync_run.exit_code == 0);
        const auto async_rows = async_db.dump();
        CHECK(async_rows.size() > 1000);
        CHECK(async_rows == sync_db.dump());
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
        const test_database database(dir.path());
        auto argv = crawl_argv(site.url(), database.dsn(), "async");
        argv[3] = (corpus_copy / "cities.yaml").string();
        const auto result = run_command(argv);
        CAPTURE(result.output);
        CHECK(result.exit_code == 2);
        CHECK(
            database.number("SELECT count(*) FROM run_cities WHERE city_slug = 'fl--key-west' AND "
                            "status = 'blocked'") == 1);
        CHECK(database.number("SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities") - 1);
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'partial'") == 1);
        CHECK(result.output.find("bot_wall") != std::string::npos);
    }

    TEST_CASE("sigterm stops crawl cleanly") {
        replay_site site(corpus, 400);
        temp_dir dir;
        const scoped_tmpdir tmpdir;
        const std::string& browsers_tmp = tmpdir.path();
        const auto before = chromium_processes(browsers_tmp);
        const test_database database(dir.path());
        background_process crawl(crawl_argv(site.url(), database.dsn(), "async"));
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        const int exit_code = crawl.stop();

        CHECK(exit_code == 2);
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'interrupted'") == 1);
        CHECK(database.number("SELECT count(*) FROM runs WHERE finished_at IS NULL") == 0);
        std::set<std::string> left;
        for (const auto& pid : chromium_processes(browsers_tmp)) {
            if (before.count(pid) == 0) {
                left.insert(pid);
            }
        }
        CHECK(left.empty());
    }

    TEST_CASE("resume after sigkill matches full run") {
        replay_site site(corpus, 500);
        temp_dir dir;
        const test_database full_db(dir.path(), "full");
        const test_database killed_db(dir.path(), "killed");
        const auto full = run_command(crawl_argv(site.url(), full_db.dsn(), "async"));
        CAPTURE(full.output);
        REQUIRE(full.exit_code == 0);

        const scoped_tmpdir tmpdir;
        const std::string& browsers_tmp = tmpdir.path();
        const auto before = chromium_processes(browsers_tmp);
        {
            background_process crawl(crawl_argv(site.url(), killed_db.dsn(), "async"));
            // The whole crawl needs more than 6 s at 500 ms per response (8 pages of one city
            // in sequence), so the kill lands part-way.
            std::this_thread::sleep_for(std::chrono::milliseconds(3500));
            crawl.send_signal(SIGKILL);
            CHECK(crawl.stop() == 128 + SIGKILL);
        }
        // The browsers die with the crawler (parent-death signal); give them time to exit.
        std::set<std::string> left;
        for (int attempt = 0; attempt < 50; ++attempt) {
            left.clear();
            for (const auto& pid : chromium_processes(browsers_tmp)) {
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
        REQUIRE(killed_db.number("SELECT count(*) FROM runs WHERE status = 'running'") == 1);
        // Pages archived before the kill are not requested again.
        const auto archived_before = killed_db.number("SELECT count(*) FROM raw_pages");
        const auto requests_before = site.total_requests();

        const auto resumed = run_command({eventcrawl_binary,
                                          "crawl",
                                          "--resume",
                                          "1",
                                          "--db",
                                          killed_db.dsn(),
                                          "--no-progress"});
        CAPTURE(resumed.output);
        REQUIRE(resumed.exit_code == 0);
        CHECK(site.total_requests() - requests_before ==
              expected_value("pages_crawled") - archived_before);
        CHECK(killed_db.number("SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
        CHECK(killed_db.number("SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities"));
        CHECK(killed_db.number("SELECT count(*) FROM events") == expected_value("unique_events"));
        CHECK(killed_db.dump() == full_db.dump());
    }

    TEST_CASE("resume skips archived last page") {
        // A run killed after a city's last page was archived, but before the city was recorded,
        // looks like this full run with that city's row removed.
        replay_site site(corpus);
        temp_dir dir;
        const test_database database(dir.path());
        const auto full = run_command(crawl_argv(site.url(), database.dsn(), "async"));
        CAPTURE(full.output);
        REQUIRE(full.exit_code == 0);
        const auto full_rows = database.dump();
        const auto city_pages =
            database.number("SELECT pages FROM run_cities WHERE city_slug = 'ny--new-york'");
        REQUIRE(city_pages >= 1);
        database.execute("DELETE FROM run_cities WHERE city_slug = 'ny--new-york'");
        database.execute("UPDATE runs SET status = 'interrupted'");
        const auto requests_before = site.total_requests();

        const auto resumed = run_command(
            {eventcrawl_binary, "crawl", "--resume", "1", "--db", database.dsn(), "--no-progress"});
        CAPTURE(resumed.output);
        REQUIRE(resumed.exit_code == 0);
        CHECK(site.total_requests() == requests_before);
        CHECK(resumed.output.find("city=ny--new-york complete in the archive") !=
              std::string::npos);
        CHECK(database.number("SELECT pages FROM run_cities WHERE city_slug = 'ny--new-york' "
                              "AND status = 'ok'") == city_pages);
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
        CHECK(database.dump() == full_rows);
    }

    TEST_CASE("retransform rebuilds deleted rows") {
        replay_site site(corpus);
        temp_dir dir;
        const test_database database(dir.path());
        REQUIRE(run_command(crawl_argv(site.url(), database.dsn(), "async")).exit_code == 0);
        const auto crawled = database.dump();
        REQUIRE(database.number("SELECT count(*) FROM raw_pages") ==
                expected_value("pages_crawled"));

        database.execute("DELETE FROM event_tags; DELETE FROM events;");
        REQUIRE(database.number("SELECT count(*) FROM events") == 0);
        const auto result =
            run_command({eventcrawl_binary, "retransform", "--db", database.dsn(), "--run", "1"});
        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        CHECK(database.number("SELECT count(*) FROM events") == expected_value("unique_events"));
        CHECK(database.dump() == crawled);
    }

    TEST_CASE("nightly locks and summarizes") {
        replay_site site(corpus);
        temp_dir dir;
        const auto state_dir = dir.path() / "var";
        const test_database nightly_db(dir.path(), "nightly");
        std::filesystem::create_directories(state_dir);
        const std::string nightly = std::string(EVENTCRAWL_SOURCE_DIR) + "/scripts/nightly";
        const std::vector<std::string> environment = {
            "EVENTCRAWL_BINARY=" + eventcrawl_binary,
            "EVENTCRAWL_STATE_DIR=" + state_dir.string(),
            "EVENTCRAWL_DB=" + nightly_db.dsn(),
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
