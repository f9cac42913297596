#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "db/store.hpp"
#include "pipeline/event_record.hpp"

namespace eventcrawl::db::detail {

// The argument checks that both stores make before they write, so that both reject the same
// input with the same message. Each throws store_error; `location` is the path or masked DSN.

// Rejects an event without an id, and an empty seen_at when there are events to write.
void check_events(std::span<const pipeline::event_record> events,
                  std::string_view seen_at,
                  std::string_view location);

// Rejects a city result without a city_slug.
void check_city_result(std::int64_t run_id, const city_result& result);

// Rejects a page without a city_slug or source. When `city_slug` is not empty, also rejects a
// page of another city.
void check_pages(std::int64_t run_id,
                 std::span<const archived_page> pages,
                 std::string_view city_slug);

// Rejects a list_runs limit below 1.
void check_limit(int limit);

}  // namespace eventcrawl::db::detail
