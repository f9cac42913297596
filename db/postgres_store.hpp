#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "db/store.hpp"

namespace eventcrawl::db {

// A store in a PostgreSQL database, through libpqxx 6.4. Same tables and column names as
// sqlite_store; timestamps are TEXT in ISO 8601 UTC (not TIMESTAMPTZ) so that both stores
// return identical values. Not thread-safe: use one instance from one thread.
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

    std::int64_t begin_run(const run_start& start) override;
    void record_city(std::int64_t run_id, const city_result& result) override;
    void finish_run(std::int64_t run_id, const run_summary& summary) override;

    std::int64_t count_events() override;

    // The schema version of the connected database.
    int schema_version();

  private:
    void apply_migrations();
    void prepare_statements();

    struct session;

    std::string masked_dsn_;
    std::unique_ptr<session> session_;
};

}  // namespace eventcrawl::db
