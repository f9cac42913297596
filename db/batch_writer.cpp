#include "db/batch_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "db/detail/logger.hpp"
#include "db/timestamp.hpp"

namespace eventcrawl::db {

batch_writer::batch_writer(store& target, std::size_t max_rows, std::chrono::milliseconds max_age)
    : target_{target}, max_rows_{max_rows}, max_age_{max_age} {
    if (max_rows_ == 0) {
        throw std::invalid_argument{"batch_writer max_rows is 0; give at least 1 row per batch"};
    }
    if (max_age_ < std::chrono::milliseconds::zero()) {
        throw std::invalid_argument{
            fmt::format("batch_writer max_age is {} ms; give 0 ms or more", max_age_.count())};
    }
    rows_.reserve(max_rows_);
}

batch_writer::~batch_writer() {
    if (!rows_.empty()) {
        detail::logger()->error(
            "Dropped unwritten events rows={}; call flush() before destroying the batch_writer",
            rows_.size());
    }
}

void batch_writer::add(pipeline::event_record event) {
    add(std::move(event), clock::now());
}

void batch_writer::add(pipeline::event_record event, clock::time_point now) {
    if (rows_.empty()) {
        oldest_added_at_ = now;
    }

    const auto found = position_by_id_.find(event.id);
    if (found != position_by_id_.end()) {
        rows_[found->second] = std::move(event);
    } else {
        position_by_id_.emplace(event.id, rows_.size());
        rows_.push_back(std::move(event));
    }

    if (rows_.size() >= max_rows_) {
        flush();
    }
}

bool batch_writer::flush_if_due(clock::time_point now) {
    if (rows_.empty() || now - oldest_added_at_ <= max_age_) {
        return false;
    }
    flush();
    return true;
}

std::optional<batch_writer::clock::time_point> batch_writer::due_at() const {
    if (rows_.empty()) {
        return std::nullopt;
    }
    return oldest_added_at_ + max_age_;
}

std::size_t batch_writer::flush() {
    if (rows_.empty()) {
        return 0;
    }

    const std::string seen_at = utc_timestamp_now();
    try {
        target_.upsert_events(rows_, seen_at);
    } catch (const std::exception& error) {
        ++stats_.failed_flushes;
        detail::logger()->warn(
            "Flush failed rows={} kept_buffered=true error=\"{}\"", rows_.size(), error.what());
        throw;
    }

    const std::size_t written = rows_.size();
    ++stats_.batches;
    stats_.rows_written += written;
    stats_.max_batch_rows = std::max(stats_.max_batch_rows, written);
    rows_.clear();
    position_by_id_.clear();
    detail::logger()->debug("Flushed batch rows={} seen_at={}", written, seen_at);
    return written;
}

}  // namespace eventcrawl::db
