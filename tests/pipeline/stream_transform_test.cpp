// Differential tests of the streaming transform: on every body it accepts, its output must equal
// the DOM path's field for field, and it must decline every body on which the DOM path warns or
// throws. Bodies are the recorded fixtures, replay corpora of several seeds, and inline edge
// cases. Expected counts and values were read from the fixtures and the replay generator's
// documented variations by hand.
#include <doctest/doctest.h>
#include <unistd.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/detail/transform_paths.hpp"
#include "replay/corpus.hpp"
#include "replay/detail/listing_page.hpp"
#include "replay/synthetic.hpp"
#include "tests/pipeline/output_diff.hpp"
#include "tests/pipeline/test_support.hpp"

namespace eventcrawl::pipeline {

namespace {

namespace fs = std::filesystem;
using testing::crawled_page;
using testing::describe_difference;

// Outcome of running both paths on one page.
struct comparison {
    bool accepted = false;   // the streaming path returned output
    bool dom_threw = false;  // the DOM path threw transform_error
    std::string difference;  // first differing field when both returned output
    std::size_t events = 0;  // events the streaming path returned
    std::optional<transform_output> streamed;
    bool bare_array = false;       // a recorded file whose top level is an array
    bool facts_accepted = false;   // the streaming facts reader returned facts
    bool dom_facts_threw = false;  // the DOM facts reader threw transform_error
    std::string facts_difference;  // first differing fact when both returned facts
};

comparison compare_paths(const raw_page& page) {
    comparison result;
    const std::size_t first = page.body.find_first_not_of(" \t\r\n");
    result.bare_array =
        page.source == page_source::file && first != std::string::npos && page.body[first] == '[';
    result.streamed = detail::stream_transform_page(page);
    result.accepted = result.streamed.has_value();
    std::optional<transform_output> dom;
    try {
        dom = detail::dom_transform_page(page);
    } catch (const transform_error&) {
        result.dom_threw = true;
    }
    if (result.accepted) {
        result.events = result.streamed->events.size();
        if (dom) {
            result.difference = describe_difference(*result.streamed, *dom);
        }
    }

    const std::optional<page_facts> streamed_facts = detail::stream_page_facts(page);
    result.facts_accepted = streamed_facts.has_value();
    std::optional<page_facts> dom_facts;
    try {
        dom_facts = detail::dom_page_facts(page);
    } catch (const transform_error&) {
        result.dom_facts_threw = true;
    }
    if (streamed_facts && dom_facts) {
        result.facts_difference = describe_difference(*streamed_facts, *dom_facts);
    }
    return result;
}

// Checks that the streaming paths, where they accept a page, agree with the DOM paths.
void check_agreement(const comparison& result) {
    if (result.accepted) {
        CHECK_FALSE(result.dom_threw);
        CHECK(result.difference == "");
    }
    if (result.facts_accepted) {
        CHECK_FALSE(result.dom_facts_threw);
        CHECK(result.facts_difference == "");
    }
    // Whatever the full transform accepts, the facts reader accepts too, except a recorded
    // bare array, whose items the facts reader would count without checking them.
    if (result.accepted && !result.bare_array) {
        CHECK(result.facts_accepted);
    }
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// A temporary folder removed with everything in it when the test ends, failed or not.
class temp_folder {
public:
    explicit temp_folder(std::string_view name)
        : path_(fs::temp_directory_path() /
                (std::string(name) + "-" + std::to_string(::getpid()))) {
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~temp_folder() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;

    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// A search response around one event, as the XHR returns it.
std::string search_body_with(const boost::json::object& event) {
    boost::json::object events;
    events["pagination"] = boost::json::object{{"object_count", 1},
                                               {"page_count", 1},
                                               {"page_number", 1},
                                               {"page_size", 20},
                                               {"continuation", nullptr}};
    events["results"] = boost::json::array{event};
    boost::json::object body;
    body["events"] = std::move(events);
    return boost::json::serialize(body);
}

raw_page search_page_with(const boost::json::object& event) {
    return crawled_page(page_source::search_xhr, search_body_with(event));
}

}  // namespace

TEST_SUITE("pipeline") {
    TEST_CASE("stream path agrees on fixtures") {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(EVENTCRAWL_FIXTURE_DIR)) {
            if (entry.is_regular_file() && entry.path().extension() != ".md") {
                files.push_back(entry.path());
            }
        }
        REQUIRE(files.size() == 16);
        for (const fs::path& file : files) {
            const std::string body = read_text(file);
            for (const auto source : {page_source::search_xhr, page_source::listing_html}) {
                CAPTURE(file.filename().string());
                CAPTURE(to_string(source));
                check_agreement(compare_paths(crawled_page(source, body)));
            }
            CAPTURE(file.filename().string());
            check_agreement(compare_paths(testing::fixture_page(file.filename().string())));
        }
    }

    TEST_CASE("stream path reads search fixtures") {
        struct expected_fixture {
            std::string_view name;
            std::size_t events;
            std::int64_t object_count;
        };
        const expected_fixture cases[] = {
            {"destination-search_response_ho-chi-minh-city_place85680809_pagesize30_full.json",
             30,
             82},
            {"destination-search_response_2020_key-west_series-next-dates.json", 1, 83800},
            {"destination-search_response_ann-arbor-mi_bbox_unexpanded-with-locations_5-of-401"
             ".json",
             5,
             401},
        };
        for (const expected_fixture& expected : cases) {
            CAPTURE(expected.name);
            const raw_page page = crawled_page(page_source::search_xhr,
                                               read_text(testing::fixture_path(expected.name)));
            const comparison result = compare_paths(page);
            REQUIRE(result.accepted);
            CHECK(result.events == expected.events);
            CHECK(result.streamed->facts.object_count == expected.object_count);
            CHECK(result.streamed->facts.result_count == expected.events);
            check_agreement(result);
        }
    }

    TEST_CASE("stream path reads recorded files") {
        struct expected_file {
            std::string_view name;
            bool accepted;
            std::size_t events;
        };
        const expected_file cases[] = {
            {"destination-search_results_online-events_150_mixed-tz_2023-09.json", true, 150},
            {"destination-events_by-ids_eventbrite-de_bavaria_trimmed.json", true, 3},
            {"destination-search_response_2020_key-west_series-next-dates.json", true, 1},
            {"error_401_csrf-failed_destination-search.json", false, 0},
            {"destination-search_request-bodies_variants-from-scraper-code.json", false, 0},
            {"destination-search_request_captured_charlotte-blues.json", false, 0},
            {"v3-event-detail_965046077797_america-chicago.json", false, 0},
            {"jsonld_event_items_dallas-tx_scraper-output_2026-02.json", false, 0},
            {"listing-page_city-browse_ny--new-york_events_2025-07_server-data-8-buckets.html",
             false,
             0},
        };
        for (const expected_file& expected : cases) {
            CAPTURE(expected.name);
            const comparison result = compare_paths(testing::fixture_page(expected.name));
            CHECK(result.accepted == expected.accepted);
            CHECK(result.events == expected.events);
            check_agreement(result);
        }
    }

    TEST_CASE("stream path bavaria batch facts") {
        const std::optional<transform_output> output = detail::stream_transform_page(
            testing::fixture_page("destination-events_by-ids_eventbrite-de_bavaria_trimmed.json"));
        REQUIRE(output);
        CHECK(output->facts.object_count == 20);
        CHECK(output->facts.page_count == 1);
        CHECK(output->facts.has_more_items == false);
        CHECK_FALSE(output->facts.continuation);
        const event_record* event = testing::find_event(*output, "1100253942159");
        REQUIRE(event != nullptr);
        CHECK(event->price_min_minor == 1503);
        CHECK(event->city == "Übersee");
        REQUIRE(event->tags.size() == 13);
        CHECK(event->tags[7] == "OrganizerTag/bühne");
    }

    TEST_CASE("stream path ho chi minh event") {
        const raw_page page = crawled_page(
            page_source::search_xhr,
            read_text(testing::fixture_path(
                "destination-search_response_ho-chi-minh-city_place85680809_pagesize30_full"
                ".json")));
        const std::optional<transform_output> output = detail::stream_transform_page(page);
        REQUIRE(output);
        const event_record* event = testing::find_event(*output, "1116482141139");
        REQUIRE(event != nullptr);
        CHECK(event->price_min_minor == 661);
        CHECK(event->currency == "AUD");
        CHECK(event->start_utc == "2025-02-21T10:30:00Z");
        CHECK(event->end_utc == "2025-02-21T15:00:00Z");
        CHECK(event->series_id == "1116482040839");
        CHECK(output->facts.page_size == 30);
        CHECK(output->facts.continuation == "eyJwYWdlIjoyfQ");
        CHECK_FALSE(output->facts.page_count);
    }

    TEST_CASE("stream path agrees on corpora") {
        // 4 cities of 3 full pages of 20 events per seed.
        constexpr int cities = 4;
        constexpr int pages = 3;
        for (const std::uint64_t seed : {1U, 7U, 42U, 2026U}) {
            CAPTURE(seed);
            temp_folder folder("pipeline-stream-corpus");
            replay::write_corpus(replay::generate_corpus({cities, pages, seed}), folder.path());
            const replay::corpus corpus = replay::load_corpus(folder.path());
            REQUIRE(corpus.cities.size() == static_cast<std::size_t>(cities));

            std::size_t accepted_pages = 0;
            std::size_t streamed_events = 0;
            const boost::json::object request_echo;
            for (const replay::city& city : corpus.cities) {
                for (int number = 1; number <= pages; ++number) {
                    CAPTURE(city.slug);
                    CAPTURE(number);
                    const raw_page listing =
                        crawled_page(page_source::listing_html,
                                     replay::detail::render_listing_page(
                                         city, number, "token", replay::detail::blob_form::normal));
                    const raw_page search =
                        crawled_page(page_source::search_xhr,
                                     replay::search_response_body(city, number, request_echo));
                    for (const raw_page* page : {&listing, &search}) {
                        const comparison result = compare_paths(*page);
                        check_agreement(result);
                        accepted_pages += result.accepted ? 1 : 0;
                        streamed_events += result.events;
                    }
                }
            }
            // The generator makes no event that the DOM path warns about, so every page streams.
            CHECK(accepted_pages == static_cast<std::size_t>(cities * pages * 2));
            CHECK(streamed_events == static_cast<std::size_t>(cities * pages * 2 * 20));
        }
    }

    TEST_CASE("stream path declines broken listings") {
        temp_folder folder("pipeline-stream-broken");
        replay::write_corpus(replay::generate_corpus({1, 1, 3}), folder.path());
        const replay::corpus corpus = replay::load_corpus(folder.path());
        REQUIRE(corpus.cities.size() == 1);
        for (const auto form :
             {replay::detail::blob_form::truncated, replay::detail::blob_form::without_place_id}) {
            CAPTURE(static_cast<int>(form));
            const raw_page page = crawled_page(
                page_source::listing_html,
                replay::detail::render_listing_page(corpus.cities.front(), 1, "token", form));
            const comparison result = compare_paths(page);
            CHECK_FALSE(result.accepted);
            CHECK(result.dom_threw);
        }
    }

    TEST_CASE("stream path declines warned events") {
        struct edit_case {
            std::string_view name;
            std::string_view key;
            boost::json::value value;
        };
        const edit_case cases[] = {
            {"missing id", "id", nullptr},
            {"empty id", "id", ""},
            {"missing name", "name", nullptr},
            {"unknown zone", "timezone", "Mars/Olympus_Mons"},
            {"date without time", "start_time", nullptr},
            {"invalid date", "start_date", "2026-02-30"},
            {"numeric summary", "summary", 5},
            {"double id", "id", 1.5},
            {"json-ld marker", "@type", "Event"},
            {"name object", "name", boost::json::object{{"text", "Minimal event"}}},
            {"string online flag", "is_online_event", "no"},
        };
        for (const edit_case& edit : cases) {
            CAPTURE(edit.name);
            boost::json::object event = testing::minimal_event();
            event[edit.key] = edit.value;
            const comparison result = compare_paths(search_page_with(event));
            CHECK_FALSE(result.accepted);
        }
    }

    TEST_CASE("stream path declines nested problems") {
        struct body_case {
            std::string_view name;
            std::string body;
        };
        boost::json::object bad_coordinate = testing::minimal_event();
        bad_coordinate["primary_venue"].as_object()["address"].as_object()["latitude"] = "north";
        boost::json::object far_coordinate = testing::minimal_event();
        far_coordinate["primary_venue"].as_object()["address"].as_object()["longitude"] = 190;
        boost::json::object mixed_currency = testing::minimal_event();
        mixed_currency["ticket_availability"]
            .as_object()["maximum_ticket_price"]
            .as_object()["currency"] = "EUR";
        boost::json::object null_tag = testing::minimal_event();
        null_tag["tags"].as_array().push_back(nullptr);

        const std::string event_text = boost::json::serialize(testing::minimal_event());
        const body_case cases[] = {
            {"invalid coordinate", search_body_with(bad_coordinate)},
            {"coordinate out of range", search_body_with(far_coordinate)},
            {"two currencies", search_body_with(mixed_currency)},
            {"null tag", search_body_with(null_tag)},
            {"repeated key", R"({"events":{"results":[)" + event_text + "],\"results\":[]}}"},
            {"events and results", R"({"results":[],"events":{"results":[)" + event_text + "]}}"},
            {"results not array", R"({"events":{"results":{}}})"},
            {"array at top", "[" + event_text + "]"},
            {"trailing text", search_body_with(testing::minimal_event()) + " x"},
            {"html body", "<html><body>blocked</body></html>"},
            {"empty body", ""},
        };
        for (const body_case& body : cases) {
            CAPTURE(body.name);
            const comparison result =
                compare_paths(crawled_page(page_source::search_xhr, body.body));
            CHECK_FALSE(result.accepted);
        }
    }

    TEST_CASE("stream path reads edge values") {
        struct edge_case {
            std::string_view name;
            std::string_view key;
            boost::json::value value;
        };
        boost::json::object price_by_major =
            testing::minimal_event()["ticket_availability"].as_object();
        price_by_major["minimum_ticket_price"].as_object().erase("value");
        boost::json::object lines_only =
            testing::minimal_event()["primary_venue"].as_object()["address"].as_object();
        lines_only["address_2"] = "Floor 3";
        boost::json::object venue = testing::minimal_event()["primary_venue"].as_object();
        venue["address"] = lines_only;

        // Longer than the 4096-byte buffer in which Boost.JSON 1.81 unescapes strings, and with
        // escapes, so the parser hands the text over in parts.
        const std::string long_text =
            std::string(9000, 'k') + "\u00e9\n\"" + std::string(9000, 'k');
        const edge_case cases[] = {
            {"integer id", "id", 1000000000002},
            {"integer series", "series_id", 77},
            {"empty series", "series_id", ""},
            {"price from major value", "ticket_availability", price_by_major},
            {"joined address lines", "primary_venue", venue},
            {"fallback online flag", "online_event", true},
            {"image original only",
             "image",
             boost::json::object{{"url", ""},
                                 {"original", boost::json::object{{"url", "https://img/o.jpg"}}}}},
            {"string tags", "tags", boost::json::array{"A/1", "", "A/1", "B/2"}},
            {"long escaped summary", "summary", boost::json::string(long_text)},
            {"long escaped unread key", long_text, "unread"},
            {"null venue", "primary_venue", nullptr},
        };
        for (const edge_case& edge : cases) {
            CAPTURE(edge.name);
            boost::json::object event = testing::minimal_event();
            event[edge.key] = edge.value;
            const comparison result = compare_paths(search_page_with(event));
            REQUIRE(result.accepted);
            CHECK(result.events == 1);
            check_agreement(result);
        }
    }

    TEST_CASE("stream path edge values by hand") {
        boost::json::object event = testing::minimal_event();
        event["id"] = 1000000000002;
        event.erase("is_online_event");
        event["online_event"] = true;
        event["tags"] = boost::json::array{"A/1", "", "A/1", "B/2"};
        boost::json::object& address = event["primary_venue"].as_object()["address"].as_object();
        address["address_2"] = "Floor 3";
        address["longitude"] = -0.5;
        event["ticket_availability"].as_object()["minimum_ticket_price"].as_object().erase("value");
        event["image"] = boost::json::object{
            {"url", ""}, {"original", boost::json::object{{"url", "https://img/o.jpg"}}}};

        const std::optional<transform_output> output =
            detail::stream_transform_page(search_page_with(event));
        REQUIRE(output);
        REQUIRE(output->events.size() == 1);
        const event_record& record = output->events.front();
        CHECK(record.id == "1000000000002");
        CHECK(record.is_online);
        REQUIRE(record.tags.size() == 2);
        CHECK(record.tags[0] == "A/1");
        CHECK(record.tags[1] == "B/2");
        CHECK(record.address == "1 Road, Floor 3");
        CHECK(record.longitude == -0.5);
        CHECK(record.price_min_minor == 500);
        CHECK(record.price_max_minor == 750);
        CHECK(record.currency == "GBP");
        CHECK(record.image_url == "https://img/o.jpg");
        CHECK(record.start_utc == "2026-07-01T17:00:00Z");
        CHECK(record.url == "https://www.eventbrite.co.uk/e/minimal-event-tickets-1000000000001");
        CHECK(output->facts.page_size == 20);
        CHECK(output->facts.object_count == 1);
        CHECK(output->facts.result_count == 1);
        CHECK_FALSE(output->facts.continuation);
    }
}

}  // namespace eventcrawl::pipeline
