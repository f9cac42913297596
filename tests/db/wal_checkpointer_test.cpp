#include "db/detail/wal_checkpointer.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "db/detail/sqlite_util.hpp"
#include "db/sqlite_store.hpp"
#include "tests/db/test_support.hpp"

namespace db = eventcrawl::db;
using db::test::sqlite_probe;
using db::test::temp_dir;

namespace {

// A connection in WAL mode that writes rows of 4 KiB, so that each commit adds a known number of
// frames to the log. Automatic checkpoints are off, so only the checkpointer copies frames.
class wal_writer {
public:
    explicit wal_writer(const std::string& path) {
        sqlite3* raw = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
        connection_.reset(raw);
        exec("PRAGMA page_size = 4096");
        exec("PRAGMA journal_mode = WAL");
        exec("PRAGMA wal_autocheckpoint = 0");
        exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
    }

    void exec(const std::string& sql) {
        REQUIRE_MESSAGE(
            sqlite3_exec(connection_.get(), sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK,
            sqlite3_errmsg(connection_.get()));
    }

    // One transaction of `rows` new rows of 4,000 bytes each: at least one frame per row.
    void commit_rows(int rows) {
        exec("BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
             std::to_string(rows) +
             ") INSERT INTO blobs (body) SELECT zeroblob(4000) FROM n; COMMIT");
    }

    sqlite3* get() { return connection_.get(); }

private:
    db::detail::sqlite_connection connection_;
};

// Frames in the log and how many of them are in the database, as a PASSIVE checkpoint reports
// them after copying what it can.
struct log_state {
    int frames = -1;
    int copied = -1;
};

log_state passive_checkpoint(sqlite3* connection) {
    log_state state;
    sqlite3_wal_checkpoint_v2(
        connection, "main", SQLITE_CHECKPOINT_PASSIVE, &state.frames, &state.copied);
    return state;
}

template <typename Condition>
bool wait_until(Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    return true;
}

}  // namespace

TEST_SUITE("wal checkpointer") {
    TEST_CASE("commits past start threshold checkpoint on thread") {
        const temp_dir dir;
        const std::string path = dir.file("log.db");
        wal_writer writer{path};
        db::detail::wal_checkpointer checkpointer{writer.get(), path, 40, 100000};

        writer.commit_rows(10);
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        CHECK(checkpointer.completed().on_thread == 0);

        writer.commit_rows(50);
        REQUIRE(wait_until([&] { return checkpointer.completed().on_thread >= 1; }));
        CHECK(checkpointer.completed().by_writer == 0);

        // Every frame of the log is in the database now, so the next write starts the log again
        // from its beginning. The log then contains only the new transaction's frames.
        writer.commit_rows(2);
        const log_state after = passive_checkpoint(writer.get());
        CHECK(after.frames > 0);
        CHECK(after.frames < 40);

        sqlite_probe probe{path};
        CHECK(probe.integer("SELECT count(*) FROM blobs") == 62);
    }

    TEST_CASE("writer checkpoints behind open reader") {
        const temp_dir dir;
        const std::string path = dir.file("log.db");
        wal_writer writer{path};
        writer.commit_rows(1);

        // An open read transaction pins the snapshot of the first commit, so no checkpoint can
        // copy the frames after it, and the log grows past the block threshold.
        db::detail::sqlite_connection reader;
        {
            sqlite3* raw = nullptr;
            REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
            reader.reset(raw);
        }
        REQUIRE(sqlite3_exec(
                    reader.get(), "BEGIN; SELECT count(*) FROM blobs", nullptr, nullptr, nullptr) ==
                SQLITE_OK);

        db::detail::wal_checkpointer checkpointer{writer.get(), path, 20, 60};
        for (int commit = 0; commit < 8; ++commit) {
            writer.commit_rows(10);
        }
        CHECK(checkpointer.completed().by_writer >= 1);
        CHECK(passive_checkpoint(writer.get()).copied < 60);

        // Once the reader ends, the next checkpoint copies every frame.
        REQUIRE(sqlite3_exec(reader.get(), "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
        // A checkpoint that the thread started earlier may still run, and the writer's own is
        // then skipped. So the test commits until one of the writer's checkpoints completes.
        const std::int64_t by_writer = checkpointer.completed().by_writer;
        int extra_rows = 0;
        while (checkpointer.completed().by_writer == by_writer && extra_rows < 50) {
            writer.commit_rows(1);
            ++extra_rows;
        }
        CHECK(checkpointer.completed().by_writer == by_writer + 1);
        const log_state state = passive_checkpoint(writer.get());
        CHECK(state.frames > 0);
        CHECK(state.copied == state.frames);

        sqlite_probe probe{path};
        CHECK(probe.integer("SELECT count(*) FROM blobs") == 81 + extra_rows);
    }

    TEST_CASE("checkpointer stops with commits pending") {
        const temp_dir dir;
        const std::string path = dir.file("log.db");
        wal_writer writer{path};
        {
            db::detail::wal_checkpointer checkpointer{writer.get(), path, 1, 100000};
            for (int commit = 0; commit < 20; ++commit) {
                writer.commit_rows(3);
            }
        }
        // The hook is gone with the object, so these commits call nothing that was freed.
        writer.commit_rows(3);
        sqlite_probe probe{path};
        CHECK(probe.integer("SELECT count(*) FROM blobs") == 63);
    }

    TEST_CASE("checkpoint connection fails for missing file") {
        const temp_dir dir;
        const std::string path = dir.file("log.db");
        wal_writer writer{path};
        CHECK_THROWS_WITH_AS(
            db::detail::wal_checkpointer(writer.get(), dir.file("gone/log.db"), 1, 2),
            doctest::Contains("open of the checkpoint connection failed"),
            db::store_error);
    }

    TEST_CASE("sqlite store copies log while open") {
        const temp_dir dir;
        const std::string path = dir.file("events.db");
        db::sqlite_store store{path};
        std::vector<eventcrawl::pipeline::event_record> batch;
        for (int batch_number = 0; batch_number < 12; ++batch_number) {
            batch.clear();
            for (int row = 0; row < 3000; ++row) {
                auto event = db::test::full_event(std::to_string(batch_number * 3000 + row));
                event.summary = std::string(1500, static_cast<char>('a' + row % 26));
                batch.push_back(std::move(event));
            }
            store.upsert_events(batch, "2026-07-01T10:00:00Z");
        }
        CHECK(store.count_events() == 36000);
        // The batches wrote about 80 MB to the log. Without a checkpoint before the store closes,
        // the database file would contain the schema only. The first checkpoint starts at 4,096
        // frames (32 MiB of 8 KiB pages) and sizes the file for every page it copies.
        REQUIRE(wait_until(
            [&] { return std::filesystem::file_size(path) > std::uintmax_t{16} * 1024 * 1024; }));
        sqlite_probe probe{path};
        CHECK(probe.integer("SELECT count(*) FROM events") == 36000);
    }
}
