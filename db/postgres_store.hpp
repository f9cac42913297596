#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "db/store.hpp"

namespace eventcrawl::db {

// A store in a PostgreSQL database, through libpqxx 6.4. Same tables and column names as
// sqlite_store. Instants are timestamptz and wall-clock times timestamp, and every read renders
// them as the ISO 8601 text that sqlite_store returns. Event batches are loaded with COPY into a
// session temp table, then merged into events, tags included, by one statement. events.tags
// stores an event's tags as a GIN-indexed array, and the view event_tags lists them as rows.
//
// When the connection breaks (server restart, network loss), a step opens a new connection
// and repeats its whole transaction, waiting 0.5 s to 8 s between 7 attempts, then throws
// store_error. for_each_event and a begin_run whose commit is in doubt are not repeated. Not
// thread-safe: use one instance from one thread.
class postgres_store final : public store {
public:
    // Connects (10 s connect timeout unless the DSN sets connect_timeout) and applies missing
    // migrations. Statements time out after 60 s. Throws store_error with the password masked.
    explicit postgres_store(std::string dsn);
    ~postgres_store() override;

    postgres_store(const postgres_store&) = delete;
    postgres_store& operator=(const postgres_store&) = delete;

    void upsert_events(std::span<const pipeline::event_record> events,
                       std::string_view seen_at) override;

    // With 2 to 8 connections, a batch of at least min_rows_per_connection rows per connection
    // is split by a hash of the event id. Each share is merged through a connection of its own
    // at the same time, in a transaction of its own. An id always goes to the same share, so the
    // shares touch disjoint rows. When a share fails, the repeated batch writes the shares that
    // committed again, which the upsert makes harmless. Opens the extra connections at once.
    void set_load_connections(int connections) override;
    static constexpr int max_load_connections = 8;
    static constexpr std::size_t min_rows_per_connection = 500;

    std::int64_t begin_run(const run_start& start) override;
    void record_city(std::int64_t run_id, const city_result& result) override;
    void finish_run(std::int64_t run_id, const run_summary& summary) override;

    std::int64_t count_events() override;

    void commit_city(std::int64_t run_id,
                     const city_result& result,
                     std::span<const pipeline::event_record> events,
                     std::span<const archived_page> pages,
                     std::string_view seen_at) override;

    // Stores a body that jsonb accepts in body_json, any other body in body_text. Throws
    // store_error for a body that contains a NUL byte, which PostgreSQL text cannot hold.
    void archive_pages(std::int64_t run_id, std::span<const archived_page> pages) override;

    // @note A body kept as jsonb comes back as jsonb's text form: the same JSON value, but
    // with jsonb's spacing and key order, and the last of duplicate keys. Other bodies come
    // back byte for byte.
    std::vector<archived_page> load_pages(std::int64_t run_id) override;

    // @note options_json comes back as jsonb's text form of the stored object.
    std::optional<run_record> find_run(std::int64_t run_id) override;
    std::vector<run_record> list_runs(int limit) override;
    std::vector<city_result> city_results(std::int64_t run_id) override;
    void reopen_run(std::int64_t run_id) override;

    // Takes the session-level advisory lock (0x65766372, run_id) on a connection of its own,
    // which the claim keeps open. The server releases the lock when that connection closes,
    // also when the process dies. Run ids above 2147483647 are rejected.
    std::unique_ptr<run_claim> claim_run(std::int64_t run_id) override;

    // Reads through a server-side cursor, 1000 events per fetch.
    void for_each_event(const event_filter& filter,
                        const std::function<void(const pipeline::event_record&,
                                                 std::string_view first_seen_at,
                                                 std::string_view last_seen_at)>& visit) override;

    // The schema version of the connected database.
    int schema_version();

private:
    struct session;

    void open_session();
    void reconnect();
    session& live_session();

    // Runs `work`; when the connection breaks, opens a new session and runs `work` again.
    // `idempotent` allows a repeat after a commit whose outcome is unknown.
    void with_reconnect(std::string_view step, bool idempotent, const std::function<void()>& work);

    void apply_migrations();
    void prepare_statements();
    void create_staging_tables();
    std::vector<run_record> read_runs(const std::string& sql_tail);
    void upsert_in_shares(std::span<const pipeline::event_record> events,
                          std::size_t connections,
                          const std::string& seen_at);
    void upsert_share(std::span<const pipeline::event_record> events,
                      std::span<const std::size_t> positions,
                      const std::string& seen_at);
    std::string locate_failing_event(std::span<const pipeline::event_record> events,
                                     std::span<const std::size_t> positions,
                                     const std::string& seen_at);

    std::string dsn_;
    std::string masked_dsn_;
    std::unique_ptr<session> session_;

    // Stores on the same database that load the other shares of a batch; empty with one load
    // connection.
    std::vector<std::unique_ptr<postgres_store>> helpers_;
};

}  // namespace eventcrawl::db
