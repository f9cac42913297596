#include "replay/query.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdint>

namespace eventcrawl::replay {

namespace json = boost::json;

namespace {

bool is_calendar_date(std::string_view text) {
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        return false;
    }
    for (const std::size_t index : {0, 1, 2, 3, 5, 6, 8, 9}) {
        if (text[index] < '0' || text[index] > '9') {
            return false;
        }
    }
    const auto number = [&](std::size_t offset, std::size_t length) {
        int value = 0;
        for (std::size_t index = offset; index < offset + length; ++index) {
            value = value * 10 + (text[index] - '0');
        }
        return value;
    };
    const std::chrono::year_month_day date{std::chrono::year{number(0, 4)},
                                           std::chrono::month{static_cast<unsigned>(number(5, 2))},
                                           std::chrono::day{static_cast<unsigned>(number(8, 2))}};
    return date.ok();
}

// Reads an integer member, stored signed or unsigned; `fallback` when absent or not one.
std::int64_t int_or(const json::object& object, std::string_view key, std::int64_t fallback) {
    const json::value* value = object.if_contains(key);
    if (value != nullptr && value->is_int64()) {
        return value->as_int64();
    }
    if (value != nullptr && value->is_uint64()) {
        return static_cast<std::int64_t>(value->as_uint64());
    }
    return fallback;
}

// The rows of every page of the city, in page order.
json::array all_rows(const city& city) {
    if (city.has_results) {
        return city.results;
    }
    json::array rows;
    for (const json::object& events : city.recorded_events) {
        for (const json::value& row : events.at("results").as_array()) {
            rows.push_back(row);
        }
    }
    return rows;
}

json::object windowed_events(const city& city, int page, const date_window& window) {
    json::array rows;
    for (const json::value& row : all_rows(city)) {
        const json::object* event = row.if_object();
        const json::value* start = event ? event->if_contains("start_date") : nullptr;
        if (start != nullptr && start->is_string() && in_window(window, start->as_string())) {
            rows.push_back(row);
        }
    }
    const auto page_size = static_cast<std::size_t>(std::max(1, page_size_of(city)));
    const int page_count =
        std::max<int>(1, static_cast<int>((rows.size() + page_size - 1) / page_size));

    json::object pagination;
    if (city.has_results) {
        pagination["object_count"] = rows.size();
        if (city.pagination == pagination_style::full) {
            pagination["page_count"] = page_count;
            pagination["page_number"] = page;
        }
        pagination["page_size"] = page_size;
    } else {
        // Same keys as the recorded pagination, with values for the filtered rows.
        pagination = city.recorded_events.front().at("pagination").as_object();
        pagination["object_count"] = rows.size();
        if (pagination.contains("page_count")) {
            pagination["page_count"] = page_count;
        }
        if (pagination.contains("page_number")) {
            pagination["page_number"] = page;
        }
    }
    pagination["continuation"] =
        page < page_count ? json::value(encode_continuation(page + 1)) : json::value(nullptr);

    json::array slice;
    const std::size_t first_row = static_cast<std::size_t>(page - 1) * page_size;
    for (std::size_t row = first_row; row < rows.size() && row < first_row + page_size; ++row) {
        slice.push_back(rows[row]);
    }
    json::object events;
    events["pagination"] = std::move(pagination);
    events["results"] = std::move(slice);
    events["aggs"] = json::object();
    events["promoted_results"] = json::array();
    return events;
}

// Page count the pagination states, or the one its object_count implies.
int stated_page_count(const json::object& pagination, int page_size) {
    if (pagination.contains("page_count")) {
        return static_cast<int>(int_or(pagination, "page_count", 1));
    }
    const std::int64_t objects = int_or(pagination, "object_count", 0);
    return std::max<int>(1, static_cast<int>((objects + page_size - 1) / page_size));
}

// Announces `page_count` pages: the last one has no continuation and later ones no results.
void cap_pages(json::object& events, int page, int page_count) {
    json::object& pagination = events["pagination"].as_object();
    pagination["page_count"] = page_count;
    if (page >= page_count) {
        pagination["continuation"] = nullptr;
    }
    if (page > page_count) {
        events["results"] = json::array();
    }
}

}  // namespace

std::optional<date_window> parse_date_window(std::string_view from, std::string_view to) {
    if (!is_calendar_date(from) || !is_calendar_date(to) || from > to) {
        return std::nullopt;
    }
    return date_window{std::string(from), std::string(to)};
}

bool in_window(const date_window& window, std::string_view start_date) {
    // YYYY-MM-DD strings sort in date order.
    return start_date.size() == 10 && start_date >= window.from && start_date <= window.to;
}

json::object events_for_query(const city& city, int page, const event_query& query) {
    if (query.is_plain()) {
        return events_for_page(city, page);
    }
    json::object events =
        query.window ? windowed_events(city, page, *query.window) : events_for_page(city, page);
    const int page_size = std::max(1, page_size_of(city));
    const std::int64_t object_count = int_or(events["pagination"].as_object(), "object_count", 0);

    if (query.result_cap && object_count > *query.result_cap) {
        cap_pages(events, page, std::max(1, *query.result_cap / page_size));
    }
    if (query.page_cap) {
        const int current = stated_page_count(events["pagination"].as_object(), page_size);
        const int cap = *query.page_cap > 0 ? *query.page_cap : std::max(1, current / 2);
        if (cap < current) {
            cap_pages(events, page, cap);
        }
    }
    if (query.empty_results) {
        events["results"] = json::array();
    }
    return events;
}

std::optional<int> announced_page_count(const city& city, int page, const event_query& query) {
    if (query.is_plain()) {
        return announced_page_count(city);
    }
    const json::object events = events_for_query(city, page, query);
    const json::object& pagination = events.at("pagination").as_object();
    if (pagination.contains("page_count")) {
        return static_cast<int>(int_or(pagination, "page_count", 1));
    }
    return std::nullopt;
}

std::string search_response_body(const city& city,
                                 int page,
                                 const json::object& request_echo,
                                 const event_query& query) {
    if (query.is_plain()) {
        return search_response_body(city, page, request_echo);
    }
    json::object events = events_for_query(city, page, query);
    if (!query.window && events == events_for_page(city, page)) {
        // A cap that the page does not reach: recorded bodies stay verbatim.
        return search_response_body(city, page, request_echo);
    }
    return build_search_response_body(city, page, std::move(events), request_echo);
}

}  // namespace eventcrawl::replay
