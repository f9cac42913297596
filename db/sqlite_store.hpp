#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "db/detail/sqlite_util.hpp"
#include "db/store.hpp"

namespace eventcrawl::db {
namespace detail {
class wal_checkpointer;
}

// A store in one SQLite file (WAL journal, synchronous=NORMAL, foreign keys on, 5 s busy
// timeout). Not thread-safe: use one instance from one thread. A thread of its own checkpoints
// the write-ahead log (detail::wal_checkpointer).
class sqlite_store final : public store {
public:
    // Opens or creates the file at `path` and applies missing migrations. Throws store_error
    // when the folder does not exist, the file is not a SQLite database or is read-only, or
    // the schema is newer than the newest migration of this build.
    explicit sqlite_store(std::string path);
    ~sqlite_store() override;

    sqlite_store(const sqlite_store&) = delete;
    sqlite_store& operator=(const sqlite_store&) = delete;

    void upsert_events(std::span<const pipeline::event_record> events,
                       std::string_view seen_at) override;

    std::int64_t begin_run(const run_start& start) override;
    void record_city(std::int64_t run_id, const city_result& result) override;
    void finish_run(std::int64_t run_id, const run_summary& summary) override;

    std::int64_t count_events() override;

    void commit_city(std::int64_t run_id,
                     const city_result& result,
                     std::span<const pipeline::event_record> events,
                     std::span<const archived_page> pages,
                     std::string_view seen_at) override;
    void archive_pages(std::int64_t run_id, std::span<const archived_page> pages) override;
    std::vector<archived_page> load_pages(std::int64_t run_id) override;

    std::optional<run_record> find_run(std::int64_t run_id) override;
    std::vector<run_record> list_runs(int limit) override;
    std::vector<city_result> city_results(std::int64_t run_id) override;
    void reopen_run(std::int64_t run_id) override;

    // Locks the file "<path>.run-<id>.lock" next to the database with flock(2); the kernel
    // releases it when the process dies. An in-memory database needs no claim.
    // @note flock is not reliable on every network file system.
    std::unique_ptr<run_claim> claim_run(std::int64_t run_id) override;

    // @note City matching folds ASCII letters only, because SQLite's lower() does.
    void for_each_event(const event_filter& filter,
                        const std::function<void(const pipeline::event_record&,
                                                 std::string_view first_seen_at,
                                                 std::string_view last_seen_at)>& visit) override;

    // The schema version of the open database.
    int schema_version();

    const std::string& path() const { return path_; }

private:
    void open_connection();
    void apply_pragmas();
    std::int64_t page_count();
    void prepare_statements();
    void start_checkpointer();
    void write_events(std::span<const pipeline::event_record> events, std::string_view seen_at);
    void write_event(const pipeline::event_record& event, std::string_view seen_at);
    void sort_new_tags(const pipeline::event_record& event);
    std::int64_t tag_id(std::string_view name);
    void clear_tag_ids_after_other_writes();
    void write_tags(const pipeline::event_record& event);
    void insert_queued_tags();
    void write_page(std::int64_t run_id, const archived_page& page);
    void write_run_city(std::int64_t run_id, const city_result& result);
    std::vector<run_record> read_runs(sqlite3_stmt* statement);

    // Runs `write` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it throws.
    void in_transaction(std::string_view what, const std::function<void()>& write);

    std::string path_;
    detail::sqlite_connection connection_;
    detail::sqlite_statement upsert_event_;
    detail::sqlite_statement touch_event_;
    detail::sqlite_statement select_stored_tags_;
    detail::sqlite_statement update_tags_;
    detail::sqlite_statement insert_tag_name_;
    detail::sqlite_statement select_tag_id_;
    detail::sqlite_statement data_version_;
    detail::sqlite_statement insert_tag_entry_;
    detail::sqlite_statement insert_tag_chunk_;
    detail::sqlite_statement insert_run_;
    detail::sqlite_statement upsert_run_city_;
    detail::sqlite_statement update_run_;
    detail::sqlite_statement count_events_;
    detail::sqlite_statement upsert_page_;

    // The sorted, duplicate-free tags of the event being written, and their JSON array, kept to
    // reuse their memory. The views point into the event_record that write_event received.
    std::vector<std::string_view> new_tags_;
    std::string new_tags_json_;

    // An event_tag_index entry of an event that the current transaction inserted. The view
    // points into the caller's event_record span, which outlives the transaction.
    struct queued_tag {
        std::int64_t tag_id;
        std::int64_t event_seq;
        std::string_view event_id;  // for error messages
    };

    // Index entries of new events, kept until insert_queued_tags writes them together.
    std::vector<queued_tag> queued_tags_;

    // Heterogeneous lookup, so that a std::string_view finds a std::string key.
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
    };

    // Ids of rows in tags, by name, and the names that the open transaction added to the map.
    std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>> tag_ids_;
    std::vector<std::string> uncommitted_tag_names_;

    // PRAGMA data_version when tag_ids_ was last checked; -1 before the first batch.
    std::int64_t data_version_seen_ = -1;

    // Checkpoints the write-ahead log on a thread of its own. An in-memory database has none.
    // Last, so that it closes its connection before connection_ closes.
    std::unique_ptr<detail::wal_checkpointer> checkpointer_;
};

}  // namespace eventcrawl::db
