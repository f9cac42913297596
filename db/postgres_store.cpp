#include "db/postgres_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <limits>
#include <numeric>
#include <optional>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "db/detail/checks.hpp"
#include "db/detail/event_sql.hpp"
#include "db/detail/logger.hpp"
#include "db/detail/migration.hpp"
#include "db/detail/run_lock.hpp"
#include "db/timestamp.hpp"

namespace eventcrawl::db {
namespace {

constexpr int connect_timeout_s = 10;
constexpr int statement_timeout_ms = 60'000;

// Attempts of a step whose connection broke, with reconnect_delay between them. The waits add
// up to about 23 s, which covers a server restart and still fails a crawl within half a minute.
constexpr int reconnect_attempts = 7;

// Every migration transaction takes this transaction-level advisory lock first, so two
// processes that open the same new database apply each migration once.
constexpr std::int64_t migration_lock_key = 0x6576656e74637261;  // "eventcra"

constexpr const char* upsert_event_name = "eventcrawl_upsert_event";
constexpr const char* insert_run_name = "eventcrawl_insert_run";
constexpr const char* upsert_run_city_name = "eventcrawl_upsert_run_city";
constexpr const char* upsert_page_name = "eventcrawl_upsert_page";

constexpr const char* event_staging_table = "eventcrawl_event_staging";

// The session temp table that receives each batch through COPY, one row per event with its tags
// as an array. id and tags use the byte-order collation of the keys they are compared with.
// ON COMMIT DELETE ROWS empties it at the end of every transaction, and a rollback
// discards its rows too.
constexpr const char* create_staging_sql = R"sql(
CREATE TEMP TABLE IF NOT EXISTS eventcrawl_event_staging (
    id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    summary TEXT,
    url TEXT,
    timezone TEXT,
    start_local TEXT,
    end_local TEXT,
    start_utc TEXT,
    end_utc TEXT,
    is_online INTEGER NOT NULL,
    is_free INTEGER NOT NULL,
    is_cancelled INTEGER NOT NULL,
    venue_name TEXT,
    address TEXT,
    city TEXT,
    region TEXT,
    country TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    price_min_minor BIGINT,
    price_max_minor BIGINT,
    currency TEXT,
    organizer_name TEXT,
    series_id TEXT,
    image_url TEXT,
    tags TEXT[] COLLATE "C" NOT NULL
) ON COMMIT DELETE ROWS;
)sql";

// The column of an event's tags in PostgreSQL, after the columns that SQLite shares.
constexpr std::array<std::string_view, 1> tag_columns{"tags"};

// Merges the staged batch into events in one statement; $1 is seen_at. The staged ids are
// unique, because one INSERT ... ON CONFLICT DO UPDATE cannot update the same row twice. A stored
// row is updated only when a compared column or its tags changed. The outer UPDATE then moves
// last_seen_at of the stored rows that the merge left alone, so that a re-crawl writes a narrow
// update in place of a full one. It skips the rows that the merge inserted or updated, because
// they already have seen_at. Both parts read the snapshot taken before the statement and touch
// disjoint rows.
// NOTE: a row that another writer inserted and committed after that snapshot, with the same
// values, is invisible to the outer UPDATE and keeps the other writer's last_seen_at.
//
// The outer UPDATE names its rows by an array of ids, never by a join with the staging table.
// Temp tables get no statistics from autovacuum. With a join, the planner chose sequential scans
// of the whole events table for a few hundred staged rows (28-95 ms per 500-row batch in EXPLAIN
// ANALYZE, growing with the table). The unique primary key of events lets the planner assume
// that each id matches at most one row. A batch of new events gives an empty array and looks up
// nothing.
const std::string merge_events_sql =
    "WITH merged AS (\n" +
    detail::event_upsert_sql(
        R"sql(SELECT id, name, summary, url, timezone, start_local::timestamp, end_local::timestamp,
       start_utc::timestamptz, end_utc::timestamptz, is_online, is_free, is_cancelled,
       venue_name, address, city, region, country, latitude, longitude, price_min_minor,
       price_max_minor, currency, organizer_name, series_id, image_url, $1::timestamptz,
       $1::timestamptz, tags
FROM eventcrawl_event_staging)sql",
        tag_columns) +
    "\nWHERE " + detail::event_changed_condition(tag_columns) + R"sql(
RETURNING id
)
UPDATE events SET last_seen_at = $1::timestamptz
WHERE id = ANY (ARRAY(SELECT id FROM eventcrawl_event_staging
                      WHERE id NOT IN (SELECT id FROM merged)))
  AND last_seen_at IS DISTINCT FROM $1::timestamptz
)sql";

// A SQL-level prepared statement of the session, run with EXECUTE. The protocol-level prepared
// statements of libpqxx take one round trip each, and on a busy 2-core machine every round trip
// waited milliseconds for the CPU, so merge_events sends the EXECUTE in one query with the SET
// LOCAL before it.
//
// Every batch plans the statement again (plan_cache_mode = force_custom_plan), because a cached
// generic plan keeps the table sizes of the time it was made.
const std::string prepare_batch_sql =
    fmt::format("PREPARE eventcrawl_merge_batch (timestamptz) AS {};", merge_events_sql);

// $8 is the body and $10 marks a body that may be JSON. jsonb stores it when it parses.
constexpr const char* upsert_page_sql = R"sql(
INSERT INTO raw_pages (
    run_id, city_slug, query, page_number, url, http_status, content_type, source, body_json,
    body_text, captured_at)
SELECT $1, $2, $11, $3, $4, $5, $6, $7, parsed.body_json,
       CASE WHEN parsed.body_json IS NULL THEN $8::text END, $9::timestamptz
FROM (SELECT CASE WHEN $10::boolean THEN eventcrawl_try_jsonb($8::text) END AS body_json)
     AS parsed
ON CONFLICT (run_id, city_slug, query, page_number, source) DO UPDATE SET
    url = excluded.url,
    http_status = excluded.http_status,
    content_type = excluded.content_type,
    body_json = excluded.body_json,
    body_text = excluded.body_text,
    captured_at = excluded.captured_at
)sql";

// Returns SQL that renders a timestamptz column as the ISO 8601 UTC text that SQLite stores,
// "2026-07-01T17:00:00Z", whatever the session's DateStyle and TimeZone are.
// NOTE: fractions of a second are not rendered. Every instant that eventcrawl writes has whole
// seconds (format_utc_timestamp), but a caller that passes "…:00.5Z" reads back "…:00Z".
std::string utc_text(std::string_view column) {
    return fmt::format(R"(to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))", column);
}

// Returns SQL that renders a timestamp (wall-clock) column as "2026-07-01T18:00:00".
std::string local_text(std::string_view column) {
    return fmt::format(R"(to_char({}, 'YYYY-MM-DD"T"HH24:MI:SS'))", column);
}

const std::string select_run_columns = fmt::format(
    R"sql(
SELECT id, mode, command, coalesce(options::text, ''), status, {}, {},
       coalesce(cities_ok, 0), coalesce(cities_failed, 0), coalesce(pages, 0),
       coalesce(events, 0), coalesce(errors, 0)
FROM runs
)sql",
    utc_text("started_at"),
    utc_text("finished_at"));

// COLLATE "C" orders by code point, as SQLite's BINARY collation does, whatever the database's
// default collation is. Time order of start_utc is the text order of its ISO 8601 form. The
// two {{}} are the filter conditions, filled in per call.
const std::string select_events_sql = fmt::format(
    R"sql(
SELECT id, name, summary, url, timezone, {}, {}, {}, {},
       is_online, is_free, is_cancelled, venue_name, address, city, region, country,
       latitude, longitude, price_min_minor, price_max_minor, currency, organizer_name,
       series_id, image_url, {}, {},
       tags
FROM events
WHERE {{}} AND {{}}
ORDER BY start_utc NULLS LAST, id COLLATE "C"
)sql",
    local_text("start_local"),
    local_text("end_local"),
    utc_text("start_utc"),
    utc_text("end_utc"),
    utc_text("first_seen_at"),
    utc_text("last_seen_at"));

// Ordered as sqlite_store orders them: by city, query, page number and source.
const std::string load_pages_sql = fmt::format(
    R"sql(
SELECT city_slug, page_number, url, http_status, content_type, source,
       coalesce(body_text, body_json::text), {}, query
FROM raw_pages WHERE run_id = $1
ORDER BY city_slug COLLATE "C", query COLLATE "C", page_number, source COLLATE "C"
)sql",
    utc_text("captured_at"));

const std::string city_results_sql = fmt::format(
    R"sql(
SELECT city_slug, status, pages, events, errors, last_error, coalesce({}, ''), coalesce({}, '')
FROM run_cities WHERE run_id = $1 ORDER BY city_slug COLLATE "C"
)sql",
    utc_text("started_at"),
    utc_text("finished_at"));

constexpr int cursor_fetch_rows = 1000;
constexpr const char* update_run_name = "eventcrawl_update_run";

// One round trip per event, to find the event that failed a batch: the row with its tags. $27 is
// the tags as a sorted array without repeats.
const std::string upsert_event_sql =
    detail::event_upsert_sql(
        R"sql(VALUES ($1, $2, $3, $4, $5, $6::timestamp, $7::timestamp, $8::timestamptz,
            $9::timestamptz, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
            $23, $24, $25, $26::timestamptz, $26::timestamptz, $27::text[]))sql",
        tag_columns) +
    "\nWHERE " + detail::event_changed_condition(tag_columns);

constexpr const char* upsert_run_city_sql = R"sql(
INSERT INTO run_cities (
    run_id, city_slug, status, pages, events, errors, last_error, started_at, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::timestamptz)
ON CONFLICT (run_id, city_slug) DO UPDATE SET
    status = excluded.status,
    pages = excluded.pages,
    events = excluded.events,
    errors = excluded.errors,
    last_error = excluded.last_error,
    started_at = excluded.started_at,
    finished_at = excluded.finished_at
)sql";

constexpr const char* update_run_sql = R"sql(
UPDATE runs SET
    status = $2, finished_at = $3::timestamptz, cities_ok = $4, cities_failed = $5, pages = $6,
    events = $7, errors = $8
WHERE id = $1
)sql";

// Adds connect_timeout to a URL DSN that does not set one, so that an unreachable server
// fails the open instead of blocking it.
std::string with_connect_timeout(const std::string& dsn) {
    if (dsn.find("connect_timeout=") != std::string::npos) {
        return dsn;
    }
    const char separator = dsn.find('?') == std::string::npos ? '?' : '&';
    return fmt::format("{}{}connect_timeout={}", dsn, separator, connect_timeout_s);
}

// Encodes strings as a PostgreSQL array literal ({"a","b"}), quoting every element.
std::string to_text_array(std::span<const std::string_view> values) {
    std::string literal = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            literal += ',';
        }
        literal += '"';
        for (const char character : values[i]) {
            if (character == '"' || character == '\\') {
                literal += '\\';
            }
            literal += character;
        }
        literal += '"';
    }
    literal += '}';
    return literal;
}

// Returns the tags as an array literal in byte order without repeats, the form that events.tags
// stores, so that the same set in another order or with a repeat compares equal to it.
std::string sorted_tag_array(const std::vector<std::string>& tags) {
    std::vector<std::string_view> sorted(tags.begin(), tags.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    return to_text_array(sorted);
}

// Returns an empty string as NULL: city_result uses "" for "not known", run_start for "none".
std::optional<std::string> optional_timestamp(const std::string& value) {
    if (value.empty()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

namespace {

// SQLSTATE classes 08 (connection exception) and 57P (operator intervention: server shutdown,
// restart, "the database system is starting up") mean that the session is lost, not the
// statement wrong.
bool is_connection_loss(const pqxx::sql_error& error) {
    const std::string& state = error.sqlstate();
    return state.starts_with("08") || state.starts_with("57P");
}

// Waits 0.5 s, 1 s, 2 s, 4 s, ... between attempts, capped at 8 s.
std::chrono::milliseconds reconnect_delay(int attempt) {
    const int doublings = std::min(attempt - 1, 4);
    return std::chrono::milliseconds{500 << doublings};
}

}  // namespace

struct postgres_store::session {
    explicit session(const std::string& dsn) : connection{dsn} {}

    pqxx::connection connection;
};

postgres_store::postgres_store(std::string dsn)
    : dsn_{with_connect_timeout(dsn)}, masked_dsn_{mask_dsn(dsn)} {
    try {
        open_session();
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "cannot connect to PostgreSQL at '{}': {}; check that the server runs and that the "
            "DSN names the right host, port, database and user",
            masked_dsn_,
            mask_dsn(error.what()))};
    }
    apply_migrations();
    create_staging_tables();
    prepare_statements();
    detail::logger()->info(
        "Opened PostgreSQL store dsn={} schema_version={}", masked_dsn_, schema_version());
}

void postgres_store::open_session() {
    session_.reset();
    session_ = std::make_unique<session>(dsn_);

    // Every read renders times with to_char in UTC, so TimeZone only matters for written times
    // and filters without an offset. Those are read as UTC, which matches their meaning in
    // SQLite. synchronous_commit stays at the server's setting, because "off" can lose commits
    // that were already reported as done when the server crashes, such as a city's commit.
    //
    // The planner estimates the batch statements from row counts it cannot know (temp tables get
    // no statistics), and their estimated costs often crossed jit_above_cost. JIT compilation
    // then took 0.2-1.1 s for a statement that runs in 2 ms, so the session turns JIT off.
    pqxx::nontransaction query{session_->connection};
    query.exec0(fmt::format("SET statement_timeout = {}; SET TIME ZONE 'UTC'; SET jit = off",
                            statement_timeout_ms));
}

void postgres_store::reconnect() {
    try {
        open_session();
        create_staging_tables();
        prepare_statements();
    } catch (...) {
        // A session without its staging tables or statements must not be used.
        session_.reset();
        throw;
    }
}

postgres_store::session& postgres_store::live_session() {
    if (!session_) {
        reconnect();
    }
    return *session_;
}

void postgres_store::with_reconnect(std::string_view step,
                                    bool idempotent,
                                    const std::function<void()>& work) {
    for (int attempt = 1;; ++attempt) {
        std::string reason;
        try {
            work();
            return;
        } catch (const pqxx::broken_connection& error) {
            reason = error.what();
        } catch (const pqxx::in_doubt_error& error) {
            // The commit may or may not have happened. Only a step that gives the same rows
            // when repeated may run again.
            if (!idempotent) {
                session_.reset();
                throw store_error{fmt::format(
                    "PostgreSQL {} on '{}' lost the connection during commit, so it is unknown "
                    "whether it was written: {}; check the database before repeating it",
                    step,
                    masked_dsn_,
                    error.what())};
            }
            reason = error.what();
        } catch (const pqxx::sql_error& error) {
            if (!is_connection_loss(error)) {
                throw;
            }
            reason = error.what();
        }

        // The old connection is unusable, and its temp tables and prepared statements are gone
        // with it, so the next attempt opens a new session.
        session_.reset();
        if (attempt >= reconnect_attempts) {
            throw store_unavailable{fmt::format(
                "PostgreSQL {} failed on '{}': the connection was lost and {} attempts to "
                "reconnect failed, the last with: {}; check that the PostgreSQL server runs and "
                "accepts connections, then repeat the step (`eventcrawl crawl --resume RUN_ID` "
                "for a crawl)",
                step,
                masked_dsn_,
                attempt,
                mask_dsn(reason))};
        }
        const auto delay = reconnect_delay(attempt);
        detail::logger()->warn(
            "Lost PostgreSQL connection dsn={} step=\"{}\" attempt={} retry_in_ms={} "
            "error=\"{}\"",
            masked_dsn_,
            step,
            attempt,
            delay.count(),
            mask_dsn(reason));
        std::this_thread::sleep_for(delay);
    }
}

postgres_store::~postgres_store() {
    detail::logger()->debug("Closing PostgreSQL store dsn={}", masked_dsn_);
}

int postgres_store::schema_version() {
    try {
        pqxx::nontransaction query{live_session().connection};
        const pqxx::row row = query.exec1("SELECT coalesce(max(version), 0) FROM schema_version");
        return row[0].as<int>();
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL read of schema_version failed on '{}': {}", masked_dsn_, error.what())};
    }
}

void postgres_store::apply_migrations() {
    const auto migrations = detail::postgres_migrations();
    const int latest = migrations.empty() ? 0 : migrations.back().version;

    try {
        pqxx::work create{live_session().connection};
        create.exec(fmt::format("SELECT pg_advisory_xact_lock({})", migration_lock_key));
        create.exec0(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)");
        create.commit();
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL creation of schema_version failed on '{}': {}", masked_dsn_, error.what())};
    }

    const int current = schema_version();
    if (current > latest) {
        throw store_error{fmt::format(
            "PostgreSQL database '{}' has schema version {}, but this build of eventcrawl knows "
            "versions up to {}; use a newer eventcrawl or point the DSN at another database",
            masked_dsn_,
            current,
            latest)};
    }

    for (const detail::migration& step : migrations) {
        if (step.version <= current) {
            continue;
        }
        try {
            pqxx::work transaction{live_session().connection};
            transaction.exec(fmt::format("SELECT pg_advisory_xact_lock({})", migration_lock_key));
            const pqxx::row row =
                transaction.exec1("SELECT coalesce(max(version), 0) FROM schema_version");
            if (row[0].as<int>() >= step.version) {
                // Another process applied it while this one waited for the lock.
                continue;
            }
            transaction.exec0(std::string{step.sql});
            transaction.exec_params0(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                step.version,
                utc_timestamp_now());
            transaction.commit();
        } catch (const std::exception& error) {
            throw store_error{
                fmt::format("PostgreSQL migration to schema version {} failed on "
                            "'{}': {}",
                            step.version,
                            masked_dsn_,
                            error.what())};
        }
        detail::logger()->info("Applied migration dsn={} version={} description=\"{}\"",
                               masked_dsn_,
                               step.version,
                               step.description);
    }
}

void postgres_store::prepare_statements() {
    try {
        live_session().connection.prepare(upsert_event_name, upsert_event_sql);
        live_session().connection.prepare(
            insert_run_name,
            "INSERT INTO runs (mode, command, options, status, "
            "started_at) VALUES ($1, $2, $3::jsonb, 'running', $4::timestamptz) "
            "RETURNING id");
        live_session().connection.prepare(upsert_run_city_name, upsert_run_city_sql);
        live_session().connection.prepare(update_run_name, update_run_sql);
        live_session().connection.prepare(upsert_page_name, upsert_page_sql);
        // After create_staging_tables, because the statements read the staging table.
        pqxx::nontransaction query{live_session().connection};
        query.exec0(prepare_batch_sql);
    } catch (const pqxx::broken_connection&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL prepare of statements failed on '{}': {}", masked_dsn_, error.what())};
    }
}

namespace {

// One COPY row of eventcrawl_event_staging, in its column order.
auto staging_row(const pipeline::event_record& event) {
    return std::make_tuple(event.id,
                           event.name,
                           event.summary,
                           event.url,
                           event.timezone,
                           event.start_local,
                           event.end_local,
                           event.start_utc,
                           event.end_utc,
                           event.is_online ? 1 : 0,
                           event.is_free ? 1 : 0,
                           event.is_cancelled ? 1 : 0,
                           event.venue_name,
                           event.address,
                           event.city,
                           event.region,
                           event.country,
                           event.latitude,
                           event.longitude,
                           event.price_min_minor,
                           event.price_max_minor,
                           event.currency,
                           event.organizer_name,
                           event.series_id,
                           event.image_url);
}

// Returns the columns of the events staging table: id, then every compared column.
const std::vector<std::string>& staging_columns() {
    static const std::vector<std::string> columns = [] {
        std::vector<std::string> names{"id"};
        for (const auto column : detail::event_compared_columns) {
            names.emplace_back(column);
        }
        names.emplace_back("tags");
        return names;
    }();
    return columns;
}

// Rows in COPY's text format, sent to a pqxx::tablewriter in chunks of about copy_chunk_bytes.
// The text format gives a meaning only to backslash, tab, newline and carriage return, so only
// those are escaped and every other byte, UTF-8 included, is sent as it is. pqxx::stream_to's
// own tuple writer escapes each byte outside printable ASCII as a 4-byte octal sequence, which
// the server then has to decode again.
class copy_text_writer {
public:
    explicit copy_text_writer(pqxx::tablewriter& stream) : stream_{stream} {
        buffer_.reserve(copy_chunk_bytes + copy_chunk_bytes / 4);
    }

    void text(std::string_view value) {
        separate();
        std::size_t start = 0;
        for (std::size_t special = value.find_first_of(copy_special_characters);
             special != std::string_view::npos;
             special = value.find_first_of(copy_special_characters, start)) {
            buffer_.append(value.substr(start, special - start));
            buffer_ += '\\';
            buffer_ += escape_letter(value[special]);
            start = special + 1;
        }
        buffer_.append(value.substr(start));
    }

    void text(const std::string& value) { text(std::string_view{value}); }

    void text(const std::optional<std::string>& value) {
        if (value) {
            text(*value);
        } else {
            null();
        }
    }

    void integer(std::int64_t value) {
        separate();
        char digits[24];
        const auto written = std::to_chars(std::begin(digits), std::end(digits), value);
        buffer_.append(digits, written.ptr);
    }

    void integer(const std::optional<std::int64_t>& value) {
        if (value) {
            integer(*value);
        } else {
            null();
        }
    }

    // The shortest text that reads back as the same double.
    void real(const std::optional<double>& value) {
        if (!value) {
            null();
            return;
        }
        separate();
        if (std::isnan(*value)) {
            buffer_ += "NaN";
        } else if (std::isinf(*value)) {
            buffer_ += *value > 0 ? "Infinity" : "-Infinity";
        } else {
            char digits[32];
            const auto written = std::to_chars(std::begin(digits), std::end(digits), *value);
            buffer_.append(digits, written.ptr);
        }
    }

    void end_row() {
        buffer_ += '\n';
        first_field_ = true;
        if (buffer_.size() >= copy_chunk_bytes) {
            send();
        }
    }

    // Sends the rows that are still buffered.
    void finish() {
        if (!buffer_.empty()) {
            send();
        }
    }

private:
    static constexpr std::size_t copy_chunk_bytes = 256 * 1024;
    static constexpr std::string_view copy_special_characters{"\\\t\n\r"};

    static char escape_letter(char special) {
        switch (special) {
            case '\t':
                return 't';
            case '\n':
                return 'n';
            case '\r':
                return 'r';
            default:
                return '\\';
        }
    }

    void separate() {
        if (!first_field_) {
            buffer_ += '\t';
        }
        first_field_ = false;
    }

    void null() {
        separate();
        buffer_ += "\\N";
    }

    // write_raw_line sends the text with one newline at the end. COPY data is a byte stream, so
    // one chunk may carry many rows.
    void send() {
        buffer_.pop_back();
        stream_.write_raw_line(buffer_);
        buffer_.clear();
    }

    pqxx::tablewriter& stream_;
    std::string buffer_;
    bool first_field_ = true;
};

// Writes one row of eventcrawl_event_staging, in the order of staging_columns().
void write_staging_row(copy_text_writer& row, const pipeline::event_record& event) {
    row.text(event.id);
    row.text(event.name);
    row.text(event.summary);
    row.text(event.url);
    row.text(event.timezone);
    row.text(event.start_local);
    row.text(event.end_local);
    row.text(event.start_utc);
    row.text(event.end_utc);
    row.integer(event.is_online ? 1 : 0);
    row.integer(event.is_free ? 1 : 0);
    row.integer(event.is_cancelled ? 1 : 0);
    row.text(event.venue_name);
    row.text(event.address);
    row.text(event.city);
    row.text(event.region);
    row.text(event.country);
    row.real(event.latitude);
    row.real(event.longitude);
    row.integer(event.price_min_minor);
    row.integer(event.price_max_minor);
    row.text(event.currency);
    row.text(event.organizer_name);
    row.text(event.series_id);
    row.text(event.image_url);
    // The array literal, escaped for COPY like any text.
    row.text(std::string_view{sorted_tag_array(event.tags)});
    row.end_row();
}

// Returns 0, 1, ..., count - 1: every position of a batch.
std::vector<std::size_t> all_positions(std::size_t count) {
    std::vector<std::size_t> positions(count);
    std::iota(positions.begin(), positions.end(), std::size_t{0});
    return positions;
}

// Writes the events at `positions` inside `transaction` in two steps: COPY into the staging
// table, then one statement that merges the rows into events. When an id repeats, the event at
// the last of its positions wins, as a row-by-row upsert in batch order would do.
void merge_events(pqxx::work& transaction,
                  std::span<const pipeline::event_record> events,
                  std::span<const std::size_t> positions,
                  const std::string& seen_at) {
    std::unordered_map<std::string_view, std::size_t> last_position;
    last_position.reserve(positions.size());
    for (const std::size_t position : positions) {
        last_position[events[position].id] = position;
    }

    {
        // NOTE: libpqxx 6.4 deprecates tablewriter, but its stream_to keeps write_raw_line
        // private, so tablewriter is the only way to send rows that are already COPY text.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
        pqxx::tablewriter stream{
            transaction, event_staging_table, staging_columns().begin(), staging_columns().end()};
#pragma clang diagnostic pop
        copy_text_writer rows{stream};
        for (const std::size_t position : positions) {
            if (last_position[events[position].id] == position) {
                write_staging_row(rows, events[position]);
            }
        }
        rows.finish();
        stream.complete();
    }

    const std::string seen_at_literal = transaction.quote(seen_at);
    transaction.exec0(
        fmt::format("SET LOCAL plan_cache_mode = force_custom_plan;\n"
                    "EXECUTE eventcrawl_merge_batch ({});",
                    seen_at_literal));
}

bool may_be_json(std::string_view body) {
    const std::size_t first = body.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && (body[first] == '{' || body[first] == '[');
}

void write_page(pqxx::work& transaction, std::int64_t run_id, const archived_page& page) {
    transaction.exec_prepared0(upsert_page_name,
                               run_id,
                               page.city_slug,
                               page.page_number,
                               page.url,
                               page.http_status,
                               page.content_type,
                               page.source,
                               page.body,
                               page.captured_at,
                               may_be_json(page.body),
                               page.query);
}

void write_run_city(pqxx::work& transaction, std::int64_t run_id, const city_result& result) {
    transaction.exec_prepared0(upsert_run_city_name,
                               run_id,
                               result.city_slug,
                               result.status,
                               result.pages,
                               result.events,
                               result.errors,
                               result.last_error,
                               optional_timestamp(result.started_at),
                               optional_timestamp(result.finished_at));
}

// PostgreSQL text cannot hold NUL, and libpq would cut the parameter at the first one.
void check_no_nul(std::int64_t run_id, std::span<const archived_page> pages) {
    for (const archived_page& page : pages) {
        if (page.body.find('\0') != std::string::npos) {
            throw store_error{fmt::format(
                "archived body of run {} city '{}' page {} contains a NUL byte, which PostgreSQL "
                "text cannot store; strip NUL bytes from the body before archiving",
                run_id,
                page.city_slug,
                page.page_number)};
        }
    }
}

std::optional<std::string> optional_field(const pqxx::field& field) {
    if (field.is_null()) {
        return std::nullopt;
    }
    return field.as<std::string>();
}

template <typename Number>
std::optional<Number> optional_number(const pqxx::field& field) {
    if (field.is_null()) {
        return std::nullopt;
    }
    return field.as<Number>();
}

// True for "NULL" in any letter case, which array_out writes unquoted only for a NULL element.
bool is_null_literal(std::string_view value) {
    constexpr std::string_view null_text = "NULL";
    if (value.size() != null_text.size()) {
        return false;
    }
    for (std::size_t index = 0; index < value.size(); ++index) {
        if (std::toupper(static_cast<unsigned char>(value[index])) != null_text[index]) {
            return false;
        }
    }
    return true;
}

// Returns the elements of a one-dimensional text[] from its text form, as array_out writes it:
// {a,"b c",""}. An element is in double quotes when it is empty, contains a space or one of
// {},"\, or reads NULL, and a backslash in quotes escapes the next byte. NULL elements are
// skipped. libpqxx 6.4's array_parser is not used, because it cut or dropped elements that
// contain ' or ; (an export of the tag "'80s hits" failed an assertion).
std::vector<std::string> text_array(const pqxx::field& field) {
    std::vector<std::string> values;
    if (field.is_null()) {
        return values;
    }
    std::string_view text{field.c_str(), field.size()};
    // Bounds other than 1 come first, as in "[0:1]={a,b}".
    if (text.starts_with('[')) {
        const std::size_t equals = text.find('=');
        text.remove_prefix(equals == std::string_view::npos ? text.size() : equals + 1);
    }
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
        throw store_error{fmt::format("PostgreSQL returned '{}' where a text array was expected",
                                      text.substr(0, 200))};
    }
    text = text.substr(1, text.size() - 2);

    std::size_t at = 0;
    while (at < text.size()) {
        std::string value;
        bool quoted = false;
        if (text[at] == '"') {
            quoted = true;
            ++at;
            while (at < text.size() && text[at] != '"') {
                if (text[at] == '\\' && at + 1 < text.size()) {
                    ++at;
                }
                value += text[at];
                ++at;
            }
            ++at;  // the closing quote
        } else {
            const std::size_t end = std::min(text.find(',', at), text.size());
            value.assign(text.substr(at, end - at));
            at = end;
        }
        const bool null_element = !quoted && is_null_literal(value);
        if (!null_element) {
            values.push_back(std::move(value));
        }
        if (at < text.size() && text[at] == ',') {
            ++at;
        }
    }
    return values;
}

pipeline::event_record read_event(const pqxx::row& row) {
    pipeline::event_record event;
    event.id = row[0].as<std::string>();
    event.name = row[1].as<std::string>();
    event.summary = optional_field(row[2]);
    event.url = optional_field(row[3]);
    event.timezone = optional_field(row[4]);
    event.start_local = optional_field(row[5]);
    event.end_local = optional_field(row[6]);
    event.start_utc = optional_field(row[7]);
    event.end_utc = optional_field(row[8]);
    event.is_online = row[9].as<int>() != 0;
    event.is_free = row[10].as<int>() != 0;
    event.is_cancelled = row[11].as<int>() != 0;
    event.venue_name = optional_field(row[12]);
    event.address = optional_field(row[13]);
    event.city = optional_field(row[14]);
    event.region = optional_field(row[15]);
    event.country = optional_field(row[16]);
    event.latitude = optional_number<double>(row[17]);
    event.longitude = optional_number<double>(row[18]);
    event.price_min_minor = optional_number<std::int64_t>(row[19]);
    event.price_max_minor = optional_number<std::int64_t>(row[20]);
    event.currency = optional_field(row[21]);
    event.organizer_name = optional_field(row[22]);
    event.series_id = optional_field(row[23]);
    event.image_url = optional_field(row[24]);
    event.tags = text_array(row[27]);
    return event;
}

}  // namespace

void postgres_store::create_staging_tables() {
    try {
        pqxx::work transaction{live_session().connection};
        transaction.exec0(create_staging_sql);
        transaction.commit();
    } catch (const pqxx::broken_connection&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL creation of the staging tables failed on '{}': {}; the user needs the "
            "TEMPORARY privilege on the database",
            masked_dsn_,
            error.what())};
    }
}

void postgres_store::upsert_events(std::span<const pipeline::event_record> events,
                                   std::string_view seen_at) {
    detail::check_events(events, seen_at, masked_dsn_);
    if (events.empty()) {
        return;
    }

    const auto started = std::chrono::steady_clock::now();
    const std::string seen_at_text{seen_at};
    std::size_t connections = helpers_.size() + 1;
    if (events.size() < connections * min_rows_per_connection) {
        connections = 1;
    }
    if (connections == 1) {
        upsert_share(events, all_positions(events.size()), seen_at_text);
    } else {
        upsert_in_shares(events, connections, seen_at_text);
    }

    const auto elapsed = std::chrono::steady_clock::now() - started;
    detail::logger()->debug("Upserted events dsn={} rows={} connections={} elapsed_ms={}",
                            masked_dsn_,
                            events.size(),
                            connections,
                            std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
}

// Splits the batch by a hash of the event id and merges share 0 on this thread and each other
// share through a helper on a thread of its own. Every share finishes before this returns or
// throws, because each future is waited for. The first failure is rethrown and the others are
// logged.
void postgres_store::upsert_in_shares(std::span<const pipeline::event_record> events,
                                      std::size_t connections,
                                      const std::string& seen_at) {
    std::vector<std::vector<std::size_t>> shares(connections);
    for (auto& share : shares) {
        share.reserve(events.size() / connections + 1);
    }
    const std::hash<std::string> hash;
    for (std::size_t position = 0; position < events.size(); ++position) {
        shares[hash(events[position].id) % connections].push_back(position);
    }

    std::vector<std::future<void>> pending;
    pending.reserve(connections - 1);
    for (std::size_t index = 1; index < connections; ++index) {
        postgres_store& helper = *helpers_[index - 1];
        const std::vector<std::size_t>& share = shares[index];
        pending.push_back(std::async(std::launch::async, [&helper, &share, &events, &seen_at] {
            helper.upsert_share(events, share, seen_at);
        }));
    }

    std::exception_ptr failure;
    const auto record = [&](std::size_t share) {
        if (!failure) {
            failure = std::current_exception();
            return;
        }
        try {
            std::rethrow_exception(std::current_exception());
        } catch (const std::exception& error) {
            detail::logger()->warn(
                "Share failed too dsn={} share={} error=\"{}\"", masked_dsn_, share, error.what());
        }
    };
    try {
        upsert_share(events, shares[0], seen_at);
    } catch (...) {
        record(0);
    }
    for (std::size_t index = 0; index < pending.size(); ++index) {
        try {
            pending[index].get();
        } catch (...) {
            record(index + 1);
        }
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
}

void postgres_store::upsert_share(std::span<const pipeline::event_record> events,
                                  std::span<const std::size_t> positions,
                                  const std::string& seen_at) {
    try {
        with_reconnect("upsert of a batch of events", true, [&] {
            // The pqxx::work destructor rolls back when commit() was not reached.
            pqxx::work transaction{live_session().connection};
            merge_events(transaction, events, positions, seen_at);
            transaction.commit();
        });
    } catch (const store_error&) {
        throw;
    } catch (const pqxx::sql_error& error) {
        const std::string step = locate_failing_event(events, positions, seen_at);
        throw store_error{
            fmt::format("PostgreSQL {} failed on '{}': {}", step, masked_dsn_, error.what())};
    } catch (const std::exception& error) {
        throw store_error{
            fmt::format("PostgreSQL upsert of a batch of {} events failed on '{}': {}",
                        positions.size(),
                        masked_dsn_,
                        error.what())};
    }
}

void postgres_store::set_load_connections(int connections) {
    if (connections < 1 || connections > max_load_connections) {
        throw store_error{fmt::format("{} load connections is out of range; give 1 to {}",
                                      connections,
                                      max_load_connections)};
    }
    helpers_.resize(std::min(helpers_.size(), static_cast<std::size_t>(connections - 1)));
    while (helpers_.size() + 1 < static_cast<std::size_t>(connections)) {
        try {
            helpers_.push_back(std::make_unique<postgres_store>(dsn_));
        } catch (const store_error& error) {
            throw store_error{
                fmt::format("opening load connection {} of {} failed: {}; lower the number of load "
                            "connections or raise the server's max_connections",
                            helpers_.size() + 2,
                            connections,
                            error.what())};
        }
    }
    detail::logger()->info("Set load connections dsn={} connections={}", masked_dsn_, connections);
}

// A failed bulk statement does not say which row it was working on, so the batch is replayed
// row by row in a transaction that is always rolled back, and the first failing id is named.
std::string postgres_store::locate_failing_event(std::span<const pipeline::event_record> events,
                                                 std::span<const std::size_t> positions,
                                                 const std::string& seen_at) {
    const std::string batch_step = fmt::format("upsert of a batch of {} events", positions.size());
    try {
        pqxx::work transaction{live_session().connection};
        for (const std::size_t position : positions) {
            const pipeline::event_record& event = events[position];
            try {
                // The staging row's values in the same order, then seen_at and the tags.
                std::apply(
                    [&](const auto&... values) {
                        transaction.exec_prepared0(
                            upsert_event_name, values..., seen_at, sorted_tag_array(event.tags));
                    },
                    staging_row(event));
            } catch (const pqxx::sql_error&) {
                return fmt::format("upsert of event id '{}'", event.id);
            }
        }
    } catch (const std::exception& error) {
        detail::logger()->warn("Row-by-row replay of a failed batch failed dsn={} error=\"{}\"",
                               masked_dsn_,
                               error.what());
    }
    return batch_step;
}

std::int64_t postgres_store::begin_run(const run_start& start) {
    try {
        std::int64_t run_id = 0;
        // Not idempotent: a repeated insert after a commit in doubt would add a second run.
        with_reconnect("insert into runs", false, [&] {
            pqxx::work transaction{live_session().connection};
            // An empty options_json is stored as NULL, because "" is not a JSON document.
            const pqxx::row row = transaction.exec_prepared1(insert_run_name,
                                                             start.mode,
                                                             start.command,
                                                             optional_timestamp(start.options_json),
                                                             utc_timestamp_now());
            run_id = row[0].as<std::int64_t>();
            transaction.commit();
        });
        detail::logger()->info(
            "Began run dsn={} run_id={} mode={}", masked_dsn_, run_id, start.mode);
        return run_id;
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL insert into runs failed on '{}': {}", masked_dsn_, error.what())};
    }
}

void postgres_store::record_city(std::int64_t run_id, const city_result& result) {
    detail::check_city_result(run_id, result);
    try {
        with_reconnect("insert into run_cities", true, [&] {
            pqxx::work transaction{live_session().connection};
            write_run_city(transaction, run_id, result);
            transaction.commit();
        });
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{
            fmt::format("PostgreSQL insert into run_cities of run {} city '{}' failed on '{}': {}",
                        run_id,
                        result.city_slug,
                        masked_dsn_,
                        error.what())};
    }
}

void postgres_store::finish_run(std::int64_t run_id, const run_summary& summary) {
    if (summary.status.empty()) {
        throw store_error{fmt::format(
            "finish_run for run {} has an empty status; pass ok, partial, failed or interrupted",
            run_id)};
    }
    pqxx::result updated;
    try {
        with_reconnect("update of runs", true, [&] {
            pqxx::work transaction{live_session().connection};
            updated = transaction.exec_prepared(update_run_name,
                                                run_id,
                                                summary.status,
                                                utc_timestamp_now(),
                                                summary.cities_ok,
                                                summary.cities_failed,
                                                summary.pages,
                                                summary.events,
                                                summary.errors);
            transaction.commit();
        });
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL update of run {} failed on '{}': {}", run_id, masked_dsn_, error.what())};
    }
    if (updated.affected_rows() != 1) {
        throw store_error{
            fmt::format("run {} does not exist in '{}'; pass the id that begin_run returned",
                        run_id,
                        masked_dsn_)};
    }
    detail::logger()->info("Finished run dsn={} run_id={} status={} events={} errors={}",
                           masked_dsn_,
                           run_id,
                           summary.status,
                           summary.events,
                           summary.errors);
}

std::int64_t postgres_store::count_events() {
    try {
        std::int64_t count = 0;
        with_reconnect("count of events", true, [&] {
            pqxx::nontransaction query{live_session().connection};
            count = query.exec1("SELECT count(*) FROM events")[0].as<std::int64_t>();
        });
        return count;
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL count of events failed on '{}': {}", masked_dsn_, error.what())};
    }
}

void postgres_store::commit_city(std::int64_t run_id,
                                 const city_result& result,
                                 std::span<const pipeline::event_record> events,
                                 std::span<const archived_page> pages,
                                 std::string_view seen_at) {
    detail::check_city_result(run_id, result);
    detail::check_events(events, seen_at, masked_dsn_);
    detail::check_pages(run_id, pages, result.city_slug);
    check_no_nul(run_id, pages);

    const std::string seen_at_text{seen_at};
    try {
        with_reconnect(
            fmt::format("commit of city '{}' of run {}", result.city_slug, run_id), true, [&] {
                pqxx::work transaction{live_session().connection};
                if (!events.empty()) {
                    merge_events(transaction, events, all_positions(events.size()), seen_at_text);
                }
                for (const archived_page& page : pages) {
                    write_page(transaction, run_id, page);
                }
                write_run_city(transaction, run_id, result);
                transaction.commit();
            });
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL commit of city '{}' of run {} ({} events, {} pages) failed on '{}': {}; "
            "nothing of the city was written",
            result.city_slug,
            run_id,
            events.size(),
            pages.size(),
            masked_dsn_,
            error.what())};
    }
    detail::logger()->debug("Committed city dsn={} run_id={} city={} events={} pages={}",
                            masked_dsn_,
                            run_id,
                            result.city_slug,
                            events.size(),
                            pages.size());
}

void postgres_store::archive_pages(std::int64_t run_id, std::span<const archived_page> pages) {
    detail::check_pages(run_id, pages, {});
    check_no_nul(run_id, pages);
    if (pages.empty()) {
        return;
    }
    try {
        with_reconnect("archive of pages", true, [&] {
            pqxx::work transaction{live_session().connection};
            for (const archived_page& page : pages) {
                write_page(transaction, run_id, page);
            }
            transaction.commit();
        });
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format("PostgreSQL archive of {} pages of run {} failed on '{}': {}",
                                      pages.size(),
                                      run_id,
                                      masked_dsn_,
                                      error.what())};
    }
}

std::vector<archived_page> postgres_store::load_pages(std::int64_t run_id) {
    std::vector<archived_page> pages;
    try {
        pqxx::result rows;
        with_reconnect("read of raw_pages", true, [&] {
            pqxx::nontransaction query{live_session().connection};
            rows = query.exec_params(load_pages_sql, run_id);
        });
        pages.reserve(rows.size());
        for (const pqxx::row& row : rows) {
            archived_page page;
            page.city_slug = row[0].as<std::string>();
            page.page_number = row[1].as<int>();
            page.url = row[2].as<std::string>();
            page.http_status = row[3].as<int>();
            page.content_type = row[4].as<std::string>();
            page.source = row[5].as<std::string>();
            page.body = row[6].as<std::string>();
            page.captured_at = row[7].as<std::string>();
            page.query = row[8].as<std::string>();
            pages.push_back(std::move(page));
        }
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format("PostgreSQL read of raw_pages of run {} failed on '{}': {}",
                                      run_id,
                                      masked_dsn_,
                                      error.what())};
    }
    return pages;
}

std::vector<run_record> postgres_store::read_runs(const std::string& sql_tail) {
    std::vector<run_record> runs;
    try {
        pqxx::result rows;
        with_reconnect("read of runs", true, [&] {
            pqxx::nontransaction query{live_session().connection};
            rows = query.exec(select_run_columns + sql_tail);
        });
        for (const pqxx::row& row : rows) {
            run_record run;
            run.id = row[0].as<std::int64_t>();
            run.mode = row[1].as<std::string>();
            run.command = row[2].as<std::string>();
            run.options_json = row[3].as<std::string>();
            run.status = row[4].as<std::string>();
            run.started_at = row[5].as<std::string>();
            run.finished_at = optional_field(row[6]);
            run.cities_ok = row[7].as<int>();
            run.cities_failed = row[8].as<int>();
            run.pages = row[9].as<std::int64_t>();
            run.events = row[10].as<std::int64_t>();
            run.errors = row[11].as<std::int64_t>();
            runs.push_back(std::move(run));
        }
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{
            fmt::format("PostgreSQL read of runs failed on '{}': {}", masked_dsn_, error.what())};
    }
    return runs;
}

std::optional<run_record> postgres_store::find_run(std::int64_t run_id) {
    std::vector<run_record> runs = read_runs(fmt::format(" WHERE id = {}", run_id));
    if (runs.empty()) {
        return std::nullopt;
    }
    return std::move(runs.front());
}

std::vector<run_record> postgres_store::list_runs(int limit) {
    detail::check_limit(limit);
    return read_runs(fmt::format(" ORDER BY id DESC LIMIT {}", limit));
}

std::vector<city_result> postgres_store::city_results(std::int64_t run_id) {
    std::vector<city_result> results;
    try {
        pqxx::result rows;
        with_reconnect("read of run_cities", true, [&] {
            pqxx::nontransaction query{live_session().connection};
            rows = query.exec_params(city_results_sql, run_id);
        });
        for (const pqxx::row& row : rows) {
            city_result result;
            result.city_slug = row[0].as<std::string>();
            result.status = row[1].as<std::string>();
            result.pages = row[2].as<int>();
            result.events = row[3].as<std::int64_t>();
            result.errors = row[4].as<int>();
            result.last_error = optional_field(row[5]);
            result.started_at = row[6].as<std::string>();
            result.finished_at = row[7].as<std::string>();
            results.push_back(std::move(result));
        }
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format("PostgreSQL read of run_cities of run {} failed on '{}': {}",
                                      run_id,
                                      masked_dsn_,
                                      error.what())};
    }
    return results;
}

void postgres_store::reopen_run(std::int64_t run_id) {
    pqxx::result updated;
    try {
        with_reconnect("reopen of a run", true, [&] {
            pqxx::work transaction{live_session().connection};
            updated = transaction.exec_params(
                "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = $1", run_id);
            transaction.commit();
        });
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL reopen of run {} failed on '{}': {}", run_id, masked_dsn_, error.what())};
    }
    if (updated.affected_rows() != 1) {
        throw store_error{fmt::format(
            "run {} does not exist in '{}'; list the stored runs with `eventcrawl runs` and pass "
            "one of their ids",
            run_id,
            masked_dsn_)};
    }
    detail::logger()->info("Reopened run dsn={} run_id={}", masked_dsn_, run_id);
}

void postgres_store::for_each_event(
    const event_filter& filter,
    const std::function<void(const pipeline::event_record&,
                             std::string_view first_seen_at,
                             std::string_view last_seen_at)>& visit) {
    try {
        pqxx::work transaction{live_session().connection};
        // icursorstream takes no parameters, so the filter values are quoted literals.
        const std::string since_condition =
            filter.since_utc
                ? "start_utc >= " + transaction.quote(*filter.since_utc) + "::timestamptz"
                : std::string{"TRUE"};
        const std::string city_condition =
            filter.city ? "lower(city) = lower(" + transaction.quote(*filter.city) + ")"
                        : std::string{"TRUE"};
        const std::string sql =
            fmt::format(fmt::runtime(select_events_sql), since_condition, city_condition);

        pqxx::icursorstream cursor{transaction, sql, "eventcrawl_export", cursor_fetch_rows};
        pqxx::result chunk;
        while (cursor >> chunk) {
            for (const pqxx::row& row : chunk) {
                const pipeline::event_record event = read_event(row);
                const std::string first_seen_at = row[25].as<std::string>();
                const std::string last_seen_at = row[26].as<std::string>();
                visit(event, first_seen_at, last_seen_at);
            }
        }
        transaction.commit();
    } catch (const store_error&) {
        throw;
    } catch (const pqxx::failure& error) {
        // A cursor cannot restart where it stopped, so a lost connection fails the read. The
        // next call opens a new session.
        if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
            session_.reset();
        }
        throw store_error{
            fmt::format("PostgreSQL read of events failed on '{}': {}", masked_dsn_, error.what())};
    }
}

namespace {

// First key of the two-key advisory locks of run claims: "evcr". The two-key form does not
// collide with the one-key migration lock.
constexpr int run_claim_lock_class = 0x65766372;

class postgres_run_claim final : public run_claim {
public:
    postgres_run_claim(std::int64_t run_id, std::unique_ptr<pqxx::connection> connection)
        : run_id_{run_id}, connection_{std::move(connection)} {}

    ~postgres_run_claim() override {
        // Closing the connection ends the session, and the server drops its advisory locks.
        connection_.reset();
        detail::logger()->debug("Released run claim run_id={}", run_id_);
    }

    postgres_run_claim(const postgres_run_claim&) = delete;
    postgres_run_claim& operator=(const postgres_run_claim&) = delete;

    std::int64_t run_id() const override { return run_id_; }

private:
    std::int64_t run_id_;
    std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace

std::unique_ptr<run_claim> postgres_store::claim_run(std::int64_t run_id) {
    if (run_id < 0 || run_id > std::numeric_limits<std::int32_t>::max()) {
        throw store_error{fmt::format(
            "run id {} is outside 0..2147483647, the range of a PostgreSQL run claim; pass the id "
            "that begin_run returned",
            run_id)};
    }
    const std::string holder = "eventcrawl " + detail::process_description();
    try {
        auto connection = std::make_unique<pqxx::connection>(dsn_);
        pqxx::nontransaction query{*connection};
        // application_name shows in pg_stat_activity, so a rival can name the claiming process.
        query.exec0("SET application_name = " + query.quote(holder.substr(0, 63)));
        const bool locked = query
                                .exec_params1("SELECT pg_try_advisory_lock($1, $2)",
                                              run_claim_lock_class,
                                              static_cast<std::int32_t>(run_id))[0]
                                .as<bool>();
        if (!locked) {
            const pqxx::result rows = query.exec_params(
                "SELECT activity.application_name FROM pg_locks AS locks "
                "JOIN pg_stat_activity AS activity ON activity.pid = locks.pid "
                "WHERE locks.locktype = 'advisory' AND locks.granted AND locks.objsubid = 2 "
                "AND locks.classid = $1 AND locks.objid = $2",
                run_claim_lock_class,
                static_cast<std::int32_t>(run_id));
            std::string holder_name;
            if (!rows.empty() && !rows[0][0].is_null()) {
                holder_name = rows[0][0].as<std::string>();
                if (holder_name.starts_with("eventcrawl ")) {
                    holder_name.erase(0, std::string_view{"eventcrawl "}.size());
                }
            }
            throw detail::claimed_error(run_id, holder_name, masked_dsn_);
        }
        detail::logger()->debug("Claimed run dsn={} run_id={}", masked_dsn_, run_id);
        return std::make_unique<postgres_run_claim>(run_id, std::move(connection));
    } catch (const store_error&) {
        throw;
    } catch (const std::exception& error) {
        throw store_error{fmt::format("PostgreSQL claim of run {} failed on '{}': {}",
                                      run_id,
                                      masked_dsn_,
                                      mask_dsn(error.what()))};
    }
}

}  // namespace eventcrawl::db
