#include "db/detail/checks.hpp"

#include <fmt/format.h>

namespace eventcrawl::db::detail {

void check_events(std::span<const pipeline::event_record> events,
                  std::string_view seen_at,
                  std::string_view location) {
    for (std::size_t position = 0; position < events.size(); ++position) {
        if (events[position].id.empty()) {
            throw store_error{fmt::format(
                "event at position {} of {} has an empty id; nothing of this batch was written "
                "to '{}'; drop events without an id before storing them",
                position,
                events.size(),
                location)};
        }
    }
    if (seen_at.empty()) {
        throw store_error{"upsert_events needs a seen_at timestamp such as 2026-07-01T17:00:00Z"};
    }
}

void check_city_result(std::int64_t run_id, const city_result& result) {
    if (result.city_slug.empty()) {
        throw store_error{fmt::format(
            "city result for run {} has an empty city_slug; set the slug of the city", run_id)};
    }
}

void check_pages(std::int64_t run_id,
                 std::span<const archived_page> pages,
                 std::string_view city_slug) {
    for (const archived_page& page : pages) {
        if (page.city_slug.empty() || page.source.empty()) {
            throw store_error{fmt::format(
                "archived page {} of run {} has an empty city_slug or source; set both before "
                "archiving (url '{}')",
                page.page_number,
                run_id,
                page.url)};
        }
        if (!city_slug.empty() && page.city_slug != city_slug) {
            throw store_error{fmt::format(
                "commit_city for city '{}' of run {} got page {} of city '{}'; pass only the "
                "pages of the committed city",
                city_slug,
                run_id,
                page.page_number,
                page.city_slug)};
        }
    }
}

void check_limit(int limit) {
    if (limit < 1) {
        throw store_error{fmt::format(
            "list_runs limit must be at least 1, got {}; pass how many runs to list", limit)};
    }
}

}  // namespace eventcrawl::db::detail
