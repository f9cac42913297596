#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "db/store.hpp"
#include "pipeline/event_record.hpp"

namespace eventcrawl::db {

// Counters of a batch_writer since it was made.
struct batch_stats {
    std::uint64_t batches = 0;         // successful flushes that wrote at least one row
    std::uint64_t rows_written = 0;    // rows passed to store::upsert_events and committed
    std::size_t max_batch_rows = 0;    // largest committed batch
    std::uint64_t failed_flushes = 0;  // flushes whose upsert threw
};

// Buffers events and writes them to a store in batches: when the batch reaches max_rows
// (on add) or when its oldest row is older than max_age (on flush_if_due). Synchronous and
// not thread-safe: one writer thread owns it. Events with the same id inside one batch are
// merged, and the last one added wins.
class batch_writer {
  public:
    using clock = std::chrono::steady_clock;

    // Throws std::invalid_argument when max_rows is 0 or max_age is negative.
    batch_writer(store& target, std::size_t max_rows, std::chrono::milliseconds max_age);

    // Logs an error when rows are still buffered, because they were never written.
    ~batch_writer();

    batch_writer(const batch_writer&) = delete;
    batch_writer& operator=(const batch_writer&) = delete;

    // Buffers an event and flushes when the batch contains max_rows rows. If that flush throws,
    // the rows (this event included) stay buffered and the exception propagates.
    void add(pipeline::event_record event);

    // Same as add(event), with the time the row arrived given by the caller.
    void add(pipeline::event_record event, clock::time_point now);

    // Flushes when the oldest buffered row arrived more than max_age before `now`. Returns
    // true when it flushed.
    bool flush_if_due(clock::time_point now);

    // Writes every buffered row in one store::upsert_events call, with seen_at set to the
    // current UTC time. Returns the number of rows written. On failure the rows stay buffered
    // and the exception propagates.
    std::size_t flush();

    // The time by which flush_if_due will flush, or nothing when the buffer is empty.
    std::optional<clock::time_point> due_at() const;

    std::size_t buffered() const { return rows_.size(); }
    const batch_stats& stats() const { return stats_; }

  private:
    store& target_;
    std::size_t max_rows_;
    std::chrono::milliseconds max_age_;
    std::vector<pipeline::event_record> rows_;
    std::unordered_map<std::string, std::size_t> position_by_id_;
    clock::time_point oldest_added_at_{};
    batch_stats stats_;
};

}  // namespace eventcrawl::db
