// Field mapping of hand-written destination events: times, prices, venues, ids and tags.
#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>

#include "tests/pipeline/test_support.hpp"

namespace eventcrawl::pipeline {

using testing::inline_page;
using testing::minimal_event;
using testing::transform_event;

namespace {

bool any_warning_contains(const transform_output& output,
                          std::string_view first,
                          std::string_view second) {
    for (const std::string& warning : output.warnings) {
        if (warning.find(first) != std::string::npos && warning.find(second) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace

TEST_SUITE("pipeline") {
    TEST_CASE("local time to utc") {
        struct time_case {
            std::string_view zone;
            std::string_view day;
            std::string_view time;
            std::string_view expected_utc;
        };
        // Gap times use the offset before the gap; overlap times take the first occurrence.
        const time_case cases[] = {
            {"Europe/London", "2026-07-01", "18:00", "2026-07-01T17:00:00Z"},
            {"Europe/London", "2026-01-15", "18:00", "2026-01-15T18:00:00Z"},
            {"America/New_York", "2026-03-08", "02:30", "2026-03-08T07:30:00Z"},
            {"America/New_York", "2026-11-01", "01:30", "2026-11-01T05:30:00Z"},
            {"America/New_York", "2026-11-01", "02:30", "2026-11-01T07:30:00Z"},
            {"Europe/Berlin", "2026-03-29", "02:30", "2026-03-29T01:30:00Z"},
            {"Europe/Berlin", "2026-10-25", "02:30", "2026-10-25T00:30:00Z"},
            {"Europe/Berlin", "2026-10-25", "03:30", "2026-10-25T02:30:00Z"},
            {"Asia/Ho_Chi_Minh", "1970-01-01", "00:00", "1969-12-31T16:00:00Z"},
            {"Asia/Ho_Chi_Minh", "2025-02-21", "17:30", "2025-02-21T10:30:00Z"},
        };
        for (const time_case& entry : cases) {
            CAPTURE(entry.zone);
            CAPTURE(entry.day);
            CAPTURE(entry.time);
            boost::json::object event = minimal_event();
            event["timezone"] = entry.zone;
            event["start_date"] = entry.day;
            event["start_time"] = entry.time;
            event["end_date"] = entry.day;
            event["end_time"] = entry.time;

            const transform_output output = transform_event(event);
            REQUIRE(output.events.size() == 1);
            const std::string expected_local =
                std::string(entry.day) + "T" + std::string(entry.time) + ":00";
            CHECK(output.events[0].start_local == expected_local);
            CHECK(output.events[0].start_utc == std::string(entry.expected_utc));
            CHECK(output.events[0].end_utc == std::string(entry.expected_utc));
        }
    }

    TEST_CASE("overnight end next day") {
        boost::json::object event = minimal_event();
        event["start_date"] = "2026-05-02";
        event["start_time"] = "22:00";
        event["end_date"] = "2026-05-03";
        event["end_time"] = "04:00";

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].start_utc == "2026-05-02T21:00:00Z");
        CHECK(output.events[0].end_local == "2026-05-03T04:00:00");
        CHECK(output.events[0].end_utc == "2026-05-03T03:00:00Z");
    }

    TEST_CASE("unknown zone keeps local") {
        boost::json::object event = minimal_event();
        event["timezone"] = "Mars/Olympus_Mons";

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].timezone == "Mars/Olympus_Mons");
        CHECK(output.events[0].start_local == "2026-07-01T18:00:00");
        CHECK_FALSE(output.events[0].start_utc);
        CHECK_FALSE(output.events[0].end_utc);
        REQUIRE(output.warnings.size() == 1);
        CHECK(any_warning_contains(output, "id=1000000000001", "Mars/Olympus_Mons"));
    }

    TEST_CASE("minimal event fields") {
        const transform_output output = transform_event(minimal_event());

        REQUIRE(output.events.size() == 1);
        const event_record& event = output.events[0];
        CHECK(event.id == "1000000000001");
        CHECK(event.url == "https://www.eventbrite.co.uk/e/minimal-event-tickets-1000000000001");
        CHECK(event.summary == "A hand-written event");
        CHECK(event.price_min_minor == 500);
        CHECK(event.price_max_minor == 750);
        CHECK(event.currency == "GBP");
        CHECK(event.address == "1 Road");
        CHECK_FALSE(event.region);
        CHECK_FALSE(event.is_cancelled);
        CHECK_FALSE(event.series_id);
        REQUIRE(event.tags.size() == 2);
        CHECK(event.tags[0] == "EventbriteCategory/103");
        CHECK(event.tags[1] == "OrganizerTag/đánh_thức");
        CHECK(output.warnings.empty());
    }

    TEST_CASE("nul characters removed from text") {
        boost::json::object event = minimal_event();
        event["name"] = std::string{"Jazz\0 Night", 11};
        event["summary"] = std::string{"\0", 1};
        event["tags"] =
            boost::json::array{boost::json::object{{"tag", std::string{"Organizer\0Tag/a", 15}}},
                               boost::json::object{{"tag", "OrganizerTag/a"}},
                               boost::json::object{{"tag", "EventbriteCategory/103"}}};
        const transform_output output = transform_event(event);

        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].name == "Jazz Night");
        CHECK_FALSE(output.events[0].summary);
        CHECK(output.events[0].tags ==
              std::vector<std::string>{"OrganizerTag/a", "EventbriteCategory/103"});
    }

    TEST_CASE("nul only id dropped") {
        boost::json::object event = minimal_event();
        event["id"] = std::string{"\0\0", 2};
        const transform_output output = transform_event(event);

        CHECK(output.events.empty());
        REQUIRE(output.warnings.size() == 1);
        CHECK(output.warnings[0].find("NUL") != std::string::npos);
    }

    TEST_CASE("address from both lines") {
        boost::json::object event = minimal_event();
        event["primary_venue"].as_object()["address"].as_object()["address_2"] = "Floor 2";

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].address == "1 Road, Floor 2");
    }

    TEST_CASE("coordinates parse and reject") {
        struct coordinate_case {
            std::string_view latitude;
            std::optional<double> expected;
            bool warns;
        };
        const coordinate_case cases[] = {
            {"47.76014079999999", 47.76014079999999, false},
            {"-33.8688", -33.8688, false},
            {"abc", std::nullopt, true},
            {"12.5north", std::nullopt, true},
            {"95.0", std::nullopt, true},
            {"nan", std::nullopt, true},
            {"", std::nullopt, false},
        };
        for (const coordinate_case& entry : cases) {
            CAPTURE(entry.latitude);
            boost::json::object event = minimal_event();
            event["primary_venue"].as_object()["address"].as_object()["latitude"] = entry.latitude;

            const transform_output output = transform_event(event);
            REQUIRE(output.events.size() == 1);
            const event_record& record = output.events[0];
            CHECK(record.latitude.has_value() == entry.expected.has_value());
            if (entry.expected && record.latitude) {
                CHECK(*record.latitude == doctest::Approx(*entry.expected));
            }
            REQUIRE(record.longitude);
            CHECK(*record.longitude == doctest::Approx(-0.12));
            const bool warned =
                any_warning_contains(output, "id=1000000000001", "primary_venue.address.latitude");
            CHECK(warned == entry.warns);
        }
    }

    TEST_CASE("price from major value") {
        struct price_case {
            std::string_view currency;
            std::string_view major_value;
            std::optional<std::int64_t> expected;
        };
        const price_case cases[] = {
            {"JPY", "1500", 1500},
            {"JPY", "1500.00", 1500},
            {"USD", "12.50", 1250},
            {"USD", "12", 1200},
            {"KWD", "1.250", 1250},
            {"VND", "250000", 250000},
            {"USD", "12.345", std::nullopt},
            {"USD", "twelve", std::nullopt},
        };
        for (const price_case& entry : cases) {
            CAPTURE(entry.currency);
            CAPTURE(entry.major_value);
            boost::json::object event = minimal_event();
            boost::json::object price;
            price["currency"] = entry.currency;
            price["major_value"] = entry.major_value;
            auto& availability = event["ticket_availability"].as_object();
            availability["minimum_ticket_price"] = price;
            availability["maximum_ticket_price"] = price;

            const transform_output output = transform_event(event);
            REQUIRE(output.events.size() == 1);
            CHECK(output.events[0].price_min_minor == entry.expected);
            CHECK(output.events[0].price_max_minor == entry.expected);
            if (entry.expected) {
                CHECK(output.events[0].currency == std::string(entry.currency));
            } else {
                CHECK_FALSE(output.events[0].currency);
                CHECK(any_warning_contains(output, "id=1000000000001", "major_value"));
            }
        }
    }

    TEST_CASE("null price objects") {
        boost::json::object event = minimal_event();
        auto& availability = event["ticket_availability"].as_object();
        availability["minimum_ticket_price"] = nullptr;
        availability["maximum_ticket_price"] = nullptr;
        availability["is_free"] = true;

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK_FALSE(output.events[0].price_min_minor);
        CHECK_FALSE(output.events[0].price_max_minor);
        CHECK_FALSE(output.events[0].currency);
        CHECK(output.events[0].is_free);
        CHECK(output.warnings.empty());
    }

    TEST_CASE("online event without venue") {
        boost::json::object event = minimal_event();
        event.erase("primary_venue");
        event["primary_venue_id"] = nullptr;
        event["is_online_event"] = true;
        event.erase("ticket_availability");

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].is_online);
        CHECK_FALSE(output.events[0].venue_name);
        CHECK_FALSE(output.events[0].latitude);
        CHECK_FALSE(output.events[0].is_free);
        CHECK_FALSE(output.events[0].currency);
    }

    TEST_CASE("numeric id and name object") {
        boost::json::object event = minimal_event();
        event["id"] = 1965571211405;
        boost::json::object name;
        name["text"] = "Named by text";
        name["html"] = "<b>Named by text</b>";
        event["name"] = name;
        event["is_cancelled"] = true;

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].id == "1965571211405");
        CHECK(output.events[0].name == "Named by text");
        CHECK(output.events[0].is_cancelled);
    }

    TEST_CASE("event without id skipped") {
        boost::json::object without_id = minimal_event();
        without_id.erase("id");
        boost::json::array results;
        results.push_back(minimal_event());
        results.push_back(without_id);
        boost::json::object events;
        events["results"] = results;
        boost::json::object envelope;
        envelope["events"] = events;

        const transform_output output =
            transform_page(inline_page(boost::json::serialize(envelope)));
        CHECK(output.events.size() == 1);
        CHECK(output.facts.result_count == 2);
        REQUIRE(output.warnings.size() == 1);
        CHECK(output.warnings[0].find("events.results[1]") != std::string::npos);
        CHECK(output.warnings[0].find("inline.json") != std::string::npos);
    }

    TEST_CASE("malformed start date warns") {
        boost::json::object event = minimal_event();
        event["start_date"] = "2026-02-30";

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK_FALSE(output.events[0].start_local);
        CHECK_FALSE(output.events[0].start_utc);
        CHECK(output.events[0].end_utc == "2026-07-01T19:00:00Z");
        CHECK(any_warning_contains(output, "id=1000000000001", "start_date"));
    }

    TEST_CASE("image falls back to original") {
        boost::json::object event = minimal_event();
        boost::json::object original;
        original["url"] = "https://img.example.invalid/original.jpg";
        boost::json::object image;
        image["url"] = nullptr;
        image["original"] = original;
        event["image"] = image;

        const transform_output output = transform_event(event);
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].image_url == "https://img.example.invalid/original.jpg");
    }
}

}  // namespace eventcrawl::pipeline
