#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "replay/corpus.hpp"

namespace eventcrawl::replay {

// Inclusive range of local start dates, both as YYYY-MM-DD.
struct date_window {
    std::string from;
    std::string to;
};

// Everything besides the page number that changes which events a listing page or a search
// response carries. A default-constructed query serves the corpus unchanged.
struct event_query {
    std::optional<date_window> window;
    // --result-cap: a query matching more events announces only `cap / page_size` pages.
    std::optional<int> result_cap;
    // capped_pages fault: the page count to announce when below the real one; 0 announces
    // half the real page count (at least 1).
    std::optional<int> page_cap;
    // empty_results fault: no results, pagination unchanged.
    bool empty_results = false;

    bool is_plain() const { return !window && !result_cap && !page_cap && !empty_results; }
};

// Checks two YYYY-MM-DD dates (a real calendar date each, `from` not after `to`) and returns
// the window, or nullopt when either is invalid.
std::optional<date_window> parse_date_window(std::string_view from, std::string_view to);

// True when `start_date` (the event's local YYYY-MM-DD) lies in `window`.
bool in_window(const date_window& window, std::string_view start_date);

// Builds the `events` object of page `page` for `query`. A plain query gives exactly
// events_for_page(city, page). Otherwise the rows are filtered by the window and paginated
// with the city's page size, so object_count is the filtered count. The caps lower
// page_count and empty the pages past it.
boost::json::object events_for_query(const city& city, int page, const event_query& query);

// Page count a listing page announces for `query`: the `page_count` of its events
// pagination, or announced_page_count(city) for a plain query.
std::optional<int> announced_page_count(const city& city, int page, const event_query& query);

// Builds the whole search response body. A plain query gives exactly
// search_response_body(city, page, request_echo).
std::string search_response_body(const city& city,
                                 int page,
                                 const boost::json::object& request_echo,
                                 const event_query& query);

}  // namespace eventcrawl::replay
