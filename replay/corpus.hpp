#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "replay/faults.hpp"

namespace eventcrawl::replay {

// Raised when a corpus folder, its cities.yaml, a city folder or a payload file is invalid.
// The message names the file (and the line for YAML files) and the fix.
class corpus_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Shape of `events.pagination` for cities whose events come from results.json.
enum class pagination_style {
    full,          // {object_count, page_count, page_number, page_size, continuation}
    continuation,  // {object_count, page_size, continuation}
};

// Rows per page for cities whose events come from results.json.
inline constexpr std::size_t results_page_size = 20;

// One city of the corpus: its cities.yaml entry and its recorded events.
struct city {
    std::string slug;  // <region>--<city>, lower case
    std::string name;
    std::string country;
    std::string domain;
    std::string place_id;
    bool place_id_synthetic = false;  // true when cities.yaml gave no place_id
    std::optional<double> latitude;
    std::optional<double> longitude;
    std::string timezone;
    pagination_style pagination = pagination_style::full;

    // Bodies of search-page-<N>.json, index 0 is page 1, served verbatim. Empty when the city
    // uses results.json.
    std::vector<std::string> recorded_bodies;
    // The parsed `events` object of each recorded body, same indexing.
    std::vector<boost::json::object> recorded_events;

    // Contents of results.json, paginated by the server in pages of results_page_size.
    boost::json::array results;
    bool has_results = false;

    std::vector<fault_rule> faults;
};

// All cities of a replay corpus.
struct corpus {
    std::vector<city> cities;

    const city* find_by_slug(std::string_view slug) const;
    const city* find_by_place_id(std::string_view place_id) const;
};

// Loads DIR/cities.yaml and one folder per city. Throws corpus_error naming the file, line
// and field on any invalid input.
corpus load_corpus(const std::filesystem::path& directory);

// Parses the text of a cities.yaml file into cities without events. `file_name` is used in
// error messages only.
std::vector<city> parse_cities_yaml(const std::string& text, const std::string& file_name);

// Returns the stable place id used for a city whose cities.yaml entry has none: "9" followed
// by eight digits of the FNV-1a hash of the slug.
std::string synthetic_place_id(std::string_view slug);

// Returns base64url of {"page":N} without padding, the form of `events.pagination.continuation`.
std::string encode_continuation(int page);

// Decodes a continuation token back to its page number, or nullopt when it is not one.
std::optional<int> decode_continuation(std::string_view token);

// Number of pages that hold events (at least 1, even for a city without events).
int data_page_count(const city& city);

// The page count a listing page announces in `page_count`, when the city's data states one.
std::optional<int> announced_page_count(const city& city);

// Page size the city's search requests use.
int page_size_of(const city& city);

// Builds the `events` object ({pagination, results, aggs, promoted_results}) of page `page`,
// as the search response carries it. Past the data, results is empty and continuation null.
boost::json::object events_for_page(const city& city, int page);

// Builds the whole body of a search response for page `page`. Recorded pages are returned
// verbatim; `request_echo` becomes the `event_search` key of a built envelope.
std::string search_response_body(const city& city,
                                 int page,
                                 const boost::json::object& request_echo);

// Builds the body of a search response around `events`, one page of `city`.
std::string build_search_response_body(const city& city,
                                       int page,
                                       boost::json::object events,
                                       const boost::json::object& request_echo);

// Builds the body of a search response for a place id that no city has.
std::string empty_search_response_body(const boost::json::object& request_echo);

}  // namespace eventcrawl::replay
