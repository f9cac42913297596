#include "config/detail/field_checks.hpp"

#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "config/city_list.hpp"

namespace eventcrawl::config {

const std::vector<std::string_view>& known_eventbrite_tlds() {
    // The country sites that Eventbrite's own footer and hreflang links listed on a
    // www.eventbrite.com listing page saved in July 2025. Norway, Poland, Japan and India had no
    // site of their own there, so they are not accepted.
    static const std::vector<std::string_view> tlds = {
        "com", "ca", "co.uk",  "com.au", "co.nz",  "ie", "sg", "hk",     "de",
        "at",  "ch", "fr",     "be",     "nl",     "it", "es", "pt",     "se",
        "dk",  "fi", "com.mx", "com.br", "com.ar", "cl", "co", "com.pe",
    };
    return tlds;
}

}  // namespace eventcrawl::config

namespace eventcrawl::config::detail {

namespace {

constexpr std::string_view eventbrite_prefix = "www.eventbrite.";

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_upper_ascii(char c) {
    return c >= 'A' && c <= 'Z';
}

char to_lower_ascii(char c) {
    return is_upper_ascii(c) ? static_cast<char>(c - 'A' + 'a') : c;
}

// A slug part is lower-case ASCII letters and digits joined by single hyphens.
bool is_slug_part(std::string_view part) {
    if (part.empty() || part.front() == '-' || part.back() == '-') {
        return false;
    }
    for (std::size_t i = 0; i < part.size(); ++i) {
        const char c = part[i];
        if (c == '-') {
            if (part[i + 1] == '-') {
                return false;
            }
        } else if (!is_lower_alnum(c)) {
            return false;
        }
    }
    return true;
}

std::vector<std::string> zone_names() {
    const auto& database = date::get_tzdb();
    // Built against the system zoneinfo (USE_OS_TZDB), date/tz lists links such as "US/Eastern"
    // among the zones, and tzdb has no separate links member.
    std::vector<std::string> names;
    names.reserve(database.zones.size());
    for (const auto& zone : database.zones) {
        names.push_back(zone.name());
    }
    return names;
}

std::string join_quoted(const std::vector<std::string>& values) {
    std::string joined;
    for (const auto& value : values) {
        if (!joined.empty()) {
            joined += ", ";
        }
        joined += '"' + value + '"';
    }
    return joined;
}

}  // namespace

std::optional<field_problem> check_slug(std::string_view slug) {
    const std::string_view expected =
        "\"<region>--<city>\" of lower-case ASCII letters, digits and single hyphens, with "
        "exactly one \"--\" between two non-empty parts";
    const auto separator = slug.find("--");
    bool valid = separator != std::string_view::npos;
    if (valid) {
        valid = is_slug_part(slug.substr(0, separator)) && is_slug_part(slug.substr(separator + 2));
    }
    if (valid) {
        return std::nullopt;
    }
    return field_problem{
        std::string(expected),
        "Copy the slug from the city's Eventbrite URL /d/<slug>/all-events/, for example "
        "\"ny--new-york\" or \"united-kingdom--london\"."};
}

std::optional<field_problem> check_name(std::string_view name) {
    const bool blank =
        std::all_of(name.begin(), name.end(), [](char c) { return c == ' ' || c == '\t'; });
    if (!blank) {
        return std::nullopt;
    }
    return field_problem{"a non-empty display name", "Write the city's name, e.g. \"New York\"."};
}

std::optional<field_problem> check_country(std::string_view country) {
    const bool two_upper =
        country.size() == 2 && is_upper_ascii(country[0]) && is_upper_ascii(country[1]);
    if (two_upper && country != "UK") {
        return std::nullopt;
    }
    std::string fix =
        "Use the two upper-case letters of ISO 3166-1 alpha-2, e.g. \"US\" or \"DE\".";
    if (country == "UK" || country == "uk" || country == "GBR") {
        fix = "The ISO 3166-1 alpha-2 code of the United Kingdom is \"GB\".";
    }
    return field_problem{"an ISO 3166-1 alpha-2 country code", std::move(fix)};
}

std::optional<field_problem> check_domain(std::string_view domain) {
    const auto& tlds = known_eventbrite_tlds();
    if (domain.starts_with(eventbrite_prefix)) {
        const auto tld = domain.substr(eventbrite_prefix.size());
        if (std::find(tlds.begin(), tlds.end(), tld) != tlds.end()) {
            return std::nullopt;
        }
    }
    std::string accepted;
    for (const auto tld : tlds) {
        if (!accepted.empty()) {
            accepted += ' ';
        }
        accepted += tld;
    }
    return field_problem{
        fmt::format("\"www.eventbrite.<tld>\" with one of these Eventbrite country sites: {}",
                    accepted),
        "Use the host name only (no scheme or path), e.g. \"www.eventbrite.co.uk\"."};
}

std::optional<field_problem> check_place_id(std::string_view place_id) {
    const bool digits =
        !place_id.empty() &&
        std::all_of(place_id.begin(), place_id.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
        return std::nullopt;
    }
    return field_problem{"a Who's-On-First place id of digits only, e.g. \"85977539\"",
                         "Take the digits of \"placeId\" from the city's listing page, or "
                         "delete the place_id line (the crawler reads it from the page)."};
}

std::optional<field_problem> check_timezone(std::string_view zone) {
    try {
        date::locate_zone(zone);
        return std::nullopt;
    } catch (const std::runtime_error&) {
        // date::locate_zone reports an unknown name with std::runtime_error.
    }
    const auto suggestions = closest_matches(zone_names(), zone, 3, 4, false);
    std::string fix =
        "Use a zone from the tz database, e.g. \"America/New_York\" or "
        "\"Europe/London\" (see /usr/share/zoneinfo).";
    if (!suggestions.empty()) {
        fix = fmt::format("Did you mean {}?", join_quoted(suggestions));
    }
    return field_problem{"an IANA time zone name known to the tz database", std::move(fix)};
}

std::optional<double> parse_number(std::string_view text) {
    if (text.starts_with('+')) {
        text.remove_prefix(1);
        if (text.starts_with('-')) {
            return std::nullopt;
        }
    }
    double value = 0.0;
    const auto* end = text.data() + text.size();
    const auto [next, error] = std::from_chars(text.data(), end, value, std::chars_format::general);
    if (error != std::errc{} || next != end || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

std::size_t edit_distance(std::string_view a, std::string_view b, bool case_sensitive) {
    // Two-row dynamic programme: previous[j] is the distance between a[0..i) and b[0..j).
    std::vector<std::size_t> previous(b.size() + 1);
    std::vector<std::size_t> current(b.size() + 1);
    std::iota(previous.begin(), previous.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            char left = a[i - 1];
            char right = b[j - 1];
            if (!case_sensitive) {
                left = to_lower_ascii(left);
                right = to_lower_ascii(right);
            }
            const std::size_t substitution = previous[j - 1] + (left == right ? 0 : 1);
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
        }
        std::swap(previous, current);
    }
    return previous[b.size()];
}

std::vector<std::string> closest_matches(const std::vector<std::string>& candidates,
                                         std::string_view target,
                                         std::size_t max_count,
                                         std::size_t max_distance,
                                         bool case_sensitive) {
    struct scored {
        std::size_t distance;
        std::size_t index;
    };
    std::vector<scored> scores;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const auto distance = edit_distance(candidates[i], target, case_sensitive);
        if (distance <= max_distance) {
            scores.push_back(scored{distance, i});
        }
    }
    std::sort(scores.begin(), scores.end(), [](const scored& a, const scored& b) {
        return a.distance != b.distance ? a.distance < b.distance : a.index < b.index;
    });
    std::vector<std::string> matches;
    for (const auto& score : scores) {
        if (matches.size() == max_count) {
            break;
        }
        matches.push_back(candidates[score.index]);
    }
    return matches;
}

}  // namespace eventcrawl::config::detail
