#include "tests/pipeline/test_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace eventcrawl::pipeline::testing {

std::string fixture_path(std::string_view name) {
    return std::string(EVENTCRAWL_FIXTURE_DIR) + "/" + std::string(name);
}

raw_page fixture_page(std::string_view name) {
    const std::string path = fixture_path(name);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("fixture not found: " + path +
                                 "; expected the recorded payloads in tests/fixtures/eventbrite");
    }
    std::ostringstream content;
    content << in.rdbuf();
    raw_page page;
    page.source = page_source::file;
    page.url = path;
    page.body = content.str();
    return page;
}

raw_page crawled_page(page_source source, std::string body) {
    raw_page page;
    page.city_slug = "new-york";
    page.page_number = 3;
    page.url = "http://127.0.0.1/d/ny--new-york/all-events/?page=3";
    page.http_status = 200;
    page.source = source;
    page.body = std::move(body);
    return page;
}

raw_page inline_page(std::string body) {
    raw_page page;
    page.source = page_source::file;
    page.url = "inline.json";
    page.body = std::move(body);
    return page;
}

boost::json::object minimal_event() {
    return boost::json::parse(R"({
        "_type": "destination_event",
        "id": "1000000000001",
        "name": "Minimal event",
        "summary": "A hand-written event",
        "url": "https://www.eventbrite.co.uk/e/minimal-event-tickets-1000000000001?aff=ebdssbdestsearch",
        "timezone": "Europe/London",
        "start_date": "2026-07-01",
        "start_time": "18:00",
        "end_date": "2026-07-01",
        "end_time": "20:00",
        "is_online_event": false,
        "is_cancelled": null,
        "series_id": null,
        "primary_venue_id": "200",
        "primary_venue": {
            "_type": "destination_venue",
            "id": "200",
            "name": "Hall",
            "address": {
                "address_1": "1 Road",
                "address_2": "",
                "city": "London",
                "region": "",
                "country": "GB",
                "latitude": "51.5",
                "longitude": "-0.12"
            }
        },
        "ticket_availability": {
            "is_free": false,
            "minimum_ticket_price": {"currency": "GBP", "major_value": "5.00", "value": 500},
            "maximum_ticket_price": {"currency": "GBP", "major_value": "7.50", "value": 750}
        },
        "tags": [
            {"prefix": "EventbriteCategory", "tag": "EventbriteCategory/103"},
            {"prefix": "OrganizerTag", "tag": "OrganizerTag/đánh_thức"},
            {"prefix": "EventbriteCategory", "tag": "EventbriteCategory/103"}
        ]
    })")
        .as_object();
}

transform_output transform_event(const boost::json::object& event) {
    return transform_page(inline_page(boost::json::serialize(event)));
}

const event_record* find_event(const transform_output& output, std::string_view id) {
    for (const event_record& event : output.events) {
        if (event.id == id) {
            return &event;
        }
    }
    return nullptr;
}

caught_failure catch_failure(const raw_page& page) {
    caught_failure caught;
    try {
        transform_page(page);
    } catch (const transform_error& error) {
        caught.thrown = true;
        caught.failure = error.failure();
        caught.message = error.what();
    }
    return caught;
}

}  // namespace eventcrawl::pipeline::testing
