#include "config/city_list.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <utility>

#include "config/detail/field_checks.hpp"

namespace eventcrawl::config {

namespace {

constexpr std::array<std::string_view, 8> known_fields = {
    "slug", "name", "country", "domain", "place_id", "latitude", "longitude", "timezone"};

constexpr std::size_t max_shown_value = 80;

std::shared_ptr<spdlog::logger> module_logger() {
    if (auto existing = spdlog::get("config")) {
        return existing;
    }
    try {
        return spdlog::stdout_color_mt("config");
    } catch (const spdlog::spdlog_ex&) {
        // Another thread registered the logger between the lookup and the creation.
        return spdlog::get("config");
    }
}

bool is_extension_key(std::string_view key) {
    return key.starts_with("x-") || key == "pagination";
}

std::string location(const std::string& source, const YAML::Mark& mark) {
    if (mark.is_null()) {
        return source;
    }
    return fmt::format("{}:{}:{}", source, mark.line + 1, mark.column + 1);
}

[[noreturn]] void raise(const std::string& source, const YAML::Mark& mark, std::string_view text) {
    throw config_error(fmt::format("{}: {}", location(source, mark), text));
}

// Quotes a value for an error message, escaping control characters and cutting long values.
std::string quote(std::string_view value) {
    if (value.size() > max_shown_value) {
        return fmt::format("{:?}...", value.substr(0, max_shown_value));
    }
    return fmt::format("{:?}", value);
}

std::string describe_node(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map:
            return "a map";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return fmt::format("the value {}", quote(node.Scalar()));
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            break;
    }
    return "no value";
}

// Returns the format a field must have, for "missing" and "wrong type" messages.
std::string_view field_format(std::string_view field) {
    if (field == "slug") {
        return "an Eventbrite slug such as \"ny--new-york\"";
    }
    if (field == "name") {
        return "a display name such as \"New York\"";
    }
    if (field == "country") {
        return "an ISO 3166-1 alpha-2 code such as \"US\"";
    }
    if (field == "domain") {
        return "an Eventbrite host such as \"www.eventbrite.com\"";
    }
    if (field == "place_id") {
        return "a Who's-On-First id of digits such as \"85977539\"";
    }
    if (field == "latitude") {
        return "a number of degrees in [-90, 90] such as 40.7128";
    }
    if (field == "longitude") {
        return "a number of degrees in [-180, 180] such as -74.0060";
    }
    return "an IANA time zone such as \"America/New_York\"";
}

struct field_value {
    YAML::Mark key_mark;
    YAML::Node value;
};

// The keys of one city entry, checked for spelling and duplicates, with the entry's position.
class entry_reader {
  public:
    entry_reader(const YAML::Node& entry, const std::string& source, std::size_t index)
        : source_(source), mark_(entry.Mark()), context_(fmt::format("city entry {}", index + 1)) {
        if (!entry.IsMap()) {
            raise(source_,
                  mark_,
                  fmt::format("invalid {}: expected a map of fields (slug, name, country, "
                              "domain, latitude, longitude, timezone), got {}. Write each city "
                              "as \"- slug: ...\" followed by its other fields, indented.",
                              context_,
                              describe_node(entry)));
        }
        for (const auto& item : entry) {
            add_key(item.first, item.second);
        }
    }

    // Names the entry by its slug in later messages, once the slug is known to be valid.
    void set_slug(std::string_view slug) { context_ = fmt::format("city \"{}\"", slug); }

    const YAML::Mark& mark() const { return mark_; }

    bool has(std::string_view field) const { return fields_.contains(std::string(field)); }

    const field_value& require(std::string_view field) const {
        const auto found = fields_.find(std::string(field));
        if (found == fields_.end()) {
            raise(source_,
                  mark_,
                  fmt::format("missing required field \"{}\" in {}: expected {}. Add a line "
                              "\"{}: ...\" to the entry.",
                              field,
                              context_,
                              field_format(field),
                              field));
        }
        return found->second;
    }

    std::string read_string(std::string_view field) const {
        const auto& entry = require(field);
        if (!entry.value.IsScalar()) {
            raise(source_,
                  value_mark(entry),
                  fmt::format("invalid {} in {}: expected {}, got {}. Write a single value "
                              "after \"{}:\".",
                              field,
                              context_,
                              field_format(field),
                              describe_node(entry.value),
                              field));
        }
        return entry.value.Scalar();
    }

    double read_number(std::string_view field, double minimum, double maximum) const {
        const auto& entry = require(field);
        std::optional<double> number;
        // yaml-cpp tags plain scalars "?" and quoted ones "!", and a quoted number is a string.
        const bool plain = entry.value.IsScalar() && entry.value.Tag() == "?";
        if (plain) {
            number = detail::parse_number(entry.value.Scalar());
        }
        if (!number) {
            const auto got = entry.value.IsScalar() && !plain
                                 ? fmt::format("the quoted string {}", quote(entry.value.Scalar()))
                                 : describe_node(entry.value);
            raise(source_,
                  value_mark(entry),
                  fmt::format("invalid {} in {}: expected {}, got {}. Write the degrees as a "
                              "plain decimal number without quotes.",
                              field,
                              context_,
                              field_format(field),
                              got));
        }
        if (*number < minimum || *number > maximum) {
            raise(source_,
                  value_mark(entry),
                  fmt::format("invalid {} {} in {}: expected degrees in [{}, {}]. Check the "
                              "sign and whether latitude and longitude are swapped.",
                              field,
                              entry.value.Scalar(),
                              context_,
                              minimum,
                              maximum));
        }
        return *number;
    }

    // Checks a string value with one of the detail::check_* functions.
    template <typename Check>
    void validate(std::string_view field, const std::string& value, Check check) const {
        if (const auto problem = check(value)) {
            raise(source_,
                  value_mark(require(field)),
                  fmt::format("invalid {} {} in {}: expected {}. {}",
                              field,
                              quote(value),
                              context_,
                              problem->expected,
                              problem->fix));
        }
    }

  private:
    static YAML::Mark value_mark(const field_value& entry) {
        // yaml-cpp places a missing value ("key:" at the end of a line) at the next token, so
        // the key is the better position for it.
        if (entry.value.IsNull() || entry.value.Mark().is_null()) {
            return entry.key_mark;
        }
        return entry.value.Mark();
    }

    void add_key(const YAML::Node& key, const YAML::Node& value) {
        if (!key.IsScalar()) {
            raise(source_,
                  key.Mark(),
                  fmt::format("invalid key in {}: expected a field name, got {}. Use "
                              "\"field: value\" lines.",
                              context_,
                              describe_node(key)));
        }
        const auto& name = key.Scalar();
        const auto known = std::find(known_fields.begin(), known_fields.end(), name);
        if (known == known_fields.end() && !is_extension_key(name)) {
            raise_unknown_key(key);
        }
        const auto [existing, inserted] = fields_.emplace(name, field_value{key.Mark(), value});
        if (!inserted) {
            raise(source_,
                  key.Mark(),
                  fmt::format("duplicate key \"{}\" in {}: first defined at line {}. Keep one "
                              "of the two lines.",
                              name,
                              context_,
                              existing->second.key_mark.line + 1));
        }
    }

    [[noreturn]] void raise_unknown_key(const YAML::Node& key) const {
        const std::vector<std::string> fields(known_fields.begin(), known_fields.end());
        const auto suggestions = detail::closest_matches(fields, key.Scalar(), 1, 3, false);
        std::string fix = "Remove the line, or prefix the key with \"x-\" to keep it as a note.";
        if (!suggestions.empty()) {
            fix = fmt::format("Did you mean \"{}\"?", suggestions.front());
        }
        raise(source_,
              key.Mark(),
              fmt::format("unknown key {} in {}: expected one of slug, name, country, domain, "
                          "place_id, latitude, longitude, timezone (keys starting with \"x-\" "
                          "and \"pagination\" are also accepted). {}",
                          quote(key.Scalar()),
                          context_,
                          fix));
    }

    const std::string& source_;
    YAML::Mark mark_;
    std::string context_;
    std::map<std::string, field_value> fields_;
};

city parse_entry(const YAML::Node& node, const std::string& source, std::size_t index) {
    entry_reader reader(node, source, index);
    city entry;

    entry.slug = reader.read_string("slug");
    reader.validate("slug", entry.slug, detail::check_slug);
    reader.set_slug(entry.slug);

    entry.name = reader.read_string("name");
    reader.validate("name", entry.name, detail::check_name);

    entry.country = reader.read_string("country");
    reader.validate("country", entry.country, detail::check_country);

    entry.domain = reader.read_string("domain");
    reader.validate("domain", entry.domain, detail::check_domain);

    if (reader.has("place_id")) {
        auto place_id = reader.read_string("place_id");
        reader.validate("place_id", place_id, detail::check_place_id);
        entry.place_id = std::move(place_id);
    }

    entry.latitude = reader.read_number("latitude", -90.0, 90.0);
    entry.longitude = reader.read_number("longitude", -180.0, 180.0);

    entry.timezone = reader.read_string("timezone");
    reader.validate("timezone", entry.timezone, detail::check_timezone);

    entry.source_name = source;
    entry.source_line = static_cast<std::size_t>(reader.mark().line + 1);
    return entry;
}

// Returns the "cities" list of the document, rejecting any other top-level shape.
YAML::Node cities_node(const YAML::Node& root, const std::string& source) {
    const YAML::Mark start;  // line 1, column 1
    const auto expected_shape =
        "expected a map with a \"cities\" list at the top level. Start the file with "
        "\"cities:\" and list each city under it as \"- slug: ...\".";
    if (!root.IsMap()) {
        const auto mark = root.Mark().is_null() ? start : root.Mark();
        raise(source,
              mark,
              fmt::format("invalid city list: got {}, {}", describe_node(root), expected_shape));
    }
    YAML::Node cities;
    bool found = false;
    for (const auto& item : root) {
        const auto key = item.first.IsScalar() ? item.first.Scalar() : std::string();
        if (key == "cities" && found) {
            raise(source,
                  item.first.Mark(),
                  "duplicate top-level key \"cities\": expected it once. Merge the two lists.");
        }
        if (key == "cities") {
            // reset() rebinds the handle, where assignment would overwrite the node it refers to.
            cities.reset(item.second);
            found = true;
        } else if (!key.starts_with("x-")) {
            const bool near_cities = detail::edit_distance(key, "cities", false) <= 2;
            raise(source,
                  item.first.Mark(),
                  fmt::format("unknown top-level key {}: expected only \"cities\" (and keys "
                              "starting with \"x-\"). {}",
                              quote(key),
                              near_cities ? "Did you mean \"cities\"?"
                                          : "Move city fields under a \"- slug:\" entry of "
                                            "the cities list, or remove the key."));
        }
    }
    if (!found) {
        raise(source, root.Mark(), fmt::format("missing field \"cities\": {}", expected_shape));
    }
    if (!cities.IsSequence()) {
        raise(source,
              cities.Mark().is_null() ? root.Mark() : cities.Mark(),
              fmt::format("invalid field \"cities\": expected a list of city entries, got {}. "
                          "Write each city as \"- slug: ...\" under \"cities:\".",
                          describe_node(cities)));
    }
    if (cities.size() == 0) {
        raise(source,
              cities.Mark(),
              "invalid field \"cities\": the list is empty, expected at least one city entry. "
              "Add a \"- slug: ...\" entry.");
    }
    return cities;
}

std::vector<YAML::Node> load_documents(std::string_view yaml_text, const std::string& source) {
    try {
        return YAML::LoadAll(std::string(yaml_text));
    } catch (const YAML::Exception& error) {
        raise(source,
              error.mark,
              fmt::format("invalid YAML: {}. Fix the syntax at this position (indent with "
                          "spaces, quote values that contain \": \" or start with a special "
                          "character).",
                          error.msg));
    }
}

}  // namespace

std::vector<city> parse_city_list(std::string_view yaml_text, std::string_view source_name) {
    const std::string source(source_name);
    const auto documents = load_documents(yaml_text, source);
    if (documents.size() > 1) {
        raise(source,
              documents[1].Mark(),
              "invalid city list: found a second YAML document, expected exactly one. Remove "
              "the \"---\" separator and merge the city lists.");
    }
    const auto root = documents.empty() ? YAML::Node() : documents.front();
    const auto list = cities_node(root, source);

    std::vector<city> cities;
    cities.reserve(list.size());
    std::map<std::string, std::size_t, std::less<>> first_line_of_slug;
    for (std::size_t index = 0; index < list.size(); ++index) {
        auto entry = parse_entry(list[index], source, index);
        const auto [existing, inserted] = first_line_of_slug.emplace(entry.slug, entry.source_line);
        if (!inserted) {
            raise(source,
                  list[index].Mark(),
                  fmt::format("duplicate slug {} at lines {} and {}: expected each city once. "
                              "Delete one of the two entries.",
                              quote(entry.slug),
                              existing->second,
                              entry.source_line));
        }
        cities.push_back(std::move(entry));
    }
    return cities;
}

std::vector<city> load_city_list(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        const int error = errno;
        throw config_error(
            fmt::format("cannot read city list {}: {}. Pass the path of an "
                        "existing cities.yaml file.",
                        path.string(),
                        std::strerror(error)));
    }
    std::ostringstream text;
    text << file.rdbuf();
    if (file.bad()) {
        throw config_error(
            fmt::format("cannot read city list {}: read failed. Check that the "
                        "path is a readable file.",
                        path.string()));
    }

    auto cities = parse_city_list(text.str(), path.string());
    module_logger()->info("Loaded city list file={} cities={}", path.string(), cities.size());
    return cities;
}

const city& find_city(const std::vector<city>& cities, std::string_view slug) {
    const auto found = std::find_if(
        cities.begin(), cities.end(), [slug](const city& entry) { return entry.slug == slug; });
    if (found != cities.end()) {
        return *found;
    }
    if (cities.empty()) {
        throw config_error(
            fmt::format("unknown city slug {}: the city list is empty. Add the "
                        "city to cities.yaml.",
                        quote(slug)));
    }
    std::vector<std::string> slugs;
    slugs.reserve(cities.size());
    for (const auto& entry : cities) {
        slugs.push_back(entry.slug);
    }
    const auto closest =
        detail::closest_matches(slugs, slug, 3, std::numeric_limits<std::size_t>::max());
    std::string suggestion;
    for (const auto& candidate : closest) {
        suggestion += suggestion.empty() ? "" : ", ";
        suggestion += quote(candidate);
    }
    throw config_error(
        fmt::format("unknown city slug {}: not listed in {}. Closest known slugs: "
                    "{}. Check the spelling, or add the city to that file.",
                    quote(slug),
                    cities.front().source_name,
                    suggestion));
}

std::string origin_for(const city& entry) {
    return "https://" + entry.domain;
}

}  // namespace eventcrawl::config
