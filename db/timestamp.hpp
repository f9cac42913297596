#pragma once

#include <chrono>
#include <string>

namespace eventcrawl::db {

// Formats a time as ISO 8601 UTC with second precision ("2026-07-01T17:00:00Z"), the form of
// every *_at column. Sub-second parts are truncated.
std::string format_utc_timestamp(std::chrono::system_clock::time_point time);

// Returns the current system time formatted by format_utc_timestamp.
std::string utc_timestamp_now();

}  // namespace eventcrawl::db
