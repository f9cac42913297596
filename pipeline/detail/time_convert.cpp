#include "pipeline/detail/time_convert.hpp"

#include <date/tz.h>

#include <charconv>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

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

// Writes `value` as `width` zero-padded decimal digits at out[pos].
void write_digits(std::string& out, std::size_t pos, unsigned value, std::size_t width) {
    for (std::size_t i = pos + width; i > pos; --i) {
        out[i - 1] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

// Hash and equality that accept std::string_view keys, so a lookup by view copies nothing.
struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
        return std::hash<std::string_view>{}(name);
    }
};

// Zones already resolved by find_zone, because every event of a page names a zone and a
// crawl reads only a few distinct zones.
class zone_cache {
public:
    const date::time_zone* find(std::string_view name) {
        const std::lock_guard lock(mutex_);
        if (const auto found = zones_.find(name); found != zones_.end()) {
            return found->second;
        }
        const date::time_zone* zone = nullptr;
        try {
            zone = date::locate_zone(name);
        } catch (const std::runtime_error&) {
            zone = nullptr;
        }
        // Unknown names come from the input, so they are cached only up to a bound.
        if (zone != nullptr || zones_.size() < max_entries) {
            zones_.emplace(std::string(name), zone);
        }
        return zone;
    }

private:
    static constexpr std::size_t max_entries = 4096;
    std::mutex mutex_;
    std::unordered_map<std::string, const date::time_zone*, name_hash, std::equal_to<>> zones_;
};

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
    if (!parse_date_part(date_text) || !parse_time_part(time_text)) {
        return std::nullopt;
    }
    // Both parts are valid, so the text is already in "%FT%T" form once seconds are added.
    std::string joined;
    joined.reserve(19);
    joined.append(date_text);
    joined.push_back('T');
    joined.append(time_text);
    if (time_text.size() == 5) {
        joined.append(":00");
    }
    return joined;
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
    static zone_cache cache;
    return cache.find(name);
}

sys_seconds local_to_utc(const date::time_zone& zone, local_seconds local) {
    // For unique, ambiguous and nonexistent times alike, `first` is the period in force
    // just before the local time: the only period, the earlier of two, or the one before
    // the gap. Subtracting its offset gives the rule documented in the header.
    const date::local_info info = zone.get_info(local);
    return sys_seconds{local.time_since_epoch() - info.first.offset};
}

std::string format_utc(sys_seconds instant) {
    const date::sys_days day = std::chrono::floor<date::days>(instant);
    const date::year_month_day ymd{day};
    const int year = static_cast<int>(ymd.year());
    if (year < 0 || year > 9999) {
        return date::format("%FT%TZ", instant);
    }
    const auto seconds = static_cast<unsigned>((instant - day).count());
    std::string text = "0000-00-00T00:00:00Z";
    write_digits(text, 0, static_cast<unsigned>(year), 4);
    write_digits(text, 5, static_cast<unsigned>(ymd.month()), 2);
    write_digits(text, 8, static_cast<unsigned>(ymd.day()), 2);
    write_digits(text, 11, seconds / 3600, 2);
    write_digits(text, 14, seconds / 60 % 60, 2);
    write_digits(text, 17, seconds % 60, 2);
    return text;
}

}  // namespace eventcrawl::pipeline::detail
