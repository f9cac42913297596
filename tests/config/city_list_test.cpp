#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "config/city_list.hpp"

#include <date/tz.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using eventcrawl::config::city;
using eventcrawl::config::config_error;
using eventcrawl::config::find_city;
using eventcrawl::config::load_city_list;
using eventcrawl::config::origin_for;
using eventcrawl::config::parse_city_list;

// A valid one-city list; line numbers in the cases below refer to these lines.
const std::vector<std::string> valid_lines = {
    "cities:",                         // 1
    "  - slug: ny--new-york",          // 2
    "    name: New York",              // 3
    "    country: US",                 // 4
    "    domain: www.eventbrite.com",  // 5
    "    place_id: \"85977539\"",      // 6
    "    latitude: 40.7128",           // 7
    "    longitude: -74.0060",         // 8
    "    timezone: America/New_York",  // 9
};

std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) {
        text += line + "\n";
    }
    return text;
}

// Returns the valid list with line number `line` replaced; an empty replacement drops the line.
std::string with_line(std::size_t line, const std::string& replacement) {
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < valid_lines.size(); ++i) {
        if (i + 1 != line) {
            lines.push_back(valid_lines[i]);
        } else if (!replacement.empty()) {
            lines.push_back(replacement);
        }
    }
    return join_lines(lines);
}

// Returns the valid list with `extra` inserted after line number `line`.
std::string with_inserted(std::size_t line, const std::string& extra) {
    auto lines = valid_lines;
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(line), extra);
    return join_lines(lines);
}

// Returns the config_error message of parsing text, or "" when it parses.
std::string parse_error(const std::string& text) {
    try {
        parse_city_list(text, "test.yaml");
    } catch (const config_error& error) {
        return error.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A temporary directory removed when the test ends, also when a check fails.
class temp_dir {
  public:
    temp_dir() {
        auto pattern = (std::filesystem::temp_directory_path() / "config_test.XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

const std::filesystem::path shipped_list =
    std::filesystem::path(EVENTCRAWL_SOURCE_DIR) / "cities.yaml";

}  // namespace

TEST_SUITE("config") {
    TEST_CASE("parse valid entry fields") {
        const auto cities = parse_city_list(join_lines(valid_lines), "test.yaml");
        REQUIRE(cities.size() == 1);
        const auto& entry = cities.front();
        CHECK(entry.slug == "ny--new-york");
        CHECK(entry.name == "New York");
        CHECK(entry.country == "US");
        CHECK(entry.domain == "www.eventbrite.com");
        REQUIRE(entry.place_id.has_value());
        CHECK(*entry.place_id == "85977539");
        CHECK(entry.latitude == 40.7128);
        CHECK(entry.longitude == -74.006);
        CHECK(entry.timezone == "America/New_York");
        CHECK(entry.source_name == "test.yaml");
        CHECK(entry.source_line == 2);
    }

    TEST_CASE("parse optional place id") {
        const auto cities = parse_city_list(with_line(6, ""), "test.yaml");
        REQUIRE(cities.size() == 1);
        CHECK_FALSE(cities.front().place_id.has_value());
    }

    TEST_CASE("parse unquoted place id") {
        const auto cities = parse_city_list(with_line(6, "    place_id: 85977539"), "test.yaml");
        REQUIRE(cities.size() == 1);
        REQUIRE(cities.front().place_id.has_value());
        CHECK(*cities.front().place_id == "85977539");
    }

    TEST_CASE("parse accepts extension keys") {
        auto text = with_inserted(9, "    pagination: continuation");
        text += "    x-note: recorded in 2025\n";
        text += "x-generated-by: hand\n";
        const auto cities = parse_city_list(text, "test.yaml");
        REQUIRE(cities.size() == 1);
        CHECK(cities.front().slug == "ny--new-york");
    }

    TEST_CASE("parse keeps entry order and lines") {
        auto text = join_lines(valid_lines);
        text +=
            "  - slug: united-kingdom--london\n"  // 10
            "    name: London\n"
            "    country: GB\n"
            "    domain: www.eventbrite.co.uk\n"
            "    latitude: 51.5074\n"
            "    longitude: -0.1278\n"
            "    timezone: Europe/London\n";
        const auto cities = parse_city_list(text, "test.yaml");
        REQUIRE(cities.size() == 2);
        CHECK(cities[1].slug == "united-kingdom--london");
        CHECK(cities[1].source_line == 10);
        CHECK(cities[1].longitude == -0.1278);
    }

    TEST_CASE("parse rejects malformed lists") {
        struct malformed_case {
            std::string label;
            std::string text;
            std::string location;  // "file:line:" prefix the message must start with
            std::string field;     // text naming the field (or key) in the message
        };
        const std::string second_entry =
            "  - slug: ny--new-york\n"  // 10
            "    name: New York again\n"
            "    country: US\n"
            "    domain: www.eventbrite.com\n"
            "    latitude: 40.7\n"
            "    longitude: -74.0\n"
            "    timezone: America/New_York\n";
        const std::vector<malformed_case> cases = {
            {"yaml syntax", with_line(3, "    name: New: York"), "test.yaml:3:", "YAML"},
            // The quoted name runs on to the next quote, which opens place_id on line 6.
            {"unclosed quote", with_line(3, "    name: \"New York"), "test.yaml:6:", "YAML"},
            {"tab indent", with_line(4, "\tcountry: US"), "test.yaml:4:", "YAML"},
            {"top level list", "- slug: ny--new-york\n", "test.yaml:1:", "\"cities\""},
            {"top level scalar", "ny--new-york\n", "test.yaml:1:", "\"cities\""},
            {"empty file", "", "test.yaml:1:", "\"cities\""},
            {"cities missing",
             "x-note: nothing here\n",
             "test.yaml:1:",
             "missing field \"cities\""},
            {"cities twice",
             join_lines(valid_lines) + "cities: []\n",
             "test.yaml:10:",
             "duplicate top-level key \"cities\""},
            {"top level typo", "citys:\n  - slug: a--b\n", "test.yaml:1:", "\"citys\""},
            {"top level typo hint",
             "citys:\n  - slug: a--b\n",
             "test.yaml:1:",
             "Did you mean \"cities\"?"},
            {"cities scalar", "cities: ny--new-york\n", "test.yaml:1:", "\"cities\""},
            {"cities empty", "cities: []\n", "test.yaml:1:", "\"cities\""},
            {"entry scalar", "cities:\n  - ny--new-york\n", "test.yaml:2:", "city entry 1"},
            {"second document",
             join_lines(valid_lines) + "---\n" + join_lines(valid_lines),
             "test.yaml:11:",
             "document"},
            {"missing slug", with_line(2, "  - x-note: first"), "test.yaml:2:", "\"slug\""},
            {"missing name", with_line(3, ""), "test.yaml:2:", "\"name\""},
            {"missing country", with_line(4, ""), "test.yaml:2:", "\"country\""},
            {"missing domain", with_line(5, ""), "test.yaml:2:", "\"domain\""},
            {"missing latitude", with_line(7, ""), "test.yaml:2:", "\"latitude\""},
            {"missing longitude", with_line(8, ""), "test.yaml:2:", "\"longitude\""},
            {"missing timezone", with_line(9, ""), "test.yaml:2:", "\"timezone\""},
            {"name is a list", with_line(3, "    name: [New, York]"), "test.yaml:3:", "name"},
            {"name is empty", with_line(3, "    name: \"\""), "test.yaml:3:", "name"},
            {"name has no value", with_line(3, "    name:"), "test.yaml:3:", "name"},
            {"slug is a map", with_line(2, "  - slug: {a: b}"), "test.yaml:2:", "slug"},
            {"latitude quoted",
             with_line(7, "    latitude: \"40.7128\""),
             "test.yaml:7:",
             "latitude"},
            {"latitude word", with_line(7, "    latitude: north"), "test.yaml:7:", "latitude"},
            {"latitude trailing text",
             with_line(7, "    latitude: 40.7N"),
             "test.yaml:7:",
             "latitude"},
            {"longitude infinite",
             with_line(8, "    longitude: .inf"),
             "test.yaml:8:",
             "longitude"},
            {"slug upper case", with_line(2, "  - slug: NY--New-York"), "test.yaml:2:", "slug"},
            {"slug single hyphen", with_line(2, "  - slug: ny-new-york"), "test.yaml:2:", "slug"},
            {"slug two separators",
             with_line(2, "  - slug: ny--new--york"),
             "test.yaml:2:",
             "slug"},
            {"slug empty region", with_line(2, "  - slug: --new-york"), "test.yaml:2:", "slug"},
            {"slug triple hyphen", with_line(2, "  - slug: ny---new-york"), "test.yaml:2:", "slug"},
            {"slug with space", with_line(2, "  - slug: ny--new york"), "test.yaml:2:", "slug"},
            {"slug non ascii",
             with_line(2,
                       "  - slug: canada--montr\xc3\xa9"
                       "al"),
             "test.yaml:2:",
             "slug"},
            {"duplicate slug",
             join_lines(valid_lines) + second_entry,
             "test.yaml:10:",
             "lines 2 and 10"},
            {"domain unknown tld",
             with_line(5, "    domain: www.eventbrite.no"),
             "test.yaml:5:",
             "domain"},
            {"domain without www",
             with_line(5, "    domain: eventbrite.com"),
             "test.yaml:5:",
             "domain"},
            {"domain with scheme",
             with_line(5, "    domain: https://www.eventbrite.com"),
             "test.yaml:5:",
             "domain"},
            {"domain other site",
             with_line(5, "    domain: www.example.com"),
             "test.yaml:5:",
             "domain"},
            {"domain trailing dot",
             with_line(5, "    domain: www.eventbrite.com."),
             "test.yaml:5:",
             "domain"},
            {"country lower case", with_line(4, "    country: us"), "test.yaml:4:", "country"},
            {"country alpha 3", with_line(4, "    country: USA"), "test.yaml:4:", "country"},
            {"country UK", with_line(4, "    country: UK"), "test.yaml:4:", "\"GB\""},
            {"latitude above 90", with_line(7, "    latitude: 90.5"), "test.yaml:7:", "latitude"},
            {"latitude below -90", with_line(7, "    latitude: -91"), "test.yaml:7:", "latitude"},
            {"longitude above 180",
             with_line(8, "    longitude: 180.01"),
             "test.yaml:8:",
             "longitude"},
            {"longitude below -180",
             with_line(8, "    longitude: -200"),
             "test.yaml:8:",
             "longitude"},
            {"timezone typo",
             with_line(9, "    timezone: America/New_Yrok"),
             "test.yaml:9:",
             "\"America/New_York\""},
            {"timezone unknown",
             with_line(9, "    timezone: Mars/Olympus_Mons"),
             "test.yaml:9:",
             "timezone"},
            {"timezone offset", with_line(9, "    timezone: UTC-5"), "test.yaml:9:", "timezone"},
            {"place id letters",
             with_line(6, "    place_id: \"8597a\""),
             "test.yaml:6:",
             "place_id"},
            {"place id empty", with_line(6, "    place_id: \"\""), "test.yaml:6:", "place_id"},
            {"place id negative",
             with_line(6, "    place_id: -85977539"),
             "test.yaml:6:",
             "place_id"},
            {"place id list", with_line(6, "    place_id: [85977539]"), "test.yaml:6:", "place_id"},
            {"unknown key typo",
             with_line(9, "    timezon: America/New_York"),
             "test.yaml:9:",
             "\"timezone\""},
            {"unknown key extra",
             with_inserted(3, "    population: 8000000"),
             "test.yaml:4:",
             "\"population\""},
            {"duplicate key", with_inserted(3, "    name: Big Apple"), "test.yaml:4:", "\"name\""},
        };
        for (const auto& entry : cases) {
            CAPTURE(entry.label);
            const auto message = parse_error(entry.text);
            CAPTURE(message);
            CHECK(message.rfind(entry.location, 0) == 0);
            CHECK(contains(message, entry.field));
        }
    }

    TEST_CASE("parse error explains the fix") {
        const auto message = parse_error(with_line(5, "    domain: www.eventbrite.no"));
        CAPTURE(message);
        CHECK(contains(message, "\"www.eventbrite.no\""));
        CHECK(contains(message, "city \"ny--new-york\""));
        CHECK(contains(message, "co.uk"));
        CHECK(contains(message, "e.g. \"www.eventbrite.co.uk\""));
    }

    TEST_CASE("parse error quotes control characters") {
        const auto message = parse_error(with_line(3, "    name: \"\\t\""));
        CAPTURE(message);
        CHECK(contains(message, "\"\\t\""));
    }

    TEST_CASE("find city returns entry") {
        const auto cities = parse_city_list(join_lines(valid_lines), "test.yaml");
        const auto& entry = find_city(cities, "ny--new-york");
        CHECK(entry.name == "New York");
        CHECK(&entry == &cities.front());
    }

    TEST_CASE("find city suggests closest slugs") {
        std::vector<city> cities;
        for (const auto* slug :
             {"ny--new-york", "tx--austin", "tx--houston", "tx--dallas", "ca--san-francisco"}) {
            city entry;
            entry.slug = slug;
            entry.source_name = "cities.yaml";
            cities.push_back(entry);
        }
        std::string message;
        try {
            find_city(cities, "tx--austn");
        } catch (const config_error& error) {
            message = error.what();
        }
        CAPTURE(message);
        CHECK(contains(message, "\"tx--austn\""));
        CHECK(contains(message, "cities.yaml"));
        // Distances from "tx--austn": tx--austin 1, tx--houston 3, tx--dallas 5, the rest 10 or
        // more.
        CHECK(contains(message, "\"tx--austin\", \"tx--houston\", \"tx--dallas\"."));
        CHECK_FALSE(contains(message, "ny--new-york"));
        CHECK_FALSE(contains(message, "ca--san-francisco"));
    }

    TEST_CASE("find city in empty list") {
        const std::vector<city> cities;
        CHECK_THROWS_WITH_AS(find_city(cities, "ny--new-york"),
                             doctest::Contains("the city list is empty"),
                             config_error);
    }

    TEST_CASE("origin for each site") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"www.eventbrite.com", "https://www.eventbrite.com"},
            {"www.eventbrite.co.uk", "https://www.eventbrite.co.uk"},
            {"www.eventbrite.com.au", "https://www.eventbrite.com.au"},
            {"www.eventbrite.sg", "https://www.eventbrite.sg"},
        };
        for (const auto& [domain, origin] : cases) {
            CAPTURE(domain);
            city entry;
            entry.domain = domain;
            CHECK(origin_for(entry) == origin);
        }
    }

    TEST_CASE("load names file in errors") {
        temp_dir directory;
        const auto path = directory.path() / "broken.yaml";
        std::ofstream(path) << with_line(4, "    country: usa");
        std::string message;
        try {
            load_city_list(path);
        } catch (const config_error& error) {
            message = error.what();
        }
        CAPTURE(message);
        CHECK(message.rfind(path.string() + ":4:", 0) == 0);
    }

    TEST_CASE("load missing file") {
        temp_dir directory;
        const auto path = directory.path() / "absent.yaml";
        const auto path_text = path.string();
        CHECK_THROWS_WITH_AS(
            load_city_list(path), doctest::Contains(path_text.c_str()), config_error);
    }

    TEST_CASE("shipped list loads") {
        const auto cities = load_city_list(shipped_list);
        CHECK(cities.size() >= 50);

        std::set<std::string> slugs;
        for (const auto& entry : cities) {
            CAPTURE(entry.slug);
            CHECK(slugs.insert(entry.slug).second);
            CHECK(date::locate_zone(entry.timezone)->name() == entry.timezone);
            CHECK(entry.source_line > 0);
        }
    }

    TEST_CASE("replay corpus list loads") {
        // The replay site reads a cities.yaml of the same format, with "pagination" keys added.
        const auto path =
            std::filesystem::path(EVENTCRAWL_SOURCE_DIR) / "replay/corpus/real/cities.yaml";
        REQUIRE(std::filesystem::exists(path));
        const auto cities = load_city_list(path);
        CHECK(cities.size() >= 1);
        const auto& ho_chi_minh_city = find_city(cities, "vietnam--ho-chi-minh-city");
        REQUIRE(ho_chi_minh_city.place_id.has_value());
        CHECK(*ho_chi_minh_city.place_id == "85680809");
    }

    TEST_CASE("shipped list place ids") {
        const auto cities = load_city_list(shipped_list);
        const std::map<std::string, std::string> known = {
            {"ny--new-york", "85977539"},
            {"nc--charlotte", "85981333"},
            {"co--denver", "85928879"},
            {"vietnam--ho-chi-minh-city", "85680809"},
            {"singapore--singapore", "102032341"},
            {"united-kingdom--london", "101750367"},
            {"dc--washington", "85931779"},
            {"ca--san-francisco", "85922583"},
            {"ca--los-angeles", "85923517"},
            {"ga--atlanta", "85936429"},
            {"il--chicago", "85940195"},
            {"ma--boston", "85950361"},
            {"pa--philadelphia", "101718083"},
            {"fl--miami", "85933669"},
            {"mi--ann-arbor", "85951859"},
        };
        std::size_t with_place_id = 0;
        for (const auto& entry : cities) {
            CAPTURE(entry.slug);
            if (!entry.place_id) {
                continue;
            }
            ++with_place_id;
            const auto expected = known.find(entry.slug);
            REQUIRE(expected != known.end());
            CHECK(*entry.place_id == expected->second);
        }
        CHECK(with_place_id == known.size());
    }

    TEST_CASE("shipped list site per country") {
        // Each country's own Eventbrite site; Vietnam has none and is browsed on the .sg site.
        const std::map<std::string, std::string> site_of_country = {
            {"US", "www.eventbrite.com"},    {"CA", "www.eventbrite.ca"},
            {"GB", "www.eventbrite.co.uk"},  {"IE", "www.eventbrite.ie"},
            {"AU", "www.eventbrite.com.au"}, {"NZ", "www.eventbrite.co.nz"},
            {"DE", "www.eventbrite.de"},     {"FR", "www.eventbrite.fr"},
            {"ES", "www.eventbrite.es"},     {"IT", "www.eventbrite.it"},
            {"NL", "www.eventbrite.nl"},     {"BE", "www.eventbrite.be"},
            {"CH", "www.eventbrite.ch"},     {"AT", "www.eventbrite.at"},
            {"PT", "www.eventbrite.pt"},     {"SE", "www.eventbrite.se"},
            {"DK", "www.eventbrite.dk"},     {"FI", "www.eventbrite.fi"},
            {"SG", "www.eventbrite.sg"},     {"VN", "www.eventbrite.sg"},
            {"HK", "www.eventbrite.hk"},     {"MX", "www.eventbrite.com.mx"},
            {"BR", "www.eventbrite.com.br"}, {"AR", "www.eventbrite.com.ar"},
            {"CL", "www.eventbrite.cl"},     {"CO", "www.eventbrite.co"},
            {"PE", "www.eventbrite.com.pe"},
        };
        const auto cities = load_city_list(shipped_list);
        for (const auto& entry : cities) {
            CAPTURE(entry.slug);
            const auto site = site_of_country.find(entry.country);
            REQUIRE(site != site_of_country.end());
            CHECK(entry.domain == site->second);
        }
    }

    TEST_CASE("shipped list spot values") {
        const auto cities = load_city_list(shipped_list);
        const auto& new_york = find_city(cities, "ny--new-york");
        CHECK(new_york.timezone == "America/New_York");
        CHECK(origin_for(new_york) == "https://www.eventbrite.com");
        const auto& london = find_city(cities, "united-kingdom--london");
        CHECK(london.country == "GB");
        CHECK(london.timezone == "Europe/London");
        const auto& sydney = find_city(cities, "australia--sydney");
        CHECK(sydney.latitude < 0.0);
        CHECK(sydney.timezone == "Australia/Sydney");
    }
}
