// Server-data extraction and the failure kinds of bodies that hold no usable events.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "tests/pipeline/test_support.hpp"

namespace eventcrawl::pipeline {

using testing::catch_failure;
using testing::crawled_page;
using testing::fixture_page;
using testing::inline_page;

namespace {

constexpr std::string_view crawled_source = "city=new-york page=3";

// A blob whose strings contain "}{", an escaped script end tag in both spellings, and
// a quote escape, followed by more script.
constexpr std::string_view tricky_blob =
    R"({"placeId":"85977539","note":"}{ <\/script> \u003c/script> \"q\" \\","search_data":{"events":{"pagination":{"object_count":1,"page_count":1,"page_number":1,"page_size":20,"continuation":null},"results":[{"_type":"destination_event","id":"1000000000002","name":"Brace }{ test","timezone":"America/New_York","start_date":"2026-03-08","start_time":"02:30","end_date":"2026-03-08","end_time":"04:00"}]}}})";

std::string listing_html(std::string_view blob, std::string_view after) {
    return std::string("<html><head><script>window.__SERVER_DATA__ = ") + std::string(blob) +
           std::string(after) + "</script></head><body></body></html>";
}

void check_failure(const raw_page& page,
                   transform_failure expected,
                   std::string_view source,
                   std::string_view path) {
    const auto caught = catch_failure(page);
    REQUIRE(caught.thrown);
    CHECK(caught.failure == expected);
    CHECK(caught.message.find(source) != std::string::npos);
    CHECK(caught.message.find(path) != std::string::npos);
}

}  // namespace

TEST_SUITE("pipeline") {
    TEST_CASE("extract blob with tricky strings") {
        const std::string html = listing_html(tricky_blob, "; window.foo = 1; if (a < b) {}");

        CHECK(extract_server_data(html) == tricky_blob);
    }

    TEST_CASE("extract skips blob reads") {
        const std::string html = std::string("<script>var d = window.__SERVER_DATA__||{};") +
                                 "if (window.__SERVER_DATA__ == null) {}</script>" +
                                 listing_html(tricky_blob, ";");

        CHECK(extract_server_data(html) == tricky_blob);
    }

    TEST_CASE("listing with tricky blob") {
        const std::string html = listing_html(tricky_blob, "; window.foo = 1;");
        const transform_output output =
            transform_page(crawled_page(page_source::listing_html, html));

        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].name == "Brace }{ test");
        CHECK(output.events[0].start_utc == "2026-03-08T07:30:00Z");
        CHECK(output.facts.object_count == 1);
        CHECK(output.facts.page_count == 1);
        CHECK_FALSE(output.facts.continuation);
    }

    TEST_CASE("extract reports missing blob") {
        bool thrown = false;
        try {
            extract_server_data("<html><body>Whoops!</body></html>");
        } catch (const transform_error& error) {
            thrown = true;
            CHECK(error.failure() == transform_failure::missing_server_data);
        }
        CHECK(thrown);
    }

    TEST_CASE("incomplete server data") {
        const std::string_view bodies[] = {
            R"(<script>window.__SERVER_DATA__ = {"search_data":{"events":</script>)",
            R"(<script>window.__SERVER_DATA__ = {"search_data":{"events":{"results":[)",
            R"(<script>window.__SERVER_DATA__ = {"placeId":"1","note":"open string)",
            R"(<script>window.__SERVER_DATA__ = </script>)",
        };
        for (const std::string_view body : bodies) {
            CAPTURE(body);
            check_failure(crawled_page(page_source::listing_html, std::string(body)),
                          transform_failure::incomplete_server_data,
                          crawled_source,
                          "window.__SERVER_DATA__");
        }
    }

    TEST_CASE("missing server data") {
        check_failure(crawled_page(page_source::listing_html, "<html><body>Hello</body></html>"),
                      transform_failure::missing_server_data,
                      crawled_source,
                      "window.__SERVER_DATA__");
    }

    TEST_CASE("blocked listing is bot wall") {
        raw_page page = crawled_page(page_source::listing_html, "<html>Whoops!</html>");
        page.http_status = 403;

        check_failure(page, transform_failure::bot_wall, crawled_source, "HTTP 403");
    }

    TEST_CASE("blob without place is bot wall") {
        const std::string html = listing_html(R"({"app_name":"discover"})", ";");
        check_failure(crawled_page(page_source::listing_html, html),
                      transform_failure::bot_wall,
                      crawled_source,
                      "placeId");
    }

    TEST_CASE("blob with place but no events") {
        check_failure(crawled_page(page_source::listing_html,
                                   listing_html(R"({"placeId":"85977539","app_name":"x"})", ";")),
                      transform_failure::wrong_shape,
                      crawled_source,
                      "search_data.events");
    }

    TEST_CASE("html xhr body is bot wall") {
        raw_page page = crawled_page(page_source::search_xhr,
                                     "\n  <!DOCTYPE html><html><title>Whoops!</title></html>");
        page.http_status = 200;

        check_failure(page, transform_failure::bot_wall, crawled_source, "got HTML");
    }

    TEST_CASE("truncated json is invalid") {
        raw_page page = fixture_page(
            "destination-search_response_ho-chi-minh-city_place85680809_pagesize30_full.json");
        page.body.resize(page.body.size() / 2);

        check_failure(
            page, transform_failure::invalid_json, "pagesize30_full.json", "invalid JSON");
        raw_page xhr = crawled_page(page_source::search_xhr, page.body);
        check_failure(xhr, transform_failure::invalid_json, crawled_source, "invalid JSON");
    }

    TEST_CASE("empty body is invalid") {
        check_failure(crawled_page(page_source::search_xhr, "  \n"),
                      transform_failure::invalid_json,
                      crawled_source,
                      "empty");
    }

    TEST_CASE("wrong field types") {
        struct shape_case {
            std::string_view body;
            std::string_view expected_text;
        };
        const shape_case cases[] = {
            {R"({"events":{"results":"none"}})", "events.results: expected an array, got string"},
            {R"({"events":{"pagination":{}}})", "events.results: missing"},
            {R"({"events":"none"})", "events: expected an object, got string"},
            {R"({"events":{"results":[{"_type":"destination_event","id":"1","start_date":20260701}]}})",
             "events.results[0].start_date: expected a string, got number"},
            {R"({"events":{"results":[7]}})", "events.results[0]: expected an object, got number"},
            {R"({"events":{"results":[],"pagination":{"page_count":"49"}}})",
             "events.pagination.page_count: expected an integer, got string"},
            {R"({"events":{"results":[{"_type":"destination_event","id":true}]}})",
             "events.results[0].id: expected a string or an integer, got boolean"},
            {R"({"events":{"results":[{"_type":"destination_event","id":"1","primary_venue":{"address":[]}}]}})",
             "events.results[0].primary_venue.address: expected an object, got array"},
            {R"([1, 2])", "top level: expected an object, got array"},
            {R"("text")", "top level: expected an object, got string"},
        };
        for (const shape_case& entry : cases) {
            CAPTURE(entry.body);
            check_failure(crawled_page(page_source::search_xhr, std::string(entry.body)),
                          transform_failure::wrong_shape,
                          crawled_source,
                          entry.expected_text);
        }
    }

    TEST_CASE("xhr accepts both envelopes") {
        const std::string_view bodies[] = {
            R"({"events":{"pagination":{"object_count":3,"page_size":2,"continuation":"eyJwYWdlIjoyfQ"},"results":[{"_type":"destination_event","id":"5"}]}})",
            R"({"aggs":{},"pagination":{"object_count":3,"page_size":2,"continuation":"eyJwYWdlIjoyfQ"},"results":[{"_type":"destination_event","id":"5"}]})",
        };
        for (const std::string_view body : bodies) {
            CAPTURE(body);
            const transform_output output =
                transform_page(crawled_page(page_source::search_xhr, std::string(body)));
            REQUIRE(output.events.size() == 1);
            CHECK(output.events[0].id == "5");
            CHECK(output.facts.object_count == 3);
            CHECK(output.facts.page_size == 2);
            CHECK(output.facts.continuation == "eyJwYWdlIjoyfQ");
            CHECK(output.facts.result_count == 1);
        }
    }

    TEST_CASE("xhr csrf error body") {
        raw_page page = fixture_page("error_401_csrf-failed_destination-search.json");
        raw_page xhr = crawled_page(page_source::search_xhr, page.body);
        xhr.http_status = 401;

        check_failure(xhr, transform_failure::wrong_shape, crawled_source, "ACCESS_DENIED");
    }

    TEST_CASE("page facts share failures") {
        const raw_page page = crawled_page(page_source::search_xhr, "<html></html>");
        bool thrown = false;
        try {
            read_page_facts(page);
        } catch (const transform_error& error) {
            thrown = true;
            CHECK(error.failure() == transform_failure::bot_wall);
        }
        CHECK(thrown);
    }

    TEST_CASE("file array of non-events") {
        check_failure(inline_page("[1, 2]"),
                      transform_failure::wrong_shape,
                      "inline.json",
                      "[0]: expected an object, got number");
    }

    TEST_CASE("unknown json object shape") {
        check_failure(inline_page(R"({"hello":"world"})"),
                      transform_failure::wrong_shape,
                      "inline.json",
                      "keys hello");
    }
}

}  // namespace eventcrawl::pipeline
