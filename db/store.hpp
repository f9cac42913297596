#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pipeline/event_record.hpp"

namespace eventcrawl::db {

// A database that could not be opened, migrated or written. what() names the DSN (with any
// password masked), the statement or step, and the driver's message.
class store_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Facts about one crawl or import run, written when it starts.
struct run_start {
    std::string mode;     // "async", "sync" or "import"
    std::string command;  // the command line, for the record
};

// Totals written when a run ends.
struct run_summary {
    std::string status;  // "ok", "partial" (some cities failed), "failed" or "interrupted"
    int cities_ok = 0;
    int cities_failed = 0;
    std::int64_t pages = 0;
    std::int64_t events = 0;
    std::int64_t errors = 0;
};

// The outcome of one city within a run.
struct city_result {
    std::string city_slug;
    std::string status;  // "ok", "failed" or "blocked"
    int pages = 0;
    std::int64_t events = 0;
    int errors = 0;
    std::optional<std::string> last_error;
    std::string started_at;   // ISO 8601 UTC
    std::string finished_at;  // ISO 8601 UTC
};

// Storage for event records and run records. One instance is used from one thread.
class store {
  public:
    virtual ~store() = default;

    // Inserts or updates the events in one transaction. first_seen_at is kept on update;
    // last_seen_at becomes seen_at. Tags of each event are replaced by the given ones.
    virtual void upsert_events(std::span<const pipeline::event_record> events,
                               std::string_view seen_at) = 0;

    virtual std::int64_t begin_run(const run_start& start) = 0;
    virtual void record_city(std::int64_t run_id, const city_result& result) = 0;
    virtual void finish_run(std::int64_t run_id, const run_summary& summary) = 0;

    virtual std::int64_t count_events() = 0;
};

// Opens (creating and migrating where needed) the store that the DSN names:
// "sqlite:PATH" or "postgresql://..." / "postgres://...". Throws store_error.
std::unique_ptr<store> open_store(std::string_view dsn);

// Returns the DSN with every password replaced by "***", for logs and error messages. Handles
// the URL form ("postgresql://user:secret@host/db", "?password=secret") and the libpq key=value
// form ("host=h password=secret", also quoted values).
std::string mask_dsn(std::string_view dsn);

}  // namespace eventcrawl::db
