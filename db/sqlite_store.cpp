#include "db/sqlite_store.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

#include "db/detail/checks.hpp"
#include "db/detail/compression.hpp"
#include "db/detail/event_sql.hpp"
#include "db/detail/logger.hpp"
#include "db/detail/migration.hpp"
#include "db/detail/run_lock.hpp"
#include "db/detail/wal_checkpointer.hpp"
#include "db/timestamp.hpp"

namespace eventcrawl::db {
namespace {

namespace fs = std::filesystem;

// The update applies only when a compared column changed, so that an unchanged row keeps its
// index entries. sqlite3_changes() is then 0, and touch_event_sql moves last_seen_at alone. The
// update leaves tags to write_tags, which compares them.
constexpr std::string_view insert_only_columns[] = {"tags"};
const std::string upsert_event_sql =
    detail::event_upsert_sql(
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,\n"
        "        ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?26, ?27)",
        {},
        insert_only_columns) +
    "\nWHERE " + detail::event_changed_condition();

constexpr std::string_view touch_event_sql =
    "UPDATE events SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at IS NOT ?2";

// The value that write_event puts in place of the last inserted rowid before its upsert. SQLite
// never chooses it for a new row, so the upsert inserted a row exactly when the value changed.
constexpr sqlite3_int64 no_insert_rowid = std::numeric_limits<sqlite3_int64>::min();

// Tag ids that a store keeps in memory. Past this many, the store clears the map and reads the
// ids from the database again.
constexpr std::size_t max_cached_tag_ids = 65536;

// Page size in bytes of a database file that this store creates. With 8 KiB pages in place of
// the 4 KiB default, bench/transform_load's SQLite stage used about 8% less CPU time (100,800 new
// events in batches of 500 on a shared 2-core VM, so an estimate). 16 KiB measured about the
// same, but every changed row then dirties a larger page.
constexpr int new_database_page_size = 8192;

// Frames (pages) in the write-ahead log from which a commit wakes the checkpoint thread, and
// from which the writer checkpoints itself: 32 and 128 MiB. In bench/transform_load (100,800
// events in batches of 5,000), the 2-thread SQLite stage loaded 102,391 and 102,738 events/s
// with wal_autocheckpoint = 8192 on the writer, 107,010-107,318 with the thread from 1,024
// frames, 111,300 from 2,048, 114,751 and 115,710 from 4,096, and 115,458 and 117,739 from
// 8,192 (one run each, alternated).
// NOTE: under a steady stream of batches the writer usually starts its next batch before the
// thread's checkpoint ends, so the log starts again from its beginning only after the writer's
// own checkpoint, which is skipped while the thread's runs. The -wal file then grows to 128 MiB
// plus a few batches: 159-193 MiB with 5,000-row batches of about 44 MiB of frames each.
constexpr int frames_to_start_checkpoint = 4096;
constexpr int frames_to_block_writer = 16384;

// Rows per multi-row tag index insert. One statement for 64 rows saves the reset, bind and step
// work of 63 statements. Its 128 parameters stay far below 32766, the default maximum number of
// parameters (SQLITE_MAX_VARIABLE_NUMBER) since SQLite 3.32.
constexpr std::size_t tag_rows_per_insert = 64;

// Returns "INSERT OR IGNORE INTO event_tag_index (tag_id, event_seq) VALUES (?1, ?2), ...".
std::string insert_tags_sql(std::size_t rows) {
    std::string sql = "INSERT OR IGNORE INTO event_tag_index (tag_id, event_seq) VALUES ";
    for (std::size_t row = 0; row < rows; ++row) {
        sql += fmt::format("{}(?{}, ?{})", row == 0 ? "" : ", ", 2 * row + 1, 2 * row + 2);
    }
    return sql;
}

constexpr std::string_view upsert_run_city_sql = R"sql(
INSERT INTO run_cities (
    run_id, city_slug, status, pages, events, errors, last_error, started_at, finished_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (run_id, city_slug) DO UPDATE SET
    status = excluded.status,
    pages = excluded.pages,
    events = excluded.events,
    errors = excluded.errors,
    last_error = excluded.last_error,
    started_at = excluded.started_at,
    finished_at = excluded.finished_at
)sql";

constexpr std::string_view update_run_sql = R"sql(
UPDATE runs SET
    status = ?2, finished_at = ?3, cities_ok = ?4, cities_failed = ?5, pages = ?6,
    events = ?7, errors = ?8
WHERE id = ?1
)sql";

constexpr std::string_view upsert_page_sql = R"sql(
INSERT OR REPLACE INTO raw_pages (
    run_id, city_slug, page_number, url, http_status, content_type, source, body, body_size,
    captured_at, query)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
)sql";

constexpr std::string_view select_run_columns = R"sql(
SELECT id, mode, command, coalesce(options, ''), status, started_at, finished_at,
       coalesce(cities_ok, 0), coalesce(cities_failed, 0), coalesce(pages, 0),
       coalesce(events, 0), coalesce(errors, 0)
FROM runs
)sql";

// The columns of pipeline::event_record in member order, then first_seen_at and last_seen_at.
constexpr std::string_view select_events_sql = R"sql(
SELECT id, name, summary, url, timezone, start_local, end_local, start_utc, end_utc,
       is_online, is_free, is_cancelled, venue_name, address, city, region, country,
       latitude, longitude, price_min_minor, price_max_minor, currency, organizer_name,
       series_id, image_url, first_seen_at, last_seen_at, tags
FROM events
WHERE (?1 IS NULL OR start_utc >= ?1) AND (?2 IS NULL OR lower(city) = lower(?2))
ORDER BY start_utc IS NULL, start_utc, id
)sql";

// Resets a statement and its bindings when a call leaves, whether it succeeded or threw.
class statement_reset {
public:
    explicit statement_reset(sqlite3_stmt* statement) : statement_{statement} {}
    ~statement_reset() {
        sqlite3_reset(statement_);
        sqlite3_clear_bindings(statement_);
    }
    statement_reset(const statement_reset&) = delete;
    statement_reset& operator=(const statement_reset&) = delete;

private:
    sqlite3_stmt* statement_;
};

// The bind helpers use SQLITE_STATIC: every bound string outlives the sqlite3_step() call.
void bind_text(sqlite3_stmt* statement, int index, std::string_view value) {
    sqlite3_bind_text(
        statement, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
}

void bind_text(sqlite3_stmt* statement, int index, const std::optional<std::string>& value) {
    if (value) {
        bind_text(statement, index, std::string_view{*value});
    } else {
        sqlite3_bind_null(statement, index);
    }
}

void bind_double(sqlite3_stmt* statement, int index, const std::optional<double>& value) {
    if (value) {
        sqlite3_bind_double(statement, index, *value);
    } else {
        sqlite3_bind_null(statement, index);
    }
}

void bind_int64(sqlite3_stmt* statement, int index, const std::optional<std::int64_t>& value) {
    if (value) {
        sqlite3_bind_int64(statement, index, *value);
    } else {
        sqlite3_bind_null(statement, index);
    }
}

// Appends `text` as a JSON string, escaped as SQLite's json_quote() escapes it, so that the
// event_tags view triggers and this store write the same text for the same tags.
void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex_digits[] = "0123456789abcdef";
    out += '"';
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (byte < 0x20) {
                    out += "\\u00";
                    out += hex_digits[byte >> 4];
                    out += hex_digits[byte & 0xf];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

// Reads the JSON array of events.tags into sorted, distinct strings. Throws store_error naming
// the event when the text is not an array of strings.
std::vector<std::string> parse_tags(std::string_view json,
                                    std::string_view path,
                                    std::string_view id) {
    boost::system::error_code error;
    const boost::json::value value = boost::json::parse(json, error);
    std::vector<std::string> tags;
    if (!error && value.is_array()) {
        for (const boost::json::value& tag : value.get_array()) {
            if (!tag.is_string()) {
                error = make_error_code(boost::json::error::not_string);
                break;
            }
            tags.emplace_back(tag.get_string());
        }
    } else if (!error) {
        error = make_error_code(boost::json::error::not_array);
    }
    if (error) {
        throw store_error{fmt::format(
            "events.tags of event id '{}' in '{}' is not a JSON array of strings ({}): {:.80}; "
            "set it to one, for example UPDATE events SET tags = '[]' WHERE id = '{}', then add "
            "the tags through the event_tags view",
            id,
            path,
            error.message(),
            json,
            id)};
    }
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    return tags;
}

// Binds an empty string as NULL: city_result uses "" for "not known", run_start for "none".
void bind_optional_timestamp(sqlite3_stmt* statement, int index, const std::string& value) {
    if (value.empty()) {
        sqlite3_bind_null(statement, index);
    } else {
        bind_text(statement, index, std::string_view{value});
    }
}

std::string column_string(sqlite3_stmt* statement, int index) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, index));
    if (text == nullptr) {
        return {};
    }
    return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement, index)));
}

std::optional<std::string> column_optional_string(sqlite3_stmt* statement, int index) {
    if (sqlite3_column_type(statement, index) == SQLITE_NULL) {
        return std::nullopt;
    }
    return column_string(statement, index);
}

std::optional<double> column_optional_double(sqlite3_stmt* statement, int index) {
    if (sqlite3_column_type(statement, index) == SQLITE_NULL) {
        return std::nullopt;
    }
    return sqlite3_column_double(statement, index);
}

std::optional<std::int64_t> column_optional_int64(sqlite3_stmt* statement, int index) {
    if (sqlite3_column_type(statement, index) == SQLITE_NULL) {
        return std::nullopt;
    }
    return sqlite3_column_int64(statement, index);
}

// Reads the first 25 columns of select_events_sql; the caller fills the tags.
pipeline::event_record read_event(sqlite3_stmt* statement) {
    pipeline::event_record event;
    event.id = column_string(statement, 0);
    event.name = column_string(statement, 1);
    event.summary = column_optional_string(statement, 2);
    event.url = column_optional_string(statement, 3);
    event.timezone = column_optional_string(statement, 4);
    event.start_local = column_optional_string(statement, 5);
    event.end_local = column_optional_string(statement, 6);
    event.start_utc = column_optional_string(statement, 7);
    event.end_utc = column_optional_string(statement, 8);
    event.is_online = sqlite3_column_int(statement, 9) != 0;
    event.is_free = sqlite3_column_int(statement, 10) != 0;
    event.is_cancelled = sqlite3_column_int(statement, 11) != 0;
    event.venue_name = column_optional_string(statement, 12);
    event.address = column_optional_string(statement, 13);
    event.city = column_optional_string(statement, 14);
    event.region = column_optional_string(statement, 15);
    event.country = column_optional_string(statement, 16);
    event.latitude = column_optional_double(statement, 17);
    event.longitude = column_optional_double(statement, 18);
    event.price_min_minor = column_optional_int64(statement, 19);
    event.price_max_minor = column_optional_int64(statement, 20);
    event.currency = column_optional_string(statement, 21);
    event.organizer_name = column_optional_string(statement, 22);
    event.series_id = column_optional_string(statement, 23);
    event.image_url = column_optional_string(statement, 24);
    return event;
}

// Turns foreign key enforcement off for the life of the object, outside any transaction.
class foreign_keys_off {
public:
    foreign_keys_off(sqlite3* connection, std::string_view path) : connection_{connection} {
        detail::sqlite_exec(connection_, path, "PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys");
    }
    // NOTE: the pragma is a no-op while a transaction is open, which happens only when the
    // ROLLBACK after a failed batch failed too. The check below logs that case.
    ~foreign_keys_off() {
        sqlite3_exec(connection_, "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
        if (sqlite3_get_autocommit(connection_) == 0) {
            detail::logger()->error(
                "Foreign key checks stay off on this connection, because a transaction is still "
                "open after a failed upsert batch; reopen the store");
        }
    }
    foreign_keys_off(const foreign_keys_off&) = delete;
    foreign_keys_off& operator=(const foreign_keys_off&) = delete;

private:
    sqlite3* connection_;
};

bool has_write_permission(const fs::path& file) {
    // access() alone is not enough: it always grants root write access, and the test suite
    // and containers often run as root. A file without any write bit counts as read-only.
    std::error_code error;
    const fs::perms permissions = fs::status(file, error).permissions();
    if (error) {
        return true;
    }
    constexpr fs::perms any_write =
        fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write;
    if ((permissions & any_write) == fs::perms::none) {
        return false;
    }
    return ::access(file.c_str(), W_OK) == 0;
}

// Rejects the cases whose SQLite messages do not name the cause ("unable to open database
// file", or a silent read-only open), so that the error names what to fix.
void check_path(const std::string& path) {
    if (path == ":memory:") {
        return;
    }
    const fs::path file{path};
    const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path{"."};
    std::error_code error;
    if (!fs::is_directory(folder, error)) {
        throw store_error{fmt::format(
            "cannot open SQLite database '{}': folder '{}' does not exist; create the folder "
            "or choose another path",
            path,
            folder.string())};
    }
    if (fs::is_directory(file, error)) {
        throw store_error{fmt::format(
            "cannot open SQLite database '{}': the path is a folder; give a file path such as "
            "'{}/eventcrawl.db'",
            path,
            path)};
    }
    if (fs::exists(file, error) && !has_write_permission(file)) {
        throw store_error{fmt::format(
            "SQLite database '{}' is read-only; make the file writable (chmod u+w) or choose "
            "another path",
            path)};
    }
}

}  // namespace

sqlite_store::sqlite_store(std::string path) : path_{std::move(path)} {
    if (path_.empty()) {
        throw store_error{"SQLite DSN has an empty path; write it as sqlite:PATH"};
    }
    check_path(path_);
    open_connection();
    apply_pragmas();
    const int version =
        detail::apply_sqlite_migrations(connection_.get(), path_, detail::sqlite_migrations());
    prepare_statements();
    start_checkpointer();
    detail::logger()->info("Opened SQLite store path={} schema_version={}", path_, version);
}

sqlite_store::~sqlite_store() {
    detail::logger()->debug("Closing SQLite store path={}", path_);
}

void sqlite_store::open_connection() {
    sqlite3* raw = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path_.c_str(), &raw, flags, nullptr);
    // sqlite3_open_v2 returns a handle even on failure; it must be closed either way.
    connection_.reset(raw);
    if (rc != SQLITE_OK) {
        throw store_error{detail::sqlite_error_message(raw, path_, "open")};
    }
    sqlite3_extended_result_codes(connection_.get(), 1);
    if (sqlite3_db_readonly(connection_.get(), "main") == 1) {
        throw store_error{fmt::format(
            "SQLite database '{}' opened read-only; make the file and its folder writable or "
            "choose another path",
            path_)};
    }
}

void sqlite_store::apply_pragmas() {
    sqlite3_busy_timeout(connection_.get(), detail::sqlite_busy_timeout_ms);

    // The first read of the file fails with SQLITE_NOTADB when it is not a database.
    if (sqlite3_exec(
            connection_.get(), "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
        if ((sqlite3_extended_errcode(connection_.get()) & 0xff) == SQLITE_NOTADB) {
            throw store_error{fmt::format(
                "file '{}' is not a SQLite database; point the DSN at a SQLite file or at a "
                "path that does not exist yet",
                path_)};
        }
        throw store_error{detail::sqlite_error_message(connection_.get(), path_, "first read")};
    }

    // SQLite fixes the page size of a file when it writes the first table, and in WAL mode it
    // cannot change it afterwards, so only a new, empty file gets it.
    if (page_count() == 0) {
        detail::sqlite_exec(connection_.get(),
                            path_,
                            fmt::format("PRAGMA page_size = {}", new_database_page_size),
                            "PRAGMA page_size");
    }
    detail::sqlite_exec(
        connection_.get(), path_, "PRAGMA journal_mode = WAL", "PRAGMA journal_mode");
    detail::sqlite_exec(
        connection_.get(), path_, "PRAGMA synchronous = NORMAL", "PRAGMA synchronous");
    detail::sqlite_exec(
        connection_.get(), path_, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys");

    // A 16 MiB page cache (negative means KiB) in place of the default 2 MiB keeps more index
    // pages between batches. A crawl's RSS grows until the cache is full and then stays flat. In
    // bench/transform_load, 16 and 64 MiB loaded 100,800 events in the same CPU time.
    detail::sqlite_exec(
        connection_.get(), path_, "PRAGMA cache_size = -16384", "PRAGMA cache_size");
    detail::sqlite_exec(
        connection_.get(), path_, "PRAGMA temp_store = MEMORY", "PRAGMA temp_store");
    detail::sqlite_exec(
        connection_.get(), path_, "PRAGMA mmap_size = 268435456", "PRAGMA mmap_size");
    // A reader that keeps an old snapshot stops checkpoints from copying the log, which then grows
    // without bound. SQLite reuses the file afterwards but keeps its size, so it is cut back to
    // 256 MiB when the log starts again, above the size it reaches under a steady load.
    detail::sqlite_exec(connection_.get(),
                        path_,
                        "PRAGMA journal_size_limit = 268435456",
                        "PRAGMA journal_size_limit");
    // Until start_checkpointer replaces it, and in its place when that fails, a commit that
    // leaves frames_to_block_writer frames in the log checkpoints on the writer's thread.
    detail::sqlite_exec(connection_.get(),
                        path_,
                        fmt::format("PRAGMA wal_autocheckpoint = {}", frames_to_block_writer),
                        "PRAGMA wal_autocheckpoint");
}

void sqlite_store::start_checkpointer() {
    if (path_ == ":memory:") {
        return;
    }
    try {
        checkpointer_ = std::make_unique<detail::wal_checkpointer>(
            connection_.get(), path_, frames_to_start_checkpoint, frames_to_block_writer);
    } catch (const store_error& error) {
        detail::logger()->warn("{}; batches checkpoint on the writing thread instead",
                               error.what());
    }
}

std::int64_t sqlite_store::page_count() {
    const auto statement = detail::sqlite_prepare(connection_.get(), path_, "PRAGMA page_count");
    if (sqlite3_step(statement.get()) != SQLITE_ROW) {
        throw store_error{
            detail::sqlite_error_message(connection_.get(), path_, "PRAGMA page_count")};
    }
    return sqlite3_column_int64(statement.get(), 0);
}

void sqlite_store::prepare_statements() {
    sqlite3* connection = connection_.get();
    upsert_event_ = detail::sqlite_prepare(connection, path_, upsert_event_sql);
    touch_event_ = detail::sqlite_prepare(connection, path_, touch_event_sql);
    select_stored_tags_ =
        detail::sqlite_prepare(connection, path_, "SELECT tags FROM events WHERE id = ?1");
    update_tags_ =
        detail::sqlite_prepare(connection, path_, "UPDATE events SET tags = ?2 WHERE id = ?1");
    insert_tag_name_ = detail::sqlite_prepare(
        connection, path_, "INSERT INTO tags (name) VALUES (?1) ON CONFLICT (name) DO NOTHING");
    select_tag_id_ =
        detail::sqlite_prepare(connection, path_, "SELECT id FROM tags WHERE name = ?1");
    data_version_ = detail::sqlite_prepare(connection, path_, "PRAGMA data_version");
    insert_tag_entry_ = detail::sqlite_prepare(connection, path_, insert_tags_sql(1));
    insert_tag_chunk_ =
        detail::sqlite_prepare(connection, path_, insert_tags_sql(tag_rows_per_insert));
    insert_run_ =
        detail::sqlite_prepare(connection,
                               path_,
                               "INSERT INTO runs (mode, command, options, status, started_at) "
                               "VALUES (?1, ?2, ?3, 'running', ?4)");
    upsert_run_city_ = detail::sqlite_prepare(connection, path_, upsert_run_city_sql);
    update_run_ = detail::sqlite_prepare(connection, path_, update_run_sql);
    count_events_ = detail::sqlite_prepare(connection, path_, "SELECT count(*) FROM events");
    upsert_page_ = detail::sqlite_prepare(connection, path_, upsert_page_sql);
}

void sqlite_store::in_transaction(std::string_view what, const std::function<void()>& write) {
    detail::sqlite_exec(
        connection_.get(), path_, "BEGIN IMMEDIATE", fmt::format("begin of {}", what));
    try {
        write();
        detail::sqlite_exec(connection_.get(), path_, "COMMIT", fmt::format("commit of {}", what));
    } catch (...) {
        sqlite3_exec(connection_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        // The rollback removed the tags rows that the transaction added.
        for (const std::string& name : uncommitted_tag_names_) {
            tag_ids_.erase(name);
        }
        uncommitted_tag_names_.clear();
        throw;
    }
    uncommitted_tag_names_.clear();
}

void sqlite_store::upsert_events(std::span<const pipeline::event_record> events,
                                 std::string_view seen_at) {
    detail::check_events(events, seen_at, path_);
    if (events.empty()) {
        return;
    }

    const auto started = std::chrono::steady_clock::now();
    {
        // The only foreign key that a batch can touch is event_tag_index.tag_id, and tag_id()
        // returns only ids of rows in tags, so the per-tag lookup adds nothing. SQLite ignores the
        // pragma inside a transaction, so it is switched around the transaction and always back.
        const foreign_keys_off unchecked{connection_.get(), path_};
        in_transaction("an upsert batch", [&] { write_events(events, seen_at); });
    }

    const auto elapsed = std::chrono::steady_clock::now() - started;
    detail::logger()->debug("Upserted events path={} rows={} elapsed_ms={}",
                            path_,
                            events.size(),
                            std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
}

// Writes the events inside the caller's transaction. The tags of new events are queued and
// inserted together at the end, so the queue is empty again when this returns or throws.
void sqlite_store::write_events(std::span<const pipeline::event_record> events,
                                std::string_view seen_at) {
    clear_tag_ids_after_other_writes();
    queued_tags_.clear();
    try {
        for (const pipeline::event_record& event : events) {
            write_event(event, seen_at);
        }
        insert_queued_tags();
    } catch (...) {
        queued_tags_.clear();
        throw;
    }
}

void sqlite_store::write_event(const pipeline::event_record& event, std::string_view seen_at) {
    sqlite3* connection = connection_.get();
    const auto fail = [&](std::string_view step) {
        throw store_error{detail::sqlite_error_message(
            connection, path_, fmt::format("{} of event id '{}'", step, event.id))};
    };

    sort_new_tags(event);
    sqlite3_set_last_insert_rowid(connection, no_insert_rowid);
    {
        sqlite3_stmt* statement = upsert_event_.get();
        const statement_reset reset{statement};
        bind_text(statement, 1, std::string_view{event.id});
        bind_text(statement, 2, std::string_view{event.name});
        bind_text(statement, 3, event.summary);
        bind_text(statement, 4, event.url);
        bind_text(statement, 5, event.timezone);
        bind_text(statement, 6, event.start_local);
        bind_text(statement, 7, event.end_local);
        bind_text(statement, 8, event.start_utc);
        bind_text(statement, 9, event.end_utc);
        sqlite3_bind_int(statement, 10, event.is_online ? 1 : 0);
        sqlite3_bind_int(statement, 11, event.is_free ? 1 : 0);
        sqlite3_bind_int(statement, 12, event.is_cancelled ? 1 : 0);
        bind_text(statement, 13, event.venue_name);
        bind_text(statement, 14, event.address);
        bind_text(statement, 15, event.city);
        bind_text(statement, 16, event.region);
        bind_text(statement, 17, event.country);
        bind_double(statement, 18, event.latitude);
        bind_double(statement, 19, event.longitude);
        bind_int64(statement, 20, event.price_min_minor);
        bind_int64(statement, 21, event.price_max_minor);
        bind_text(statement, 22, event.currency);
        bind_text(statement, 23, event.organizer_name);
        bind_text(statement, 24, event.series_id);
        bind_text(statement, 25, event.image_url);
        bind_text(statement, 26, seen_at);
        bind_text(statement, 27, std::string_view{new_tags_json_});
        if (sqlite3_step(statement) != SQLITE_DONE) {
            fail("upsert");
        }
    }

    // Only an insert changes sqlite3_last_insert_rowid, and the DO UPDATE branch leaves it alone.
    // The rowid is events.seq. A new row stored its tags with the insert, and its index entries
    // wait in the queue.
    const sqlite3_int64 seq = sqlite3_last_insert_rowid(connection);
    if (seq != no_insert_rowid) {
        for (std::string_view tag : new_tags_) {
            queued_tags_.push_back(queued_tag{tag_id(tag), seq, event.id});
        }
        return;
    }

    if (sqlite3_changes(connection) == 0) {
        sqlite3_stmt* statement = touch_event_.get();
        const statement_reset reset{statement};
        bind_text(statement, 1, std::string_view{event.id});
        bind_text(statement, 2, seen_at);
        if (sqlite3_step(statement) != SQLITE_DONE) {
            fail("update of last_seen_at");
        }
    }

    // An event that appeared earlier in this batch may have queued index entries, which have to
    // be in place before write_tags replaces its tags.
    insert_queued_tags();
    write_tags(event);
}

void sqlite_store::sort_new_tags(const pipeline::event_record& event) {
    new_tags_.assign(event.tags.begin(), event.tags.end());
    std::sort(new_tags_.begin(), new_tags_.end());
    new_tags_.erase(std::unique(new_tags_.begin(), new_tags_.end()), new_tags_.end());

    new_tags_json_.assign(1, '[');
    for (std::size_t index = 0; index < new_tags_.size(); ++index) {
        if (index > 0) {
            new_tags_json_ += ',';
        }
        append_json_string(new_tags_json_, new_tags_[index]);
    }
    new_tags_json_ += ']';
}

// Clears the cached tag ids when another connection committed since the last batch, because it
// may have deleted a tags row whose id a new tag then took. PRAGMA data_version changes exactly
// then. It runs inside the batch's write transaction, so no commit can come in between.
void sqlite_store::clear_tag_ids_after_other_writes() {
    sqlite3_stmt* statement = data_version_.get();
    const statement_reset reset{statement};
    if (sqlite3_step(statement) != SQLITE_ROW) {
        throw store_error{
            detail::sqlite_error_message(connection_.get(), path_, "PRAGMA data_version")};
    }
    const std::int64_t version = sqlite3_column_int64(statement, 0);
    if (version != data_version_seen_) {
        tag_ids_.clear();
        data_version_seen_ = version;
    }
}

std::int64_t sqlite_store::tag_id(std::string_view name) {
    if (const auto cached = tag_ids_.find(name); cached != tag_ids_.end()) {
        return cached->second;
    }
    if (tag_ids_.size() >= max_cached_tag_ids && uncommitted_tag_names_.empty()) {
        tag_ids_.clear();
    }

    sqlite3* connection = connection_.get();
    const auto fail = [&](std::string_view step) {
        throw store_error{detail::sqlite_error_message(
            connection, path_, fmt::format("{} of tag '{}'", step, name))};
    };
    std::int64_t id = 0;
    {
        sqlite3_stmt* statement = insert_tag_name_.get();
        const statement_reset reset{statement};
        bind_text(statement, 1, name);
        if (sqlite3_step(statement) != SQLITE_DONE) {
            fail("insert");
        }
    }
    if (sqlite3_changes(connection) == 1) {
        id = sqlite3_last_insert_rowid(connection);
    } else {
        sqlite3_stmt* statement = select_tag_id_.get();
        const statement_reset reset{statement};
        bind_text(statement, 1, name);
        if (sqlite3_step(statement) != SQLITE_ROW) {
            fail("read of the id");
        }
        id = sqlite3_column_int64(statement, 0);
    }
    tag_ids_.emplace(std::string{name}, id);
    uncommitted_tag_names_.emplace_back(name);
    return id;
}

// Replaces the stored tags of an event only when they changed. The update fires the trigger
// events_tags_update, which moves the event's entries in event_tag_index.
void sqlite_store::write_tags(const pipeline::event_record& event) {
    sqlite3* connection = connection_.get();
    const auto fail = [&](std::string_view step) {
        throw store_error{detail::sqlite_error_message(
            connection, path_, fmt::format("{} of event id '{}'", step, event.id))};
    };

    {
        sqlite3_stmt* statement = select_stored_tags_.get();
        const statement_reset reset{statement};
        bind_text(statement, 1, std::string_view{event.id});
        if (sqlite3_step(statement) != SQLITE_ROW) {
            fail("read of tags");
        }
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
        const std::string_view stored{text,
                                      static_cast<std::size_t>(sqlite3_column_bytes(statement, 0))};
        if (stored == new_tags_json_) {
            return;
        }
    }

    sqlite3_stmt* statement = update_tags_.get();
    const statement_reset reset{statement};
    bind_text(statement, 1, std::string_view{event.id});
    bind_text(statement, 2, std::string_view{new_tags_json_});
    if (sqlite3_step(statement) != SQLITE_DONE) {
        fail("update of tags");
    }
}

// Inserts the queued (tag id, event seq) entries in key order, tag_rows_per_insert rows per
// statement and the rest one by one, then empties the queue. In key order, the entries of one
// tag go to neighbouring places of the B-tree, mostly at the end of the tag's range.
void sqlite_store::insert_queued_tags() {
    std::sort(queued_tags_.begin(), queued_tags_.end(), [](const auto& left, const auto& right) {
        return std::tie(left.tag_id, left.event_seq) < std::tie(right.tag_id, right.event_seq);
    });
    std::size_t offset = 0;
    const auto fail = [&](std::size_t rows) {
        throw store_error{detail::sqlite_error_message(
            connection_.get(),
            path_,
            fmt::format("insert of {} tag index entries of new events, the first of event id '{}'",
                        rows,
                        queued_tags_[offset].event_id))};
    };

    while (queued_tags_.size() - offset >= tag_rows_per_insert) {
        sqlite3_stmt* statement = insert_tag_chunk_.get();
        const statement_reset reset{statement};
        for (std::size_t row = 0; row < tag_rows_per_insert; ++row) {
            const queued_tag& queued = queued_tags_[offset + row];
            sqlite3_bind_int64(statement, static_cast<int>(2 * row + 1), queued.tag_id);
            sqlite3_bind_int64(statement, static_cast<int>(2 * row + 2), queued.event_seq);
        }
        if (sqlite3_step(statement) != SQLITE_DONE) {
            fail(tag_rows_per_insert);
        }
        offset += tag_rows_per_insert;
    }

    sqlite3_stmt* statement = insert_tag_entry_.get();
    for (; offset < queued_tags_.size(); ++offset) {
        const statement_reset reset{statement};
        sqlite3_bind_int64(statement, 1, queued_tags_[offset].tag_id);
        sqlite3_bind_int64(statement, 2, queued_tags_[offset].event_seq);
        if (sqlite3_step(statement) != SQLITE_DONE) {
            fail(1);
        }
    }
    queued_tags_.clear();
}

std::int64_t sqlite_store::begin_run(const run_start& start) {
    sqlite3_stmt* statement = insert_run_.get();
    const statement_reset reset{statement};
    const std::string started_at = utc_timestamp_now();
    bind_text(statement, 1, std::string_view{start.mode});
    bind_text(statement, 2, std::string_view{start.command});
    // An empty options_json is stored as NULL, because "" is not a JSON document.
    bind_optional_timestamp(statement, 3, start.options_json);
    bind_text(statement, 4, std::string_view{started_at});
    if (sqlite3_step(statement) != SQLITE_DONE) {
        // The CHECK on runs.options rejects options_json that is not valid JSON.
        throw store_error{detail::sqlite_error_message(
            connection_.get(),
            path_,
            fmt::format("insert into runs with options '{}'", start.options_json.substr(0, 200)))};
    }
    const std::int64_t run_id = sqlite3_last_insert_rowid(connection_.get());
    detail::logger()->info("Began run path={} run_id={} mode={}", path_, run_id, start.mode);
    return run_id;
}

void sqlite_store::record_city(std::int64_t run_id, const city_result& result) {
    detail::check_city_result(run_id, result);
    write_run_city(run_id, result);
}

void sqlite_store::write_run_city(std::int64_t run_id, const city_result& result) {
    sqlite3_stmt* statement = upsert_run_city_.get();
    const statement_reset reset{statement};
    sqlite3_bind_int64(statement, 1, run_id);
    bind_text(statement, 2, std::string_view{result.city_slug});
    bind_text(statement, 3, std::string_view{result.status});
    sqlite3_bind_int(statement, 4, result.pages);
    sqlite3_bind_int64(statement, 5, result.events);
    sqlite3_bind_int(statement, 6, result.errors);
    bind_text(statement, 7, result.last_error);
    bind_optional_timestamp(statement, 8, result.started_at);
    bind_optional_timestamp(statement, 9, result.finished_at);

    if (sqlite3_step(statement) != SQLITE_DONE) {
        // A run id that begin_run never returned fails the foreign key on runs(id).
        throw store_error{detail::sqlite_error_message(
            connection_.get(),
            path_,
            fmt::format("insert into run_cities of run {} city '{}'", run_id, result.city_slug))};
    }
}

void sqlite_store::finish_run(std::int64_t run_id, const run_summary& summary) {
    if (summary.status.empty()) {
        throw store_error{fmt::format(
            "finish_run for run {} has an empty status; pass ok, partial, failed or interrupted",
            run_id)};
    }

    sqlite3_stmt* statement = update_run_.get();
    const statement_reset reset{statement};
    const std::string finished_at = utc_timestamp_now();
    sqlite3_bind_int64(statement, 1, run_id);
    bind_text(statement, 2, std::string_view{summary.status});
    bind_text(statement, 3, std::string_view{finished_at});
    sqlite3_bind_int(statement, 4, summary.cities_ok);
    sqlite3_bind_int(statement, 5, summary.cities_failed);
    sqlite3_bind_int64(statement, 6, summary.pages);
    sqlite3_bind_int64(statement, 7, summary.events);
    sqlite3_bind_int64(statement, 8, summary.errors);

    if (sqlite3_step(statement) != SQLITE_DONE) {
        throw store_error{detail::sqlite_error_message(
            connection_.get(), path_, fmt::format("update of run {}", run_id))};
    }
    if (sqlite3_changes(connection_.get()) != 1) {
        throw store_error{fmt::format(
            "run {} does not exist in '{}'; pass the id that begin_run returned", run_id, path_)};
    }
    detail::logger()->info("Finished run path={} run_id={} status={} events={} errors={}",
                           path_,
                           run_id,
                           summary.status,
                           summary.events,
                           summary.errors);
}

std::int64_t sqlite_store::count_events() {
    sqlite3_stmt* statement = count_events_.get();
    const statement_reset reset{statement};
    if (sqlite3_step(statement) != SQLITE_ROW) {
        throw store_error{
            detail::sqlite_error_message(connection_.get(), path_, "count of events")};
    }
    return sqlite3_column_int64(statement, 0);
}

void sqlite_store::commit_city(std::int64_t run_id,
                               const city_result& result,
                               std::span<const pipeline::event_record> events,
                               std::span<const archived_page> pages,
                               std::string_view seen_at) {
    detail::check_city_result(run_id, result);
    detail::check_events(events, seen_at, path_);
    detail::check_pages(run_id, pages, result.city_slug);

    in_transaction(fmt::format("the commit of city '{}' of run {}", result.city_slug, run_id), [&] {
        write_events(events, seen_at);
        for (const archived_page& page : pages) {
            write_page(run_id, page);
        }
        write_run_city(run_id, result);
    });
    detail::logger()->debug("Committed city path={} run_id={} city={} events={} pages={}",
                            path_,
                            run_id,
                            result.city_slug,
                            events.size(),
                            pages.size());
}

void sqlite_store::archive_pages(std::int64_t run_id, std::span<const archived_page> pages) {
    detail::check_pages(run_id, pages, {});
    if (pages.empty()) {
        return;
    }
    in_transaction(fmt::format("the archive of {} pages of run {}", pages.size(), run_id), [&] {
        for (const archived_page& page : pages) {
            write_page(run_id, page);
        }
    });
}

void sqlite_store::write_page(std::int64_t run_id, const archived_page& page) {
    const std::string compressed = detail::zlib_compress(page.body);

    sqlite3_stmt* statement = upsert_page_.get();
    const statement_reset reset{statement};
    sqlite3_bind_int64(statement, 1, run_id);
    bind_text(statement, 2, std::string_view{page.city_slug});
    sqlite3_bind_int(statement, 3, page.page_number);
    bind_text(statement, 4, std::string_view{page.url});
    sqlite3_bind_int(statement, 5, page.http_status);
    bind_text(statement, 6, std::string_view{page.content_type});
    bind_text(statement, 7, std::string_view{page.source});
    sqlite3_bind_blob64(statement,
                        8,
                        compressed.data(),
                        static_cast<sqlite3_uint64>(compressed.size()),
                        SQLITE_STATIC);
    sqlite3_bind_int64(statement, 9, static_cast<sqlite3_int64>(page.body.size()));
    bind_text(statement, 10, std::string_view{page.captured_at});
    bind_text(statement, 11, std::string_view{page.query});

    if (sqlite3_step(statement) != SQLITE_DONE) {
        // A run id that begin_run never returned fails the foreign key on runs(id).
        throw store_error{detail::sqlite_error_message(
            connection_.get(),
            path_,
            fmt::format("insert into raw_pages of run {} city '{}' page {} source {}",
                        run_id,
                        page.city_slug,
                        page.page_number,
                        page.source))};
    }
}

std::vector<archived_page> sqlite_store::load_pages(std::int64_t run_id) {
    const auto statement =
        detail::sqlite_prepare(connection_.get(),
                               path_,
                               "SELECT city_slug, page_number, url, http_status, "
                               "content_type, source, body, body_size, "
                               "captured_at, query FROM raw_pages WHERE run_id = ?1 "
                               "ORDER BY city_slug, query, page_number, source");
    sqlite3_bind_int64(statement.get(), 1, run_id);

    std::vector<archived_page> pages;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(statement.get())) == SQLITE_ROW) {
        archived_page page;
        page.city_slug = column_string(statement.get(), 0);
        page.page_number = sqlite3_column_int(statement.get(), 1);
        page.url = column_string(statement.get(), 2);
        page.http_status = sqlite3_column_int(statement.get(), 3);
        page.content_type = column_string(statement.get(), 4);
        page.source = column_string(statement.get(), 5);
        const auto* blob = static_cast<const char*>(sqlite3_column_blob(statement.get(), 6));
        const std::string_view compressed{
            blob, static_cast<std::size_t>(sqlite3_column_bytes(statement.get(), 6))};
        const auto body_size = sqlite3_column_int64(statement.get(), 7);
        page.captured_at = column_string(statement.get(), 8);
        page.query = column_string(statement.get(), 9);
        page.body = detail::zlib_decompress(compressed,
                                            static_cast<std::size_t>(body_size),
                                            fmt::format("run {} city '{}' page {} in '{}'",
                                                        run_id,
                                                        page.city_slug,
                                                        page.page_number,
                                                        path_));
        pages.push_back(std::move(page));
    }
    if (rc != SQLITE_DONE) {
        throw store_error{detail::sqlite_error_message(
            connection_.get(), path_, fmt::format("read of raw_pages of run {}", run_id))};
    }
    return pages;
}

std::vector<run_record> sqlite_store::read_runs(sqlite3_stmt* statement) {
    std::vector<run_record> runs;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        run_record run;
        run.id = sqlite3_column_int64(statement, 0);
        run.mode = column_string(statement, 1);
        run.command = column_string(statement, 2);
        run.options_json = column_string(statement, 3);
        run.status = column_string(statement, 4);
        run.started_at = column_string(statement, 5);
        run.finished_at = column_optional_string(statement, 6);
        run.cities_ok = sqlite3_column_int(statement, 7);
        run.cities_failed = sqlite3_column_int(statement, 8);
        run.pages = sqlite3_column_int64(statement, 9);
        run.events = sqlite3_column_int64(statement, 10);
        run.errors = sqlite3_column_int64(statement, 11);
        runs.push_back(std::move(run));
    }
    if (rc != SQLITE_DONE) {
        throw store_error{detail::sqlite_error_message(connection_.get(), path_, "read of runs")};
    }
    return runs;
}

std::optional<run_record> sqlite_store::find_run(std::int64_t run_id) {
    const std::string sql = fmt::format("{} WHERE id = ?1", select_run_columns);
    const auto statement = detail::sqlite_prepare(connection_.get(), path_, sql);
    sqlite3_bind_int64(statement.get(), 1, run_id);
    std::vector<run_record> runs = read_runs(statement.get());
    if (runs.empty()) {
        return std::nullopt;
    }
    return std::move(runs.front());
}

std::vector<run_record> sqlite_store::list_runs(int limit) {
    detail::check_limit(limit);
    const std::string sql = fmt::format("{} ORDER BY id DESC LIMIT ?1", select_run_columns);
    const auto statement = detail::sqlite_prepare(connection_.get(), path_, sql);
    sqlite3_bind_int(statement.get(), 1, limit);
    return read_runs(statement.get());
}

std::vector<city_result> sqlite_store::city_results(std::int64_t run_id) {
    const auto statement = detail::sqlite_prepare(
        connection_.get(),
        path_,
        "SELECT city_slug, status, pages, events, errors, last_error, coalesce(started_at, ''), "
        "coalesce(finished_at, '') FROM run_cities WHERE run_id = ?1 ORDER BY city_slug");
    sqlite3_bind_int64(statement.get(), 1, run_id);

    std::vector<city_result> results;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(statement.get())) == SQLITE_ROW) {
        city_result result;
        result.city_slug = column_string(statement.get(), 0);
        result.status = column_string(statement.get(), 1);
        result.pages = sqlite3_column_int(statement.get(), 2);
        result.events = sqlite3_column_int64(statement.get(), 3);
        result.errors = sqlite3_column_int(statement.get(), 4);
        result.last_error = column_optional_string(statement.get(), 5);
        result.started_at = column_string(statement.get(), 6);
        result.finished_at = column_string(statement.get(), 7);
        results.push_back(std::move(result));
    }
    if (rc != SQLITE_DONE) {
        throw store_error{detail::sqlite_error_message(
            connection_.get(), path_, fmt::format("read of run_cities of run {}", run_id))};
    }
    return results;
}

void sqlite_store::reopen_run(std::int64_t run_id) {
    const auto statement = detail::sqlite_prepare(
        connection_.get(),
        path_,
        "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ?1");
    sqlite3_bind_int64(statement.get(), 1, run_id);
    if (sqlite3_step(statement.get()) != SQLITE_DONE) {
        throw store_error{detail::sqlite_error_message(
            connection_.get(), path_, fmt::format("reopen of run {}", run_id))};
    }
    if (sqlite3_changes(connection_.get()) != 1) {
        throw store_error{fmt::format(
            "run {} does not exist in '{}'; list the stored runs with `eventcrawl runs` and pass "
            "one of their ids",
            run_id,
            path_)};
    }
    detail::logger()->info("Reopened run path={} run_id={}", path_, run_id);
}

void sqlite_store::for_each_event(const event_filter& filter,
                                  const std::function<void(const pipeline::event_record&,
                                                           std::string_view first_seen_at,
                                                           std::string_view last_seen_at)>& visit) {
    const auto events = detail::sqlite_prepare(connection_.get(), path_, select_events_sql);
    bind_text(events.get(), 1, filter.since_utc);
    bind_text(events.get(), 2, filter.city);

    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(events.get())) == SQLITE_ROW) {
        pipeline::event_record event = read_event(events.get());
        const std::string first_seen_at = column_string(events.get(), 25);
        const std::string last_seen_at = column_string(events.get(), 26);
        event.tags = parse_tags(column_string(events.get(), 27), path_, event.id);

        visit(event, first_seen_at, last_seen_at);
    }
    if (rc != SQLITE_DONE) {
        throw store_error{detail::sqlite_error_message(connection_.get(), path_, "read of events")};
    }
}

std::unique_ptr<run_claim> sqlite_store::claim_run(std::int64_t run_id) {
    if (path_ == ":memory:") {
        return detail::unshared_run_claim(run_id);
    }
    return detail::lock_run_file(run_id, fmt::format("{}.run-{}.lock", path_, run_id));
}

int sqlite_store::schema_version() {
    return detail::sqlite_schema_version(connection_.get(), path_);
}

}  // namespace eventcrawl::db
