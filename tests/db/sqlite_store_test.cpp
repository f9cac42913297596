#include "db/sqlite_store.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "db/detail/migration.hpp"
#include "db/detail/sqlite_util.hpp"
#include "db/store.hpp"
#include "tests/db/test_support.hpp"

namespace db = eventcrawl::db;
namespace pipeline = eventcrawl::pipeline;
using db::test::bare_event;
using db::test::full_event;
using db::test::sqlite_probe;
using db::test::temp_dir;

namespace {

constexpr std::string_view first_seen = "2026-07-01T10:00:00Z";
constexpr std::string_view second_seen = "2026-07-02T11:30:00Z";

std::string dsn_for(const std::string& path) {
    return "sqlite:" + path;
}

// Every column of one events row joined as "column=value|...", NULL shown as <null>.
std::string event_row(sqlite_probe& probe, const std::string& id, bool include_last_seen = true) {
    const std::vector<std::string> columns =
        probe.column("SELECT name FROM pragma_table_info('events') ORDER BY cid");
    std::string row;
    for (const std::string& column : columns) {
        if (!include_last_seen && column == "last_seen_at") {
            continue;
        }
        row += column + "=" +
               probe.text("SELECT quote(" + column + ") FROM events WHERE id = '" + id + "'") + "|";
    }
    return row;
}

// Opens a raw connection for the migration runner tests.
struct raw_connection {
    explicit raw_connection(const std::string& path) {
        sqlite3* raw = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
        handle.reset(raw);
    }
    db::detail::sqlite_connection handle;
};

// Creates a database at `path` with the migrations up to `version` only, as an older build left
// it.
void create_at_version(const std::string& path, std::size_t version) {
    raw_connection connection{path};
    const auto steps = db::detail::sqlite_migrations().first(version);
    REQUIRE(db::detail::apply_sqlite_migrations(connection.handle.get(), path, steps) ==
            static_cast<int>(version));
}

std::string error_of(const std::string& dsn) {
    try {
        db::open_store(dsn);
    } catch (const db::store_error& error) {
        return error.what();
    }
    return "<no error>";
}

}  // namespace

TEST_SUITE("db") {
    TEST_CASE("sqlite migrations declare column types") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::open_store(dsn_for(path));
        sqlite_probe probe{path};

        struct expected_column {
            const char* table;
            const char* column;
            const char* type;
            int not_null;
        };
        const std::array<expected_column, 46> expected{{
            {"events", "id", "TEXT", 1},
            {"events", "name", "TEXT", 1},
            {"events", "summary", "TEXT", 0},
            {"events", "url", "TEXT", 0},
            {"events", "timezone", "TEXT", 0},
            {"events", "start_local", "TEXT", 0},
            {"events", "end_local", "TEXT", 0},
            {"events", "start_utc", "TEXT", 0},
            {"events", "end_utc", "TEXT", 0},
            {"events", "is_online", "INTEGER", 1},
            {"events", "is_free", "INTEGER", 1},
            {"events", "is_cancelled", "INTEGER", 1},
            {"events", "venue_name", "TEXT", 0},
            {"events", "address", "TEXT", 0},
            {"events", "city", "TEXT", 0},
            {"events", "region", "TEXT", 0},
            {"events", "country", "TEXT", 0},
            {"events", "latitude", "REAL", 0},
            {"events", "longitude", "REAL", 0},
            {"events", "price_min_minor", "INTEGER", 0},
            {"events", "price_max_minor", "INTEGER", 0},
            {"events", "currency", "TEXT", 0},
            {"events", "organizer_name", "TEXT", 0},
            {"events", "series_id", "TEXT", 0},
            {"events", "image_url", "TEXT", 0},
            {"events", "first_seen_at", "TEXT", 1},
            {"events", "last_seen_at", "TEXT", 1},
            {"events", "seq", "INTEGER", 0},
            {"events", "tags", "TEXT", 1},
            {"tags", "id", "INTEGER", 0},
            {"tags", "name", "TEXT", 1},
            {"event_tag_index", "tag_id", "INTEGER", 1},
            {"event_tag_index", "event_seq", "INTEGER", 1},
            {"event_tags", "event_id", "TEXT", 0},
            // The view takes the tag from json_each, which declares no type.
            {"event_tags", "tag", "", 0},
            {"runs", "id", "INTEGER", 0},
            {"runs", "status", "TEXT", 1},
            {"runs", "finished_at", "TEXT", 0},
            {"runs", "events", "INTEGER", 0},
            {"run_cities", "run_id", "INTEGER", 1},
            {"run_cities", "city_slug", "TEXT", 1},
            {"run_cities", "pages", "INTEGER", 1},
            {"run_cities", "last_error", "TEXT", 0},
            {"run_cities", "finished_at", "TEXT", 0},
            {"schema_version", "version", "INTEGER", 1},
            {"schema_version", "applied_at", "TEXT", 1},
        }};
        for (const expected_column& column : expected) {
            CAPTURE(column.table);
            CAPTURE(column.column);
            const std::string where = std::string{"FROM pragma_table_info('"} + column.table +
                                      "') WHERE name = '" + column.column + "'";
            CHECK(probe.text("SELECT type " + where) == column.type);
            CHECK(probe.integer("SELECT \"notnull\" " + where) == column.not_null);
        }
        CHECK(probe.integer("SELECT count(*) FROM pragma_table_info('events')") == 29);
        CHECK(probe.text("SELECT type FROM sqlite_schema WHERE name = 'event_tags'") == "view");
        CHECK(probe.integer("SELECT count(*) FROM pragma_index_list('events') "
                            "WHERE name = 'events_start_utc_idx'") == 1);
        CHECK(probe.integer("SELECT count(*) FROM pragma_index_list('events') "
                            "WHERE name = 'events_city_lower_idx'") == 1);
        CHECK(probe.text("PRAGMA journal_mode") == "wal");
    }

    TEST_CASE("sqlite reopen skips applied migrations") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::open_store(dsn_for(path));
        sqlite_probe probe{path};
        const std::string applied_at = probe.text("SELECT applied_at FROM schema_version");
        probe.exec("UPDATE schema_version SET applied_at = 'marker'");

        db::sqlite_store reopened{path};

        CHECK(reopened.schema_version() == 6);
        CHECK(probe.integer("SELECT count(*) FROM schema_version") == 6);
        CHECK(probe.integer("SELECT count(*) FROM schema_version WHERE applied_at = 'marker'") ==
              6);
        CHECK(applied_at.size() == 20);
    }

    TEST_CASE("migration runner applies missing steps") {
        const temp_dir dir;
        const std::string path = dir.file("steps.db");
        // Without IF NOT EXISTS, running step 1 twice would fail, so success proves it ran once.
        const std::array<db::detail::migration, 1> first{{
            {1, "table a", "CREATE TABLE a (x INTEGER)"},
        }};
        const std::array<db::detail::migration, 2> both{{
            {1, "table a", "CREATE TABLE a (x INTEGER)"},
            {2, "table b", "CREATE TABLE b (y TEXT)"},
        }};

        {
            raw_connection connection{path};
            CHECK(db::detail::apply_sqlite_migrations(connection.handle.get(), path, first) == 1);
        }
        {
            raw_connection connection{path};
            CHECK(db::detail::apply_sqlite_migrations(connection.handle.get(), path, both) == 2);
        }

        sqlite_probe probe{path};
        CHECK(probe.column("SELECT version FROM schema_version ORDER BY version") ==
              std::vector<std::string>{"1", "2"});
        CHECK(probe.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'b'") == 1);
    }

    TEST_CASE("sqlite version 4 tags upgrade") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        create_at_version(path, 4);
        {
            sqlite_probe probe{path};
            for (const char* id : {"41", "42", "43"}) {
                probe.exec(
                    std::string{"INSERT INTO events (id, name, is_online, is_free, "
                                "is_cancelled, city, first_seen_at, last_seen_at) VALUES ('"} +
                    id + "', 'Event " + id +
                    "', 0, 1, 0, 'Austin', '2026-06-01T00:00:00Z', "
                    "'2026-06-01T00:00:00Z')");
            }
            probe.exec(
                "INSERT INTO event_tags VALUES ('41', 'music'), ('41', 'jazz'), ('43', 'food')");
        }

        db::sqlite_store store{path};
        sqlite_probe probe{path};

        CHECK(store.schema_version() == 6);
        CHECK(probe.column("SELECT event_id || '/' || tag FROM event_tags ORDER BY 1") ==
              std::vector<std::string>{"41/jazz", "41/music", "43/food"});
        CHECK(probe.column("SELECT id FROM events ORDER BY seq") ==
              std::vector<std::string>{"41", "42", "43"});
        CHECK(probe.column("SELECT tags FROM events ORDER BY seq") ==
              std::vector<std::string>{R"(["jazz","music"])", "[]", R"(["food"])"});
        CHECK(probe.column("SELECT name FROM tags ORDER BY id") ==
              std::vector<std::string>{"food", "jazz", "music"});
        CHECK(probe.column("SELECT tags.name || '/' || event_seq FROM event_tag_index "
                           "JOIN tags ON tags.id = tag_id ORDER BY 1") ==
              std::vector<std::string>{"food/3", "jazz/1", "music/1"});

        // A new event gets the next seq, and the tags of an upgraded event can still change.
        std::vector<pipeline::event_record> events{full_event("44"), full_event("41")};
        events[0].tags = {"art"};
        events[1].tags = {"music"};
        store.upsert_events(events, second_seen);
        CHECK(probe.integer("SELECT seq FROM events WHERE id = '44'") == 4);
        CHECK(probe.column("SELECT event_id || '/' || tag FROM event_tags ORDER BY 1") ==
              std::vector<std::string>{"41/music", "43/food", "44/art"});

        CHECK(probe.column("SELECT tags.name || '/' || event_seq FROM event_tag_index "
                           "JOIN tags ON tags.id = tag_id ORDER BY 1") ==
              std::vector<std::string>{"art/4", "food/3", "music/1"});

        // Deleting through the view, and deleting an event, remove the index entries.
        probe.exec("DELETE FROM event_tags WHERE event_id = '43'");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '43'") == "[]");
        CHECK(probe.integer("SELECT count(*) FROM event_tag_index") == 2);
        probe.exec("DELETE FROM events WHERE id = '44'");
        CHECK(probe.column("SELECT event_id || '/' || tag FROM event_tags") ==
              std::vector<std::string>{"41/music"});
        CHECK(probe.column("SELECT event_seq FROM event_tag_index") ==
              std::vector<std::string>{"1"});
    }

    TEST_CASE("sqlite version 5 blob tag upgrade") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        create_at_version(path, 5);
        {
            // Version 5 stored a BLOB as it came, and X'616263' next to the text 'abc'.
            sqlite_probe probe{path};
            probe.exec(
                "INSERT INTO events (id, name, is_online, is_free, is_cancelled, first_seen_at, "
                "last_seen_at) VALUES ('51', 'Event 51', 0, 1, 0, '2026-06-01T00:00:00Z', "
                "'2026-06-01T00:00:00Z')");
            probe.exec("INSERT INTO event_tag_entries VALUES (1, X'616263'), (1, 'abc'), (1, 'b')");
        }

        db::sqlite_store store{path};
        sqlite_probe probe{path};

        CHECK(store.schema_version() == 6);
        CHECK(probe.text("SELECT tags FROM events") == R"(["abc","b"])");
        CHECK(probe.column("SELECT tags.name FROM event_tag_index JOIN tags ON tags.id = tag_id "
                           "ORDER BY 1") == std::vector<std::string>{"abc", "b"});
    }

    TEST_CASE("sqlite version 2 pages upgrade") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        create_at_version(path, 2);
        {
            sqlite_probe probe{path};
            probe.exec(
                "INSERT INTO runs (id, mode, command, status, started_at) VALUES "
                "(5, 'async', 'eventcrawl crawl', 'failed', '2026-06-02T09:00:00Z')");
            // zlib of "" is 78 9c 03 00 00 00 00 01.
            probe.exec(
                "INSERT INTO raw_pages VALUES (5, 'ny--new-york', 3, 'http://127.0.0.1/p3', 200, "
                "'text/html', 'listing_html', x'789c030000000001', 0, '2026-06-02T09:00:02Z')");
        }

        db::sqlite_store store{path};

        CHECK(store.schema_version() == 6);
        const std::vector<db::archived_page> pages = store.load_pages(5);
        REQUIRE(pages.size() == 1);
        CHECK(pages[0].page_number == 3);
        CHECK(pages[0].query.empty());
        CHECK(pages[0].body.empty());
        CHECK(pages[0].captured_at == "2026-06-02T09:00:02Z");
        sqlite_probe probe{path};
        CHECK(probe.text("SELECT group_concat(name, ',') FROM (SELECT name FROM "
                         "pragma_table_info('raw_pages') WHERE pk > 0 ORDER BY pk)") ==
              "run_id,city_slug,query,page_number,source");
    }

    TEST_CASE("migration failure rolls back step") {
        const temp_dir dir;
        const std::string path = dir.file("steps.db");
        const std::array<db::detail::migration, 2> steps{{
            {1, "table a", "CREATE TABLE a (x INTEGER)"},
            {2, "broken", "CREATE TABLE c (z INTEGER); INSERT INTO missing_table VALUES (1)"},
        }};
        raw_connection connection{path};

        std::string message;
        try {
            db::detail::apply_sqlite_migrations(connection.handle.get(), path, steps);
        } catch (const db::store_error& error) {
            message = error.what();
        }

        CHECK(message.find("schema version 2") != std::string::npos);
        CHECK(message.find("missing_table") != std::string::npos);
        sqlite_probe probe{path};
        CHECK(probe.integer("SELECT max(version) FROM schema_version") == 1);
        CHECK(probe.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'c'") == 0);
    }

    TEST_CASE("sqlite newer schema rejected") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::open_store(dsn_for(path));
        {
            sqlite_probe probe{path};
            probe.exec("INSERT INTO schema_version VALUES (99, '2030-01-01T00:00:00Z')");
        }

        const std::string message = error_of(dsn_for(path));

        CHECK(message.find(path) != std::string::npos);
        CHECK(message.find("schema version 99") != std::string::npos);
        CHECK(message.find("versions up to 6;") != std::string::npos);
    }

    TEST_CASE("sqlite upsert twice is idempotent") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> events{
            full_event("101"), full_event("102"), bare_event("103")};
        sqlite_probe probe{path};

        store->upsert_events(events, first_seen);
        const std::string row_101 = event_row(probe, "101");
        const std::string row_103 = event_row(probe, "103");
        const long long tags = probe.integer("SELECT count(*) FROM event_tags");
        store->upsert_events(events, first_seen);

        CHECK(store->count_events() == 3);
        CHECK(probe.integer("SELECT count(*) FROM events") == 3);
        CHECK(event_row(probe, "101") == row_101);
        CHECK(event_row(probe, "103") == row_103);
        CHECK(tags == 4);
        CHECK(probe.integer("SELECT count(*) FROM event_tags") == 4);
    }

    TEST_CASE("sqlite upsert updates values") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> first{full_event("201")};
        store->upsert_events(first, first_seen);

        std::vector<pipeline::event_record> second{full_event("201")};
        second[0].name = "Rooftop Jazz (moved indoors)";
        second[0].is_cancelled = true;
        second[0].venue_name.reset();
        store->upsert_events(second, second_seen);

        sqlite_probe probe{path};
        CHECK(probe.text("SELECT name FROM events") == "Rooftop Jazz (moved indoors)");
        CHECK(probe.integer("SELECT is_cancelled FROM events") == 1);
        CHECK(probe.text("SELECT typeof(venue_name) FROM events") == "null");
        CHECK(probe.text("SELECT first_seen_at FROM events") == first_seen);
        CHECK(probe.text("SELECT last_seen_at FROM events") == second_seen);
    }

    TEST_CASE("sqlite tags replaced per event") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("301"), full_event("302")};
        events[0].tags = {"EventbriteCategory/103", "EventbriteFormat/6"};
        events[1].tags = {"EventbriteCategory/110"};
        store->upsert_events(events, first_seen);

        events[0].tags = {
            "EventbriteFormat/6", "EventbriteSubCategory/3004", "EventbriteSubCategory/3004"};
        const std::vector<pipeline::event_record> update{events[0]};
        store->upsert_events(update, second_seen);

        sqlite_probe probe{path};
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '301' ORDER BY tag") ==
              std::vector<std::string>{"EventbriteFormat/6", "EventbriteSubCategory/3004"});
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '302'") ==
              std::vector<std::string>{"EventbriteCategory/110"});
    }

    TEST_CASE("sqlite unchanged row rewrites nothing") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("311")};
        events[0].tags = {"EventbriteCategory/103", "EventbriteFormat/6"};
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};
        // The triggers record every rewrite of a compared column and every tag deletion.
        probe.exec(
            "CREATE TABLE rewrites (what TEXT NOT NULL);"
            "CREATE TRIGGER row_rewritten AFTER UPDATE OF name, city ON events "
            "BEGIN INSERT INTO rewrites VALUES ('row'); END;"
            "CREATE TRIGGER tags_rewritten AFTER UPDATE OF tags ON events "
            "BEGIN INSERT INTO rewrites VALUES ('tags'); END;"
            "CREATE TRIGGER tag_deleted AFTER DELETE ON event_tag_index "
            "BEGIN INSERT INTO rewrites VALUES ('tag'); END");

        // The same tags in another order and with a repeat are the same set.
        events[0].tags = {"EventbriteFormat/6", "EventbriteCategory/103", "EventbriteFormat/6"};
        store->upsert_events(events, second_seen);

        CHECK(probe.integer("SELECT count(*) FROM rewrites") == 0);
        CHECK(probe.text("SELECT first_seen_at FROM events") == first_seen);
        CHECK(probe.text("SELECT last_seen_at FROM events") == second_seen);
        CHECK(probe.column("SELECT tag FROM event_tags ORDER BY tag") ==
              std::vector<std::string>{"EventbriteCategory/103", "EventbriteFormat/6"});
    }

    TEST_CASE("sqlite changed row keeps unchanged tags") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("321")};
        events[0].tags = {"EventbriteCategory/103"};
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TABLE rewrites (what TEXT NOT NULL);"
            "CREATE TRIGGER tags_rewritten AFTER UPDATE OF tags ON events "
            "BEGIN INSERT INTO rewrites VALUES ('tags'); END;"
            "CREATE TRIGGER tag_deleted AFTER DELETE ON event_tag_index "
            "BEGIN INSERT INTO rewrites VALUES ('tag'); END");

        events[0].city = "Oakland";
        store->upsert_events(events, second_seen);

        CHECK(probe.text("SELECT city FROM events") == "Oakland");
        CHECK(probe.text("SELECT last_seen_at FROM events") == second_seen);
        CHECK(probe.integer("SELECT count(*) FROM rewrites") == 0);
        CHECK(probe.column("SELECT tag FROM event_tags") ==
              std::vector<std::string>{"EventbriteCategory/103"});
    }

    TEST_CASE("sqlite same seen_at writes nothing") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> events{full_event("331")};
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TABLE rewrites (what TEXT NOT NULL);"
            "CREATE TRIGGER row_touched AFTER UPDATE ON events "
            "BEGIN INSERT INTO rewrites VALUES ('row'); END");

        store->upsert_events(events, first_seen);

        CHECK(probe.integer("SELECT count(*) FROM rewrites") == 0);
        CHECK(probe.text("SELECT last_seen_at FROM events") == first_seen);
    }

    TEST_CASE("sqlite upsert restores foreign keys") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events WHEN NEW.id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'test trigger rejected the row'); END");
        const std::vector<pipeline::event_record> good{full_event("341")};
        const std::vector<pipeline::event_record> bad{full_event("bad")};
        const db::city_result city{"ny--new-york", "ok", 1, 1, 0, std::nullopt, "", ""};

        store->upsert_events(good, first_seen);
        CHECK_THROWS_AS(store->record_city(999, city), db::store_error);
        CHECK_THROWS_AS(store->upsert_events(bad, first_seen), db::store_error);
        CHECK_THROWS_AS(store->record_city(999, city), db::store_error);
        CHECK(probe.integer("SELECT count(*) FROM run_cities") == 0);
    }

    TEST_CASE("sqlite absent values are null") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> events{bare_event("401")};
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};

        const std::array<const char*, 20> nullable{
            "summary",         "url",      "timezone",       "start_local", "end_local",
            "start_utc",       "end_utc",  "venue_name",     "address",     "city",
            "region",          "country",  "latitude",       "longitude",   "price_min_minor",
            "price_max_minor", "currency", "organizer_name", "series_id",   "image_url"};
        for (const char* column : nullable) {
            CAPTURE(column);
            CHECK(probe.text(std::string{"SELECT typeof("} + column + ") FROM events") == "null");
        }
        CHECK(probe.text("SELECT typeof(is_online) FROM events") == "integer");
        CHECK(probe.integer("SELECT is_free FROM events") == 0);
        CHECK(probe.integer("SELECT count(*) FROM event_tags") == 0);
    }

    TEST_CASE("sqlite values keep storage class") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("501")};
        events[0].is_online = true;
        events[0].is_free = true;
        events[0].price_min_minor = 0;
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};

        struct expected_value {
            const char* column;
            const char* storage_class;
            const char* value;
        };
        const std::array<expected_value, 8> expected{{
            {"latitude", "real", "40.7128"},
            {"longitude", "real", "-74.006"},
            {"price_min_minor", "integer", "0"},
            {"price_max_minor", "integer", "4000"},
            {"is_online", "integer", "1"},
            {"is_free", "integer", "1"},
            {"is_cancelled", "integer", "0"},
            {"start_utc", "text", "2026-07-01T22:00:00Z"},
        }};
        for (const expected_value& item : expected) {
            CAPTURE(item.column);
            const std::string column{item.column};
            CHECK(probe.text("SELECT typeof(" + column + ") FROM events") == item.storage_class);
            CHECK(probe.text("SELECT " + column + " FROM events") == item.value);
        }
    }

    TEST_CASE("sqlite failing batch rolls back") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> before{full_event("keep")};
        before[0].name = "old name";
        store->upsert_events(before, first_seen);
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events WHEN NEW.id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'test trigger rejected the row'); END");

        std::vector<pipeline::event_record> batch{
            full_event("keep"), full_event("new1"), full_event("bad"), full_event("new2")};
        batch[0].name = "new name";
        std::string message;
        try {
            store->upsert_events(batch, second_seen);
        } catch (const db::store_error& error) {
            message = error.what();
        }

        CHECK(message.find("event id 'bad'") != std::string::npos);
        CHECK(message.find("test trigger rejected the row") != std::string::npos);
        CHECK(message.find(path) != std::string::npos);
        CHECK(store->count_events() == 1);
        CHECK(probe.text("SELECT name FROM events WHERE id = 'keep'") == "old name");
        CHECK(probe.text("SELECT last_seen_at FROM events WHERE id = 'keep'") == first_seen);
        CHECK(probe.integer("SELECT count(*) FROM event_tags WHERE event_id = 'new1'") == 0);

        // The store stays usable after the rollback.
        probe.exec("DROP TRIGGER reject_bad");
        store->upsert_events(batch, second_seen);
        CHECK(store->count_events() == 4);
    }

    TEST_CASE("sqlite empty id rejected") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> batch{
            full_event("601"), bare_event(""), full_event("602")};

        std::string message;
        try {
            store->upsert_events(batch, first_seen);
        } catch (const db::store_error& error) {
            message = error.what();
        }

        CHECK(message.find("position 1 of 3") != std::string::npos);
        CHECK(store->count_events() == 0);
    }

    TEST_CASE("sqlite run records") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        sqlite_probe probe{path};

        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl --all", ""});
        const std::string where = " FROM runs WHERE id = " + std::to_string(run_id);
        CHECK(run_id == 1);
        CHECK(probe.text("SELECT status" + where) == "running");
        CHECK(probe.text("SELECT typeof(finished_at)" + where) == "null");
        CHECK(probe.text("SELECT command" + where) == "eventcrawl crawl --all");

        db::city_result city{"ny--new-york", "failed", 1, 20, 3, "timeout", "", ""};
        store->record_city(run_id, city);
        city.status = "ok";
        city.pages = 4;
        city.events = 80;
        city.last_error.reset();
        city.started_at = "2026-07-01T10:00:00Z";
        city.finished_at = "2026-07-01T10:01:00Z";
        store->record_city(run_id, city);
        db::city_result blocked{"ca--san-francisco", "blocked", 0, 0, 1, "HTTP 403", "", ""};
        store->record_city(run_id, blocked);

        store->finish_run(run_id, {"partial", 1, 1, 4, 80, 4});

        CHECK(probe.text("SELECT status" + where) == "partial");
        CHECK(probe.text("SELECT typeof(finished_at)" + where) == "text");
        CHECK(probe.text("SELECT cities_ok || '/' || cities_failed || '/' || pages || '/' || "
                         "events || '/' || errors" +
                         where) == "1/1/4/80/4");
        CHECK(probe.integer("SELECT count(*) FROM run_cities") == 2);
        CHECK(probe.text("SELECT status || '/' || pages || '/' || events || '/' || errors || '/' "
                         "|| quote(last_error) || '/' || started_at FROM run_cities "
                         "WHERE city_slug = 'ny--new-york'") ==
              "ok/4/80/3/NULL/2026-07-01T10:00:00Z");
        CHECK(probe.text("SELECT last_error FROM run_cities "
                         "WHERE city_slug = 'ca--san-francisco'") == "HTTP 403");
        CHECK(probe.text("SELECT typeof(started_at) FROM run_cities "
                         "WHERE city_slug = 'ca--san-francisco'") == "null");
    }

    TEST_CASE("sqlite unfinished run stays running") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        std::int64_t run_id = 0;
        {
            auto store = db::open_store(dsn_for(path));
            run_id = store->begin_run({"sync", "eventcrawl crawl", ""});
        }

        auto reopened = db::open_store(dsn_for(path));
        const std::int64_t next_run = reopened->begin_run({"sync", "eventcrawl crawl", ""});

        sqlite_probe probe{path};
        const std::string where = " FROM runs WHERE id = " + std::to_string(run_id);
        CHECK(probe.text("SELECT status" + where) == "running");
        CHECK(probe.text("SELECT typeof(finished_at)" + where) == "null");
        CHECK(next_run == run_id + 1);
    }

    TEST_CASE("sqlite run misuse rejected") {
        const temp_dir dir;
        auto store = db::open_store(dsn_for(dir.file("events.db")));
        const db::run_summary summary{"ok", 1, 0, 1, 1, 0};
        const db::city_result city{"ny--new-york", "ok", 1, 1, 0, std::nullopt, "", ""};

        CHECK_THROWS_WITH_AS(store->finish_run(42, summary),
                             doctest::Contains("run 42 does not exist"),
                             db::store_error);
        CHECK_THROWS_WITH_AS(store->record_city(42, city),
                             doctest::Contains("FOREIGN KEY constraint failed"),
                             db::store_error);
    }

    TEST_CASE("sqlite upsert waits for lock") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::sqlite_store store{path};
        raw_connection other{path};
        REQUIRE(sqlite3_exec(other.handle.get(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
                SQLITE_OK);

        // Without busy_timeout the upsert would fail at once with "database is locked". The
        // other connection releases its write lock well inside the 5 s timeout.
        std::thread release{[&other] {
            std::this_thread::sleep_for(std::chrono::milliseconds{200});
            sqlite3_exec(other.handle.get(), "COMMIT", nullptr, nullptr, nullptr);
        }};
        const std::vector<pipeline::event_record> events{full_event("701")};
        std::string message = "<no error>";
        try {
            store.upsert_events(events, first_seen);
        } catch (const db::store_error& error) {
            message = error.what();
        }
        release.join();

        CHECK(message == "<no error>");
        CHECK(store.count_events() == 1);
    }

    TEST_CASE("sqlite stores share one file") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto first = db::open_store(dsn_for(path));
        auto second = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> batch_a{full_event("801")};
        const std::vector<pipeline::event_record> batch_b{full_event("801"), full_event("802")};

        first->upsert_events(batch_a, first_seen);
        second->upsert_events(batch_b, second_seen);

        CHECK(first->count_events() == 2);
        sqlite_probe probe{path};
        CHECK(probe.text("SELECT first_seen_at FROM events WHERE id = '801'") == first_seen);
        CHECK(probe.text("SELECT last_seen_at FROM events WHERE id = '801'") == second_seen);
        CHECK(probe.integer("SELECT count(*) FROM schema_version") == 6);
    }

    TEST_CASE("sqlite open errors name path") {
        const temp_dir dir;
        const std::string missing_folder = dir.file("no-such-folder/events.db");
        const std::string not_database = dir.file("notes.txt");
        const std::string read_only = dir.file("read-only.db");
        {
            std::ofstream file{not_database};
            file << "these are plain notes, long enough to fill a SQLite header page or more\n";
        }
        db::open_store(dsn_for(read_only));
        std::filesystem::permissions(
            read_only, std::filesystem::perms::owner_read | std::filesystem::perms::group_read);

        struct error_case {
            std::string dsn;
            std::string path;
            std::string cause;
        };
        const std::array<error_case, 5> cases{{
            {dsn_for(missing_folder), missing_folder, "does not exist"},
            {dsn_for(not_database), not_database, "is not a SQLite database"},
            {dsn_for(read_only), read_only, "is read-only"},
            {dsn_for(dir.path().string()), dir.path().string(), "the path is a folder"},
            {"sqlite:", "sqlite:PATH", "empty path"},
        }};
        for (const error_case& item : cases) {
            CAPTURE(item.dsn);
            const std::string message = error_of(item.dsn);
            CHECK(message.find(item.path) != std::string::npos);
            CHECK(message.find(item.cause) != std::string::npos);
        }
        CHECK_FALSE(std::filesystem::exists(missing_folder));
    }

    TEST_CASE("open_store dsn forms") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");

        CHECK(db::open_store("sqlite://" + path)->count_events() == 0);
        CHECK(db::open_store("SQLITE:" + path)->count_events() == 0);
        CHECK(std::filesystem::exists(path));
        CHECK(error_of("mysql://user:secret@host/db") ==
              "unsupported DSN 'mysql://user:***@host/db': expected sqlite:PATH, "
              "postgresql://... or postgres://...");
    }

    TEST_CASE("sqlite archive compresses bodies") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        db::archived_page page;
        page.city_slug = "ny--new-york";
        page.page_number = 1;
        page.source = "listing_html";
        for (int i = 0; i < 2000; ++i) {
            page.body += "<div class=\"event-card\">Rooftop Jazz</div>\n";
        }
        const std::vector<db::archived_page> pages{page};
        store->archive_pages(run_id, pages);
        sqlite_probe probe{path};

        CHECK(probe.integer("SELECT body_size FROM raw_pages") ==
              static_cast<long long>(page.body.size()));
        CHECK(probe.integer("SELECT length(body) FROM raw_pages") < 2000);
        CHECK(probe.text("SELECT typeof(body) FROM raw_pages") == "blob");

        probe.exec("UPDATE raw_pages SET body_size = body_size + 1");
        CHECK_THROWS_WITH_AS(
            store->load_pages(run_id), doctest::Contains("is corrupt"), db::store_error);
    }

    TEST_CASE("sqlite new events tags stored") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        // 50 new events with 3 distinct tags each give 150 tag rows: two multi-row inserts of
        // 64 rows and 22 single-row inserts. Event 7 repeats one tag, which is stored once.
        std::vector<pipeline::event_record> events;
        for (int number = 0; number < 50; ++number) {
            pipeline::event_record event = full_event("9" + std::to_string(100 + number));
            event.tags = {"EventbriteSubCategory/" + std::to_string(3000 + number),
                          "EventbriteCategory/103",
                          "EventbriteFormat/" + std::to_string(number % 7)};
            if (number == 7) {
                event.tags.push_back("EventbriteCategory/103");
            }
            events.push_back(std::move(event));
        }

        store->upsert_events(events, first_seen);

        sqlite_probe probe{path};
        CHECK(probe.integer("SELECT count(*) FROM event_tags") == 150);
        CHECK(probe.integer("SELECT count(DISTINCT event_id) FROM event_tags") == 50);
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '9100' ORDER BY tag") ==
              std::vector<std::string>{
                  "EventbriteCategory/103", "EventbriteFormat/0", "EventbriteSubCategory/3000"});
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '9107' ORDER BY tag") ==
              std::vector<std::string>{
                  "EventbriteCategory/103", "EventbriteFormat/0", "EventbriteSubCategory/3007"});
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '9149' ORDER BY tag") ==
              std::vector<std::string>{
                  "EventbriteCategory/103", "EventbriteFormat/0", "EventbriteSubCategory/3049"});
    }

    TEST_CASE("sqlite new id twice in batch") {
        // The later copy replaces the tags that the earlier copy queued, in a short batch and
        // in one whose queue contains many rows.
        for (const int size : {3, 40}) {
            CAPTURE(size);
            const temp_dir dir;
            const std::string path = dir.file("events.db");
            auto store = db::open_store(dsn_for(path));
            std::vector<pipeline::event_record> batch;
            for (int number = 0; number < size; ++number) {
                batch.push_back(full_event("95" + std::to_string(number)));
            }
            batch[1].name = "earlier copy";
            batch[1].tags = {"EventbriteCategory/199", "EventbriteFormat/6"};
            const std::size_t later = size == 3 ? 2 : 30;
            batch[later] = full_event("951");
            batch[later].name = "later copy";
            batch[later].tags = {"EventbriteSubCategory/3004"};

            store->upsert_events(batch, first_seen);

            sqlite_probe probe{path};
            CHECK(store->count_events() == size - 1);
            CHECK(probe.text("SELECT name FROM events WHERE id = '951'") == "later copy");
            CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '951'") ==
                  std::vector<std::string>{"EventbriteSubCategory/3004"});
            CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '950' ORDER BY tag") ==
                  std::vector<std::string>{"EventbriteCategory/103", "EventbriteFormat/6"});
        }
    }

    TEST_CASE("sqlite batch mixes new and stored") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        // Even numbers are stored first. The second batch of 40 changes them and adds the odd ones.
        std::vector<pipeline::event_record> stored;
        for (int number = 0; number < 40; number += 2) {
            stored.push_back(full_event("97" + std::to_string(number)));
        }
        store->upsert_events(stored, first_seen);
        std::vector<pipeline::event_record> batch;
        for (int number = 0; number < 40; ++number) {
            pipeline::event_record event = full_event("97" + std::to_string(number));
            event.name = "second batch " + std::to_string(number);
            event.tags = {"EventbriteFormat/" + std::to_string(number)};
            batch.push_back(std::move(event));
        }

        store->upsert_events(batch, second_seen);

        sqlite_probe probe{path};
        CHECK(store->count_events() == 40);
        CHECK(probe.integer("SELECT count(*) FROM event_tags") == 40);
        CHECK(probe.integer("SELECT count(*) FROM events WHERE first_seen_at = '" +
                            std::string{first_seen} + "'") == 20);
        CHECK(probe.integer("SELECT count(*) FROM events WHERE last_seen_at = '" +
                            std::string{second_seen} + "'") == 40);
        CHECK(probe.text("SELECT name FROM events WHERE id = '9710'") == "second batch 10");
        CHECK(probe.text("SELECT first_seen_at FROM events WHERE id = '9710'") == first_seen);
        CHECK(probe.text("SELECT first_seen_at FROM events WHERE id = '9711'") == second_seen);
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '9710'") ==
              std::vector<std::string>{"EventbriteFormat/10"});
        CHECK(probe.column("SELECT tag FROM event_tags WHERE event_id = '9711'") ==
              std::vector<std::string>{"EventbriteFormat/11"});
    }

    TEST_CASE("sqlite failed batch drops queued tags") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events WHEN NEW.id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'test trigger rejected the row'); END");
        // The 20 events before 'bad' queue 40 tag rows, which the failure must discard.
        std::vector<pipeline::event_record> batch;
        for (int number = 0; number < 40; ++number) {
            batch.push_back(full_event(number == 20 ? "bad" : "98" + std::to_string(number)));
        }

        std::string message;
        try {
            store->upsert_events(batch, first_seen);
        } catch (const db::store_error& error) {
            message = error.what();
        }
        const std::vector<pipeline::event_record> next{full_event("990")};
        store->upsert_events(next, second_seen);

        CHECK(message.find("event id 'bad'") != std::string::npos);
        CHECK(message.find("test trigger rejected the row") != std::string::npos);
        CHECK(store->count_events() == 1);
        CHECK(probe.column("SELECT DISTINCT event_id FROM event_tags") ==
              std::vector<std::string>{"990"});
        CHECK(probe.integer("SELECT count(*) FROM event_tags") == 2);
    }

    TEST_CASE("sqlite new database page size") {
        const temp_dir dir;
        const std::string fresh = dir.file("fresh.db");
        const std::string older = dir.file("older.db");
        {
            // A file created with the 4 KiB default keeps its page size.
            raw_connection connection{older};
            REQUIRE(sqlite3_exec(connection.handle.get(),
                                 "PRAGMA page_size = 4096; CREATE TABLE marker (x INTEGER)",
                                 nullptr,
                                 nullptr,
                                 nullptr) == SQLITE_OK);
        }

        auto fresh_store = db::open_store(dsn_for(fresh));
        auto older_store = db::open_store(dsn_for(older));
        const std::vector<pipeline::event_record> events{full_event("995")};
        older_store->upsert_events(events, first_seen);

        CHECK(sqlite_probe{fresh}.integer("PRAGMA page_size") == 8192);
        CHECK(sqlite_probe{older}.integer("PRAGMA page_size") == 4096);
        CHECK(older_store->count_events() == 1);
    }

    TEST_CASE("sqlite deleted event stored again") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("961")};
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};
        probe.exec("DELETE FROM event_tags; DELETE FROM events");

        // The new row gets rowid 1 again, the rowid of the store's previous insert.
        events[0].tags = {"EventbriteSubCategory/3004"};
        store->upsert_events(events, second_seen);

        CHECK(probe.integer("SELECT rowid FROM events") == 1);
        CHECK(probe.text("SELECT first_seen_at FROM events") == second_seen);
        CHECK(probe.column("SELECT tag FROM event_tags") ==
              std::vector<std::string>{"EventbriteSubCategory/3004"});
    }

    TEST_CASE("sqlite one load connection") {
        auto store = db::open_store("sqlite::memory:");
        store->set_load_connections(1);
        try {
            store->set_load_connections(2);
            FAIL("set_load_connections(2) returned");
        } catch (const db::store_error& error) {
            CHECK(std::string{error.what()} ==
                  "this database writes through one connection, so 2 load connections cannot "
                  "be used; give 1, or use PostgreSQL");
        }
    }

    TEST_CASE("sqlite export indexes exact") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::open_store(dsn_for(path));
        sqlite_probe probe{path};
        // Time range, lower(city) and location. event_tag_index is itself keyed by tag, and every
        // other index costs writes that no query reads.
        CHECK(probe.text("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema "
                         "WHERE type = 'index' AND tbl_name IN ('events', 'event_tag_index') "
                         "AND sql IS NOT NULL ORDER BY name)") ==
              "events_city_lower_idx,events_location_idx,events_start_utc_idx");
    }

    TEST_CASE("sqlite tag index follows tags") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        // "a" takes tag ids 1 and 2, and "b" then gets seq 2: the id of the last tag row that
        // the batch inserted before it.
        std::vector<pipeline::event_record> events{full_event("a"), full_event("b")};
        events[0].tags = {"one", "two"};
        events[1].tags = {"three"};
        store->upsert_events(events, first_seen);

        sqlite_probe probe{path};
        const std::string index_rows =
            "SELECT events.id || '/' || tags.name FROM event_tag_index "
            "JOIN tags ON tags.id = tag_id JOIN events ON events.seq = event_seq ORDER BY 1";
        CHECK(probe.integer("SELECT seq FROM events WHERE id = 'b'") == 2);
        CHECK(probe.column(index_rows) == std::vector<std::string>{"a/one", "a/two", "b/three"});
        CHECK(probe.column("SELECT tags FROM events ORDER BY seq") ==
              std::vector<std::string>{R"(["one","two"])", R"(["three"])"});

        // A changed set moves the entries, and tag rows stay for reuse.
        events[0].tags = {"two", "four"};
        events[1].tags = {};
        store->upsert_events(events, second_seen);
        CHECK(probe.column(index_rows) == std::vector<std::string>{"a/four", "a/two"});
        CHECK(probe.column("SELECT tags FROM events ORDER BY seq") ==
              std::vector<std::string>{R"(["four","two"])", "[]"});
        CHECK(probe.integer("SELECT count(*) FROM tags") == 4);
        CHECK(probe.column("PRAGMA foreign_key_check('event_tag_index')").empty());
    }

    TEST_CASE("sqlite event_tags view writes through") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("41"), full_event("42")};
        events[0].tags = {};
        events[1].tags = {};
        store->upsert_events(events, first_seen);

        sqlite_probe probe{path};
        const std::string index_rows =
            "SELECT events.id || '/' || tags.name FROM event_tag_index "
            "JOIN tags ON tags.id = tag_id JOIN events ON events.seq = event_seq ORDER BY 1";
        probe.exec("INSERT INTO event_tags VALUES ('41', 'c'), ('41', 'a'), ('41', 'b')");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == R"(["a","b","c"])");
        probe.exec("DELETE FROM event_tags WHERE event_id = '41' AND tag = 'b'");
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == R"(["a","c"])");
        probe.exec("UPDATE event_tags SET tag = 'd' WHERE event_id = '41' AND tag = 'c'");
        probe.exec("UPDATE event_tags SET event_id = '42' WHERE event_id = '41' AND tag = 'a'");
        CHECK(probe.column("SELECT event_id || '/' || tag FROM event_tags ORDER BY 1") ==
              std::vector<std::string>{"41/d", "42/a"});
        CHECK(probe.column(index_rows) == std::vector<std::string>{"41/d", "42/a"});

        // A real table with a unique (event_id, tag) would reject this swap, and so does the view:
        // done row by row, it would leave one tag where there were two.
        probe.exec("INSERT INTO event_tags VALUES ('41', 'x'), ('41', 'y')");
        CHECK(probe
                  .exec_error("UPDATE event_tags SET tag = CASE tag WHEN 'x' THEN 'y' ELSE 'x' "
                              "END WHERE event_id = '41' AND tag IN ('x', 'y')")
                  .find("the event already has this tag") != std::string::npos);
        CHECK(probe.text("SELECT tags FROM events WHERE id = '41'") == R"(["d","x","y"])");
        probe.exec("DELETE FROM event_tags WHERE event_id = '41' AND tag IN ('x', 'y')");

        CHECK(probe.exec_error("INSERT INTO event_tags VALUES ('missing', 'a')")
                  .find("no event with this event_id") != std::string::npos);
        CHECK(probe.exec_error("INSERT INTO event_tags VALUES ('41', NULL)").find("tag is NULL") !=
              std::string::npos);

        // The store reads what the view wrote, and the triggers index what the store changed.
        std::vector<std::string> read_tags;
        store->for_each_event({}, [&](const pipeline::event_record& event, auto, auto) {
            for (const std::string& tag : event.tags) {
                read_tags.push_back(event.id + "/" + tag);
            }
        });
        CHECK(read_tags == std::vector<std::string>{"41/d", "42/a"});
        events[0].tags = {"e"};
        store->upsert_events(events, second_seen);
        CHECK(probe.column(index_rows) == std::vector<std::string>{"41/e"});
    }

    TEST_CASE("sqlite tags read back exactly") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> events{full_event("61")};
        events[0].tags = {"quote\"d",
                          "back\\slash",
                          "tab\tline\nend\r",
                          std::string{"bell\x07nul\x01"},
                          "caf\u00e9 \u6771\u4eac",
                          "[\"not\",\"json\"]",
                          "'; DROP TABLE events; --"};
        store->upsert_events(events, first_seen);

        std::vector<std::string> read_tags;
        store->for_each_event(
            {}, [&](const pipeline::event_record& event, auto, auto) { read_tags = event.tags; });
        std::vector<std::string> expected = events[0].tags;
        std::sort(expected.begin(), expected.end());
        CHECK(read_tags == expected);

        // The store escapes as SQLite's own JSON functions do, so the view's triggers and the
        // store write the same text for the same tags.
        sqlite_probe probe{path};
        CHECK(probe.text("SELECT tags FROM events") ==
              probe.text("SELECT json_group_array(value) FROM "
                         "(SELECT value FROM json_each((SELECT tags FROM events)) ORDER BY 1)"));
        CHECK(probe.integer("SELECT count(*) FROM event_tags") == 7);
        CHECK(probe.integer("SELECT count(*) FROM event_tag_index") == 7);
    }

    TEST_CASE("sqlite failed batch drops tag ids") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events WHEN NEW.id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'test trigger rejected the row'); END");
        std::vector<pipeline::event_record> batch{full_event("71"), full_event("bad")};
        batch[0].tags = {"first-seen-here"};
        CHECK_THROWS_AS(store->upsert_events(batch, first_seen), db::store_error);
        CHECK(probe.integer("SELECT count(*) FROM tags") == 0);

        // Another connection takes tag id 1 for another name. A store that kept the id of the
        // rolled-back row would file the tag under that name.
        probe.exec("INSERT INTO tags (name) VALUES ('taken-by-other')");
        batch.pop_back();
        store->upsert_events(batch, second_seen);
        CHECK(probe.column("SELECT tags.name FROM event_tag_index JOIN tags ON tags.id = tag_id") ==
              std::vector<std::string>{"first-seen-here"});
    }

    TEST_CASE("sqlite tag ids reread after other writes") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        std::vector<pipeline::event_record> first{full_event("91")};
        first[0].tags = {"temporary"};
        store->upsert_events(first, first_seen);

        // Another connection drops the tag, and a new name takes its id.
        sqlite_probe probe{path};
        probe.exec("DELETE FROM event_tags WHERE event_id = '91'");
        probe.exec("DELETE FROM tags WHERE name = 'temporary'");
        probe.exec("INSERT INTO tags (name) VALUES ('other')");
        REQUIRE(probe.integer("SELECT id FROM tags WHERE name = 'other'") == 1);

        std::vector<pipeline::event_record> second{full_event("92")};
        second[0].tags = {"temporary"};
        store->upsert_events(second, second_seen);
        CHECK(probe.column("SELECT tags.name FROM event_tag_index JOIN tags ON tags.id = tag_id "
                           "JOIN events ON events.seq = event_seq WHERE events.id = '92'") ==
              std::vector<std::string>{"temporary"});
    }

    TEST_CASE("sqlite malformed stored tags named") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        auto store = db::open_store(dsn_for(path));
        const std::vector<pipeline::event_record> events{full_event("81")};
        store->upsert_events(events, first_seen);
        sqlite_probe probe{path};
        const auto export_error = [&] {
            std::string message = "<no error>";
            try {
                store->for_each_event({}, [](const pipeline::event_record&, auto, auto) {});
            } catch (const db::store_error& error) {
                message = error.what();
            }
            return message;
        };

        probe.exec("UPDATE events SET tags = '{\"not\": \"an array\"}'");
        std::string message = export_error();
        CHECK(message.find("event id '81'") != std::string::npos);
        CHECK(message.find("not a JSON array of strings") != std::string::npos);

        // A row inserted by hand can hold text that is not JSON. The fix that the message gives
        // works, because the triggers read such a value as no tags.
        probe.exec("UPDATE events SET tags = '[]'");
        probe.exec(
            "INSERT INTO events (id, name, is_online, is_free, is_cancelled, first_seen_at, "
            "last_seen_at, tags) VALUES ('82', 'Event 82', 0, 1, 0, '2026-06-01T00:00:00Z', "
            "'2026-06-01T00:00:00Z', 'garbage')");
        message = export_error();
        CHECK(message.find("event id '82'") != std::string::npos);
        CHECK(message.find("UPDATE events SET tags = '[]' WHERE id = '82'") != std::string::npos);
        probe.exec("UPDATE events SET tags = '[]' WHERE id = '82'");
        probe.exec("INSERT INTO event_tags VALUES ('82', 'music')");
        CHECK(export_error() == "<no error>");
        CHECK(probe.column("SELECT tags.name FROM event_tag_index JOIN tags ON tags.id = tag_id") ==
              std::vector<std::string>{"music"});

        probe.exec(
            "INSERT INTO events (id, name, is_online, is_free, is_cancelled, first_seen_at, "
            "last_seen_at, tags) VALUES ('83', 'Event 83', 0, 1, 0, '2026-06-01T00:00:00Z', "
            "'2026-06-01T00:00:00Z', '[')");
        probe.exec("DELETE FROM events WHERE id = '83'");
        CHECK(probe.integer("SELECT count(*) FROM events") == 2);
    }
}
