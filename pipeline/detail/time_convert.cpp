#include "pipeline/detail/time_convert.hpp"

#include <date/tz.h>

#include <charconv>
#include <stdexcept>

namespace eventcrawl::pipeline::detail {

namespace {

// Reads exactly `width` decimal digits at text[pos].
std::optional<int> read_digits(std::string_view text, std::size_t pos, std::size_t width) {
    if (pos + width > text.size()) {
        return std::nullopt;
    }
    int value = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return std::nullopt;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

std::optional<date::year_month_day> parse_date_part(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return std::nullopt;
    }
    const auto year = read_digits(text, 0, 4);
    const auto month = read_digits(text, 5, 2);
    const auto day = read_digits(text, 8, 2);
    if (!year || !month || !day) {
        return std::nullopt;
    }
    const date::year_month_day ymd{date::year{*year},
                                   date::month{static_cast<unsigned>(*month)},
                                   date::day{static_cast<unsigned>(*day)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return ymd;
}

// Accepts "HH:MM" and "HH:MM:SS".
std::optional<std::chrono::seconds> parse_time_part(std::string_view text) {
    if ((text.size() != 5 && text.size() != 8) || text[2] != ':') {
        return std::nullopt;
    }
    const auto hours = read_digits(text, 0, 2);
    const auto minutes = read_digits(text, 3, 2);
    std::optional<int> seconds = 0;
    if (text.size() == 8) {
        seconds = text[5] == ':' ? read_digits(text, 6, 2) : std::nullopt;
    }
    if (!hours || !minutes || !seconds || *hours > 23 || *minutes > 59 || *seconds > 59) {
        return std::nullopt;
    }
    return std::chrono::hours{*hours} + std::chrono::minutes{*minutes} +
           std::chrono::seconds{*seconds};
}

}  // namespace

std::optional<local_seconds> parse_local_iso(std::string_view text) {
    if (text.size() != 19 || text[10] != 'T') {
        return std::nullopt;
    }
    const auto day = parse_date_part(text.substr(0, 10));
    const auto time_of_day = parse_time_part(text.substr(11));
    if (!day || !time_of_day) {
        return std::nullopt;
    }
    return date::local_days{*day} + *time_of_day;
}

std::optional<std::string> join_local_iso(std::string_view date_text, std::string_view time_text) {
    const auto day = parse_date_part(date_text);
    const auto time_of_day = parse_time_part(time_text);
    if (!day || !time_of_day) {
        return std::nullopt;
    }
    return date::format("%FT%T", date::local_days{*day} + *time_of_day);
}

std::optional<offset_time> parse_offset_iso(std::string_view text) {
    if (text.size() < 20) {
        return std::nullopt;
    }
    const auto local = parse_local_iso(text.substr(0, 19));
    if (!local) {
        return std::nullopt;
    }
    const std::string_view zone_part = text.substr(19);
    std::chrono::minutes offset{0};
    if (zone_part != "Z") {
        if (zone_part.size() != 6 || (zone_part[0] != '+' && zone_part[0] != '-') ||
            zone_part[3] != ':') {
            return std::nullopt;
        }
        const auto hours = read_digits(zone_part, 1, 2);
        const auto minutes = read_digits(zone_part, 4, 2);
        if (!hours || !minutes || *hours > 23 || *minutes > 59) {
            return std::nullopt;
        }
        offset = std::chrono::hours{*hours} + std::chrono::minutes{*minutes};
        if (zone_part[0] == '-') {
            offset = -offset;
        }
    }
    offset_time result;
    result.local_iso = std::string(text.substr(0, 19));
    result.utc = sys_seconds{local->time_since_epoch() - offset};
    return result;
}

const date::time_zone* find_zone(std::string_view name) {
    if (name.empty()) {
        return nullptr;
    }
    try {
        return date::locate_zone(name);
    } catch (const std::runtime_error&) {
        return nullptr;
    }
}

sys_seconds local_to_utc(const date::time_zone& zone, local_seconds local) {
    // For unique, ambiguous and nonexistent times alike, `first` is the period in force
    // just before the local time: the only period, the earlier of two, or the one before
    // the gap. Subtracting its offset gives the rule documented in the header.
    const date::local_info info = zone.get_info(local);
    return sys_seconds{local.time_since_epoch() - info.first.offset};
}

std::string format_utc(sys_seconds instant) {
    return date::format("%FT%TZ", instant);
}

}  // namespace eventcrawl::pipeline::detail
