#pragma once

#include <chrono>
#include <string>

namespace eventcrawl::app {

// Formats a time point as ISO 8601 UTC with second precision, e.g. "2026-07-01T17:00:00Z".
std::string format_utc_iso(std::chrono::system_clock::time_point when);

inline std::string utc_now_iso() {
    return format_utc_iso(std::chrono::system_clock::now());
}

}  // namespace eventcrawl::app
