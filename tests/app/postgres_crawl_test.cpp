// Crawls into PostgreSQL: the same rows as SQLite, and what happens when the server goes away
// mid-crawl. Runs under tests/db/pg_cluster.sh, which provides EVENTCRAWL_TEST_PG_DSN and the
// settings that stop and start its server.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <regex>
#include <sstream>

#include "tests/app/crawl_support.hpp"
#include "tests/app/pg_server.hpp"

using namespace eventcrawl::test;

namespace {

// Cities of a run that the store has committed as finished.
const std::string cities_committed = "SELECT count(*) FROM run_cities WHERE status = 'ok'";

// Lines of `output` that start with `prefix`.
std::vector<std::string> lines_starting_with(const std::string& output, const std::string& prefix) {
    std::vector<std::string> found;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(prefix, 0) == 0) {
            found.push_back(line);
        }
    }
    return found;
}

std::vector<std::string> resume_argv(long long run_id, const std::string& dsn) {
    return {eventcrawl_binary,
            "crawl",
            "--resume",
            std::to_string(run_id),
            "--db",
            dsn,
            "--no-progress"};
}

// Starts a command on another thread. The future returns its exit code and output.
std::future<command_result> run_in_background(std::vector<std::string> argv) {
    return std::async(std::launch::async, [argv] { return run_command(argv); });
}

// A run that stops part-way: a crawl ended by SIGTERM after its first city is committed.
// Returns the run id.
long long interrupted_run(const replay_site& site, const pg_database& database) {
    background_process crawl(crawl_argv(site.url(), database.dsn(), "async"));
    REQUIRE(database.wait_for_number(cities_committed, 1, std::chrono::seconds(120)));
    const int exit_code = crawl.stop();
    REQUIRE(exit_code == 2);
    REQUIRE(database.number("SELECT count(*) FROM runs WHERE status = 'interrupted'") == 1);
    return database.number("SELECT max(id) FROM runs");
}

// Checks that `database` holds one finished run with every city, page and event of the corpus,
// and rows equal to those of `reference`.
void check_one_complete_run(const pg_database& database, const pg_database& reference) {
    CHECK(database.number("SELECT count(*) FROM runs") == 1);
    CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    CHECK(database.number(cities_committed) == expected_value("cities"));
    CHECK(database.number("SELECT sum(pages) FROM run_cities") == expected_value("pages_crawled"));
    CHECK(database.number("SELECT count(*) FROM events") == expected_value("unique_events"));
    CHECK(database.event_rows() == reference.event_rows());
}

}  // namespace

TEST_SUITE("app") {
    TEST_CASE("postgres crawl matches sqlite") {
        const char* postgres_dsn = std::getenv("EVENTCRAWL_TEST_PG_DSN");
        REQUIRE(postgres_dsn != nullptr);
        replay_site site(corpus);
        temp_dir dir;
        const auto sqlite_db = dir.path() / "events.db";

        const auto sqlite_run =
            run_command(crawl_argv(site.url(), "sqlite:" + sqlite_db.string(), "async"));
        CAPTURE(sqlite_run.output);
        REQUIRE(sqlite_run.exit_code == 0);

        // Two load connections give the same rows as one.
        auto postgres_argv = crawl_argv(site.url(), postgres_dsn, "async");
        postgres_argv.insert(postgres_argv.end(), {"--db-load-connections", "2"});
        const auto postgres_run = run_command(postgres_argv);
        CAPTURE(postgres_run.output);
        REQUIRE(postgres_run.exit_code == 0);

        const auto from_sqlite = export_without_seen_times("sqlite:" + sqlite_db.string());
        const auto from_postgres = export_without_seen_times(postgres_dsn);
        CHECK(std::count(from_postgres.begin(), from_postgres.end(), '\n') ==
              expected_value("unique_events"));
        CHECK(from_postgres == from_sqlite);
    }

    TEST_CASE("database lost then resumed") {
        // 300 ms per response keeps the crawl going for several seconds after the first city.
        replay_site site(corpus, 300);
        const pg_database reference("reference");
        const pg_database database("lost");
        const auto full = run_command(crawl_argv(site.url(), reference.dsn(), "async"));
        CAPTURE(full.output);
        REQUIRE(full.exit_code == 0);

        // Declared before the guard, so that a failing test starts the server again before it
        // waits for the crawl.
        std::future<command_result> crawl;
        const pg_server_guard guard;
        crawl = run_in_background(crawl_argv(site.url(), database.dsn(), "async"));
        REQUIRE(database.wait_for_number(cities_committed, 1, std::chrono::seconds(120)));
        const auto run_id = database.number("SELECT max(id) FROM runs");
        stop_pg_server();

        // The server stays down until the crawl gives up. The store retries a write for about
        // 23 s and then reports the database unavailable, so the pipeline does not repeat it.
        REQUIRE(crawl.wait_for(std::chrono::minutes(8)) == std::future_status::ready);
        const auto lost = crawl.get();
        CAPTURE(lost.output);
        CHECK(lost.exit_code == 2);
        CHECK(lost.output.find("database write failed attempt=") == std::string::npos);
        const auto error_lines = lines_starting_with(lost.output, "error:");
        REQUIRE(error_lines.size() == 1);
        CHECK(error_lines[0].find(database.masked_dsn()) != std::string::npos);
        CHECK(error_lines[0].find("--resume " + std::to_string(run_id)) != std::string::npos);
        CHECK(lost.output.find(pg_database::password) == std::string::npos);
        CHECK(lost.output.find("database: unknown rows in events") != std::string::npos);

        start_pg_server();
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'ok'") == 0);
        // Some cities were left for the resume.
        CHECK(database.number(cities_committed) < expected_value("cities"));
        const auto resumed = run_command(resume_argv(run_id, database.dsn()));
        CAPTURE(resumed.output);
        REQUIRE(resumed.exit_code == 0);
        CHECK(resumed.output.find(pg_database::password) == std::string::npos);
        check_one_complete_run(database, reference);
    }

    TEST_CASE("database restart within retries") {
        replay_site site(corpus, 300);
        const pg_database reference("reference");
        const pg_database database("restarted");
        const auto full = run_command(crawl_argv(site.url(), reference.dsn(), "async"));
        CAPTURE(full.output);
        REQUIRE(full.exit_code == 0);

        std::future<command_result> crawl;
        const pg_server_guard guard;
        crawl = run_in_background(crawl_argv(site.url(), database.dsn(), "async"));
        REQUIRE(database.wait_for_number(cities_committed, 1, std::chrono::seconds(120)));
        restart_pg_server();

        REQUIRE(crawl.wait_for(std::chrono::minutes(5)) == std::future_status::ready);
        const auto result = crawl.get();
        CAPTURE(result.output);
        CHECK(result.exit_code == 0);
        // The store noticed the restart, so it happened while the crawl was still writing.
        CHECK(result.output.find("Lost PostgreSQL connection") != std::string::npos);
        CHECK(result.output.find(pg_database::password) == std::string::npos);
        check_one_complete_run(database, reference);
    }

    TEST_CASE("unclaimable run closed as failed") {
        replay_site site(corpus);
        const pg_database database("unclaimable");
        const auto created = run_command({eventcrawl_binary, "runs", "--db", database.dsn()});
        REQUIRE(created.exit_code == 0);
        // The run claim takes run ids up to 2147483647, so the next run cannot be claimed.
        database.query("ALTER TABLE runs ALTER COLUMN id RESTART WITH 2147483648");

        auto argv = crawl_argv(site.url(), database.dsn(), "async");
        argv.insert(argv.end(), {"--db-load-connections", "2"});
        const auto result = run_command(argv);

        CAPTURE(result.output);
        CHECK(result.exit_code == 1);
        CHECK(result.output.find("2147483648") != std::string::npos);
        CHECK(result.output.find("this crawl keeps 3 connections to the server open") !=
              std::string::npos);
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'failed' AND "
                              "finished_at IS NOT NULL") == 1);
        CHECK(database.number("SELECT count(*) FROM runs") == 1);
        CHECK(database.number("SELECT count(*) FROM events") == 0);
    }

    TEST_CASE("second resume of run rejected") {
        // 1 s per response, so the first resume still has the run claimed when the second starts.
        replay_site site(corpus, 1000);
        const pg_database reference("reference");
        const pg_database database("contested");
        const auto full = run_command(crawl_argv(site.url(), reference.dsn(), "async"));
        CAPTURE(full.output);
        REQUIRE(full.exit_code == 0);
        const auto run_id = interrupted_run(site, database);

        auto first = run_in_background(resume_argv(run_id, database.dsn()));
        // The claim is a session advisory lock keyed (0x65766372, run id) in this database.
        const std::string claims =
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
            "classid = 1702257522 AND objid = " +
            std::to_string(run_id) +
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        REQUIRE(database.wait_for_number(claims, 1, std::chrono::seconds(60)));

        const auto second = run_command(resume_argv(run_id, database.dsn()));
        CAPTURE(second.output);
        CHECK(second.exit_code == 1);
        CHECK(second.output.find("being written by another eventcrawl process") !=
              std::string::npos);
        CHECK(second.output.find(pg_database::password) == std::string::npos);
        // The first resume was still crawling when the second one gave up.
        CHECK(first.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);

        REQUIRE(first.wait_for(std::chrono::minutes(5)) == std::future_status::ready);
        const auto completed = first.get();
        CAPTURE(completed.output);
        CHECK(completed.exit_code == 0);
        CHECK(database.number("SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
        CHECK(database.number("SELECT sum(pages) FROM run_cities") ==
              expected_value("pages_crawled"));
        CHECK(database.number("SELECT count(*) FROM events") == expected_value("unique_events"));
        CHECK(database.event_rows() == reference.event_rows());
    }
}
