// Tests of the static files, the --fault rules, date windows and the result cap.

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <map>
#include <set>

#include "replay/detail/fault_engine.hpp"
#include "replay/detail/static_assets.hpp"
#include "replay/faults.hpp"
#include "replay/query.hpp"
#include "replay/synthetic.hpp"
#include "test_support.hpp"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace eventcrawl::replay;
using namespace eventcrawl::replay::testing;

namespace {

constexpr std::string_view austin_place = "85922583";

std::string date_after_new_year(int days) {
    using namespace std::chrono;
    const year_month_day date{sys_days(year_month_day{year{2027}, January, day{1}}) +
                              std::chrono::days(days)};
    char text[11];
    std::snprintf(text,
                  sizeof text,
                  "%04d-%02u-%02u",
                  static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()));
    return text;
}

// One results.json city, tx--austin, whose event i starts on 2027-01-01 plus i days: events
// 0..30 in January, 31..58 in February, 59..89 in March, 90..99 on April 1..10.
corpus dated_corpus(const temp_directory& folder,
                    int event_count,
                    const std::string& faults_yaml = {},
                    const std::string& pagination = "full") {
    write_file(folder.path() / "cities.yaml",
               "cities:\n"
               "  - slug: tx--austin\n"
               "    name: Austin\n"
               "    domain: www.eventbrite.com\n"
               "    place_id: \"85922583\"\n"
               "    pagination: " +
                   pagination + "\n");
    json::array events;
    for (int index = 0; index < event_count; ++index) {
        json::object event;
        event["_type"] = "destination_event";
        event["id"] = std::to_string(2000000000000LL + index);
        event["name"] = "Event " + std::to_string(index);
        event["start_date"] = date_after_new_year(index);
        event["start_time"] = "19:00";
        events.push_back(std::move(event));
    }
    write_file(folder.path() / "tx--austin" / "results.json", json::serialize(events));
    if (!faults_yaml.empty()) {
        write_file(folder.path() / "tx--austin" / "faults.yaml", faults_yaml);
    }
    return load_corpus(folder.path());
}

server_options options_with(std::vector<std::string> flags,
                            std::uint64_t seed = 1,
                            std::optional<int> result_cap = {}) {
    server_options options;
    for (const std::string& flag : flags) {
        options.faults.push_back(parse_fault_flag(flag));
    }
    options.fault_seed = seed;
    options.result_cap = result_cap;
    return options;
}

std::string token_for(unsigned short port) {
    return csrf_cookie(send(port, get_request("/d/tx--austin/all-events/?page=1")));
}

std::string window_search_body(int page, const std::string& from, const std::string& to) {
    return R"({"browse_surface":"search","event_search":{"dates":"custom_date","date_range":)"
           R"({"from":")" +
           from + R"(","to":")" + to + R"("},"places":[")" + std::string(austin_place) +
           R"("],"page":)" + std::to_string(page) + R"(,"page_size":20}})";
}

std::string plain_search_body(int page) {
    return R"({"browse_surface":"search","event_search":{"dates":"current_future","places":[")" +
           std::string(austin_place) + R"("],"page":)" + std::to_string(page) +
           R"(,"page_size":20}})";
}

json::value search_events(unsigned short port, const std::string& token, const std::string& body) {
    const http_response response = send(port, search_request(body, token, token));
    REQUIRE(response.result() == http::status::ok);
    return json::parse(response.body()).at("events");
}

json::value listing_data(unsigned short port, const std::string& target) {
    const http_response page = send(port, get_request(target));
    REQUIRE(page.result() == http::status::ok);
    const auto data = server_data(page.body());
    REQUIRE(data.has_value());
    return *data;
}

json::value stats_of(unsigned short port) {
    return json::parse(send(port, get_request("/__replay/stats")).body());
}

std::int64_t fault_count(unsigned short port, const std::string& kind) {
    return stats_of(port).at("faults").at(kind).as_int64();
}

std::uint32_t big_endian_at(const std::string& bytes, std::size_t offset) {
    std::uint32_t value = 0;
    for (std::size_t index = offset; index < offset + 4; ++index) {
        value = (value << 8) | static_cast<unsigned char>(bytes[index]);
    }
    return value;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++count;
    }
    return count;
}

}  // namespace

TEST_SUITE("replay") {
    TEST_CASE("png encoder layout") {
        // 2x1 RGB: signature 8 + IHDR 25 + IDAT (12 + zlib 2 + block header 5 + 7 raw bytes
        // + adler 4 = 30) + IEND 12 = 75 bytes.
        const std::string png = detail::encode_png(2, 1, {255, 0, 0, 0, 0, 255});
        CHECK(png.size() == 75);
        CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
        CHECK(png.substr(12, 4) == "IHDR");
        CHECK(big_endian_at(png, 16) == 2);
        CHECK(big_endian_at(png, 20) == 1);
        CHECK(png.substr(37, 4) == "IDAT");
        // The CRC of an empty IEND chunk is always AE 42 60 82.
        CHECK(png.substr(png.size() - 8) == std::string("IEND\xAE\x42\x60\x82", 8));
    }

    TEST_CASE("static files weight and caching") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 20));
        struct row {
            std::string path;
            std::string content_type;
            std::size_t min_bytes;
            std::size_t max_bytes;
        };
        const std::vector<row> rows{
            {"/static/css/discover.css", "text/css; charset=utf-8", 20 * 1024, 40 * 1024},
            {"/static/fonts/benton-sans.woff2", "font/woff2", 20 * 1024, 40 * 1024},
            {"/static/images/events/2000000000000.png", "image/png", 5 * 1024, 20 * 1024},
            {"/static/images/events/2000000000007.png", "image/png", 5 * 1024, 20 * 1024},
        };
        for (const row& expected : rows) {
            CAPTURE(expected.path);
            const http_response response = send(server.port(), get_request(expected.path));
            CHECK(response.result() == http::status::ok);
            CHECK(response[http::field::content_type] == expected.content_type);
            CHECK(response.body().size() >= expected.min_bytes);
            CHECK(response.body().size() <= expected.max_bytes);
            CHECK(response[http::field::cache_control] == "public, max-age=31536000, immutable");
            CHECK(response[http::field::etag].starts_with("\""));
        }
        const http_response image =
            send(server.port(), get_request("/static/images/events/2000000000000.png"));
        CHECK(image.body().starts_with(std::string("\x89PNG\r\n\x1a\n", 8)));
        // Event images are twice as wide as high.
        CHECK(big_endian_at(image.body(), 16) == 2 * big_endian_at(image.body(), 20));
        const http_response again =
            send(server.port(), get_request("/static/images/events/2000000000000.png"));
        CHECK(again.body() == image.body());

        http_request conditional = get_request("/static/css/discover.css");
        const std::string etag(
            send(server.port(), get_request("/static/css/discover.css"))[http::field::etag]);
        conditional.set(http::field::if_none_match, etag);
        const http_response not_modified = send(server.port(), std::move(conditional));
        CHECK(not_modified.result() == http::status::not_modified);
        CHECK(not_modified.body().empty());

        const http_response missing =
            send(server.port(), get_request("/static/images/events/bad%20id.png"));
        CHECK(missing.result() == http::status::not_found);
        // 4 rows, the image twice more, 2 for the ETag and 1 missing image.
        CHECK(stats_of(server.port()).at("requests").at("static").as_int64() == 9);
    }

    TEST_CASE("listing cards carry images") {
        const corpus shipped = load_corpus(REPLAY_REAL_CORPUS);
        running_server server(shipped);
        const http_response page =
            send(server.port(), get_request("/d/ny--new-york/all-events/?page=1"));
        const auto data = server_data(page.body());
        REQUIRE(data.has_value());
        const json::array& results = data->at("search_data").at("events").at("results").as_array();
        REQUIRE(results.size() == 20);
        CHECK(page.body().size() >= 50 * 1024);
        CHECK(page.body().size() <= 100 * 1024);
        CHECK(count_of(page.body(), "<img src=\"/static/images/events/") == 20);
        for (const json::value& event : results) {
            const std::string id(event.at("id").as_string());
            CAPTURE(id);
            CHECK(page.body().find("<img src=\"/static/images/events/" + id + ".png\"") !=
                  std::string::npos);
        }
        CHECK(page.body().find("href=\"/static/css/discover.css\"") != std::string::npos);
        CHECK(page.body().find("href=\"/static/fonts/benton-sans.woff2\"") != std::string::npos);
        CHECK(page.body().find("loading=\"lazy\"") == std::string::npos);
    }

    TEST_CASE("fault flag parses keys") {
        const fault_rule rule = parse_fault_flag(
            "status,endpoint=search,city=ny--new-york,page=3,probability=0.25,times=2,"
            "status=429,retry_after=7,delay_ms=150");
        CHECK(rule.kind == fault_kind::status);
        CHECK(rule.endpoint == fault_endpoint::search);
        CHECK(rule.city == std::optional<std::string>("ny--new-york"));
        CHECK(rule.page == std::optional<int>(3));
        CHECK(rule.probability == doctest::Approx(0.25));
        CHECK(rule.times == std::optional<int>(2));
        CHECK(rule.status == 429);
        CHECK(rule.retry_after_seconds == std::optional<int>(7));
        CHECK(rule.delay_ms == 150);

        const fault_rule bare = parse_fault_flag("reset");
        CHECK(bare.kind == fault_kind::reset);
        CHECK(bare.endpoint == fault_endpoint::any);
        CHECK(bare.probability == doctest::Approx(1.0));
        CHECK_FALSE(bare.page.has_value());
        CHECK(parse_fault_flag("stall,endpoint=static").endpoint == fault_endpoint::static_file);
        CHECK(parse_fault_flag("capped_pages,page_count=4").page_count == std::optional<int>(4));
    }

    TEST_CASE("fault flag rejects bad values") {
        const std::vector<std::pair<std::string, std::string>> rows{
            {"explode", "unknown kind 'explode'; expected one of status,"},
            {"", "unknown kind ''"},
            {"status,endpoint=api", "expected listing, search, static or any"},
            {"status,probability=1.5", "probability=1.5 is not a number from 0 to 1"},
            {"status,probability=half", "probability=half is not a number from 0 to 1"},
            {"status,page=0", "page=0 is not an integer >= 1"},
            {"status,times=-1", "times=-1 is not an integer >= 0"},
            {"status,status=99", "status=99 is not an integer >= 100"},
            {"status,status=600", "status=600 is not an HTTP status from 100 to 599"},
            {"status,delay_ms=soon", "delay_ms=soon is not an integer >= 0"},
            {"status,colour=red", "unknown key 'colour'; expected endpoint, city, page,"},
            {"status,page", "'page' is not of the form key=value"},
            {"status,city=", "city= needs a city slug"},
        };
        for (const auto& [flag, expected] : rows) {
            CAPTURE(flag);
            std::string message;
            try {
                parse_fault_flag(flag);
            } catch (const fault_flag_error& error) {
                message = error.what();
            }
            CHECK(message.starts_with("invalid --fault '" + flag + "': "));
            CHECK(message.find(expected) != std::string::npos);
            CHECK(message.find('\n') == std::string::npos);
        }
    }

    TEST_CASE("binary rejects bad flags") {
        const std::vector<std::pair<std::vector<std::string>, std::string>> rows{
            {{"--fault", "explode"}, "--fault"},
            {{"--fault", "status,probability=2"}, "probability"},
            {{"--fault-seed", "abc"}, "--fault-seed"},
            {{"--jitter-ms", "-5"}, "--jitter-ms"},
            {{"--result-cap", "0"}, "--result-cap"},
        };
        for (const auto& [flags, expected] : rows) {
            std::vector<std::string> arguments{"--synthetic-cities", "1"};
            arguments.insert(arguments.end(), flags.begin(), flags.end());
            CAPTURE(flags.back());
            const process_result result = run_replay_binary(REPLAY_BINARY, arguments);
            CHECK(result.exit_code == 1);
            CHECK(result.error_output.find(expected) != std::string::npos);
        }
        const process_result kind_error =
            run_replay_binary(REPLAY_BINARY, {"--synthetic-cities", "1", "--fault", "explode"});
        CHECK(kind_error.error_output ==
              "error: invalid --fault 'explode': unknown kind 'explode'; expected one of status, "
              "html_instead_of_json, no_place_id, truncated_server_data, truncated_body, delay, "
              "drop_connection, blocked, stall, reset, empty_results, capped_pages\n");
    }

    TEST_CASE("faults yaml probability and endpoint") {
        const auto rules = parse_faults_yaml(
            "- {kind: blocked, probability: 0.5}\n- {kind: capped_pages, page_count: 2}\n",
            "faults.yaml");
        REQUIRE(rules.size() == 2);
        CHECK(rules[0].kind == fault_kind::blocked);
        CHECK(rules[0].probability == doctest::Approx(0.5));
        CHECK(rules[1].page_count == std::optional<int>(2));
        const std::vector<std::pair<std::string, std::string>> rows{
            {"- {kind: status, probability: 2}\n", "invalid field 'probability'"},
            {"- {kind: status, endpoint: static}\n", "use the command-line flag"},
            {"- {kind: capped_pages, page_count: 0}\n", "invalid field 'page_count'"},
        };
        for (const auto& [text, expected] : rows) {
            CAPTURE(text);
            CHECK_THROWS_WITH_AS(parse_faults_yaml(text, "faults.yaml"),
                                 doctest::Contains(expected.c_str()),
                                 corpus_error);
        }
    }

    TEST_CASE("blocked fault serves waf page") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 40),
                              options_with({"blocked,endpoint=listing,page=2"}));
        const http_response blocked =
            send(server.port(), get_request("/d/tx--austin/all-events/?page=2"));
        CHECK(blocked.result() == http::status::forbidden);
        CHECK(std::string(blocked[http::field::content_type]).starts_with("text/html"));
        CHECK(blocked.body().find("<h1>Access Denied</h1>") != std::string::npos);
        CHECK(blocked.body().find("Whoops") == std::string::npos);
        const http_response other =
            send(server.port(), get_request("/d/tx--austin/all-events/?page=1"));
        CHECK(other.result() == http::status::ok);
        CHECK(fault_count(server.port(), "blocked") == 1);
    }

    TEST_CASE("reset and drop differ") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 40),
                              options_with({"reset,endpoint=listing,page=1",
                                            "drop_connection,endpoint=listing,page=2"}));
        const raw_exchange reset = send_raw(server.port(),
                                            get_request("/d/tx--austin/all-events/?page=1"),
                                            std::chrono::seconds(10));
        CHECK(reset.received.empty());
        CHECK(reset.error == boost::asio::error::connection_reset);
        const raw_exchange dropped = send_raw(server.port(),
                                              get_request("/d/tx--austin/all-events/?page=2"),
                                              std::chrono::seconds(10));
        CHECK(dropped.received.empty());
        CHECK(dropped.error == boost::asio::error::eof);
        const json::value counters = stats_of(server.port());
        CHECK(counters.at("faults").at("reset").as_int64() == 1);
        CHECK(counters.at("faults").at("drop_connection").as_int64() == 1);
    }

    TEST_CASE("stall sends part then closes") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 40),
                              options_with({"stall,endpoint=static,delay_ms=300"}));
        const raw_exchange stalled = send_raw(
            server.port(), get_request("/static/css/discover.css"), std::chrono::seconds(10));
        CHECK(stalled.error == boost::asio::error::eof);
        const auto header_end = stalled.received.find("\r\n\r\n");
        REQUIRE(header_end != std::string::npos);
        CHECK(stalled.received.starts_with("HTTP/1.1 200 OK\r\n"));
        const auto length_at = stalled.received.find("Content-Length: ");
        REQUIRE(length_at != std::string::npos);
        const std::size_t announced = std::stoul(stalled.received.substr(length_at + 16));
        const std::size_t body_received = stalled.received.size() - header_end - 4;
        CHECK(body_received == announced / 2);
        CHECK(fault_count(server.port(), "stall") == 1);
    }

    TEST_CASE("stall ends when client gives up") {
        temp_directory folder;
        // No delay_ms: the stall lasts 60 s unless the client closes first.
        running_server server(dated_corpus(folder, 40), options_with({"stall,endpoint=search"}));
        const std::string token = token_for(server.port());
        const raw_exchange stalled = send_raw(server.port(),
                                              search_request(plain_search_body(1), token, token),
                                              std::chrono::milliseconds(300));
        CHECK(stalled.error == boost::asio::error::timed_out);
        CHECK(stalled.received.starts_with("HTTP/1.1 200 OK\r\n"));
        CHECK(stalled.received.find("{\"articles\":{}") != std::string::npos);
        // The server still responds, and its destructor does not wait for the stall.
        CHECK(stats_of(server.port()).at("faults").at("stall").as_int64() == 1);
    }

    TEST_CASE("empty results keeps object count") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 100), options_with({"empty_results"}));
        const std::string token = token_for(server.port());
        const json::value events = search_events(server.port(), token, plain_search_body(2));
        CHECK(events.at("results").as_array().empty());
        CHECK(events.at("pagination").at("object_count").as_int64() == 100);
        CHECK(events.at("pagination").at("page_count").as_int64() == 5);
        const json::value data = listing_data(server.port(), "/d/tx--austin/all-events/?page=1");
        CHECK(data.at("search_data").at("events").at("results").as_array().empty());
        CHECK(data.at("search_data").at("events").at("pagination").at("object_count").as_int64() ==
              100);
        // token_for fetched a listing too: 3 requests, 3 faults.
        CHECK(fault_count(server.port(), "empty_results") == 3);
    }

    TEST_CASE("capped pages announce fewer") {
        temp_directory folder;
        struct row {
            std::string flag;
            int page;
            int announced;
            std::size_t results;
            bool has_continuation;
        };
        // 100 events are 5 pages of 20; the default cap is 5 / 2 = 2.
        const std::vector<row> rows{
            {"capped_pages", 1, 2, 20, true},
            {"capped_pages", 2, 2, 20, false},
            {"capped_pages", 3, 2, 0, false},
            {"capped_pages,page_count=3", 3, 3, 20, false},
            {"capped_pages,page_count=3", 4, 3, 0, false},
            {"capped_pages,page_count=9", 5, 5, 20, false},
        };
        for (const row& expected : rows) {
            CAPTURE(expected.flag);
            CAPTURE(expected.page);
            running_server server(dated_corpus(folder, 100), options_with({expected.flag}));
            const std::string token = token_for(server.port());
            const json::value events =
                search_events(server.port(), token, plain_search_body(expected.page));
            const json::value& pagination = events.at("pagination");
            CHECK(pagination.at("page_count").as_int64() == expected.announced);
            CHECK(pagination.at("object_count").as_int64() == 100);
            CHECK(events.at("results").as_array().size() == expected.results);
            CHECK(pagination.at("continuation").is_string() == expected.has_continuation);
        }
        running_server server(dated_corpus(folder, 100), options_with({"capped_pages"}));
        const json::value data = listing_data(server.port(), "/d/tx--austin/all-events/?page=1");
        CHECK(data.at("page_count").as_int64() == 2);
    }

    TEST_CASE("probability zero and one") {
        temp_directory folder;
        running_server server(
            dated_corpus(folder, 40),
            options_with({"status,endpoint=listing,page=1,probability=0",
                          "status,endpoint=listing,page=2,probability=1,status=502"}));
        for (int attempt = 0; attempt < 20; ++attempt) {
            CAPTURE(attempt);
            const http_response never =
                send(server.port(), get_request("/d/tx--austin/all-events/?page=1"));
            CHECK(never.result() == http::status::ok);
            const http_response always =
                send(server.port(), get_request("/d/tx--austin/all-events/?page=2"));
            CHECK(always.result() == http::status::bad_gateway);
        }
        CHECK(fault_count(server.port(), "status") == 20);
    }

    TEST_CASE("fault roll is a pure function") {
        const detail::request_identity listing{fault_endpoint::listing, "ny--new-york", 3, {}};
        const detail::request_identity other_city{
            fault_endpoint::listing, "ca--san-francisco", 3, {}};
        int fired = 0;
        int differs_by_seed = 0;
        for (std::uint64_t attempt = 1; attempt <= 400; ++attempt) {
            const bool first = detail::roll_fires(42, "--fault:", 0, listing, attempt, 0.5);
            CHECK(first == detail::roll_fires(42, "--fault:", 0, listing, attempt, 0.5));
            fired += first ? 1 : 0;
            differs_by_seed +=
                first != detail::roll_fires(43, "--fault:", 0, listing, attempt, 0.5);
        }
        // 400 fair draws: 200 expected, and the test fails only below 130 or above 270.
        CHECK(fired > 130);
        CHECK(fired < 270);
        CHECK(differs_by_seed > 100);
        CHECK(detail::roll_fires(42, "--fault:", 0, listing, 1, 1.0));
        CHECK_FALSE(detail::roll_fires(42, "--fault:", 0, other_city, 1, 0.0));
    }

    TEST_CASE("same seed same faults") {
        // Two cities, three pages each, four attempts per page; every request faults with
        // probability 0.5. The outcome of each (city, page, attempt) must not depend on the
        // order in which cities are interleaved.
        const corpus generated = generate_corpus({2, 3, 5});
        const std::vector<std::string> slugs{generated.cities[0].slug, generated.cities[1].slug};
        using outcome_map = std::map<std::tuple<std::string, int, int>, bool>;
        const auto run = [&](std::uint64_t seed, bool city_major) {
            running_server server(generated, options_with({"status,probability=0.5"}, seed));
            outcome_map outcomes;
            std::vector<std::tuple<std::string, int, int>> order;
            for (int step = 0; step < 24; ++step) {
                // Interleaved: city 0, city 1, city 0, ... City by city: all of city 1 first.
                std::size_t city = static_cast<std::size_t>(step % 2);
                int index = step / 2;
                if (city_major) {
                    city = step < 12 ? 1 : 0;
                    index = step % 12;
                }
                order.emplace_back(slugs[city], 1 + index % 3, 1 + index / 3);
            }
            for (const auto& [slug, page, attempt] : order) {
                const http_response response =
                    send(server.port(),
                         get_request("/d/" + slug + "/all-events/?page=" + std::to_string(page)));
                outcomes[{slug, page, attempt}] = response.result() != http::status::ok;
            }
            std::int64_t faulted = 0;
            for (const auto& [key, failed] : outcomes) {
                faulted += failed ? 1 : 0;
            }
            CHECK(fault_count(server.port(), "status") == faulted);
            return outcomes;
        };
        const outcome_map interleaved = run(42, false);
        const outcome_map city_by_city = run(42, true);
        const outcome_map other_seed = run(7, false);
        REQUIRE(interleaved.size() == 24);
        CHECK(interleaved == city_by_city);
        CHECK(interleaved != other_seed);
        int faulted = 0;
        for (const auto& [key, failed] : interleaved) {
            faulted += failed ? 1 : 0;
        }
        CHECK(faulted > 0);
        CHECK(faulted < 24);
    }

    TEST_CASE("stats faults reset rearms") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 40),
                              options_with({"status,endpoint=listing,times=1,status=429"}));
        CHECK(send(server.port(), get_request("/d/tx--austin/all-events/")).result() ==
              http::status::too_many_requests);
        CHECK(send(server.port(), get_request("/d/tx--austin/all-events/")).result() ==
              http::status::ok);
        CHECK(fault_count(server.port(), "status") == 1);
        http_request reset{http::verb::post, "/__replay/reset", 11};
        reset.keep_alive(false);
        const json::value cleared = json::parse(send(server.port(), std::move(reset)).body());
        CHECK(cleared.at("faults").at("status").as_int64() == 0);
        CHECK(send(server.port(), get_request("/d/tx--austin/all-events/")).result() ==
              http::status::too_many_requests);
    }

    TEST_CASE("jitter is seeded and bounded") {
        boost::asio::io_context io;
        server_options options;
        options.fault_seed = 9;
        options.jitter = std::chrono::milliseconds(50);
        detail::server_state state(io, corpus{}, options);
        const detail::request_identity request{fault_endpoint::search, "ny--new-york", 2, {}};
        std::set<std::int64_t> values;
        for (std::uint64_t attempt = 1; attempt <= 200; ++attempt) {
            const auto jitter = detail::jitter_for(state, request, attempt);
            CHECK(jitter == detail::jitter_for(state, request, attempt));
            CHECK(jitter.count() >= 0);
            CHECK(jitter.count() <= 50);
            values.insert(jitter.count());
        }
        CHECK(values.size() > 20);
        options.jitter = std::chrono::milliseconds(0);
        detail::server_state still(io, corpus{}, options);
        CHECK(detail::jitter_for(still, request, 1).count() == 0);
    }

    TEST_CASE("date window parsing") {
        CHECK(parse_date_window("2027-02-01", "2027-02-28").has_value());
        CHECK(parse_date_window("2027-02-01", "2027-02-01").has_value());
        CHECK_FALSE(parse_date_window("2027-02-01", "2027-01-31").has_value());
        CHECK_FALSE(parse_date_window("2027-02-30", "2027-03-01").has_value());
        CHECK_FALSE(parse_date_window("2027-2-01", "2027-03-01").has_value());
        CHECK_FALSE(parse_date_window("2027-02-01", "").has_value());
        const date_window february{"2027-02-01", "2027-02-28"};
        CHECK(in_window(february, "2027-02-01"));
        CHECK(in_window(february, "2027-02-28"));
        CHECK_FALSE(in_window(february, "2027-01-31"));
        CHECK_FALSE(in_window(february, "2027-03-01"));
    }

    TEST_CASE("listing window filters events") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 100));
        struct row {
            std::string from;
            std::string to;
            int page;
            std::int64_t object_count;
            std::int64_t page_count;
            std::size_t results;
        };
        const std::vector<row> rows{
            {"2027-02-01", "2027-02-28", 1, 28, 2, 20},
            {"2027-02-01", "2027-02-28", 2, 28, 2, 8},
            {"2027-01-01", "2027-01-01", 1, 1, 1, 1},
            {"2027-04-10", "2027-12-31", 1, 1, 1, 1},
            {"2028-01-01", "2028-12-31", 1, 0, 1, 0},
        };
        for (const row& expected : rows) {
            CAPTURE(expected.from);
            CAPTURE(expected.page);
            const json::value data =
                listing_data(server.port(),
                             "/d/tx--austin/all-events/?page=" + std::to_string(expected.page) +
                                 "&start_date=" + expected.from + "&end_date=" + expected.to);
            const json::value& search = data.at("search_data");
            CHECK(search.at("event_search").at("dates").as_string() == "custom_date");
            CHECK(search.at("event_search").at("date_range").at("from").as_string() ==
                  expected.from);
            CHECK(search.at("event_search").at("date_range").at("to").as_string() == expected.to);
            const json::value& pagination = search.at("events").at("pagination");
            CHECK(pagination.at("object_count").as_int64() == expected.object_count);
            CHECK(pagination.at("page_count").as_int64() == expected.page_count);
            CHECK(data.at("page_count").as_int64() == expected.page_count);
            const json::array& results = search.at("events").at("results").as_array();
            CHECK(results.size() == expected.results);
            for (const json::value& event : results) {
                const std::string start(event.at("start_date").as_string());
                CHECK(start >= expected.from);
                CHECK(start <= expected.to);
            }
        }
    }

    TEST_CASE("listing window rejects bad dates") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 20));
        for (const std::string query : {"start_date=2027-02-01",
                                        "start_date=2027-02-30&end_date=2027-03-01",
                                        "start_date=2027-03-01&end_date=2027-02-01"}) {
            CAPTURE(query);
            const http_response response =
                send(server.port(), get_request("/d/tx--austin/all-events/?" + query));
            CHECK(response.result() == http::status::bad_request);
        }
        const std::string token = token_for(server.port());
        const std::vector<std::string> bodies{
            R"({"event_search":{"dates":"custom_date","places":["85922583"]}})",
            R"({"event_search":{"date_range":{"from":"2027-01-01"},"places":["85922583"]}})",
            R"({"event_search":{"date_range":{"from":"x","to":"y"},"places":["85922583"]}})",
        };
        for (const std::string& body : bodies) {
            CAPTURE(body);
            const http_response response = send(server.port(), search_request(body, token, token));
            CHECK(response.result() == http::status::bad_request);
            CHECK(response.body().find("event_search.date_range") != std::string::npos);
        }
    }

    TEST_CASE("search window pages continuation") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 100, {}, "continuation"));
        const std::string token = token_for(server.port());
        // January 1 to March 31 contains events 0..89: pages of 20, 20, 20, 20, 10.
        std::vector<std::string> ids;
        json::value continuation = "first";
        int page = 1;
        for (; page <= 10 && !continuation.is_null(); ++page) {
            const json::value events = search_events(
                server.port(), token, window_search_body(page, "2027-01-01", "2027-03-31"));
            CHECK(events.at("pagination").at("object_count").as_int64() == 90);
            CHECK_FALSE(events.at("pagination").as_object().contains("page_count"));
            for (const json::value& event : events.at("results").as_array()) {
                ids.emplace_back(event.at("id").as_string());
            }
            continuation = events.at("pagination").at("continuation");
        }
        CHECK(page - 1 == 5);
        CHECK(ids.size() == 90);
        CHECK(ids.front() == "2000000000000");
        CHECK(ids.back() == "2000000000089");
    }

    TEST_CASE("half windows union full set") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 100));
        const std::string token = token_for(server.port());
        const auto collect = [&](const std::string& from, const std::string& to) {
            std::set<std::string> ids;
            for (int page = 1; page <= 6; ++page) {
                const json::value events =
                    search_events(server.port(), token, window_search_body(page, from, to));
                for (const json::value& event : events.at("results").as_array()) {
                    ids.insert(std::string(event.at("id").as_string()));
                }
            }
            return ids;
        };
        const auto full = collect("2027-01-01", "2027-04-10");
        const auto first_half = collect("2027-01-01", "2027-02-14");
        const auto second_half = collect("2027-02-15", "2027-04-10");
        CHECK(full.size() == 100);
        CHECK(first_half.size() == 45);
        CHECK(second_half.size() == 55);
        std::set<std::string> joined = first_half;
        joined.insert(second_half.begin(), second_half.end());
        CHECK(joined == full);
    }

    TEST_CASE("result cap arithmetic") {
        temp_directory folder;
        const corpus dated = dated_corpus(folder, 100);
        struct row {
            int cap;
            std::optional<date_window> window;
            int page;
            std::int64_t object_count;
            std::int64_t page_count;
            std::size_t results;
        };
        const date_window first_quarter{"2027-01-01", "2027-03-31"};
        const date_window february{"2027-02-01", "2027-02-28"};
        const std::vector<row> rows{
            {40, std::nullopt, 1, 100, 2, 20},
            {40, std::nullopt, 2, 100, 2, 20},
            {40, std::nullopt, 3, 100, 2, 0},
            {50, std::nullopt, 2, 100, 2, 20},
            {99, std::nullopt, 4, 100, 4, 20},
            {99, std::nullopt, 5, 100, 4, 0},
            {100, std::nullopt, 5, 100, 5, 20},
            {10, std::nullopt, 1, 100, 1, 20},
            {40, first_quarter, 2, 90, 2, 20},
            {40, first_quarter, 3, 90, 2, 0},
            {40, february, 2, 28, 2, 8},
        };
        for (const row& expected : rows) {
            CAPTURE(expected.cap);
            CAPTURE(expected.page);
            CAPTURE(expected.window.has_value());
            event_query query;
            query.result_cap = expected.cap;
            query.window = expected.window;
            const json::object events = events_for_query(dated.cities[0], expected.page, query);
            const json::object& pagination = events.at("pagination").as_object();
            CHECK(pagination.at("object_count").to_number<std::int64_t>() == expected.object_count);
            CHECK(pagination.at("page_count").to_number<std::int64_t>() == expected.page_count);
            CHECK(events.at("results").as_array().size() == expected.results);
            const bool last_or_later = expected.page >= expected.page_count;
            CHECK(pagination.at("continuation").is_null() == last_or_later);
        }
    }

    TEST_CASE("result cap on the server") {
        temp_directory folder;
        running_server server(dated_corpus(folder, 100), options_with({}, 1, 40));
        const json::value data = listing_data(server.port(), "/d/tx--austin/all-events/?page=1");
        CHECK(data.at("page_count").as_int64() == 2);
        const json::value& pagination = data.at("search_data").at("events").at("pagination");
        CHECK(pagination.at("object_count").as_int64() == 100);
        CHECK(pagination.at("page_count").as_int64() == 2);
        const std::string token = token_for(server.port());
        const json::value past = search_events(server.port(), token, plain_search_body(3));
        CHECK(past.at("results").as_array().empty());
        CHECK(past.at("pagination").at("object_count").as_int64() == 100);
        const json::value second = search_events(server.port(), token, plain_search_body(2));
        CHECK(second.at("results").as_array().size() == 20);
        CHECK(second.at("pagination").at("continuation").is_null());
    }

    TEST_CASE("real corpus with windows") {
        const corpus shipped = load_corpus(REPLAY_REAL_CORPUS);
        running_server server(shipped);
        std::int64_t total_rows = 0;
        for (const city& city : shipped.cities) {
            CAPTURE(city.slug);
            // Every recorded row of the city, and those starting in 2025.
            std::int64_t rows = 0;
            std::int64_t rows_2025 = 0;
            for (int page = 1; page <= data_page_count(city); ++page) {
                const json::object events = events_for_page(city, page);
                for (const json::value& event : events.at("results").as_array()) {
                    ++rows;
                    const json::value* start = event.as_object().if_contains("start_date");
                    if (start != nullptr && start->is_string() &&
                        std::string_view(start->as_string()).starts_with("2025-")) {
                        ++rows_2025;
                    }
                }
            }
            total_rows += rows;
            const std::string target = "/d/" + city.slug + "/all-events/?start_date=";
            const json::value everything =
                listing_data(server.port(), target + "1900-01-01&end_date=2999-12-31");
            CHECK(everything.at("search_data")
                      .at("events")
                      .at("pagination")
                      .at("object_count")
                      .as_int64() == rows);
            const json::value in_2025 =
                listing_data(server.port(), target + "2025-01-01&end_date=2025-12-31");
            CHECK(in_2025.at("search_data")
                      .at("events")
                      .at("pagination")
                      .at("object_count")
                      .as_int64() == rows_2025);
        }
        // Recorded rows with repeats: more than the 237 distinct events.
        CHECK(total_rows >= 237);
    }
}
