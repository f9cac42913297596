#include "db/batch_writer.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "db/sqlite_store.hpp"
#include "db/timestamp.hpp"
#include "tests/db/test_support.hpp"

namespace db = eventcrawl::db;
using db::test::bare_event;
using db::test::full_event;
using db::test::sqlite_probe;
using db::test::temp_dir;
using namespace std::chrono_literals;

TEST_SUITE("db") {
    TEST_CASE("batch_writer flushes by count") {
        const temp_dir dir;
        db::sqlite_store store{dir.file("events.db")};
        db::batch_writer writer{store, 3, 60s};

        writer.add(full_event("1"));
        writer.add(full_event("2"));
        CHECK(writer.buffered() == 2);
        CHECK(store.count_events() == 0);

        writer.add(full_event("3"));
        CHECK(writer.buffered() == 0);
        CHECK(store.count_events() == 3);

        writer.add(full_event("4"));
        CHECK(writer.flush() == 1);
        CHECK(writer.stats().batches == 2);
        CHECK(writer.stats().rows_written == 4);
        CHECK(writer.stats().max_batch_rows == 3);
        CHECK(writer.flush() == 0);
        CHECK(writer.stats().batches == 2);
    }

    TEST_CASE("batch_writer merges duplicate ids") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::sqlite_store store{path};
        db::batch_writer writer{store, 3, 60s};

        auto first = full_event("7");
        first.name = "first version";
        auto last = full_event("7");
        last.name = "last version";
        writer.add(first);
        writer.add(full_event("8"));
        writer.add(last);
        CHECK(writer.buffered() == 2);

        writer.add(full_event("9"));
        CHECK(writer.buffered() == 0);
        sqlite_probe probe{path};
        CHECK(probe.text("SELECT name FROM events WHERE id = '7'") == "last version");
        CHECK(writer.stats().rows_written == 3);
    }

    TEST_CASE("batch_writer flushes by age") {
        const temp_dir dir;
        db::sqlite_store store{dir.file("events.db")};
        db::batch_writer writer{store, 100, 1000ms};
        const auto start = db::batch_writer::clock::time_point{} + 1h;

        CHECK_FALSE(writer.flush_if_due(start + 1h));
        CHECK_FALSE(writer.due_at().has_value());

        writer.add(full_event("1"), start);
        writer.add(full_event("2"), start + 900ms);
        CHECK(writer.due_at() == start + 1000ms);
        CHECK_FALSE(writer.flush_if_due(start + 1000ms));
        CHECK(store.count_events() == 0);

        CHECK(writer.flush_if_due(start + 1001ms));
        CHECK(store.count_events() == 2);
        CHECK(writer.buffered() == 0);
        CHECK(writer.stats().batches == 1);
    }

    TEST_CASE("batch_writer keeps rows on failure") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::sqlite_store store{path};
        db::batch_writer writer{store, 3, 60s};
        sqlite_probe probe{path};
        probe.exec(
            "CREATE TRIGGER reject_bad BEFORE INSERT ON events WHEN NEW.id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'test trigger rejected the row'); END");

        writer.add(full_event("1"));
        writer.add(bare_event("bad"));
        CHECK_THROWS_AS(writer.add(full_event("3")), db::store_error);
        CHECK(writer.buffered() == 3);
        CHECK(store.count_events() == 0);
        CHECK(writer.stats().failed_flushes == 1);
        CHECK(writer.stats().batches == 0);

        CHECK_THROWS_AS(writer.flush(), db::store_error);
        CHECK(writer.buffered() == 3);

        probe.exec("DROP TRIGGER reject_bad");
        CHECK(writer.flush() == 3);
        CHECK(store.count_events() == 3);
        CHECK(writer.stats().failed_flushes == 2);
        CHECK(writer.stats().rows_written == 3);
    }

    TEST_CASE("batch_writer stamps seen_at") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::sqlite_store store{path};
        db::batch_writer writer{store, 10, 60s};
        const std::string before = db::utc_timestamp_now();

        writer.add(full_event("1"));
        writer.flush();

        sqlite_probe probe{path};
        const std::string seen_at = probe.text("SELECT last_seen_at FROM events");
        const std::regex iso_utc{R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)"};
        CHECK(std::regex_match(seen_at, iso_utc));
        CHECK(seen_at >= before);
        CHECK(probe.text("SELECT first_seen_at FROM events") == seen_at);
    }

    TEST_CASE("batch_writer rejects bad limits") {
        const temp_dir dir;
        db::sqlite_store store{dir.file("events.db")};

        CHECK_THROWS_AS(db::batch_writer(store, 0, 1s), std::invalid_argument);
        CHECK_THROWS_AS(db::batch_writer(store, 10, -1ms), std::invalid_argument);
    }
}
