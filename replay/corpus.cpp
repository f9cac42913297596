#include "replay/corpus.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>

#include "replay/detail/yaml_fields.hpp"

namespace eventcrawl::replay {

namespace json = boost::json;

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        throw corpus_error(fmt::format("{}: cannot open file; check that it exists and is readable",
                                       path.string()));
    }
    std::ostringstream contents;
    contents << stream.rdbuf();
    return contents.str();
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 14695981039346656037ULL) {
    for (const char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

bool is_valid_slug(std::string_view slug) {
    const auto separator = slug.find("--");
    if (separator == std::string_view::npos || separator == 0 || separator + 2 >= slug.size()) {
        return false;
    }
    return std::all_of(slug.begin(), slug.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

bool is_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string required_string(const std::string& file_name,
                            const YAML::Node& entry,
                            const char* field) {
    auto value = detail::read_string(file_name, entry, field);
    if (!value || value->empty()) {
        detail::throw_field_error(
            file_name, entry, field, "missing; every city entry needs a non-empty value");
    }
    return *value;
}

city parse_city_entry(const std::string& file_name, const YAML::Node& entry) {
    if (!entry.IsMap()) {
        throw corpus_error(
            fmt::format("{}: invalid city entry: expected a map with slug, name, "
                        "country, domain, place_id, latitude, longitude, timezone",
                        detail::yaml_location(file_name, entry)));
    }
    city result;
    result.slug = required_string(file_name, entry, "slug");
    if (!is_valid_slug(result.slug)) {
        detail::throw_field_error(file_name,
                                  entry["slug"],
                                  "slug",
                                  fmt::format("'{}' is not of the form <region>--<city> in lower "
                                              "case letters, digits and dashes",
                                              result.slug));
    }
    result.name = required_string(file_name, entry, "name");
    result.domain = required_string(file_name, entry, "domain");
    result.country = detail::read_string(file_name, entry, "country").value_or("");
    result.timezone = detail::read_string(file_name, entry, "timezone").value_or("");
    result.latitude = detail::read_double(file_name, entry, "latitude");
    result.longitude = detail::read_double(file_name, entry, "longitude");

    if (auto place_id = detail::read_string(file_name, entry, "place_id")) {
        if (!is_digits(*place_id)) {
            detail::throw_field_error(
                file_name,
                entry["place_id"],
                "place_id",
                fmt::format("expected a Who's-On-First id of digits, got '{}'", *place_id));
        }
        result.place_id = *place_id;
    } else {
        result.place_id = synthetic_place_id(result.slug);
        result.place_id_synthetic = true;
    }

    const auto pagination = detail::read_string(file_name, entry, "pagination").value_or("full");
    if (pagination == "full") {
        result.pagination = pagination_style::full;
    } else if (pagination == "continuation") {
        result.pagination = pagination_style::continuation;
    } else {
        detail::throw_field_error(
            file_name,
            entry["pagination"],
            "pagination",
            fmt::format("unknown value '{}'; expected full or continuation", pagination));
    }
    return result;
}

json::value parse_json_file(const std::filesystem::path& path, const std::string& text) {
    boost::system::error_code error;
    json::value value = json::parse(text, error);
    if (error) {
        throw corpus_error(fmt::format("{}: invalid JSON: {}; the file must hold one JSON document",
                                       path.string(),
                                       error.message()));
    }
    return value;
}

void load_results(city& city, const std::filesystem::path& path) {
    const json::value value = parse_json_file(path, read_file(path));
    if (!value.is_array()) {
        throw corpus_error(
            fmt::format("{}: expected a JSON array of destination_event objects", path.string()));
    }
    const json::array& rows = value.as_array();
    for (std::size_t index = 0; index < rows.size(); ++index) {
        const json::object* row = rows[index].if_object();
        if (row == nullptr || row->if_contains("id") == nullptr || !row->at("id").is_string()) {
            throw corpus_error(
                fmt::format("{}: element {} is not an event object with a string \"id\"",
                            path.string(),
                            index));
        }
    }
    city.results = rows;
    city.has_results = true;
}

void load_recorded_pages(city& city, const std::map<int, std::filesystem::path>& pages) {
    int expected_page = 1;
    for (const auto& [page, path] : pages) {
        if (page != expected_page) {
            throw corpus_error(
                fmt::format("{}: search-page-{}.json is missing; recorded pages "
                            "must be numbered 1, 2, ... without gaps",
                            path.parent_path().string(),
                            expected_page));
        }
        ++expected_page;
        std::string body = read_file(path);
        const json::value value = parse_json_file(path, body);
        const json::object* envelope = value.if_object();
        const json::value* events = envelope ? envelope->if_contains("events") : nullptr;
        if (events == nullptr || !events->is_object() ||
            events->as_object().if_contains("results") == nullptr ||
            !events->as_object().at("results").is_array() ||
            events->as_object().if_contains("pagination") == nullptr) {
            throw corpus_error(
                fmt::format("{}: expected a search response object with "
                            "events.pagination and an events.results array",
                            path.string()));
        }
        city.recorded_events.push_back(events->as_object());
        city.recorded_bodies.push_back(std::move(body));
    }
}

void load_city_folder(city& city, const std::filesystem::path& folder) {
    if (!std::filesystem::is_directory(folder)) {
        throw corpus_error(
            fmt::format("{}: city folder for '{}' not found; create it with "
                        "results.json or search-page-1.json",
                        folder.string(),
                        city.slug));
    }
    std::map<int, std::filesystem::path> pages;
    for (const auto& item : std::filesystem::directory_iterator(folder)) {
        const std::string file_name = item.path().filename().string();
        constexpr std::string_view prefix = "search-page-";
        constexpr std::string_view suffix = ".json";
        if (file_name.size() > prefix.size() + suffix.size() && file_name.starts_with(prefix) &&
            file_name.ends_with(suffix)) {
            const std::string number =
                file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
            if (is_digits(number) && number.size() < 6) {
                pages.emplace(std::stoi(number), item.path());
            }
        }
    }
    const auto results_path = folder / "results.json";
    const bool has_results_file = std::filesystem::exists(results_path);
    if (has_results_file && !pages.empty()) {
        throw corpus_error(
            fmt::format("{}: holds both results.json and search-page-<N>.json; "
                        "keep only one of the two forms",
                        folder.string()));
    }
    if (has_results_file) {
        load_results(city, results_path);
    } else if (!pages.empty()) {
        load_recorded_pages(city, pages);
    } else {
        throw corpus_error(
            fmt::format("{}: holds neither results.json nor search-page-1.json; "
                        "add one of them for city '{}'",
                        folder.string(),
                        city.slug));
    }

    const auto faults_path = folder / "faults.yaml";
    if (std::filesystem::exists(faults_path)) {
        city.faults = parse_faults_yaml(read_file(faults_path), faults_path.string());
    }
}

std::string search_id_for(std::string_view slug, int page) {
    const std::uint64_t first = fnv1a(slug);
    const std::uint64_t second = fnv1a(std::to_string(page), first);
    return fmt::format("{:016x}{:016x}", first, second);
}

json::object build_envelope(json::object events, json::object request_echo, std::string search_id) {
    json::object envelope;
    envelope["articles"] = json::object();
    envelope["current_user_id"] = nullptr;
    envelope["profile_search"] = json::object();
    envelope["article_search"] = json::object();
    envelope["profiles"] = json::object();
    envelope["events"] = std::move(events);
    envelope["is_staff"] = false;
    envelope["suggested_categories"] = json::array();
    envelope["search_id"] = std::move(search_id);
    envelope["es"] = json::array();
    envelope["event_search"] = std::move(request_echo);
    return envelope;
}

json::object events_past_recorded_data(const city& city, int page) {
    const json::object& first = city.recorded_events.front();
    json::object pagination = first.at("pagination").as_object();
    if (pagination.contains("page_number")) {
        pagination["page_number"] = page;
    }
    pagination["continuation"] = nullptr;
    json::object events;
    events["pagination"] = std::move(pagination);
    events["results"] = json::array();
    events["aggs"] = json::object();
    events["promoted_results"] = json::array();
    return events;
}

json::object events_from_results(const city& city, int page) {
    const int page_count = data_page_count(city);
    const std::size_t first_row = static_cast<std::size_t>(page - 1) * results_page_size;
    json::array rows;
    for (std::size_t row = first_row;
         row < city.results.size() && row < first_row + results_page_size;
         ++row) {
        rows.push_back(city.results[row]);
    }
    json::value continuation = nullptr;
    if (page < page_count) {
        continuation = encode_continuation(page + 1);
    }

    json::object pagination;
    pagination["object_count"] = city.results.size();
    if (city.pagination == pagination_style::full) {
        pagination["page_count"] = page_count;
        pagination["page_number"] = page;
    }
    pagination["page_size"] = results_page_size;
    pagination["continuation"] = std::move(continuation);

    json::object events;
    events["pagination"] = std::move(pagination);
    events["results"] = std::move(rows);
    events["aggs"] = json::object();
    events["promoted_results"] = json::array();
    return events;
}

}  // namespace

const city* corpus::find_by_slug(std::string_view slug) const {
    for (const city& candidate : cities) {
        if (candidate.slug == slug) {
            return &candidate;
        }
    }
    return nullptr;
}

const city* corpus::find_by_place_id(std::string_view place_id) const {
    for (const city& candidate : cities) {
        if (candidate.place_id == place_id) {
            return &candidate;
        }
    }
    return nullptr;
}

std::vector<city> parse_cities_yaml(const std::string& text, const std::string& file_name) {
    const YAML::Node root = detail::parse_yaml(text, file_name);
    if (!root.IsMap() || !root["cities"].IsDefined() || !root["cities"].IsSequence()) {
        throw corpus_error(
            fmt::format("{}: expected a top-level key 'cities' holding a list of "
                        "city entries",
                        detail::yaml_location(file_name, root)));
    }
    std::vector<city> cities;
    for (const YAML::Node& entry : root["cities"]) {
        city parsed = parse_city_entry(file_name, entry);
        for (const city& earlier : cities) {
            if (earlier.slug == parsed.slug) {
                detail::throw_field_error(
                    file_name,
                    entry["slug"],
                    "slug",
                    fmt::format("'{}' appears twice; slugs must be unique", parsed.slug));
            }
            if (earlier.place_id == parsed.place_id) {
                detail::throw_field_error(
                    file_name,
                    entry,
                    "place_id",
                    fmt::format("'{}' is also the place id of '{}'; place ids must be unique",
                                parsed.place_id,
                                earlier.slug));
            }
        }
        cities.push_back(std::move(parsed));
    }
    return cities;
}

corpus load_corpus(const std::filesystem::path& directory) {
    if (!std::filesystem::is_directory(directory)) {
        throw corpus_error(
            fmt::format("{}: corpus folder not found; pass a folder that holds "
                        "cities.yaml",
                        directory.string()));
    }
    const auto cities_path = directory / "cities.yaml";
    corpus result;
    result.cities = parse_cities_yaml(read_file(cities_path), cities_path.string());
    for (city& city : result.cities) {
        load_city_folder(city, directory / city.slug);
    }
    return result;
}

std::string synthetic_place_id(std::string_view slug) {
    return fmt::format("9{:08}", fnv1a(slug) % 100000000ULL);
}

std::string encode_continuation(int page) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const std::string text = fmt::format("{{\"page\":{}}}", page);
    std::string encoded;
    std::size_t index = 0;
    for (; index + 2 < text.size(); index += 3) {
        const unsigned bits = (static_cast<unsigned char>(text[index]) << 16) |
                              (static_cast<unsigned char>(text[index + 1]) << 8) |
                              static_cast<unsigned char>(text[index + 2]);
        encoded += alphabet[(bits >> 18) & 63];
        encoded += alphabet[(bits >> 12) & 63];
        encoded += alphabet[(bits >> 6) & 63];
        encoded += alphabet[bits & 63];
    }
    const std::size_t rest = text.size() - index;
    if (rest > 0) {
        unsigned bits = static_cast<unsigned char>(text[index]) << 16;
        if (rest == 2) {
            bits |= static_cast<unsigned char>(text[index + 1]) << 8;
        }
        encoded += alphabet[(bits >> 18) & 63];
        encoded += alphabet[(bits >> 12) & 63];
        if (rest == 2) {
            encoded += alphabet[(bits >> 6) & 63];
        }
    }
    return encoded;
}

std::optional<int> decode_continuation(std::string_view token) {
    std::string decoded;
    unsigned bits = 0;
    int bit_count = 0;
    for (const char c : token) {
        int value = -1;
        if (c >= 'A' && c <= 'Z') {
            value = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            value = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            value = c - '0' + 52;
        } else if (c == '-' || c == '+') {
            value = 62;
        } else if (c == '_' || c == '/') {
            value = 63;
        } else if (c == '=') {
            break;
        } else {
            return std::nullopt;
        }
        bits = (bits << 6) | static_cast<unsigned>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            decoded += static_cast<char>((bits >> bit_count) & 0xff);
        }
    }
    boost::system::error_code error;
    const json::value value = json::parse(decoded, error);
    if (error || !value.is_object()) {
        return std::nullopt;
    }
    const json::value* page = value.as_object().if_contains("page");
    if (page == nullptr || !page->is_int64() || page->as_int64() < 1 ||
        page->as_int64() > 1000000) {
        return std::nullopt;
    }
    return static_cast<int>(page->as_int64());
}

int data_page_count(const city& city) {
    if (!city.has_results) {
        return std::max<int>(1, static_cast<int>(city.recorded_bodies.size()));
    }
    const std::size_t pages = (city.results.size() + results_page_size - 1) / results_page_size;
    return std::max<int>(1, static_cast<int>(pages));
}

std::optional<int> announced_page_count(const city& city) {
    if (city.has_results) {
        if (city.pagination == pagination_style::full) {
            return data_page_count(city);
        }
        return std::nullopt;
    }
    const json::object& pagination = city.recorded_events.front().at("pagination").as_object();
    if (const json::value* page_count = pagination.if_contains("page_count")) {
        if (page_count->is_int64()) {
            return static_cast<int>(page_count->as_int64());
        }
    }
    return std::nullopt;
}

int page_size_of(const city& city) {
    if (city.has_results) {
        return static_cast<int>(results_page_size);
    }
    const json::object& pagination = city.recorded_events.front().at("pagination").as_object();
    if (const json::value* size = pagination.if_contains("page_size")) {
        if (size->is_int64()) {
            return static_cast<int>(size->as_int64());
        }
    }
    return static_cast<int>(results_page_size);
}

json::object events_for_page(const city& city, int page) {
    if (city.has_results) {
        return events_from_results(city, page);
    }
    if (page >= 1 && static_cast<std::size_t>(page) <= city.recorded_events.size()) {
        return city.recorded_events[static_cast<std::size_t>(page) - 1];
    }
    return events_past_recorded_data(city, page);
}

std::string search_response_body(const city& city, int page, const json::object& request_echo) {
    if (!city.has_results && page >= 1 &&
        static_cast<std::size_t>(page) <= city.recorded_bodies.size()) {
        return city.recorded_bodies[static_cast<std::size_t>(page) - 1];
    }
    json::object envelope =
        build_envelope(events_for_page(city, page), request_echo, search_id_for(city.slug, page));
    return json::serialize(envelope);
}

std::string build_search_response_body(const city& city,
                                       int page,
                                       json::object events,
                                       const json::object& request_echo) {
    json::object envelope =
        build_envelope(std::move(events), request_echo, search_id_for(city.slug, page));
    return json::serialize(envelope);
}

std::string empty_search_response_body(const json::object& request_echo) {
    json::object pagination;
    pagination["object_count"] = 0;
    pagination["page_count"] = 0;
    pagination["page_number"] = 1;
    pagination["page_size"] = results_page_size;
    pagination["continuation"] = nullptr;
    json::object events;
    events["pagination"] = std::move(pagination);
    events["results"] = json::array();
    events["aggs"] = json::object();
    events["promoted_results"] = json::array();
    json::object envelope =
        build_envelope(std::move(events), request_echo, search_id_for("unknown-place", 0));
    return json::serialize(envelope);
}

}  // namespace eventcrawl::replay
