#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <date/tz.h>
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <set>
#include <sstream>

#include "replay/corpus.hpp"
#include "replay/detail/listing_page.hpp"
#include "replay/synthetic.hpp"
#include "test_support.hpp"

extern char** environ;

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace eventcrawl::replay;
using namespace eventcrawl::replay::testing;

namespace {

constexpr std::string_view csrf_failed =
    R"({"status_code":401,"error_description":"CSRF Failed: CSRF token missing or incorrect.","error":"ACCESS_DENIED"})";

const corpus& real_corpus() {
    static const corpus loaded = load_corpus(REPLAY_REAL_CORPUS);
    return loaded;
}

std::vector<std::string> ids_of(const json::value& results) {
    std::vector<std::string> ids;
    for (const json::value& row : results.as_array()) {
        ids.emplace_back(row.at("id").as_string());
    }
    return ids;
}

// Events 20*(page-1) .. 20*page-1 of a results.json city, by id.
std::vector<std::string> corpus_ids(const city& city, std::size_t page) {
    std::vector<std::string> ids;
    for (std::size_t row = (page - 1) * 20; row < city.results.size() && row < page * 20; ++row) {
        ids.emplace_back(city.results[row].at("id").as_string());
    }
    return ids;
}

// Fetches a page of a listing and returns the csrftoken the server set.
std::string fetch_token(unsigned short port, const std::string& slug, int page_number = 1) {
    const http_response page =
        send(port, get_request("/d/" + slug + "/all-events/?page=" + std::to_string(page_number)));
    return csrf_cookie(page);
}

std::string search_body(const std::string& place_id, int page) {
    return R"({"browse_surface":"search","event_search":{"dates":"current_future","places":[")" +
           place_id + R"("],"page":)" + std::to_string(page) +
           R"(,"page_size":20},"expand.destination_event":["image"]})";
}

// A corpus with one results.json city of `event_count` events, and the given faults.yaml.
corpus small_corpus(const temp_directory& folder,
                    int event_count,
                    const std::string& faults_yaml = {},
                    const std::string& summary = "Plain summary") {
    write_file(folder.path() / "cities.yaml",
               "cities:\n"
               "  - slug: tx--austin\n"
               "    name: Austin\n"
               "    country: US\n"
               "    domain: www.eventbrite.com\n"
               "    place_id: \"85922583\"\n"
               "    latitude: 30.2672\n"
               "    longitude: -97.7431\n"
               "    timezone: America/Chicago\n");
    json::array events;
    for (int index = 0; index < event_count; ++index) {
        json::object event;
        event["_type"] = "destination_event";
        event["id"] = std::to_string(1000000000000LL + index);
        event["name"] = "Event " + std::to_string(index);
        event["summary"] = summary;
        events.push_back(std::move(event));
    }
    write_file(folder.path() / "tx--austin" / "results.json", json::serialize(events));
    if (!faults_yaml.empty()) {
        write_file(folder.path() / "tx--austin" / "faults.yaml", faults_yaml);
    }
    return load_corpus(folder.path());
}

json::value stats(unsigned short port) {
    return json::parse(send(port, get_request("/__replay/stats")).body());
}

}  // namespace

TEST_SUITE("replay") {
    TEST_CASE("listing page carries blob") {
        running_server server(real_corpus());
        const http_response page = send(server.port(), get_request("/d/ny--new-york/all-events/"));
        const city& new_york = *real_corpus().find_by_slug("ny--new-york");

        CHECK(page.result() == http::status::ok);
        const auto data = server_data(page.body());
        REQUIRE(data.has_value());
        CHECK(data->at("placeId").as_string() == "85977539");
        CHECK(data->at("page_number").as_int64() == 1);
        CHECK(data->at("page_count").as_int64() == 2);
        const json::value& search = data->at("search_data");
        CHECK(search.at("event_search").at("places").at(0).as_string() == "85977539");
        CHECK(search.at("event_search").at("dates").as_string() == "current_future");
        CHECK(ids_of(search.at("events").at("results")) == corpus_ids(new_york, 1));
        CHECK(search.at("events").at("results").at(0) == new_york.results.at(0));
        CHECK(search.at("events").at("pagination").at("continuation").as_string() ==
              "eyJwYWdlIjoyfQ");
        CHECK(page.body().find("recaptcha_language") != std::string::npos);
        CHECK(page.body().find("data-testid=\"page-next\"") != std::string::npos);
    }

    TEST_CASE("listing page sets csrf cookie") {
        running_server server(real_corpus());
        const http_response page = send(server.port(), get_request("/d/va--ashburn/all-events/"));
        const std::string token = csrf_cookie(page);

        CHECK(token.size() == 32);
        CHECK(token.find_first_not_of(
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
              std::string::npos);
        CHECK(std::string(page[http::field::set_cookie]).find("; Path=/; SameSite=Lax") !=
              std::string::npos);
        CHECK(page.body().find("name=\"csrfmiddlewaretoken\" value=\"" + token + "\"") !=
              std::string::npos);

        const http_response again = send(
            server.port(), get_request("/d/va--ashburn/all-events/?page=1", "csrftoken=" + token));
        CHECK(csrf_cookie(again) == token);
        const http_response invalid =
            send(server.port(), get_request("/d/va--ashburn/all-events/", "csrftoken=short"));
        CHECK(csrf_cookie(invalid).size() == 32);
        CHECK(csrf_cookie(invalid) != "short");
    }

    TEST_CASE("search rejects missing csrf") {
        running_server server(real_corpus());
        const std::string token = fetch_token(server.port(), "ny--new-york");
        struct row {
            const char* name;
            std::string cookie;
            std::string header;
        };
        const std::vector<row> rows{
            {"no cookie, no header", "", ""},
            {"cookie without header", token, ""},
            {"header without cookie", "", token},
            {"mismatched header", token, std::string(32, 'a')},
        };
        for (const row& row : rows) {
            CAPTURE(row.name);
            const http_response response = send(
                server.port(), search_request(search_body("85977539", 2), row.cookie, row.header));
            CHECK(response.result() == http::status::unauthorized);
            CHECK(response.body() == csrf_failed);
            CHECK(response[http::field::content_type] == "application/json");
        }
    }

    TEST_CASE("search returns page two") {
        running_server server(real_corpus());
        const std::string token = fetch_token(server.port(), "ny--new-york");
        const http_response response =
            send(server.port(), search_request(search_body("85977539", 2), token, token));
        const city& new_york = *real_corpus().find_by_slug("ny--new-york");

        CHECK(response.result() == http::status::ok);
        CHECK(response[http::field::content_type] == "application/json");
        const json::value body = json::parse(response.body());
        CHECK(ids_of(body.at("events").at("results")) == corpus_ids(new_york, 2));
        CHECK(body.at("events").at("results").as_array().size() ==
              13);  // 33 New York events, 20 on page 1
        CHECK(body.at("events").at("pagination").at("page_number").as_int64() == 2);
        CHECK(body.at("events").at("pagination").at("continuation").is_null());
        CHECK(body.at("event_search").at("page").as_int64() == 2);
        CHECK(body.as_object().contains("search_id"));
    }

    TEST_CASE("search past last page") {
        running_server server(real_corpus());
        const std::string token = fetch_token(server.port(), "vietnam--ho-chi-minh-city");
        const auto recorded = read_file(std::filesystem::path(REPLAY_REAL_CORPUS) /
                                        "vietnam--ho-chi-minh-city" / "search-page-1.json");

        const http_response first =
            send(server.port(), search_request(search_body("85680809", 1), token, token));
        CHECK(first.body() == recorded);

        for (const int page : {2, 3, 50}) {
            CAPTURE(page);
            const http_response past =
                send(server.port(), search_request(search_body("85680809", page), token, token));
            CHECK(past.result() == http::status::ok);
            const json::value body = json::parse(past.body());
            CHECK(body.at("events").at("results").as_array().empty());
            CHECK(body.at("events").at("pagination").at("continuation").is_null());
        }
    }

    TEST_CASE("search continuation variant") {
        running_server server(real_corpus());
        const city& online = *real_corpus().find_by_slug("online--online-events");
        const std::string token = fetch_token(server.port(), online.slug);

        const http_response first =
            send(server.port(), search_request(search_body(online.place_id, 1), token, token));
        const json::value body = json::parse(first.body());
        const json::object& pagination = body.at("events").at("pagination").as_object();
        CHECK(pagination.size() == 3);
        CHECK(pagination.at("object_count").as_int64() == 150);
        CHECK(pagination.at("page_size").as_int64() == 20);
        CHECK(pagination.at("continuation").as_string() == "eyJwYWdlIjoyfQ");

        // Page 8, requested by continuation token, contains the last 10 events.
        const std::string by_token = R"({"event_search":{"places":[")" + online.place_id +
                                     R"("],"continuation":")" + encode_continuation(8) + R"("}})";
        const http_response last = send(server.port(), search_request(by_token, token, token));
        const json::value last_body = json::parse(last.body());
        CHECK(ids_of(last_body.at("events").at("results")) == corpus_ids(online, 8));
        CHECK(last_body.at("events").at("results").as_array().size() == 10);
        CHECK(last_body.at("events").at("pagination").at("continuation").is_null());
    }

    TEST_CASE("continuation token encoding") {
        const std::vector<std::pair<int, std::string>> rows{
            {2, "eyJwYWdlIjoyfQ"}, {1, "eyJwYWdlIjoxfQ"}, {10, "eyJwYWdlIjoxMH0"}};
        for (const auto& [page, token] : rows) {
            CAPTURE(page);
            CHECK(encode_continuation(page) == token);
            CHECK(decode_continuation(token) == page);
        }
        CHECK(decode_continuation("eyJwYWdlIjoyfQ==") == 2);
        CHECK_FALSE(decode_continuation("not a token").has_value());
    }

    TEST_CASE("search rejects bad arguments") {
        running_server server(real_corpus());
        const std::string token = fetch_token(server.port(), "ny--new-york");
        const std::vector<std::pair<std::string, std::string>> rows{
            {"{not json", "body"},
            {R"({"event_search":{"places":["85977539"],"start_date":"2027-01-01"}})",
             "event_search.start_date"},
            {R"({"latitude":1,"event_search":{"places":["85977539"]}})", "latitude"},
            {R"({"event_search":{"places":[85977539]}})", "event_search.places"},
            {R"({"event_search":{"places":["85977539"],"page":0}})", "event_search.page"},
            {R"({"event_search":{"places":["85977539"],"continuation":"xyz"}})",
             "event_search.continuation"},
        };
        for (const auto& [body, field] : rows) {
            CAPTURE(body);
            const http_response response = send(server.port(), search_request(body, token, token));
            CHECK(response.result() == http::status::bad_request);
            const json::value error = json::parse(response.body());
            CHECK(error.at("status_code").as_int64() == 400);
            CHECK(error.at("error").as_string() == "ARGUMENTS_ERROR");
            CHECK(error.at("error_detail").at("ARGUMENTS_ERROR").as_object().contains(field));
        }
    }

    TEST_CASE("unknown slug and place") {
        running_server server(real_corpus());
        const http_response missing =
            send(server.port(), get_request("/d/zz--nowhere/all-events/"));
        CHECK(missing.result() == http::status::not_found);
        CHECK(std::string(missing[http::field::content_type]).starts_with("text/html"));

        const std::string token = fetch_token(server.port(), "ny--new-york");
        const http_response unknown =
            send(server.port(), search_request(search_body("1234", 1), token, token));
        CHECK(unknown.result() == http::status::ok);
        const json::value body = json::parse(unknown.body());
        CHECK(body.at("events").at("results").as_array().empty());
        CHECK(body.at("events").at("pagination").at("continuation").is_null());
    }

    TEST_CASE("script end survives blob") {
        temp_directory folder;
        const std::string summary =
            "a </script><script>alert(1)</script> & <b>b</b> \u2028line\u2029end";
        running_server server(small_corpus(folder, 3, {}, summary));
        const http_response page = send(server.port(), get_request("/d/tx--austin/all-events/"));

        CHECK(page.body().find("alert(1)</script>") == std::string::npos);
        CHECK(page.body().find("\u2028") == std::string::npos);
        const auto data = server_data(page.body());
        REQUIRE(data.has_value());
        const json::value& first = data->at("search_data").at("events").at("results").at(0);
        CHECK(first.at("summary").as_string() == summary);
    }

    TEST_CASE("script escaping of values") {
        const std::vector<std::pair<std::string, std::string>> rows{
            {"</script>", R"("\u003c/script\u003e")"},
            {"a&b", R"("a\u0026b")"},
            {"x\u2028y\u2029", R"("x\u2028y\u2029")"},
            {"plain", R"("plain")"},
        };
        for (const auto& [text, expected] : rows) {
            CAPTURE(text);
            CHECK(detail::json_for_script(json::value(text)) == expected);
        }
    }

    TEST_CASE("faults by kind") {
        temp_directory folder;
        const std::string faults =
            "- {page: 1, endpoint: listing, kind: status, status: 429, retry_after: 2, times: 1}\n"
            "- {page: 2, endpoint: search, kind: html_instead_of_json}\n"
            "- {page: 2, endpoint: listing, kind: no_place_id}\n"
            "- {page: 3, endpoint: listing, kind: truncated_server_data}\n"
            "- {page: 3, endpoint: search, kind: truncated_body}\n"
            "- {page: 4, endpoint: any, kind: drop_connection, times: 2}\n"
            "- {page: 5, kind: delay, delay_ms: 300}\n"
            "- {page: 5, endpoint: search, kind: status, status: 403}\n";
        running_server server(small_corpus(folder, 100, faults));
        const unsigned short port = server.port();

        SUBCASE("status with retry after fires once") {
            const http_response limited = send(port, get_request("/d/tx--austin/all-events/"));
            CHECK(limited.result() == http::status::too_many_requests);
            CHECK(limited[http::field::retry_after] == "2");
            CHECK(std::string(limited[http::field::content_type]).starts_with("text/html"));
            CHECK(limited.body().find("<h1>Whoops!</h1>") != std::string::npos);
            const http_response retried = send(port, get_request("/d/tx--austin/all-events/"));
            CHECK(retried.result() == http::status::ok);
        }
        SUBCASE("html instead of json") {
            const std::string token = fetch_token(port, "tx--austin", 6);
            const http_response response =
                send(port, search_request(search_body("85922583", 2), token, token));
            CHECK(response.result() == http::status::ok);
            CHECK(std::string(response[http::field::content_type]).starts_with("text/html"));
            CHECK(response.body().find("{") == std::string::npos);
        }
        SUBCASE("listing without place id") {
            const http_response page = send(port, get_request("/d/tx--austin/all-events/?page=2"));
            const auto data = server_data(page.body());
            REQUIRE(data.has_value());
            CHECK_FALSE(data->as_object().contains("placeId"));
            CHECK_FALSE(data->as_object().contains("search_data"));
        }
        SUBCASE("truncated server data") {
            const http_response page = send(port, get_request("/d/tx--austin/all-events/?page=3"));
            CHECK(page.result() == http::status::ok);
            CHECK(page.body().find("window.__SERVER_DATA__ = {") != std::string::npos);
            CHECK_FALSE(server_data(page.body()).has_value());
        }
        SUBCASE("truncated search body") {
            const std::string token = fetch_token(port, "tx--austin", 6);
            const http_response response =
                send(port, search_request(search_body("85922583", 3), token, token));
            CHECK(response.result() == http::status::ok);
            boost::system::error_code error;
            json::parse(response.body(), error);
            CHECK(error.failed());
            CHECK(response.body().starts_with("{\"articles\":{}"));
        }
        SUBCASE("drop connection twice") {
            std::vector<http_request> requests;
            requests.push_back(get_request("/d/tx--austin/all-events/?page=4"));
            auto dropped = send_all(port, std::move(requests));
            CHECK_FALSE(dropped.front().response.has_value());
            CHECK_FALSE(dropped.front().error.empty());
            const std::string token = fetch_token(port, "tx--austin", 6);
            requests.clear();
            requests.push_back(search_request(search_body("85922583", 4), token, token));
            dropped = send_all(port, std::move(requests));
            CHECK_FALSE(dropped.front().response.has_value());
            const http_response served =
                send(port, get_request("/d/tx--austin/all-events/?page=4"));
            CHECK(served.result() == http::status::ok);
        }
        SUBCASE("delay keeps requests in flight") {
            std::vector<http_request> requests;
            requests.push_back(get_request("/d/tx--austin/all-events/?page=5"));
            requests.push_back(get_request("/d/tx--austin/all-events/?page=5"));
            const auto results = send_all(port, std::move(requests));
            REQUIRE(results.at(0).response.has_value());
            REQUIRE(results.at(1).response.has_value());
            CHECK(results.at(0).response->result() == http::status::ok);
            CHECK(server_data(results.at(0).response->body())->at("page_number").as_int64() == 5);
            CHECK(stats(port).at("max_in_flight").as_int64() == 2);
        }
        SUBCASE("delay combines with status") {
            const std::string token = fetch_token(port, "tx--austin", 6);
            const http_response response =
                send(port, search_request(search_body("85922583", 5), token, token));
            CHECK(response.result() == http::status::forbidden);
            CHECK(response.find(http::field::retry_after) == response.end());
        }
    }

    TEST_CASE("stats count parallel requests") {
        temp_directory folder;
        running_server server(small_corpus(folder, 30), std::chrono::milliseconds(400));
        std::vector<http_request> requests;
        for (int index = 0; index < 4; ++index) {
            requests.push_back(
                get_request("/d/tx--austin/all-events/?page=" + std::to_string(1 + index % 2)));
        }
        requests.push_back(get_request("/static/css/discover.css"));
        requests.push_back(get_request("/favicon.ico"));
        requests.push_back(get_request("/about/"));
        const auto results = send_all(server.port(), std::move(requests));
        for (const exchange& result : results) {
            CHECK(result.response.has_value());
        }

        const json::value counters = stats(server.port());
        CHECK(counters.at("max_in_flight").as_int64() == 7);
        CHECK(counters.at("in_flight").as_int64() == 0);
        CHECK(counters.at("requests").at("listing").as_int64() == 4);
        CHECK(counters.at("requests").at("static").as_int64() == 2);
        CHECK(counters.at("requests").at("other").as_int64() == 1);
        CHECK(counters.at("requests").at("search").as_int64() == 0);
        CHECK(counters.at("pages_by_city").at("tx--austin").at("listing").as_int64() == 4);
        CHECK(counters.at("csrf_sessions").as_int64() == 4);

        http_request reset{http::verb::post, "/__replay/reset", 11};
        reset.keep_alive(false);
        send(server.port(), std::move(reset));
        const json::value cleared = stats(server.port());
        CHECK(cleared.at("requests").at("total").as_int64() == 0);
        CHECK(cleared.at("max_in_flight").as_int64() == 0);
        CHECK(cleared.at("csrf_sessions").as_int64() == 0);
        CHECK(cleared.at("pages_by_city").as_object().empty());
    }

    TEST_CASE("synthetic corpus is deterministic") {
        temp_directory first;
        temp_directory second;
        temp_directory other_seed;
        write_corpus(generate_corpus({3, 4, 7}), first.path());
        write_corpus(generate_corpus({3, 4, 7}), second.path());
        write_corpus(generate_corpus({3, 4, 8}), other_seed.path());

        std::size_t files = 0;
        for (const auto& item : std::filesystem::recursive_directory_iterator(first.path())) {
            if (!item.is_regular_file()) {
                continue;
            }
            ++files;
            const auto relative = std::filesystem::relative(item.path(), first.path());
            CAPTURE(relative.string());
            CHECK(read_file(item.path()) == read_file(second.path() / relative));
        }
        CHECK(files == 4);
        const auto some_city = std::filesystem::path("ny--new-york") / "results.json";
        CHECK(read_file(first.path() / some_city) != read_file(other_seed.path() / some_city));
        CHECK(read_file(first.path() / "cities.yaml") ==
              read_file(other_seed.path() / "cities.yaml"));

        const corpus reloaded = load_corpus(first.path());
        CHECK(reloaded.cities.size() == 3);
        CHECK(reloaded.cities.at(1).pagination == pagination_style::continuation);
        CHECK(reloaded.cities.at(0).results.size() == 80);
    }

    TEST_CASE("synthetic corpus variety") {
        // 2 cities x 5 pages = 200 rows; pages 2 and 4 of each city open with the previous
        // page's last event, so each city has 98 distinct events (indexes 0..97).
        const corpus generated = generate_corpus({2, 5, 3});
        std::map<std::string, int> id_counts;
        std::set<std::string> zone_names;
        std::set<std::string> currency_codes;
        std::set<std::string> tag_prefixes;
        std::map<std::string, int> series_sizes;
        int online = 0, null_price = 0, free_zero = 0, free_tier = 0, gap = 0, overlap = 0;
        int script_names = 0, unicode_names = 0, no_postal = 0, empty_region = 0;
        int number_ratio = 0, string_ratio = 0, overnight = 0, multi_day = 0, aff_urls = 0;
        std::set<std::string> hosts;

        for (const city& city : generated.cities) {
            for (const json::value& row : city.results) {
                const json::object& event = row.as_object();
                const std::string id(event.at("id").as_string());
                if (++id_counts[id] > 1) {
                    continue;
                }
                const std::string zone(event.at("timezone").as_string());
                zone_names.insert(zone);
                if (event.at("is_online_event").as_bool() && !event.contains("primary_venue") &&
                    event.at("primary_venue_id").is_null()) {
                    ++online;
                }
                const json::object& tickets = event.at("ticket_availability").as_object();
                const json::value& minimum = tickets.at("minimum_ticket_price");
                const json::value& maximum = tickets.at("maximum_ticket_price");
                if (minimum.is_null() && !tickets.at("is_free").as_bool()) {
                    ++null_price;
                }
                if (!minimum.is_null()) {
                    currency_codes.insert(std::string(minimum.at("currency").as_string()));
                    const bool min_zero = minimum.at("value").as_int64() == 0;
                    const bool max_zero = maximum.at("value").as_int64() == 0;
                    if (tickets.at("is_free").as_bool() && min_zero && max_zero) {
                        ++free_zero;
                    }
                    if (!tickets.at("is_free").as_bool() && min_zero && !max_zero) {
                        ++free_tier;
                    }
                }

                std::istringstream local_text(std::string(event.at("start_date").as_string()) +
                                              " " +
                                              std::string(event.at("start_time").as_string()));
                date::local_seconds local;
                local_text >> date::parse("%F %R", local);
                const auto info = date::locate_zone(zone)->get_info(local);
                gap += info.result == date::local_info::nonexistent ? 1 : 0;
                overlap += info.result == date::local_info::ambiguous ? 1 : 0;

                const std::string name(event.at("name").as_string());
                script_names += name.find("</script>") != std::string::npos ? 1 : 0;
                unicode_names += name.find("\xC3") != std::string::npos ||
                                         name.find("\xE6\x9D\xB1") != std::string::npos
                                     ? 1
                                     : 0;
                if (const json::value* venue = event.if_contains("primary_venue")) {
                    const json::object& address = venue->at("address").as_object();
                    no_postal += address.contains("postal_code") ? 0 : 1;
                    empty_region += address.at("region").as_string().empty() ? 1 : 0;
                    CHECK(address.at("latitude").is_string());
                }
                const json::value& ratio = event.at("image").at("aspect_ratio");
                number_ratio += ratio.is_number() ? 1 : 0;
                string_ratio += ratio.is_string() ? 1 : 0;
                const std::string start_date(event.at("start_date").as_string());
                const std::string end_date(event.at("end_date").as_string());
                if (event.at("start_time").as_string() == "22:00" && end_date != start_date) {
                    ++overnight;
                }
                if (end_date > start_date && event.at("end_time").as_string() == "17:00") {
                    ++multi_day;
                }
                for (const json::value& tag : event.at("tags").as_array()) {
                    tag_prefixes.insert(std::string(tag.at("prefix").as_string()));
                }
                if (!event.at("series_id").is_null()) {
                    ++series_sizes[std::string(event.at("series_id").as_string())];
                }
                const std::string url(event.at("url").as_string());
                aff_urls += url.find("?aff=") != std::string::npos ? 1 : 0;
                hosts.insert(url.substr(8, url.find('/', 8) - 8));
                CHECK(event.at("is_cancelled").is_null());
            }
        }

        int duplicates = 0;
        for (const auto& [id, count] : id_counts) {
            duplicates += count - 1;
        }
        CHECK(id_counts.size() == 196);
        CHECK(duplicates == 4);
        CHECK(online == 40);
        CHECK(null_price == 34);
        CHECK(free_zero == 32);
        CHECK(free_tier > 0);
        CHECK(gap == 8);
        CHECK(overlap == 8);
        CHECK(script_names == 6);
        CHECK(unicode_names > 0);
        CHECK(no_postal > 0);
        CHECK(empty_region > 0);
        CHECK(number_ratio > 0);
        CHECK(string_ratio > 0);
        CHECK(overnight > 0);
        CHECK(multi_day > 0);
        CHECK(aff_urls == 196);
        CHECK(hosts.size() == 7);
        CHECK(zone_names.size() >= 15);
        CHECK(currency_codes == std::set<std::string>{"AUD", "EUR", "GBP", "JPY", "KWD", "USD"});
        CHECK(tag_prefixes == std::set<std::string>{"EventbriteCategory",
                                                    "EventbriteFormat",
                                                    "EventbriteSubCategory",
                                                    "OrganizerTag"});
        CHECK(std::any_of(series_sizes.begin(), series_sizes.end(), [](const auto& entry) {
            return entry.second == 3;
        }));
    }

    TEST_CASE("shipped corpus matches expected") {
        const corpus& shipped = real_corpus();
        std::set<std::string> ids;
        int pages = 0;
        for (const city& city : shipped.cities) {
            for (int page = 1; page <= data_page_count(city); ++page) {
                const json::object events = events_for_page(city, page);
                for (const std::string& id : ids_of(events.at("results"))) {
                    ids.insert(id);
                }
                ++pages;
            }
            // One page past the data contains no events.
            const json::object past = events_for_page(city, data_page_count(city) + 1);
            CAPTURE(city.slug);
            CHECK(past.at("results").as_array().empty());
        }
        const json::value expected =
            json::parse(read_file(std::filesystem::path(REPLAY_REAL_CORPUS) / "expected.json"));
        CHECK(expected.at("cities").as_int64() == static_cast<std::int64_t>(shipped.cities.size()));
        CHECK(expected.at("unique_events").as_int64() == static_cast<std::int64_t>(ids.size()));
        CHECK(expected.at("pages").as_int64() == pages);
        CHECK(ids.size() == 237);
        CHECK(shipped.find_by_slug("fl--key-west")->place_id_synthetic);
        CHECK(shipped.find_by_slug("fl--key-west")->place_id == synthetic_place_id("fl--key-west"));
    }

    TEST_CASE("malformed cities yaml") {
        const std::string head =
            "cities:\n  - slug: ny--new-york\n    name: New York\n    domain: www.eventbrite.com\n";
        const std::vector<std::tuple<std::string, std::string, std::string>> rows{
            {head + "    latitude: north\n", "cities.yaml:5", "'latitude'"},
            {head + "    place_id: abc\n", "cities.yaml:5", "'place_id'"},
            {head + "    pagination: pages\n", "cities.yaml:5", "'pagination'"},
            {"cities:\n  - name: Nowhere\n    domain: x\n", "cities.yaml:2", "'slug'"},
            {"cities:\n  - slug: NewYork\n    name: N\n    domain: x\n", "cities.yaml:2", "'slug'"},
            {head + "  - slug: ny--new-york\n    name: Again\n    domain: x\n",
             "cities.yaml:5",
             "appears twice"},
            {"cities: [\n", "cities.yaml:", "invalid YAML"},
            {"towns: []\n", "cities.yaml", "'cities'"},
        };
        for (const auto& [text, location, field] : rows) {
            CAPTURE(text);
            std::string message;
            try {
                parse_cities_yaml(text, "cities.yaml");
            } catch (const corpus_error& error) {
                message = error.what();
            }
            CHECK(message.find(location) != std::string::npos);
            CHECK(message.find(field) != std::string::npos);
        }
    }

    TEST_CASE("corpus folder errors") {
        temp_directory folder;
        small_corpus(folder, 1);
        std::filesystem::remove(folder.path() / "tx--austin" / "results.json");
        CHECK_THROWS_WITH_AS(load_corpus(folder.path()),
                             doctest::Contains("holds neither results.json nor search-page-1.json"),
                             corpus_error);
        CHECK_THROWS_WITH_AS(load_corpus(folder.path() / "missing"),
                             doctest::Contains("corpus folder not found"),
                             corpus_error);
        write_file(folder.path() / "tx--austin" / "faults.yaml", "- {kind: explode}\n");
        write_file(folder.path() / "tx--austin" / "results.json", "[]");
        CHECK_THROWS_WITH_AS(load_corpus(folder.path()),
                             doctest::Contains("faults.yaml:1: invalid field 'kind'"),
                             corpus_error);
    }

    TEST_CASE("binary serves and stops") {
        int output[2];
        REQUIRE(pipe(output) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, output[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, output[0]);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        std::vector<std::string> arguments{
            REPLAY_BINARY, "--corpus", REPLAY_REAL_CORPUS, "--port", "0"};
        std::vector<char*> argv;
        for (std::string& argument : arguments) {
            argv.push_back(argument.data());
        }
        argv.push_back(nullptr);
        pid_t child = 0;
        const int spawned =
            posix_spawn(&child, REPLAY_BINARY, &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close(output[1]);
        REQUIRE(spawned == 0);

        // Kills and reaps the child even when a check below fails.
        struct child_guard {
            pid_t pid;
            int fd;
            bool reaped = false;
            ~child_guard() {
                close(fd);
                if (!reaped) {
                    kill(pid, SIGKILL);
                    waitpid(pid, nullptr, 0);
                }
            }
        } guard{child, output[0]};

        std::string line;
        char byte = 0;
        pollfd descriptor{output[0], POLLIN, 0};
        while (line.find('\n') == std::string::npos && poll(&descriptor, 1, 10000) > 0 &&
               read(output[0], &byte, 1) == 1) {
            line += byte;
        }
        const std::string prefix = "listening on http://127.0.0.1:";
        REQUIRE(line.starts_with(prefix));
        const auto port = static_cast<unsigned short>(std::stoi(line.substr(prefix.size())));

        const http_response page = send(port, get_request("/d/fl--key-west/all-events/"));
        CHECK(page.result() == http::status::ok);
        CHECK(server_data(page.body())->at("placeId").as_string() ==
              synthetic_place_id("fl--key-west"));

        REQUIRE(kill(child, SIGTERM) == 0);
        int status = -1;
        for (int attempt = 0; attempt < 100; ++attempt) {
            if (waitpid(child, &status, WNOHANG) == child) {
                guard.reaped = true;
                break;
            }
            usleep(100000);
        }
        REQUIRE(guard.reaped);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
}
