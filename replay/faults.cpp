#include "replay/faults.hpp"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "replay/corpus.hpp"
#include "replay/detail/yaml_fields.hpp"

namespace eventcrawl::replay {

namespace {

constexpr std::array<std::pair<std::string_view, fault_kind>, 7> kind_names{{
    {"status", fault_kind::status},
    {"html_instead_of_json", fault_kind::html_instead_of_json},
    {"no_place_id", fault_kind::no_place_id},
    {"truncated_server_data", fault_kind::truncated_server_data},
    {"truncated_body", fault_kind::truncated_body},
    {"delay", fault_kind::delay},
    {"drop_connection", fault_kind::drop_connection},
}};

fault_kind parse_kind(const std::string& file_name, const YAML::Node& rule) {
    const auto text = detail::read_string(file_name, rule, "kind");
    if (!text) {
        detail::throw_field_error(file_name, rule, "kind", "missing; every rule needs a kind");
    }
    for (const auto& [name, kind] : kind_names) {
        if (name == *text) {
            return kind;
        }
    }
    detail::throw_field_error(file_name,
                              rule["kind"],
                              "kind",
                              fmt::format("unknown kind '{}'; expected one of status, "
                                          "html_instead_of_json, no_place_id, "
                                          "truncated_server_data, truncated_body, delay, "
                                          "drop_connection",
                                          *text));
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
    return rule;
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

std::string_view to_string(fault_kind kind) {
    for (const auto& [name, value] : kind_names) {
        if (value == kind) {
            return name;
        }
    }
    return "unknown";
}

}  // namespace eventcrawl::replay
