#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace eventcrawl::pipeline {

// Origin of a captured body. The transform picks the JSON shape from it.
enum class page_source {
    listing_html,  // HTML of a listing page; the events sit in window.__SERVER_DATA__
    search_xhr,    // body of POST /api/v3/destination/search/
    file,          // a recorded payload file given to `eventcrawl import`
};

inline std::string_view to_string(page_source source) noexcept {
    switch (source) {
        case page_source::listing_html:
            return "listing_html";
        case page_source::search_xhr:
            return "search_xhr";
        case page_source::file:
            return "file";
    }
    return "file";
}

// Returns the source named by to_string, or nothing for any other text.
inline std::optional<page_source> parse_page_source(std::string_view text) noexcept {
    for (const auto source :
         {page_source::listing_html, page_source::search_xhr, page_source::file}) {
        if (to_string(source) == text) {
            return source;
        }
    }
    return std::nullopt;
}

// One captured body, as it travels from a city task to the transform stage.
// Default-constructible because Asio channels build an empty value on close.
struct raw_page {
    std::string city_slug;
    int page_number = 0;
    // Query that narrows the city's listing, such as a date window
    // ("start_date=2026-12-01&end_date=2026-12-31"); empty for the whole listing. Pages of
    // different queries are numbered independently.
    std::string query;
    std::string url;
    int http_status = 0;
    std::string content_type;
    page_source source = page_source::listing_html;
    std::string body;
    std::chrono::system_clock::time_point captured_at{};
};

}  // namespace eventcrawl::pipeline
