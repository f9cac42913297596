// A crawl into PostgreSQL stores what a crawl into SQLite stores. Runs under
// tests/db/pg_cluster.sh, which provides EVENTCRAWL_TEST_PG_DSN.
#include <doctest/doctest.h>

#include <cstdlib>
#include <regex>

#include "tests/app/crawl_support.hpp"

using namespace eventcrawl::test;

namespace {

// Exported JSON lines without the first/last-seen times, which differ between two crawls.
std::string export_without_seen_times(const std::string& dsn) {
    const auto result =
        run_command({eventcrawl_binary, "--log-level", "off", "export", "--db", dsn});
    if (result.exit_code != 0) {
        throw std::runtime_error("export failed: " + result.output);
    }
    static const std::regex seen_times(R"(,"first_seen_at":"[^"]*","last_seen_at":"[^"]*")");
    return std::regex_replace(result.output, seen_times, "");
}

}  // namespace

TEST_SUITE("app") {
    TEST_CASE("postgres crawl matches sqlite") {
        const char* postgres_dsn = std::getenv("EVENTCRAWL_TEST_PG_DSN");
        REQUIRE(postgres_dsn != nullptr);
        replay_site site(corpus);
        temp_dir dir;
        const auto sqlite_db = dir.path() / "events.db";

        const auto sqlite_run = run_command(crawl_argv(site.url(), sqlite_db, "async"));
        CAPTURE(sqlite_run.output);
        REQUIRE(sqlite_run.exit_code == 0);

        auto argv = crawl_argv(site.url(), sqlite_db, "async");
        argv[7] = postgres_dsn;  // the value after --db
        const auto postgres_run = run_command(argv);
        CAPTURE(postgres_run.output);
        REQUIRE(postgres_run.exit_code == 0);

        const auto from_sqlite = export_without_seen_times("sqlite:" + sqlite_db.string());
        const auto from_postgres = export_without_seen_times(postgres_dsn);
        CHECK(std::count(from_postgres.begin(), from_postgres.end(), '\n') ==
              expected_value("unique_events"));
        CHECK(from_postgres == from_sqlite);
    }
}
