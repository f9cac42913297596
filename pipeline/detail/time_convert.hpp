#pragma once

#include <date/date.h>

#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
}  // namespace date

namespace eventcrawl::pipeline::detail {

using date::local_seconds;
using date::sys_seconds;

// Parses "YYYY-MM-DDTHH:MM:SS" (no offset). Rejects impossible dates such as 2026-02-30.
std::optional<local_seconds> parse_local_iso(std::string_view text);

// Builds "YYYY-MM-DDTHH:MM:SS" from a "YYYY-MM-DD" date and an "HH:MM" or "HH:MM:SS" time.
// Returns nothing when either part is malformed.
std::optional<std::string> join_local_iso(std::string_view date_text, std::string_view time_text);

// Parses "YYYY-MM-DDTHH:MM:SS" followed by "Z", "+HH:MM" or "-HH:MM" into the local part
// and the UTC instant.
struct offset_time {
    std::string local_iso;
    sys_seconds utc;
};
std::optional<offset_time> parse_offset_iso(std::string_view text);

// Returns the IANA zone from the system tz database, or nullptr when the name is unknown.
const date::time_zone* find_zone(std::string_view name);

// Converts a wall-clock time in `zone` to UTC, always with the offset in force just before
// that local time. A unique time converts normally. An ambiguous time in a fall-back overlap
// takes the earlier instant (the first occurrence). A nonexistent time in a spring-forward
// gap lands as far after the gap's start as its wall-clock distance from the gap: 02:30 on
// 2026-03-08 in America/New_York, where the gap starts at 02:00 EST, becomes 07:30Z.
sys_seconds local_to_utc(const date::time_zone& zone, local_seconds local);

// Formats an instant as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_utc(sys_seconds instant);

}  // namespace eventcrawl::pipeline::detail
