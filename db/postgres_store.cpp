#include "db/postgres_store.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "db/detail/logger.hpp"
#include "db/detail/migration.hpp"
#include "db/timestamp.hpp"

namespace eventcrawl::db {
namespace {

constexpr int connect_timeout_s = 10;
constexpr int statement_timeout_ms = 60'000;

// Every migration transaction takes this transaction-level advisory lock first, so two
// processes that open the same new database apply each migration once.
constexpr std::int64_t migration_lock_key = 0x6576656e74637261;  // "eventcra"

constexpr const char* upsert_event_name = "eventcrawl_upsert_event";
constexpr const char* insert_run_name = "eventcrawl_insert_run";
constexpr const char* upsert_run_city_name = "eventcrawl_upsert_run_city";
constexpr const char* update_run_name = "eventcrawl_update_run";

// One round trip per event: the event row, then its tags. The DELETE removes only tags that
// are not in the new set and the INSERT skips tags already stored, so the two parts never touch
// the same row. The foreign key on event_tags is checked at the end of the statement, when the
// event row already exists.
constexpr const char* upsert_event_sql = R"sql(
WITH upserted AS (
    INSERT INTO events (
        id, name, summary, url, timezone, start_local, end_local, start_utc, end_utc,
        is_online, is_free, is_cancelled, venue_name, address, city, region, country,
        latitude, longitude, price_min_minor, price_max_minor, currency, organizer_name,
        series_id, image_url, first_seen_at, last_seen_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20, $21, $22, $23, $24, $25, $26, $26)
    ON CONFLICT (id) DO UPDATE SET
        name = excluded.name,
        summary = excluded.summary,
        url = excluded.url,
        timezone = excluded.timezone,
        start_local = excluded.start_local,
        end_local = excluded.end_local,
        start_utc = excluded.start_utc,
        end_utc = excluded.end_utc,
        is_online = excluded.is_online,
        is_free = excluded.is_free,
        is_cancelled = excluded.is_cancelled,
        venue_name = excluded.venue_name,
        address = excluded.address,
        city = excluded.city,
        region = excluded.region,
        country = excluded.country,
        latitude = excluded.latitude,
        longitude = excluded.longitude,
        price_min_minor = excluded.price_min_minor,
        price_max_minor = excluded.price_max_minor,
        currency = excluded.currency,
        organizer_name = excluded.organizer_name,
        series_id = excluded.series_id,
        image_url = excluded.image_url,
        last_seen_at = excluded.last_seen_at
    RETURNING id
),
removed_tags AS (
    DELETE FROM event_tags WHERE event_id = $1 AND NOT (tag = ANY ($27::text[]))
)
INSERT INTO event_tags (event_id, tag)
SELECT $1, new_tag FROM unnest($27::text[]) AS new_tag
ON CONFLICT DO NOTHING
)sql";

constexpr const char* upsert_run_city_sql = R"sql(
INSERT INTO run_cities (
    run_id, city_slug, status, pages, events, errors, last_error, started_at, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
    status = $2, finished_at = $3, cities_ok = $4, cities_failed = $5, pages = $6,
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
std::string to_text_array(const std::vector<std::string>& values) {
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

std::optional<std::string> optional_timestamp(const std::string& value) {
    if (value.empty()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

struct postgres_store::session {
    explicit session(const std::string& dsn) : connection{dsn} {}

    pqxx::connection connection;
};

postgres_store::postgres_store(std::string dsn) : masked_dsn_{mask_dsn(dsn)} {
    try {
        session_ = std::make_unique<session>(with_connect_timeout(dsn));
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "cannot connect to PostgreSQL at '{}': {}; check that the server runs and that the "
            "DSN names the right host, port, database and user",
            masked_dsn_,
            mask_dsn(error.what()))};
    }

    try {
        pqxx::nontransaction query{session_->connection};
        query.exec0(fmt::format("SET statement_timeout = {}", statement_timeout_ms));
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL SET statement_timeout failed on '{}': {}", masked_dsn_, error.what())};
    }

    apply_migrations();
    prepare_statements();
    detail::logger()->info(
        "Opened PostgreSQL store dsn={} schema_version={}", masked_dsn_, schema_version());
}

postgres_store::~postgres_store() {
    detail::logger()->debug("Closing PostgreSQL store dsn={}", masked_dsn_);
}

int postgres_store::schema_version() {
    try {
        pqxx::nontransaction query{session_->connection};
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
        pqxx::work create{session_->connection};
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
            pqxx::work transaction{session_->connection};
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
        session_->connection.prepare(upsert_event_name, upsert_event_sql);
        session_->connection.prepare(insert_run_name,
                                     "INSERT INTO runs (mode, command, status, started_at) "
                                     "VALUES ($1, $2, 'running', $3) RETURNING id");
        session_->connection.prepare(upsert_run_city_name, upsert_run_city_sql);
        session_->connection.prepare(update_run_name, update_run_sql);
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL prepare of statements failed on '{}': {}", masked_dsn_, error.what())};
    }
}

void postgres_store::upsert_events(std::span<const pipeline::event_record> events,
                                   std::string_view seen_at) {
    for (std::size_t position = 0; position < events.size(); ++position) {
        if (events[position].id.empty()) {
            throw store_error{fmt::format(
                "event at position {} of {} has an empty id; nothing of this batch was written "
                "to '{}'; drop events without an id before storing them",
                position,
                events.size(),
                masked_dsn_)};
        }
    }
    if (seen_at.empty()) {
        throw store_error{"upsert_events needs a seen_at timestamp such as 2026-07-01T17:00:00Z"};
    }
    if (events.empty()) {
        return;
    }

    const auto started = std::chrono::steady_clock::now();
    const std::string seen_at_text{seen_at};
    // The pqxx::work destructor rolls back when commit() was not reached.
    pqxx::work transaction{session_->connection};
    const pipeline::event_record* current = nullptr;
    try {
        for (const pipeline::event_record& event : events) {
            current = &event;
            transaction.exec_prepared0(upsert_event_name,
                                       event.id,
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
                                       event.image_url,
                                       seen_at_text,
                                       to_text_array(event.tags));
        }
        current = nullptr;
        transaction.commit();
    } catch (const std::exception& error) {
        const std::string step = current != nullptr
                                     ? fmt::format("upsert of event id '{}'", current->id)
                                     : std::string{"commit of an upsert batch"};
        throw store_error{
            fmt::format("PostgreSQL {} failed on '{}': {}", step, masked_dsn_, error.what())};
    }

    const auto elapsed = std::chrono::steady_clock::now() - started;
    detail::logger()->debug("Upserted events dsn={} rows={} elapsed_ms={}",
                            masked_dsn_,
                            events.size(),
                            std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
}

std::int64_t postgres_store::begin_run(const run_start& start) {
    try {
        pqxx::work transaction{session_->connection};
        const pqxx::row row = transaction.exec_prepared1(
            insert_run_name, start.mode, start.command, utc_timestamp_now());
        const auto run_id = row[0].as<std::int64_t>();
        transaction.commit();
        detail::logger()->info(
            "Began run dsn={} run_id={} mode={}", masked_dsn_, run_id, start.mode);
        return run_id;
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL insert into runs failed on '{}': {}", masked_dsn_, error.what())};
    }
}

void postgres_store::record_city(std::int64_t run_id, const city_result& result) {
    if (result.city_slug.empty()) {
        throw store_error{fmt::format(
            "city result for run {} has an empty city_slug; set the slug of the city", run_id)};
    }
    try {
        pqxx::work transaction{session_->connection};
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
        transaction.commit();
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
        pqxx::work transaction{session_->connection};
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
        pqxx::nontransaction query{session_->connection};
        return query.exec1("SELECT count(*) FROM events")[0].as<std::int64_t>();
    } catch (const std::exception& error) {
        throw store_error{fmt::format(
            "PostgreSQL count of events failed on '{}': {}", masked_dsn_, error.what())};
    }
}

}  // namespace eventcrawl::db
