// Runs against the cluster that pg_cluster.sh starts; it exports EVENTCRAWL_TEST_PG_DSN.
#include "db/postgres_store.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "db/batch_writer.hpp"
#include "db/detail/migration.hpp"
#include "db/store.hpp"
#include "pipeline/event_record.hpp"
#include "tests/db/test_support.hpp"

namespace db = eventcrawl::db;
namespace pipeline = eventcrawl::pipeline;

namespace {

constexpr std::string_view first_seen = "2026-07-01T10:00:00Z";
constexpr std::string_view second_seen = "2026-07-02T11:30:00Z";

std::string test_dsn() {
    const char* dsn = std::getenv("EVENTCRAWL_TEST_PG_DSN");
    REQUIRE_MESSAGE(dsn != nullptr,
                    "EVENTCRAWL_TEST_PG_DSN is not set; run this suite through "
                    "tests/db/pg_cluster.sh or ctest -L postgres");
    return dsn;
}

// A connection for checking what the store wrote. Constructing it empties the database. Its
// session shows timestamptz values in UTC ("2026-07-01 10:00:00+00").
class pg_probe {
public:
    pg_probe() : connection_{test_dsn()} {
        pqxx::work transaction{connection_};
        transaction.exec0("DROP SCHEMA public CASCADE");
        transaction.exec0("CREATE SCHEMA public");
        transaction.commit();
        pqxx::nontransaction session{connection_};
        session.exec0("SET TIME ZONE 'UTC'");
    }

    void exec(const std::string& sql) {
        pqxx::work transaction{connection_};
        transaction.exec0(sql);
        transaction.commit();
    }

    // The first column of the first row as text, "<null>" for NULL.
    std::string text(const std::string& sql) {
        pqxx::nontransaction query{connection_};
        const pqxx::row row = query.exec1(sql);
        return row[0].is_null() ? std::string{"<null>"} : row[0].as<std::string>();
    }

    std::vector<std::string> column(const std::string& sql) {
        pqxx::nontransaction query{connection_};
        std::vector<std::string> values;
        for (const pqxx::row& row : query.exec(sql)) {
            values.push_back(row[0].is_null() ? std::string{"<null>"} : row[0].as<std::string>());
        }
        return values;
    }

private:
    pqxx::connection connection_;
};

pipeline::event_record full_event(const std::string& id) {
    pipeline::event_record event;
    event.id = id;
    event.name = "Harbor Swing " + id;
    event.summary = "Big band by the water";
    event.url = "https://www.eventbrite.com/e/harbor-swing-tickets-" + id;
    event.timezone = "America/Los_Angeles";
    event.start_local = "2026-08-01T19:00:00";
    event.start_utc = "2026-08-02T02:00:00Z";
    event.city = "San Francisco";
    event.latitude = 37.7749;
    event.longitude = -122.4194;
    event.price_min_minor = 1500;
    event.price_max_minor = 3000;
    event.currency = "USD";
    event.tags = {"EventbriteCategory/103", "EventbriteFormat/11"};
    return event;
}

// Copies every line of the "db" logger into a string while it lives.
class db_log_capture {
public:
    db_log_capture() : sink_{std::make_shared<spdlog::sinks::ostream_sink_mt>(lines_)} {
        db::open_store("sqlite::memory:");  // creates the "db" logger if nothing has yet
        logger_ = spdlog::get("db");
        REQUIRE(logger_ != nullptr);
        previous_level_ = logger_->level();
        logger_->set_level(spdlog::level::debug);
        logger_->sinks().push_back(sink_);
    }
    ~db_log_capture() {
        auto& sinks = logger_->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
        logger_->set_level(previous_level_);
    }
    db_log_capture(const db_log_capture&) = delete;
    db_log_capture& operator=(const db_log_capture&) = delete;

    std::string text() const { return lines_.str(); }

private:
    std::ostringstream lines_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> logger_;
    spdlog::level::level_enum previous_level_ = spdlog::level::info;
};

// The test DSN with a password added; the cluster uses trust authentication, so the server
// ignores the password and the connection succeeds.
std::string dsn_with_password(const std::string& password) {
    const std::string dsn = test_dsn();
    const std::string user = "postgresql://postgres";
    REQUIRE(dsn.starts_with(user));
    return user + ":" + password + dsn.substr(user.size());
}

std::string required_env(const char* name) {
    const char* value = std::getenv(name);
    REQUIRE_MESSAGE(value != nullptr,
                    name << " is not set; run this suite through tests/db/pg_cluster.sh");
    return value;
}

// Runs pg_ctl on the throwaway cluster (as the postgres user, like pg_cluster.sh) and returns
// its exit status. `action` is "status", "stop", "start" or "restart". Stop and restart use fast
// mode, which ends every client session, and start uses the options of the first start.
int pg_ctl(const std::string& action) {
    const std::string command =
        "runuser -u postgres -- '" + required_env("EVENTCRAWL_TEST_PG_BIN") + "/pg_ctl' -D '" +
        required_env("EVENTCRAWL_TEST_PG_DATA") + "' -l '" +
        required_env("EVENTCRAWL_TEST_PG_LOG") + "' -w -t 60 " +
        (action == "start" ? "-o '" + required_env("EVENTCRAWL_TEST_PG_SERVER_OPTIONS") + "' "
                           : std::string{"-m fast "}) +
        action + " >/dev/null";
    return std::system(command.c_str());
}

// Starts the cluster again on destruction when a test left it stopped, so that later tests
// find it running whatever failed.
class running_server_guard {
public:
    running_server_guard() = default;
    ~running_server_guard() {
        if (pg_ctl("status") != 0) {
            pg_ctl("start");
        }
    }
    running_server_guard(const running_server_guard&) = delete;
    running_server_guard& operator=(const running_server_guard&) = delete;
};

// The first column of the first row, read on a new connection (the probe's connection does not
// survive a server restart).
std::string fresh_text(const std::string& sql) {
    pqxx::connection connection{test_dsn()};
    pqxx::nontransaction query{connection};
    const pqxx::row row = query.exec1(sql);
    return row[0].is_null() ? std::string{"<null>"} : row[0].as<std::string>();
}

pipeline::event_record tagged_event(int number) {
    pipeline::event_record event = full_event("r" + std::to_string(number));
    event.tags = {"EventbriteCategory/103", "EventbriteFormat/11", "EventbriteSubCategory/3004"};
    return event;
}

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const db::store_error& error) {
        return error.what();
    }
    return "<no error>";
}

}  // namespace

TEST_SUITE("db") {
    TEST_CASE("postgres migrations create schema") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());

        CHECK(probe.text("SELECT max(version) FROM schema_version") == "8");
        CHECK(probe.text("SELECT count(*) FROM information_schema.columns "
                         "WHERE table_name = 'events'") == "28");
        CHECK(probe.text("SELECT data_type FROM information_schema.columns "
                         "WHERE table_name = 'events' AND column_name = 'latitude'") ==
              "double precision");
        CHECK(probe.text("SELECT data_type FROM information_schema.columns "
                         "WHERE table_name = 'events' AND column_name = 'price_min_minor'") ==
              "bigint");

        probe.exec("UPDATE schema_version SET applied_at = 'marker'");
        auto reopened = db::open_store(test_dsn());
        CHECK(probe.text("SELECT count(*) FROM schema_version") == "8");
        CHECK(probe.text("SELECT count(*) FROM schema_version WHERE applied_at = 'marker'") == "8");
    }

    TEST_CASE("postgres newer schema rejected") {
        pg_probe probe;
        db::open_store(test_dsn());
        probe.exec("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00Z')");

        const std::string message = error_of([] { db::open_store(test_dsn()); });

        CHECK(message.find("schema version 99") != std::string::npos);
        CHECK(message.find("versions up to 8;") != std::string::npos);
        CHECK(message.find(test_dsn()) != std::string::npos);
    }

    TEST_CASE("postgres upsert keeps first_seen_at") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        std::vector<pipeline::event_record> events{full_event("1"), full_event("2")};
        store->upsert_events(events, first_seen);

        events[0].name = "Harbor Swing (second set)";
        events[0].tags = {"EventbriteFormat/11",
                          "EventbriteSubCategory/3004",
                          "EventbriteSubCategory/3004",
                          "Quote\"and\\backslash"};
        events[0].price_max_minor.reset();
        store->upsert_events(events, second_seen);

        CHECK(store->count_events() == 2);
        CHECK(probe.text("SELECT name FROM events WHERE id = '1'") == "Harbor Swing (second set)");
        CHECK(probe.text("SELECT first_seen_at FROM events WHERE id = '1'") ==
              "2026-07-01 10:00:00+00");
        CHECK(probe.text("SELECT last_seen_at FROM events WHERE id = '1'") ==
              "2026-07-02 11:30:00+00");
        CHECK(probe.text("SELECT price_max_minor FROM events WHERE id = '1'") == "<null>");
        CHECK(probe.text("SELECT price_min_minor FROM events WHERE id = '1'") == "1500");
        CHECK(probe.text("SELECT latitude FROM events WHERE id = '1'") == "37.7749");
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '1' ORDER BY tag") ==
              std::vector<std::string>{
                  "EventbriteFormat/11", "EventbriteSubCategory/3004", "Quote\"and\\backslash"});
        CHECK(probe.text("SELECT count(*) FROM event_tags") == "5");
    }

    TEST_CASE("postgres unchanged row rewrites nothing") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        std::vector<pipeline::event_record> events{full_event("11"), full_event("12")};
        events[0].tags = {"EventbriteCategory/103", "EventbriteFormat/6"};
        store->upsert_events(events, first_seen);
        // The trigger records every update that sets a compared column or the tags, whether or
        // not the value changes.
        probe.exec(
            "CREATE TABLE rewrites (id TEXT NOT NULL);"
            "CREATE FUNCTION record_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO rewrites VALUES (NEW.id); RETURN NULL; END $$;"
            "CREATE TRIGGER row_rewritten AFTER UPDATE OF name, city, tags ON events "
            "FOR EACH ROW EXECUTE FUNCTION record_rewrite()");

        // The same tags in another order and with a repeat are the same set. Event 12 changes.
        events[0].tags = {"EventbriteFormat/6", "EventbriteCategory/103", "EventbriteFormat/6"};
        events[1].city = "Oakland";
        store->upsert_events(events, second_seen);

        CHECK(probe.column("SELECT id FROM rewrites") == std::vector<std::string>{"12"});
        CHECK(probe.text("SELECT city FROM events WHERE id = '12'") == "Oakland");
        CHECK(probe.text("SELECT city FROM events WHERE id = '11'") == "San Francisco");
        CHECK(probe.text("SELECT first_seen_at FROM events WHERE id = '11'") ==
              "2026-07-01 10:00:00+00");
        CHECK(probe.text("SELECT last_seen_at FROM events WHERE id = '11'") ==
              "2026-07-02 11:30:00+00");
        CHECK(probe.text("SELECT last_seen_at FROM events WHERE id = '12'") ==
              "2026-07-02 11:30:00+00");
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '11' ORDER BY tag") ==
              std::vector<std::string>{"EventbriteCategory/103", "EventbriteFormat/6"});
    }

    TEST_CASE("postgres absent values are null") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        pipeline::event_record bare;
        bare.id = "3";
        bare.name = "Bare";
        const std::vector<pipeline::event_record> events{bare};
        store->upsert_events(events, first_seen);

        CHECK(probe.text("SELECT count(*) FROM events WHERE summary IS NULL AND url IS NULL "
                         "AND latitude IS NULL AND price_min_minor IS NULL AND end_utc IS NULL "
                         "AND image_url IS NULL") == "1");
        CHECK(probe.text("SELECT is_online FROM events") == "0");
    }

    TEST_CASE("postgres failing batch rolls back") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        probe.exec(
            "CREATE FUNCTION reject_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.id = 'bad' THEN RAISE EXCEPTION 'test trigger rejected the row'; END IF; "
            "RETURN NEW; END $$");
        probe.exec(
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events FOR EACH ROW "
            "EXECUTE FUNCTION reject_bad()");
        const std::vector<pipeline::event_record> batch{
            full_event("4"), full_event("bad"), full_event("5")};

        const std::string message = error_of([&] { store->upsert_events(batch, first_seen); });

        CHECK(message.find("event id 'bad'") != std::string::npos);
        CHECK(message.find("test trigger rejected the row") != std::string::npos);
        CHECK(store->count_events() == 0);
        CHECK(probe.text("SELECT count(*) FROM event_tags") == "0");

        probe.exec("DROP TRIGGER reject_bad ON events");
        store->upsert_events(batch, first_seen);
        CHECK(store->count_events() == 3);
    }

    TEST_CASE("postgres empty id rejected") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        pipeline::event_record empty;
        const std::vector<pipeline::event_record> batch{full_event("6"), empty};

        const std::string message = error_of([&] { store->upsert_events(batch, first_seen); });

        CHECK(message.find("position 1 of 2") != std::string::npos);
        CHECK(store->count_events() == 0);
    }

    TEST_CASE("postgres run records") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());

        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", ""});
        const std::string where = " FROM runs WHERE id = " + std::to_string(run_id);
        CHECK(probe.text("SELECT status" + where) == "running");
        CHECK(probe.text("SELECT finished_at" + where) == "<null>");

        db::city_result city{"ny--new-york", "failed", 1, 20, 3, "timeout", "", ""};
        store->record_city(run_id, city);
        city.status = "ok";
        city.last_error.reset();
        store->record_city(run_id, city);
        store->finish_run(run_id, {"ok", 1, 0, 1, 20, 3});

        CHECK(probe.text("SELECT status" + where) == "ok");
        CHECK(probe.text("SELECT events" + where) == "20");
        CHECK(probe.text("SELECT status || '/' || coalesce(last_error, '<null>') FROM "
                         "run_cities") == "ok/<null>");
        CHECK(error_of([&] {
                  store->finish_run(run_id + 100, {"ok", 0, 0, 0, 0, 0});
              }).find("does not exist") != std::string::npos);
    }

    TEST_CASE("postgres connect error masks password") {
        const std::string port = std::getenv("EVENTCRAWL_TEST_PG_PORT") != nullptr
                                     ? std::getenv("EVENTCRAWL_TEST_PG_PORT")
                                     : "5432";
        const std::string dsn =
            "postgresql://postgres:hunter2@127.0.0.1:" + port + "/no_such_database";

        const std::string message = error_of([&] { db::open_store(dsn); });

        CHECK(message.find("cannot connect to PostgreSQL") != std::string::npos);
        CHECK(message.find("postgres:***@127.0.0.1") != std::string::npos);
        CHECK(message.find("no_such_database") != std::string::npos);
        CHECK(message.find("hunter2") == std::string::npos);
    }

    TEST_CASE("postgres logs and errors mask password") {
        pg_probe probe;
        const std::string dsn = dsn_with_password("s3cr3t-pass");
        std::string message;
        std::string log;
        {
            const db_log_capture capture;
            auto store = db::open_store(dsn);
            const std::vector<pipeline::event_record> events{full_event("m1")};
            store->upsert_events(events, first_seen);
            message = error_of([&] { store->reopen_run(404); });
            log = capture.text();
        }

        CHECK(log.find("Opened PostgreSQL store") != std::string::npos);
        CHECK(log.find("postgres:***@127.0.0.1") != std::string::npos);
        CHECK(log.find("s3cr3t-pass") == std::string::npos);
        CHECK(message.find("run 404 does not exist") != std::string::npos);
        CHECK(message.find("postgres:***@127.0.0.1") != std::string::npos);
        CHECK(message.find("s3cr3t-pass") == std::string::npos);
    }

    TEST_CASE("postgres archive body columns") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        struct body_case {
            const char* body;
            const char* column;
        };
        const std::array<body_case, 5> cases{{
            {R"({"a":1})", "body_json"},
            {" [1, 2]", "body_json"},
            {"<html>{}</html>", "body_text"},
            {"{\"a\": 1", "body_text"},
            {R"({"nul":"\u0000"})", "body_text"},
        }};
        std::vector<db::archived_page> pages;
        for (std::size_t i = 0; i < cases.size(); ++i) {
            db::archived_page page;
            page.city_slug = "ny--new-york";
            page.page_number = static_cast<int>(i);
            page.source = "search_xhr";
            page.body = cases[i].body;
            page.captured_at = std::string{first_seen};
            pages.push_back(page);
        }
        store->archive_pages(run_id, pages);

        for (std::size_t i = 0; i < cases.size(); ++i) {
            CAPTURE(cases[i].body);
            CHECK(probe.text("SELECT CASE WHEN body_json IS NULL THEN 'body_text' ELSE "
                             "'body_json' END FROM raw_pages WHERE page_number = " +
                             std::to_string(i)) == cases[i].column);
        }
        CHECK(store->load_pages(run_id)[4].body == cases[4].body);
        CHECK(probe.text("SELECT data_type FROM information_schema.columns WHERE table_name = "
                         "'runs' AND column_name = 'options'") == "jsonb");
        CHECK_THROWS_WITH_AS(probe.exec("INSERT INTO raw_pages VALUES (" + std::to_string(run_id) +
                                        ", 'x', 1, '', 200, '', 'file', NULL, NULL, "
                                        "'2026-07-01T10:00:00Z')"),
                             doctest::Contains("raw_pages_one_body"),
                             pqxx::check_violation);

        pages[0].body = std::string{"before\0after", 12};
        CHECK_THROWS_WITH_AS(store->archive_pages(run_id, std::span{pages}.first(1)),
                             doctest::Contains("contains a NUL byte"),
                             db::store_error);
    }

    TEST_CASE("postgres export indexes exact") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        // Time range, lower(city), location and tags (GIN), plus the primary key.
        CHECK(probe.text("SELECT string_agg(indexname, ',' ORDER BY indexname COLLATE \"C\") "
                         "FROM pg_indexes WHERE tablename IN ('events', 'event_tags')") ==
              "events_city_lower_idx,events_location_idx,events_pkey,events_start_utc_idx,"
              "events_tags_idx");
        CHECK(probe.text("SELECT amname FROM pg_class JOIN pg_am ON pg_am.oid = relam "
                         "WHERE relname = 'events_tags_idx'") == "gin");
    }

    TEST_CASE("postgres time columns typed") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        struct column_case {
            const char* table;
            const char* column;
            const char* type;
        };
        const std::array<column_case, 12> cases{{
            {"events", "start_local", "timestamp without time zone"},
            {"events", "end_local", "timestamp without time zone"},
            {"events", "start_utc", "timestamp with time zone"},
            {"events", "end_utc", "timestamp with time zone"},
            {"events", "first_seen_at", "timestamp with time zone"},
            {"events", "last_seen_at", "timestamp with time zone"},
            {"runs", "started_at", "timestamp with time zone"},
            {"runs", "finished_at", "timestamp with time zone"},
            {"run_cities", "started_at", "timestamp with time zone"},
            {"run_cities", "finished_at", "timestamp with time zone"},
            {"raw_pages", "captured_at", "timestamp with time zone"},
            {"raw_pages", "query", "text"},
        }};
        for (const column_case& item : cases) {
            CAPTURE(item.table);
            CAPTURE(item.column);
            CHECK(probe.text(std::string{"SELECT data_type FROM information_schema.columns "
                                         "WHERE table_name = '"} +
                             item.table + "' AND column_name = '" + item.column + "'") ==
                  item.type);
        }
        CHECK(probe.text("SELECT string_agg(attname, ',' ORDER BY array_position(conkey, attnum)) "
                         "FROM pg_constraint JOIN pg_attribute ON attrelid = conrelid "
                         "AND attnum = ANY (conkey) WHERE conname = 'raw_pages_pkey'") ==
              "run_id,city_slug,query,page_number,source");
    }

    TEST_CASE("postgres load connections split batch") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        const std::string backends =
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend'";
        const int before = std::stoi(probe.text(backends));
        store->set_load_connections(3);
        CHECK(std::stoi(probe.text(backends)) == before + 2);

        // 1,600 rows reach 3 × 500, so three transactions load them. Event 7 comes twice, and
        // its later version wins as in one transaction.
        std::vector<pipeline::event_record> batch;
        for (int number = 0; number < 1600; ++number) {
            batch.push_back(tagged_event(number));
        }
        batch.push_back(tagged_event(7));
        batch.back().name = "Event 7, second version";
        {
            const db_log_capture capture;
            store->upsert_events(batch, first_seen);
            CHECK(capture.text().find("rows=1601 connections=3") != std::string::npos);
        }

        CHECK(store->count_events() == 1600);
        CHECK(probe.text("SELECT name FROM events WHERE id = '" + batch.back().id + "'") ==
              "Event 7, second version");
        CHECK(probe.text("SELECT count(*) FROM event_tags") == "4800");
        CHECK(probe.text("SELECT count(*) FROM events WHERE last_seen_at = "
                         "'2026-07-01T10:00:00Z'") == "1600");

        // A batch below 3 × 500 rows goes through one connection.
        const db_log_capture capture;
        store->upsert_events(std::span{batch}.first(1000), second_seen);
        CHECK(capture.text().find("rows=1000 connections=1") != std::string::npos);
        CHECK(probe.text("SELECT count(*) FROM events WHERE last_seen_at = "
                         "'2026-07-02T11:30:00Z'") == "1000");
    }

    TEST_CASE("postgres failed share loses nothing") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        store->set_load_connections(2);
        probe.exec(
            "CREATE FUNCTION reject_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.id = 'bad' THEN RAISE EXCEPTION 'test trigger rejected the row'; END IF; "
            "RETURN NEW; END $$;"
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events FOR EACH ROW "
            "EXECUTE FUNCTION reject_bad()");
        std::vector<pipeline::event_record> batch;
        for (int number = 0; number < 1200; ++number) {
            batch.push_back(tagged_event(number));
        }
        batch.push_back(full_event("bad"));

        const std::string message = error_of([&] { store->upsert_events(batch, first_seen); });

        CHECK(message.find("event id 'bad'") != std::string::npos);
        CHECK(message.find("test trigger rejected the row") != std::string::npos);
        // The share without 'bad' may have committed; the repeated batch writes it again.
        CHECK(store->count_events() < 1201);
        CHECK(probe.text("SELECT count(*) FROM events WHERE id = 'bad'") == "0");
        probe.exec("DROP TRIGGER reject_bad ON events");
        store->upsert_events(batch, first_seen);
        CHECK(store->count_events() == 1201);
        CHECK(probe.text("SELECT count(DISTINCT id) FROM events") == "1201");
    }

    TEST_CASE("postgres load connections out of range") {
        auto store = db::open_store(test_dsn());
        const std::string message = error_of([&] { store->set_load_connections(9); });
        CHECK(message == "9 load connections is out of range; give 1 to 8");
        CHECK(error_of([&] { store->set_load_connections(0); }).find("give 1 to 8") !=
              std::string::npos);
    }

    TEST_CASE("postgres version 6 tags upgrade") {
        pg_probe probe;
        // A database as version 6 left it: one event_tags row per tag.
        for (const db::detail::migration& step : db::detail::postgres_migrations()) {
            if (step.version <= 6) {
                probe.exec(std::string{step.sql});
            }
        }
        probe.exec(
            "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT "
            "NOT NULL); INSERT INTO schema_version SELECT version, '2026-01-01T00:00:00Z' FROM "
            "generate_series(1, 6) AS version");
        probe.exec(
            "INSERT INTO events (id, name, is_online, is_free, is_cancelled, first_seen_at, "
            "last_seen_at) SELECT id, 'Event ' || id, 0, 1, 0, '2026-06-01T00:00:00Z', "
            "'2026-06-01T00:00:00Z' FROM unnest(ARRAY['61', '62', '63']) AS id");
        probe.exec(
            "INSERT INTO event_tags VALUES ('61', 'b'), ('61', 'Z'), ('61', 'a'), ('63', 'solo')");

        auto store = db::open_store(test_dsn());

        CHECK(probe.text("SELECT max(version) FROM schema_version") == "8");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '61'") == "{Z,a,b}");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '62'") == "{}");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '63'") == "{solo}");
        CHECK(probe.column("SELECT event_id || '/' || tag FROM event_tags "
                           "ORDER BY (event_id || '/' || tag) COLLATE \"C\"") ==
              std::vector<std::string>{"61/Z", "61/a", "61/b", "63/solo"});
        CHECK(probe.text("SELECT relkind FROM pg_class WHERE relname = 'event_tags'") == "v");
        CHECK(probe.text("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass "
                         "AND NOT tgisinternal") == "0");

        // The next crawl of an upgraded event with the same tags in another order changes only
        // last_seen_at.
        pipeline::event_record event;
        event.id = "61";
        event.name = "Event 61";
        event.is_free = true;
        event.tags = {"a", "b", "Z", "a"};
        const std::vector<pipeline::event_record> events{event};
        probe.exec(
            "CREATE TABLE rewrites (id TEXT NOT NULL);"
            "CREATE FUNCTION record_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO rewrites VALUES (NEW.id); RETURN NULL; END $$;"
            "CREATE TRIGGER row_rewritten AFTER UPDATE OF name, tags ON events "
            "FOR EACH ROW EXECUTE FUNCTION record_rewrite()");
        store->upsert_events(events, second_seen);
        CHECK(probe.text("SELECT count(*) FROM rewrites") == "0");
        CHECK(probe.text("SELECT last_seen_at FROM events WHERE id = '61'") ==
              "2026-07-02 11:30:00+00");
    }

    TEST_CASE("postgres version 2 upgrades in place") {
        pg_probe probe;
        // A database as version 2 left it: every time is ISO 8601 text.
        for (const db::detail::migration& step : db::detail::postgres_migrations()) {
            if (step.version <= 2) {
                probe.exec(std::string{step.sql});
            }
        }
        probe.exec(
            "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT "
            "NOT NULL); INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00Z'), "
            "(2, '2026-01-01T00:00:00Z')");
        probe.exec(
            "INSERT INTO events (id, name, start_local, end_local, start_utc, end_utc, is_online, "
            "is_free, is_cancelled, first_seen_at, last_seen_at) VALUES ('v2', 'Old event', "
            "'2026-07-01T18:00:00', NULL, '2026-07-01T22:00:00Z', NULL, 0, 1, 0, "
            "'2026-06-01T08:00:00Z', '2026-06-02T09:30:15Z')");
        probe.exec("INSERT INTO event_tags VALUES ('v2', 'EventbriteFormat/11')");
        probe.exec(
            "INSERT INTO runs (id, mode, command, status, started_at, finished_at, options) "
            "VALUES (7, 'async', 'eventcrawl crawl', 'ok', '2026-06-02T09:00:00Z', "
            "'2026-06-02T09:31:00Z', '{}')");
        probe.exec(
            "INSERT INTO run_cities VALUES (7, 'ny--new-york', 'ok', 2, 40, 0, NULL, "
            "'2026-06-02T09:00:01Z', NULL)");
        probe.exec(
            "INSERT INTO raw_pages (run_id, city_slug, page_number, url, http_status, "
            "content_type, source, body_text, captured_at) VALUES (7, 'ny--new-york', 1, "
            "'http://127.0.0.1/p1', 200, 'text/html', 'listing_html', '<html></html>', "
            "'2026-06-02T09:00:02Z')");

        auto store = db::open_store(test_dsn());

        CHECK(probe.text("SELECT max(version) FROM schema_version") == "8");
        std::vector<pipeline::event_record> events;
        std::vector<std::string> seen;
        store->for_each_event({},
                              [&](const pipeline::event_record& event,
                                  std::string_view first_seen_at,
                                  std::string_view last_seen_at) {
                                  events.push_back(event);
                                  seen.emplace_back(first_seen_at);
                                  seen.emplace_back(last_seen_at);
                              });
        REQUIRE(events.size() == 1);
        CHECK(events[0].start_local == "2026-07-01T18:00:00");
        CHECK_FALSE(events[0].end_local.has_value());
        CHECK(events[0].start_utc == "2026-07-01T22:00:00Z");
        CHECK_FALSE(events[0].end_utc.has_value());
        CHECK(events[0].tags == std::vector<std::string>{"EventbriteFormat/11"});
        CHECK(seen == std::vector<std::string>{"2026-06-01T08:00:00Z", "2026-06-02T09:30:15Z"});

        const auto run = store->find_run(7);
        REQUIRE(run.has_value());
        CHECK(run->started_at == "2026-06-02T09:00:00Z");
        CHECK(run->finished_at == "2026-06-02T09:31:00Z");
        const auto cities = store->city_results(7);
        REQUIRE(cities.size() == 1);
        CHECK(cities[0].started_at == "2026-06-02T09:00:01Z");
        CHECK(cities[0].finished_at.empty());
        const auto pages = store->load_pages(7);
        REQUIRE(pages.size() == 1);
        CHECK(pages[0].captured_at == "2026-06-02T09:00:02Z");
        CHECK(pages[0].query.empty());
        CHECK(pages[0].body == "<html></html>");
    }

    TEST_CASE("postgres batch lands once after restart") {
        const running_server_guard guard;
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        std::string log;
        db::batch_stats stats;
        {
            const db_log_capture capture;
            db::batch_writer writer{*store, 1000, std::chrono::minutes{1}};
            for (int number = 0; number < 50; ++number) {
                writer.add(tagged_event(number));
            }
            CHECK(writer.flush() == 50);

            REQUIRE(pg_ctl("restart") == 0);

            // Half of the second batch updates events of the first.
            for (int number = 25; number < 75; ++number) {
                writer.add(tagged_event(number));
            }
            CHECK(writer.flush() == 50);
            stats = writer.stats();
            log = capture.text();
        }

        CHECK(stats.failed_flushes == 0);
        CHECK(stats.rows_written == 100);
        CHECK(log.find("Lost PostgreSQL connection") != std::string::npos);
        CHECK(fresh_text("SELECT count(*) FROM events") == "75");
        CHECK(fresh_text("SELECT count(*) FROM event_tags") == "225");
        CHECK(store->count_events() == 75);
    }

    TEST_CASE("postgres down past retries fails") {
        const running_server_guard guard;
        pg_probe probe;
        const std::string dsn = dsn_with_password("down-pass");
        auto store = db::open_store(dsn);
        const std::vector<pipeline::event_record> batch{tagged_event(1)};

        REQUIRE(pg_ctl("stop") == 0);
        const std::string message = error_of([&] { store->upsert_events(batch, first_seen); });
        REQUIRE(pg_ctl("start") == 0);

        CHECK(message.find("upsert of a batch of events failed") != std::string::npos);
        CHECK(message.find("postgres:***@127.0.0.1") != std::string::npos);
        CHECK(message.find("down-pass") == std::string::npos);
        CHECK(message.find("7 attempts to reconnect failed") != std::string::npos);
        CHECK(message.find("check that the PostgreSQL server runs") != std::string::npos);
        // The same store works again once the server is back.
        store->upsert_events(batch, first_seen);
        CHECK(store->count_events() == 1);
    }

    TEST_CASE("postgres copy text round trip") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        pipeline::event_record event = full_event("copy-1");
        event.name = "Tab\tNewline\nReturn\rBackslash\\ end";
        event.summary = "\\N";
        event.venue_name = "";
        event.address = "Caf\xc3\xa9 Z\xc3\xbcrich \xe2\x80\x93 \xf0\x9f\x8e\xb7";
        event.latitude = 0.1 + 0.2;
        event.longitude = -1e-300;
        event.price_min_minor = std::numeric_limits<std::int64_t>::max();
        event.price_max_minor = std::numeric_limits<std::int64_t>::min();
        event.tags = {"Tab\ttag", "\xc3\x9cnicode", "Back\\slash"};
        const std::vector<pipeline::event_record> events{event};
        store->upsert_events(events, first_seen);

        std::vector<pipeline::event_record> stored;
        store->for_each_event(
            {}, [&](const pipeline::event_record& row, std::string_view, std::string_view) {
                stored.push_back(row);
            });

        REQUIRE(stored.size() == 1);
        CHECK(stored[0].name == "Tab\tNewline\nReturn\rBackslash\\ end");
        CHECK(stored[0].summary == std::optional<std::string>{"\\N"});
        CHECK(stored[0].venue_name == std::optional<std::string>{""});
        CHECK(stored[0].address == event.address);
        CHECK(stored[0].latitude == std::optional<double>{0.30000000000000004});
        CHECK(stored[0].longitude == std::optional<double>{-1e-300});
        CHECK(stored[0].price_min_minor == std::int64_t{9223372036854775807});
        CHECK(stored[0].price_max_minor == std::numeric_limits<std::int64_t>::min());
        CHECK(stored[0].tags ==
              std::vector<std::string>{"Back\\slash", "Tab\ttag", "\xc3\x9cnicode"});
        CHECK(probe.text("SELECT length(address) FROM events") == "15");
    }

    TEST_CASE("postgres upsert update counts") {
        struct touch_case {
            const char* name;
            std::vector<std::string> second_ids;
            bool change_name;
            const char* updated_rows;
        };
        const std::array cases{
            touch_case{"all new", {"43", "44"}, false, "0"},
            touch_case{"all unchanged", {"41", "42"}, false, "2"},
            touch_case{"all changed", {"41", "42"}, true, "2"},
            touch_case{"new and unchanged", {"41", "45"}, false, "1"},
        };
        for (const touch_case& test : cases) {
            CAPTURE(test.name);
            pg_probe probe;
            auto store = db::open_store(test_dsn());
            const std::vector<pipeline::event_record> first{full_event("41"), full_event("42")};
            store->upsert_events(first, first_seen);
            // The trigger records every row version that an UPDATE writes.
            probe.exec(
                "CREATE TABLE updates (id TEXT NOT NULL);"
                "CREATE FUNCTION record_update() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN INSERT INTO updates VALUES (NEW.id); RETURN NULL; END $$;"
                "CREATE TRIGGER row_updated AFTER UPDATE ON events "
                "FOR EACH ROW EXECUTE FUNCTION record_update()");

            std::vector<pipeline::event_record> second;
            for (const std::string& id : test.second_ids) {
                second.push_back(full_event(id));
                if (test.change_name) {
                    second.back().name = "Renamed " + id;
                }
            }
            store->upsert_events(second, second_seen);

            CHECK(probe.text("SELECT count(*) FROM updates") == test.updated_rows);
            CHECK(probe.text("SELECT count(*) FROM events WHERE last_seen_at = "
                             "'2026-07-02T11:30:00Z'") == "2");
        }
    }

    TEST_CASE("postgres event delete removes tags") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        const std::vector<pipeline::event_record> events{
            full_event("21"), full_event("22"), full_event("23")};
        store->upsert_events(events, first_seen);

        probe.exec("DELETE FROM events WHERE id IN ('21', '22')");
        CHECK(probe.column("SELECT DISTINCT event_id FROM event_tags") ==
              std::vector<std::string>{"23"});
        CHECK(probe.text("SELECT count(*) FROM event_tags") == "2");

        probe.exec("TRUNCATE events");
        CHECK(probe.text("SELECT count(*) FROM event_tags") == "0");
    }

    TEST_CASE("postgres tags read back exactly") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        pipeline::event_record event = full_event("51");
        // Every character that the array text form quotes or escapes, the ones that libpqxx's
        // array parser misread (' and ;), and elements that look like NULL or are empty.
        event.tags = {"'80s hits",
                      "jazz;blues",
                      "x;",
                      "'quoted'",
                      "a,b",
                      "{braces}",
                      "Quote\"and\\backslash",
                      "two words",
                      " lead",
                      "NULL",
                      "null",
                      "",
                      "tab\there",
                      "\u00e9t\u00e9 \u65e5\u672c\u9152"};
        const std::vector<pipeline::event_record> events{event};
        store->upsert_events(events, first_seen);

        std::vector<std::string> read;
        store->for_each_event(
            {}, [&](const pipeline::event_record& stored, std::string_view, std::string_view) {
                read = stored.tags;
            });

        std::vector<std::string> expected = event.tags;
        std::sort(expected.begin(), expected.end());
        CHECK(read == expected);
        CHECK(probe.text("SELECT count(*) FROM event_tags WHERE event_id = '51'") == "14");
    }

    TEST_CASE("postgres id change keeps tags") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        const std::vector<pipeline::event_record> events{full_event("31")};
        store->upsert_events(events, first_seen);

        probe.exec("UPDATE events SET id = '32' WHERE id = '31'");

        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '32' ORDER BY tag") ==
              probe.column("SELECT unnest(tags) FROM events WHERE id = '32'"));
        CHECK(probe.text("SELECT count(*) FROM event_tags WHERE event_id = '32'") == "2");
        CHECK(probe.text("SELECT count(*) FROM event_tags WHERE event_id = '31'") == "0");
    }

    TEST_CASE("postgres event_tags view writes through") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        pipeline::event_record event = full_event("41");
        event.tags = {"b"};
        const std::vector<pipeline::event_record> events{event, full_event("42")};
        store->upsert_events(events, first_seen);

        // An insert keeps the array sorted and without repeats.
        probe.exec("INSERT INTO event_tags VALUES ('41', 'c'), ('41', 'a'), ('41', 'b')");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == "{a,b,c}");
        probe.exec("DELETE FROM event_tags WHERE event_id = '41' AND tag = 'b'");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == "{a,c}");
        CHECK_THROWS_WITH_AS(probe.exec("INSERT INTO event_tags VALUES ('missing', 'a')"),
                             doctest::Contains("no event with id missing"),
                             pqxx::sql_error);
        CHECK_THROWS_WITH_AS(probe.exec("INSERT INTO event_tags VALUES ('41', NULL)"),
                             doctest::Contains("the tag of event 41 is NULL"),
                             pqxx::sql_error);

        // An update renames the tag, or moves it to another event.
        probe.exec("UPDATE event_tags SET tag = 'd' WHERE event_id = '41' AND tag = 'c'");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == "{a,d}");
        probe.exec("UPDATE event_tags SET event_id = '42' WHERE event_id = '41' AND tag = 'd'");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == "{a}");
        CHECK(probe.text("SELECT 'd' = ANY (tags) FROM events WHERE id = '42'") == "t");
        probe.exec("INSERT INTO event_tags VALUES ('41', 'c')");

        // A real table with a unique (event_id, tag) would reject this swap, and so does the view:
        // done row by row, it would leave one tag where there were two.
        CHECK_THROWS_WITH_AS(probe.exec("UPDATE event_tags SET tag = CASE tag WHEN 'a' THEN 'c' "
                                        "ELSE 'a' END WHERE event_id = '41'"),
                             doctest::Contains("event 41 already has the tag"),
                             pqxx::sql_error);
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == "{a,c}");

        // A tag query finds the events through the array, and a re-crawl sets the crawled tags.
        CHECK(probe.column("SELECT id FROM events WHERE tags @> ARRAY['a'] ORDER BY id") ==
              std::vector<std::string>{"41"});
        store->upsert_events(events, second_seen);
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == "{b}");
    }

    TEST_CASE("postgres keys in byte order") {
        pg_probe probe;
        auto store = db::open_store(test_dsn());
        const std::array<const char*, 3> key_columns{
            "events.id", "events.tags", "event_tags.event_id"};
        for (const char* column : key_columns) {
            CAPTURE(column);
            const std::string_view name{column};
            const std::size_t dot = name.find('.');
            CHECK(probe.text(fmt::format("SELECT collation_name FROM information_schema.columns "
                                         "WHERE table_name = '{}' AND column_name = '{}'",
                                         name.substr(0, dot),
                                         name.substr(dot + 1))) == "C");
        }

        // Byte order: 'B' 0x42, 'Z' 0x5A, '_' 0x5F, 'a' 0x61, 'b' 0x62, 'é' 0xC3 0xA9.
        std::vector<pipeline::event_record> events;
        for (const char* id : {"b", "\u00e9", "Z", "a", "B", "_"}) {
            pipeline::event_record event = full_event(id);
            event.tags = {"b", "\u00e9", "Z", "a", "B", "_"};
            events.push_back(std::move(event));
        }
        store->upsert_events(events, first_seen);

        std::vector<std::string> ids;
        std::vector<std::string> first_tags;
        store->for_each_event(
            {}, [&](const pipeline::event_record& event, std::string_view, std::string_view) {
                ids.push_back(event.id);
                if (first_tags.empty()) {
                    first_tags = event.tags;
                }
            });
        const std::vector<std::string> byte_order{"B", "Z", "_", "a", "b", "\u00e9"};
        CHECK(ids == byte_order);
        CHECK(first_tags == byte_order);
        CHECK(probe.text("SELECT count(*) FROM event_tags WHERE event_id = '\u00e9'") == "6");
    }
}
