#include "tests/pipeline/output_diff.hpp"

#include <fmt/format.h>

#include <optional>
#include <string_view>
#include <type_traits>

namespace eventcrawl::pipeline::testing {

namespace {

template <typename T>
std::string show(const std::optional<T>& value) {
    if (!value) {
        return "null";
    }
    if constexpr (std::is_same_v<T, std::string>) {
        return fmt::format("\"{}\"", *value);
    } else {
        return fmt::format("{}", *value);
    }
}

std::string show(const std::string& value) {
    return fmt::format("\"{}\"", value);
}

std::string show(bool value) {
    return value ? "true" : "false";
}

std::string show(std::size_t value) {
    return fmt::format("{}", value);
}

// Appends "name: left vs right" to `difference` when the values differ and nothing was
// found before.
template <typename T>
void compare(std::string& difference, std::string_view name, const T& left, const T& right) {
    if (difference.empty() && !(left == right)) {
        difference = fmt::format("{}: {} vs {}", name, show(left), show(right));
    }
}

std::string describe_event_difference(const event_record& left, const event_record& right) {
    std::string difference;
    compare(difference, "id", left.id, right.id);
    compare(difference, "name", left.name, right.name);
    compare(difference, "summary", left.summary, right.summary);
    compare(difference, "url", left.url, right.url);
    compare(difference, "timezone", left.timezone, right.timezone);
    compare(difference, "start_local", left.start_local, right.start_local);
    compare(difference, "end_local", left.end_local, right.end_local);
    compare(difference, "start_utc", left.start_utc, right.start_utc);
    compare(difference, "end_utc", left.end_utc, right.end_utc);

    compare(difference, "is_online", left.is_online, right.is_online);
    compare(difference, "is_free", left.is_free, right.is_free);
    compare(difference, "is_cancelled", left.is_cancelled, right.is_cancelled);
    compare(difference, "venue_name", left.venue_name, right.venue_name);
    compare(difference, "address", left.address, right.address);
    compare(difference, "city", left.city, right.city);
    compare(difference, "region", left.region, right.region);
    compare(difference, "country", left.country, right.country);
    compare(difference, "latitude", left.latitude, right.latitude);
    compare(difference, "longitude", left.longitude, right.longitude);
    compare(difference, "price_min_minor", left.price_min_minor, right.price_min_minor);
    compare(difference, "price_max_minor", left.price_max_minor, right.price_max_minor);
    compare(difference, "currency", left.currency, right.currency);
    compare(difference, "organizer_name", left.organizer_name, right.organizer_name);
    compare(difference, "series_id", left.series_id, right.series_id);
    compare(difference, "image_url", left.image_url, right.image_url);

    compare(difference, "tag count", left.tags.size(), right.tags.size());
    for (std::size_t i = 0; difference.empty() && i < left.tags.size(); ++i) {
        compare(difference, fmt::format("tags[{}]", i), left.tags[i], right.tags[i]);
    }
    return difference;
}

}  // namespace

std::string describe_difference(const page_facts& left, const page_facts& right) {
    std::string difference;
    compare(difference, "facts.object_count", left.object_count, right.object_count);
    compare(difference, "facts.page_count", left.page_count, right.page_count);
    compare(difference, "facts.page_number", left.page_number, right.page_number);
    compare(difference, "facts.page_size", left.page_size, right.page_size);
    compare(difference, "facts.continuation", left.continuation, right.continuation);
    compare(difference, "facts.has_more_items", left.has_more_items, right.has_more_items);
    compare(difference, "facts.result_count", left.result_count, right.result_count);
    return difference;
}

std::string describe_difference(const transform_output& left, const transform_output& right) {
    std::string difference = describe_difference(left.facts, right.facts);
    compare(difference, "warning count", left.warnings.size(), right.warnings.size());
    for (std::size_t i = 0; difference.empty() && i < left.warnings.size(); ++i) {
        compare(difference, fmt::format("warnings[{}]", i), left.warnings[i], right.warnings[i]);
    }
    compare(difference, "event count", left.events.size(), right.events.size());
    for (std::size_t i = 0; difference.empty() && i < left.events.size(); ++i) {
        const std::string event_difference =
            describe_event_difference(left.events[i], right.events[i]);
        if (!event_difference.empty()) {
            difference =
                fmt::format("events[{}] (id {}) {}", i, left.events[i].id, event_difference);
        }
    }
    return difference;
}

}  // namespace eventcrawl::pipeline::testing
