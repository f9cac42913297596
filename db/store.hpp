#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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
    std::string mode;          // "async", "sync" or "import"
    std::string command;       // the command line, for the record
    std::string options_json;  // the run's options as a JSON object, for resume and audit
};

// One stored run, as listed by `eventcrawl runs` and read back by --resume.
struct run_record {
    std::int64_t id = 0;
    std::string mode;
    std::string command;
    std::string options_json;
    std::string status;  // "running" until finish_run, then the summary's status
    std::string started_at;
    std::optional<std::string> finished_at;
    int cities_ok = 0;
    int cities_failed = 0;
    std::int64_t pages = 0;
    std::int64_t events = 0;
    std::int64_t errors = 0;
};

// One captured body kept with its run, so a run can be resumed and re-transformed.
struct archived_page {
    std::string city_slug;
    int page_number = 0;
    std::string url;
    int http_status = 0;
    std::string content_type;
    std::string source;  // "listing_html", "search_xhr" or "file"
    std::string body;
    std::string captured_at;  // ISO 8601 UTC
    // Listing query of the page (pipeline::raw_page::query); empty for the whole listing. Part
    // of the page's key, because page numbers restart for each query.
    std::string query;
};

// Selection of the events to export.
struct event_filter {
    std::optional<std::string> since_utc;  // start_utc >= this (ISO 8601 UTC)
    std::optional<std::string> city;       // events.city, compared case-insensitively
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

// Exclusive right of one process to write one run. Released by the destructor, and by the
// operating system or the database server when the process dies.
class run_claim {
public:
    virtual ~run_claim() = default;
    virtual std::int64_t run_id() const = 0;
};

// Thrown by store::claim_run while another live process has claimed the run. what() names the run
// and, where known, the holder's pid and host.
class run_claimed_error : public store_error {
public:
    using store_error::store_error;
};

// Thrown when the database stays unreachable after the store's own reconnect attempts. A caller
// that would retry the step gives up at once instead, because the store already waited.
class store_unavailable : public store_error {
public:
    using store_error::store_error;
};

// Storage for event records and run records. One instance is used from one thread.
class store {
public:
    virtual ~store() = default;

    // Inserts or updates the events in one transaction per load connection (one unless
    // set_load_connections gave more). first_seen_at is kept on update; last_seen_at becomes
    // seen_at. Tags of each event are replaced by the given ones.
    virtual void upsert_events(std::span<const pipeline::event_record> events,
                               std::string_view seen_at) = 0;

    // Sets how many database connections load one batch of upsert_events together. A store
    // that writes through one connection accepts only 1 and throws store_error otherwise.
    virtual void set_load_connections(int connections);

    virtual std::int64_t begin_run(const run_start& start) = 0;
    virtual void record_city(std::int64_t run_id, const city_result& result) = 0;
    virtual void finish_run(std::int64_t run_id, const run_summary& summary) = 0;

    virtual std::int64_t count_events() = 0;

    // Writes the events, the city's archived pages and its result in one transaction, so a
    // city's rows and its status commit together. Replaces an earlier result of the same
    // city in the same run (a resumed city).
    virtual void commit_city(std::int64_t run_id,
                             const city_result& result,
                             std::span<const pipeline::event_record> events,
                             std::span<const archived_page> pages,
                             std::string_view seen_at) = 0;

    // Keeps captured bodies of a run (compressed in SQLite; jsonb when the body is JSON in
    // PostgreSQL). Re-archiving the same (run, city, query, page, source) replaces it.
    virtual void archive_pages(std::int64_t run_id, std::span<const archived_page> pages) = 0;

    // Returns the run's archived pages ordered by city, query, page number and source.
    virtual std::vector<archived_page> load_pages(std::int64_t run_id) = 0;

    virtual std::optional<run_record> find_run(std::int64_t run_id) = 0;
    virtual std::vector<run_record> list_runs(int limit) = 0;  // newest first
    virtual std::vector<city_result> city_results(std::int64_t run_id) = 0;

    // Marks a finished or interrupted run as running again (for --resume).
    virtual void reopen_run(std::int64_t run_id) = 0;

    // Claims the run for this process until the returned claim is destroyed, so that two
    // processes never crawl or resume the same run at once. Throws run_claimed_error while
    // another live process has claimed it. The claim does not check that the run exists.
    virtual std::unique_ptr<run_claim> claim_run(std::int64_t run_id) = 0;

    // Calls `visit` for each matching event (tags filled), ordered by start_utc then id.
    virtual void for_each_event(
        const event_filter& filter,
        const std::function<void(const pipeline::event_record&,
                                 std::string_view first_seen_at,
                                 std::string_view last_seen_at)>& visit) = 0;
};

// Opens (creating and migrating where needed) the store that the DSN names:
// "sqlite:PATH" or "postgresql://..." / "postgres://...". Throws store_error.
// True for a postgresql:// or postgres:// DSN, the stores that accept more than one load
// connection.
bool is_postgres_dsn(std::string_view dsn);

std::unique_ptr<store> open_store(std::string_view dsn);

// Returns the DSN with every password replaced by "***", for logs and error messages. Handles
// the URL form ("postgresql://user:secret@host/db", "?password=secret") and the libpq key=value
// form ("host=h password=secret", also quoted values).
std::string mask_dsn(std::string_view dsn);

}  // namespace eventcrawl::db
