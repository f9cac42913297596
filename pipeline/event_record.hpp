#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eventcrawl::pipeline {

// One Eventbrite event in the typed schema that every store writes.
// Times: *_local is the wall-clock time in `timezone` ("2026-07-01T18:00:00"); *_utc is the
// same instant in UTC ("2026-07-01T17:00:00Z"). Prices are integer minor units of `currency`.
struct event_record {
    std::string id;
    std::string name;
    std::optional<std::string> summary;
    std::optional<std::string> url;
    std::optional<std::string> timezone;
    std::optional<std::string> start_local;
    std::optional<std::string> end_local;
    std::optional<std::string> start_utc;
    std::optional<std::string> end_utc;
    bool is_online = false;
    bool is_free = false;
    bool is_cancelled = false;
    std::optional<std::string> venue_name;
    std::optional<std::string> address;
    std::optional<std::string> city;
    std::optional<std::string> region;
    std::optional<std::string> country;
    std::optional<double> latitude;
    std::optional<double> longitude;
    std::optional<std::int64_t> price_min_minor;
    std::optional<std::int64_t> price_max_minor;
    std::optional<std::string> currency;
    std::optional<std::string> organizer_name;
    std::optional<std::string> series_id;
    std::optional<std::string> image_url;
    std::vector<std::string> tags;  // "prefix/value", e.g. "EventbriteCategory/103"
};

// Pagination facts of one search response; absent fields were absent in the body.
struct page_facts {
    std::optional<std::int64_t> object_count;
    std::optional<int> page_count;
    std::optional<int> page_number;
    std::optional<int> page_size;
    std::optional<std::string> continuation;
    std::optional<bool> has_more_items;
    std::size_t result_count = 0;
};

}  // namespace eventcrawl::pipeline
