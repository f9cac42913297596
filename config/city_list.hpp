#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace eventcrawl::config {

// One city to crawl, as listed in cities.yaml. parse_city_list validates every field, so code
// that receives a city can rely on the formats described here.
struct city {
    std::string slug;     // Eventbrite discovery slug "<region>--<city>", e.g. "ny--new-york"
    std::string name;     // display name, e.g. "New York"
    std::string country;  // ISO 3166-1 alpha-2 code, e.g. "US"
    std::string domain;   // Eventbrite site, e.g. "www.eventbrite.com"
    std::optional<std::string> place_id;  // Who's-On-First id (digits), optional
    double latitude = 0.0;                // degrees, [-90, 90]
    double longitude = 0.0;               // degrees, [-180, 180]
    std::string timezone;                 // IANA zone known to the tz database
    std::string source_name;              // file (or other source) the entry was read from
    std::size_t source_line = 0;          // 1-based line of the entry in source_name
};

// Invalid city list or unknown city. The message names the source, the line and column, the
// field, the rejected value, what is expected and how to fix it.
class config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Reads and validates the city list at path. Throws config_error if the file cannot be read or
// any entry is invalid.
std::vector<city> load_city_list(const std::filesystem::path& path);

// Parses and validates a city list from YAML text. Error messages name source_name as the file.
std::vector<city> parse_city_list(std::string_view yaml_text, std::string_view source_name);

// Returns the city with the given slug. Throws config_error naming the slug, the source file
// and up to 3 known slugs closest to it by edit distance.
const city& find_city(const std::vector<city>& cities, std::string_view slug);

// Returns the site origin of a city, "https://<domain>", without a trailing slash.
std::string origin_for(const city& entry);

// Returns the Eventbrite site suffixes accepted after "www.eventbrite." ("com", "co.uk", ...).
const std::vector<std::string_view>& known_eventbrite_tlds();

}  // namespace eventcrawl::config
