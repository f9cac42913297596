// Transforms of every recorded payload in tests/fixtures/eventbrite. Expected values were
// read from the files by hand and cross-checked with a JSON tool.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/pipeline/test_support.hpp"

namespace eventcrawl::pipeline {

using testing::catch_failure;
using testing::find_event;
using testing::fixture_page;

namespace {

constexpr std::string_view online_150 =
    "destination-search_results_online-events_150_mixed-tz_2023-09.json";
constexpr std::string_view ho_chi_minh =
    "destination-search_response_ho-chi-minh-city_place85680809_pagesize30_full.json";
constexpr std::string_view bavaria_batch =
    "destination-events_by-ids_eventbrite-de_bavaria_trimmed.json";
constexpr std::string_view key_west =
    "destination-search_response_2020_key-west_series-next-dates.json";
constexpr std::string_view ann_arbor =
    "destination-search_response_ann-arbor-mi_bbox_unexpanded-with-locations_5-of-401.json";
constexpr std::string_view oslo = "destination-event_single_oslo_eventbrite-co-uk-url.json";
constexpr std::string_view autocomplete =
    "destination-autocomplete_event-list_unexpanded_christmas_2022.json";
constexpr std::string_view v3_detail = "v3-event-detail_965046077797_america-chicago.json";
constexpr std::string_view json_ld = "jsonld_event_items_dallas-tx_scraper-output_2026-02.json";
constexpr std::string_view home_model =
    "ssr-home-view-model_ashburn-va_2018-12_suggestions-10-destination-events.json";
constexpr std::string_view new_york_html =
    "listing-page_city-browse_ny--new-york_events_2025-07_server-data-8-buckets.html";

bool has_no_venue(const event_record& event) {
    return !event.venue_name && !event.address && !event.city && !event.region && !event.country &&
           !event.latitude && !event.longitude;
}

}  // namespace

TEST_SUITE("pipeline") {
    TEST_CASE("online fixture loads all 150") {
        const transform_output output = transform_page(fixture_page(online_150));

        CHECK(output.events.size() == 150);
        CHECK(output.facts.result_count == 150);
        CHECK(output.warnings.empty());
        const auto online = std::count_if(
            output.events.begin(), output.events.end(), [](const event_record& event) {
                return event.is_online;
            });
        CHECK(online == 150);
        const auto without_venue =
            std::count_if(output.events.begin(), output.events.end(), has_no_venue);
        CHECK(without_venue == 150);
    }

    TEST_CASE("online fixture null prices") {
        const transform_output output = transform_page(fixture_page(online_150));

        const auto null_prices =
            std::count_if(output.events.begin(), output.events.end(), [](const auto& event) {
                return !event.price_min_minor && !event.price_max_minor;
            });
        CHECK(null_prices == 24);
        const auto null_with_currency =
            std::count_if(output.events.begin(), output.events.end(), [](const auto& event) {
                return !event.price_min_minor && event.currency;
            });
        CHECK(null_with_currency == 0);

        const event_record* restorative = find_event(output, "523139162317");
        REQUIRE(restorative != nullptr);
        CHECK(restorative->name == "Restorative Yoga for Stress Relief");
        CHECK_FALSE(restorative->price_min_minor);
        CHECK_FALSE(restorative->price_max_minor);
        CHECK_FALSE(restorative->currency);
        CHECK_FALSE(restorative->is_free);
    }

    TEST_CASE("online fixture tai chi event") {
        const transform_output output = transform_page(fixture_page(online_150));
        const event_record* event = find_event(output, "712074312437");
        REQUIRE(event != nullptr);

        CHECK(event->name ==
              "Begin your Tai Chi journey: Traditional Movements for Health / Rejuvenation");
        CHECK(event->url ==
              "https://www.eventbrite.com/e/"
              "begin-your-tai-chi-journey-traditional-movements-for-health-rejuvenation-tickets-"
              "712074312437");
        CHECK(event->timezone == "America/New_York");
        CHECK(event->start_local == "2023-09-17T11:00:00");
        CHECK(event->start_utc == "2023-09-17T15:00:00Z");
        CHECK(event->end_utc == "2023-09-17T15:30:00Z");
        CHECK(event->price_min_minor == 0);
        CHECK(event->price_max_minor == 0);
        CHECK(event->currency == "USD");
        CHECK_FALSE(event->is_free);
        CHECK_FALSE(event->is_cancelled);
        CHECK(event->series_id == "121038039033");
        CHECK(event->organizer_name == "Quality of Life Now");
        REQUIRE(event->tags.size() == 13);
        CHECK(event->tags.front() == "EventbriteSubCategory/7001");
        CHECK(event->tags[1] == "EventbriteCategory/107");
        CHECK(event->tags.back() == "OrganizerTag/qigong_for_beginners");
    }

    TEST_CASE("ho chi minh aud price") {
        const transform_output output = transform_page(fixture_page(ho_chi_minh));

        CHECK(output.events.size() == 30);
        CHECK(output.warnings.empty());
        const event_record* event = find_event(output, "1116482141139");
        REQUIRE(event != nullptr);
        CHECK(event->name == "Young IT Professionals in Ho Chi Minh City Social");
        CHECK(event->price_min_minor == 661);
        CHECK(event->price_max_minor == 661);
        CHECK(event->currency == "AUD");
        CHECK(event->country == "VN");
        CHECK(event->url ==
              "https://www.eventbrite.com.au/e/"
              "young-it-professionals-in-ho-chi-minh-city-social-tickets-1116482141139");
        CHECK(event->start_local == "2025-02-21T17:30:00");
        CHECK(event->start_utc == "2025-02-21T10:30:00Z");
        CHECK(event->end_utc == "2025-02-21T15:00:00Z");
        CHECK(event->venue_name == "In SaiGong");
        CHECK(event->address ==
              "29 Đ. Huỳnh Thúc Kháng, Street, Quận 1, Ho Chi Minh City, Ho Chi Minh City 02108");
        CHECK(event->city == "Ho Chi Minh City");
        REQUIRE(event->latitude);
        CHECK(*event->latitude == doctest::Approx(10.768692));
        REQUIRE(event->longitude);
        CHECK(*event->longitude == doctest::Approx(106.701555));
        CHECK(event->organizer_name == "IT Social Ho Chi Minh City");
        CHECK(event->series_id == "1116482040839");
    }

    TEST_CASE("ho chi minh pagination facts") {
        const page_facts facts = read_page_facts(fixture_page(ho_chi_minh));

        CHECK(facts.object_count == 82);
        CHECK(facts.page_size == 30);
        CHECK(facts.continuation == "eyJwYWdlIjoyfQ");
        CHECK_FALSE(facts.page_count);
        CHECK_FALSE(facts.page_number);
        CHECK_FALSE(facts.has_more_items);
        CHECK(facts.result_count == 30);
    }

    TEST_CASE("ho chi minh all in person") {
        const transform_output output = transform_page(fixture_page(ho_chi_minh));

        const auto in_person_with_coordinates =
            std::count_if(output.events.begin(), output.events.end(), [](const auto& event) {
                return !event.is_online && event.latitude && event.longitude;
            });
        CHECK(in_person_with_coordinates == 30);
    }

    TEST_CASE("bavaria batch response") {
        const transform_output output = transform_page(fixture_page(bavaria_batch));

        CHECK(output.events.size() == 3);
        CHECK(output.facts.object_count == 20);
        CHECK(output.facts.page_count == 1);
        CHECK(output.facts.page_number == 1);
        CHECK(output.facts.has_more_items == false);
        CHECK_FALSE(output.facts.continuation);
        const event_record* event = find_event(output, "1100253942159");
        REQUIRE(event != nullptr);
        CHECK(event->name == "Michael Kamml - Paraminds");
        CHECK(event->start_utc == "2025-11-22T18:00:00Z");
        CHECK(event->price_min_minor == 1503);
        CHECK(event->price_max_minor == 1717);
        CHECK(event->currency == "EUR");
        CHECK(event->city == "Übersee");
        CHECK(event->region == "BY");
        CHECK(event->address == "Greimelstr. 30, 83236 Übersee");
        REQUIRE(event->tags.size() == 13);
        CHECK(event->tags[7] == "OrganizerTag/bühne");
    }

    TEST_CASE("key west 2020 shape") {
        const transform_output output = transform_page(fixture_page(key_west));

        REQUIRE(output.events.size() == 1);
        CHECK(output.facts.object_count == 83800);
        CHECK(output.facts.page_count == 49);
        CHECK(output.facts.page_number == 1);
        CHECK(output.facts.page_size == 20);
        const event_record& event = output.events.front();
        CHECK(event.id == "83728326679");
        CHECK(event.start_utc == "2020-12-28T11:00:00Z");
        CHECK(event.end_local == "2021-01-03T20:30:00");
        CHECK(event.end_utc == "2021-01-04T01:30:00Z");
        CHECK(event.price_min_minor == 299900);
        CHECK(event.currency == "USD");
        CHECK(event.city == "Florida");
        CHECK(event.address == "Key West, Florida, Florida 33041");
        REQUIRE(event.longitude);
        CHECK(*event.longitude == doctest::Approx(-81.8048037));
        CHECK(event.series_id == "83728220361");
    }

    TEST_CASE("ann arbor unexpanded results") {
        const transform_output output = transform_page(fixture_page(ann_arbor));

        CHECK(output.events.size() == 5);
        CHECK(output.facts.object_count == 401);
        CHECK(output.facts.page_count == 21);
        const event_record* event = find_event(output, "1981347693287");
        REQUIRE(event != nullptr);
        CHECK(event->name == "Michigan Engineering North Campus Tour (Full - Waitlist Only)");
        CHECK(event->timezone == "America/Detroit");
        CHECK(event->start_utc == "2026-03-19T18:00:00Z");
        CHECK(has_no_venue(*event));
        CHECK_FALSE(event->price_min_minor);
        CHECK_FALSE(event->currency);
        CHECK_FALSE(event->image_url);
    }

    TEST_CASE("oslo event with uk url") {
        const transform_output output = transform_page(fixture_page(oslo));

        REQUIRE(output.events.size() == 1);
        const event_record& event = output.events.front();
        CHECK(event.id == "592534525717");
        CHECK(event.name == "Morning Beat // Purrpurrpurple");
        CHECK(event.url ==
              "https://www.eventbrite.co.uk/e/morning-beat-purrpurrpurple-tickets-592534525717");
        CHECK(event.timezone == "Europe/Oslo");
        CHECK(event.start_utc == "2023-06-02T05:00:00Z");
        CHECK(event.city == "Sentrum");
        CHECK(event.country == "NO");
        CHECK(event.venue_name == "Jakob Kirke");
        CHECK_FALSE(event.price_min_minor);
        CHECK_FALSE(event.is_free);
        REQUIRE(event.image_url);
        CHECK(event.image_url->find("471511149") != std::string::npos);
    }

    TEST_CASE("autocomplete leipzig event") {
        const transform_output output = transform_page(fixture_page(autocomplete));

        CHECK(output.events.size() == 5);
        CHECK(output.facts.result_count == 5);
        const event_record* event = find_event(output, "482351395007");
        REQUIRE(event != nullptr);
        CHECK(event->name == "Christmas_Market_Leipzig");
        CHECK_FALSE(event->is_online);
        CHECK(has_no_venue(*event));
        CHECK(event->timezone == "Europe/Berlin");
        CHECK(event->start_utc == "2022-12-18T11:00:00Z");
        CHECK(event->end_utc == "2022-12-18T18:00:00Z");
    }

    TEST_CASE("v3 event detail") {
        const transform_output output = transform_page(fixture_page(v3_detail));

        REQUIRE(output.events.size() == 1);
        const event_record& event = output.events.front();
        CHECK(event.id == "965046077797");
        CHECK(event.name == "Digital Ministry Conference 2025");
        CHECK(event.timezone == "America/Chicago");
        CHECK(event.start_local == "2025-02-24T08:00:00");
        CHECK(event.start_utc == "2025-02-24T14:00:00Z");
        CHECK(event.end_utc == "2025-02-24T23:00:00Z");
        CHECK_FALSE(event.is_online);
        CHECK_FALSE(event.is_free);
        CHECK(has_no_venue(event));
        REQUIRE(event.tags.size() == 3);
        CHECK(event.tags[0] == "EventbriteSubCategory/14001");
        CHECK(event.tags[1] == "EventbriteCategory/114");
        CHECK(event.tags[2] == "EventbriteFormat/1");
    }

    TEST_CASE("json-ld event items") {
        const transform_output output = transform_page(fixture_page(json_ld));

        REQUIRE(output.events.size() == 2);
        const event_record* bash = find_event(output, "1980427365562");
        REQUIRE(bash != nullptr);
        CHECK(bash->name == "ICON THE SHOW BIRTHDAY BASH 2026");
        CHECK(bash->start_local == "2026-03-01T18:00:00");
        CHECK(bash->start_utc == "2026-03-02T00:00:00Z");
        CHECK(bash->end_utc == "2026-03-02T02:30:00Z");
        CHECK_FALSE(bash->timezone);
        CHECK(bash->price_min_minor == 3087);
        CHECK(bash->price_max_minor == 4242);
        CHECK(bash->currency == "USD");
        CHECK(bash->venue_name == "Rose Room");
        CHECK(bash->city == "Dallas");
        CHECK(bash->organizer_name == "Kohl Faulkner");

        const event_record* mixer = find_event(output, "1980051482285");
        REQUIRE(mixer != nullptr);
        CHECK_FALSE(mixer->end_local);
        CHECK_FALSE(mixer->end_utc);
        CHECK(mixer->price_min_minor == 0);
        CHECK(mixer->price_max_minor == 2318);
        CHECK_FALSE(mixer->is_free);
    }

    TEST_CASE("2018 home view model") {
        const transform_output output = transform_page(fixture_page(home_model));

        CHECK(output.events.size() == 10);
        const event_record* event = find_event(output, "44808222600");
        REQUIRE(event != nullptr);
        CHECK(event->start_utc == "2019-01-01T02:00:00Z");
        CHECK(event->end_local == "2019-01-01T03:00:00");
        CHECK(event->end_utc == "2019-01-01T08:00:00Z");
        CHECK(event->price_min_minor == 0);
        CHECK(event->price_max_minor == 32999);
        CHECK(event->city == "National Harbor");
        CHECK_FALSE(event->is_online);
        REQUIRE(event->tags.size() == 10);
        CHECK(event->tags[3] == "Auto/Party");
        CHECK(event->tags[9] == "Master/Seasonal");

        const event_record* sold_out = find_event(output, "50243960037");
        REQUIRE(sold_out != nullptr);
        CHECK_FALSE(sold_out->price_min_minor);
        CHECK_FALSE(sold_out->price_max_minor);
        CHECK_FALSE(sold_out->currency);
    }

    TEST_CASE("new york city browse html") {
        const transform_output output = transform_page(fixture_page(new_york_html));

        CHECK(output.facts.result_count == 40);
        CHECK(output.events.size() == 34);
        const auto online = std::count_if(
            output.events.begin(), output.events.end(), [](const event_record& event) {
                return event.is_online;
            });
        CHECK(online == 8);
        const event_record* event = find_event(output, "1248448987529");
        REQUIRE(event != nullptr);
        CHECK(event->name == "Pink Lemonade 2025");
        CHECK(event->start_utc == "2025-07-27T19:00:00Z");
        CHECK(event->venue_name == "Brooklyn Children's Museum Rooftop");
        CHECK(event->city == "Brooklyn");
        REQUIRE(event->tags.size() == 2);
        CHECK(event->tags[0] == "EventbriteCategory/199");
        const event_record* nationwide = find_event(output, "1474622829579");
        REQUIRE(nationwide != nullptr);
        CHECK(nationwide->city == "Nationwide");
    }

    TEST_CASE("new york html as listing") {
        raw_page page = fixture_page(new_york_html);
        page.source = page_source::listing_html;

        const page_facts facts = read_page_facts(page);
        CHECK(facts.result_count == 40);
        CHECK_FALSE(facts.object_count);
    }

    TEST_CASE("card fragment has no data") {
        const auto caught = catch_failure(
            fixture_page("listing-page_event-card-html-fragment_vancouver_2025-01.html"));

        REQUIRE(caught.thrown);
        CHECK(caught.failure == transform_failure::no_event_data);
        CHECK(caught.message.find("vancouver_2025-01.html") != std::string::npos);
        CHECK(caught.message.find("event-card") != std::string::npos);
    }

    TEST_CASE("error bodies hold no events") {
        struct error_case {
            std::string_view file;
            std::string_view expected_text;
        };
        const error_case cases[] = {
            {"error_401_csrf-failed_destination-search.json", "ACCESS_DENIED"},
            {"error_401_invalid-auth_eventbriteapi.json", "INVALID_AUTH"},
        };
        for (const auto& [file, expected_text] : cases) {
            CAPTURE(file);
            const auto caught = catch_failure(fixture_page(file));
            REQUIRE(caught.thrown);
            CHECK(caught.failure == transform_failure::no_event_data);
            CHECK(caught.message.find(file) != std::string::npos);
            CHECK(caught.message.find(expected_text) != std::string::npos);
        }
    }

    TEST_CASE("request bodies hold no events") {
        const std::string_view files[] = {
            "destination-search_request_captured_charlotte-blues.json",
            "destination-search_request-bodies_variants-from-scraper-code.json",
        };
        for (const auto file : files) {
            CAPTURE(file);
            const auto caught = catch_failure(fixture_page(file));
            REQUIRE(caught.thrown);
            CHECK(caught.failure == transform_failure::no_event_data);
            CHECK(caught.message.find(file) != std::string::npos);
            CHECK(caught.message.find("search request body") != std::string::npos);
        }
    }

    TEST_CASE("crawled error body is wrong shape") {
        raw_page page = fixture_page("error_401_csrf-failed_destination-search.json");
        page.source = page_source::search_xhr;
        const auto caught = catch_failure(page);
        REQUIRE(caught.thrown);
        CHECK(caught.failure == transform_failure::wrong_shape);
        CHECK(caught.message.find("ACCESS_DENIED") != std::string::npos);
    }
}

}  // namespace eventcrawl::pipeline
