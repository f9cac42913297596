// A crawl into PostgreSQL stores what a crawl into SQLite stores. Runs under
// tests/db/pg_cluster.sh, which provides EVENTCRAWL_TEST_PG_DSN.
#include <doctest/doctest.h>

#include <cstdlib>
#include <regex>

#include "tests/app/crawl_support.hpp"

using namespace eventcrawl::test;

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

        const auto postgres_run = run_command(crawl_argv(site.url(), postgres_dsn, "async"));
        CAPTURE(postgres_run.output);
        REQUIRE(postgres_run.exit_code == 0);

        const auto from_sqlite = export_without_seen_times("sqlite:" + sqlite_db.string());
        const auto from_postgres = export_without_seen_times(postgres_dsn);
        CHECK(std::count(from_postgres.begin(), from_postgres.end(), '\n') ==
              expected_value("unique_events"));
        CHECK(from_postgres == from_sqlite);
    }
}
