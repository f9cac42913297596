#include "replay/faults.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <utility>

#include "replay/corpus.hpp"
#include "replay/detail/yaml_fields.hpp"

namespace eventcrawl::replay {

namespace {

constexpr std::array<std::pair<std::string_view, fault_kind>, 12> kind_names{{
    {"status", fault_kind::status},
    {"html_instead_of_json", fault_kind::html_instead_of_json},
    {"no_place_id", fault_kind::no_place_id},
    {"truncated_server_data", fault_kind::truncated_server_data},
    {"truncated_body", fault_kind::truncated_body},
    {"delay", fault_kind::delay},
    {"drop_connection", fault_kind::drop_connection},
    {"blocked", fault_kind::blocked},
    {"stall", fault_kind::stall},
    {"reset", fault_kind::reset},
    {"empty_results", fault_kind::empty_results},
    {"capped_pages", fault_kind::capped_pages},
}};

constexpr std::string_view kind_choices =
    "status, html_instead_of_json, no_place_id, truncated_server_data, truncated_body, "
    "delay, drop_connection, blocked, stall, reset, empty_results, capped_pages";

std::optional<fault_kind> find_kind(std::string_view text) {
    for (const auto& [name, kind] : kind_names) {
        if (name == text) {
            return kind;
        }
    }
    return std::nullopt;
}

// Problems shared by both rule sources; returns an empty string for a valid value.
std::string check_probability(double probability) {
    if (!(probability >= 0.0 && probability <= 1.0)) {
        return "expected a probability from 0 to 1";
    }
    return {};
}

fault_kind parse_kind(const std::string& file_name, const YAML::Node& rule) {
    const auto text = detail::read_string(file_name, rule, "kind");
    if (!text) {
        detail::throw_field_error(file_name, rule, "kind", "missing; every rule needs a kind");
    }
    if (const auto kind = find_kind(*text)) {
        return *kind;
    }
    detail::throw_field_error(
        file_name,
        rule["kind"],
        "kind",
        fmt::format("unknown kind '{}'; expected one of {}", *text, kind_choices));
}

fault_endpoint parse_endpoint(const std::string& file_name, const YAML::Node& rule) {
    const auto text = detail::read_string(file_name, rule, "endpoint");
    if (!text || *text == "any") {
        return fault_endpoint::any;
    }
    if (*text == "listing") {
        return fault_endpoint::listing;
    }
    if (*text == "search") {
        return fault_endpoint::search;
    }
    if (*text == "static") {
        detail::throw_field_error(file_name,
                                  rule["endpoint"],
                                  "endpoint",
                                  "static files belong to no city; use the command-line flag "
                                  "--fault KIND,endpoint=static instead");
    }
    detail::throw_field_error(
        file_name,
        rule["endpoint"],
        "endpoint",
        fmt::format("unknown endpoint '{}'; expected listing, search or any", *text));
}

fault_rule parse_rule(const std::string& file_name, const YAML::Node& node) {
    if (!node.IsMap()) {
        throw corpus_error(
            fmt::format("{}: invalid fault rule: expected a map such as "
                        "{{page: 2, endpoint: search, kind: status, status: 429}}",
                        detail::yaml_location(file_name, node)));
    }
    fault_rule rule;
    rule.kind = parse_kind(file_name, node);
    rule.endpoint = parse_endpoint(file_name, node);
    rule.page = detail::read_int(file_name, node, "page");
    if (rule.page && *rule.page < 1) {
        detail::throw_field_error(file_name, node["page"], "page", "expected a page number >= 1");
    }
    rule.times = detail::read_int(file_name, node, "times");
    if (rule.times && *rule.times < 0) {
        detail::throw_field_error(file_name, node["times"], "times", "expected a count >= 0");
    }
    rule.status = detail::read_int(file_name, node, "status").value_or(503);
    if (rule.status < 100 || rule.status > 599) {
        detail::throw_field_error(
            file_name, node["status"], "status", "expected an HTTP status from 100 to 599");
    }
    rule.retry_after_seconds = detail::read_int(file_name, node, "retry_after");
    rule.delay_ms = detail::read_int(file_name, node, "delay_ms").value_or(0);
    if (rule.delay_ms < 0) {
        detail::throw_field_error(
            file_name, node["delay_ms"], "delay_ms", "expected milliseconds >= 0");
    }
    rule.probability = detail::read_double(file_name, node, "probability").value_or(1.0);
    if (const std::string problem = check_probability(rule.probability); !problem.empty()) {
        detail::throw_field_error(file_name, node["probability"], "probability", problem);
    }
    rule.page_count = detail::read_int(file_name, node, "page_count");
    if (rule.page_count && *rule.page_count < 1) {
        detail::throw_field_error(
            file_name, node["page_count"], "page_count", "expected a page count >= 1");
    }
    return rule;
}

[[noreturn]] void throw_flag_error(std::string_view text, const std::string& problem) {
    throw fault_flag_error(fmt::format("invalid --fault '{}': {}", text, problem));
}

std::optional<int> parse_flag_int(std::string_view value) {
    int number = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc{} || end != value.data() + value.size()) {
        return std::nullopt;
    }
    return number;
}

// Reads an integer key of a --fault value, at least `minimum`.
int flag_int(std::string_view text, std::string_view key, std::string_view value, int minimum) {
    const auto number = parse_flag_int(value);
    if (!number || *number < minimum) {
        throw_flag_error(text, fmt::format("{}={} is not an integer >= {}", key, value, minimum));
    }
    return *number;
}

void apply_flag_key(fault_rule& rule,
                    std::string_view text,
                    std::string_view key,
                    std::string_view value) {
    if (key == "endpoint") {
        if (value == "listing") {
            rule.endpoint = fault_endpoint::listing;
        } else if (value == "search") {
            rule.endpoint = fault_endpoint::search;
        } else if (value == "static") {
            rule.endpoint = fault_endpoint::static_file;
        } else if (value == "any") {
            rule.endpoint = fault_endpoint::any;
        } else {
            throw_flag_error(text,
                             fmt::format("unknown endpoint '{}'; expected listing, search, "
                                         "static or any",
                                         value));
        }
    } else if (key == "city") {
        if (value.empty()) {
            throw_flag_error(text, "city= needs a city slug such as ny--new-york");
        }
        rule.city = std::string(value);
    } else if (key == "page") {
        rule.page = flag_int(text, key, value, 1);
    } else if (key == "probability") {
        double probability = -1.0;
        const auto [end, error] =
            std::from_chars(value.data(), value.data() + value.size(), probability);
        if (error != std::errc{} || end != value.data() + value.size() ||
            !check_probability(probability).empty()) {
            throw_flag_error(text,
                             fmt::format("probability={} is not a number from 0 to 1", value));
        }
        rule.probability = probability;
    } else if (key == "times") {
        rule.times = flag_int(text, key, value, 0);
    } else if (key == "status") {
        rule.status = flag_int(text, key, value, 100);
        if (rule.status > 599) {
            throw_flag_error(text,
                             fmt::format("status={} is not an HTTP status from 100 to 599", value));
        }
    } else if (key == "retry_after") {
        rule.retry_after_seconds = flag_int(text, key, value, 0);
    } else if (key == "delay_ms") {
        rule.delay_ms = flag_int(text, key, value, 0);
    } else if (key == "page_count") {
        rule.page_count = flag_int(text, key, value, 1);
    } else {
        throw_flag_error(text,
                         fmt::format("unknown key '{}'; expected endpoint, city, page, "
                                     "probability, times, status, retry_after, delay_ms or "
                                     "page_count",
                                     key));
    }
}

}  // namespace

std::vector<fault_rule> parse_faults_yaml(const std::string& text, const std::string& file_name) {
    const YAML::Node root = detail::parse_yaml(text, file_name);
    std::vector<fault_rule> rules;
    if (!root.IsDefined() || root.IsNull()) {
        return rules;
    }
    if (!root.IsSequence()) {
        throw corpus_error(fmt::format("{}: invalid faults file: expected a list of rules",
                                       detail::yaml_location(file_name, root)));
    }
    for (const YAML::Node& node : root) {
        rules.push_back(parse_rule(file_name, node));
    }
    return rules;
}

fault_rule parse_fault_flag(std::string_view text) {
    const auto first_comma = text.find(',');
    const std::string_view kind_text = text.substr(0, first_comma);
    fault_rule rule;
    if (const auto kind = find_kind(kind_text)) {
        rule.kind = *kind;
    } else {
        throw_flag_error(
            text, fmt::format("unknown kind '{}'; expected one of {}", kind_text, kind_choices));
    }
    std::string_view rest =
        first_comma == std::string_view::npos ? std::string_view{} : text.substr(first_comma + 1);
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string_view pair = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        const auto equals = pair.find('=');
        if (equals == std::string_view::npos) {
            throw_flag_error(text, fmt::format("'{}' is not of the form key=value", pair));
        }
        apply_flag_key(rule, text, pair.substr(0, equals), pair.substr(equals + 1));
    }
    return rule;
}

std::string_view to_string(fault_endpoint endpoint) {
    switch (endpoint) {
        case fault_endpoint::listing:
            return "listing";
        case fault_endpoint::search:
            return "search";
        case fault_endpoint::static_file:
            return "static";
        case fault_endpoint::any:
            break;
    }
    return "any";
}

const std::vector<fault_kind>& all_fault_kinds() {
    static const std::vector<fault_kind> kinds = [] {
        std::vector<fault_kind> result;
        for (const auto& [name, kind] : kind_names) {
            result.push_back(kind);
        }
        return result;
    }();
    return kinds;
}

std::string_view to_string(fault_kind kind) {
    for (const auto& [name, value] : kind_names) {
        if (value == kind) {
            return name;
        }
    }
    return "unknown";
}

}  // namespace eventcrawl::replay
