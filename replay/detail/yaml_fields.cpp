#include "replay/detail/yaml_fields.hpp"

#include <fmt/format.h>

#include <charconv>

#include "replay/corpus.hpp"

namespace eventcrawl::replay::detail {

std::string yaml_location(const std::string& file_name, const YAML::Node& node) {
    if (!node.IsDefined()) {
        return file_name;
    }
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) {
        return file_name;
    }
    return fmt::format("{}:{}", file_name, mark.line + 1);
}

YAML::Node parse_yaml(const std::string& text, const std::string& file_name) {
    try {
        return YAML::Load(text);
    } catch (const YAML::ParserException& error) {
        throw corpus_error(fmt::format("{}:{}: invalid YAML: {}; fix the syntax at that line",
                                       file_name,
                                       error.mark.line + 1,
                                       error.msg));
    }
}

void throw_field_error(const std::string& file_name,
                       const YAML::Node& node,
                       const char* field,
                       const std::string& problem) {
    throw corpus_error(
        fmt::format("{}: invalid field '{}': {}", yaml_location(file_name, node), field, problem));
}

namespace {

YAML::Node scalar_field(const std::string& file_name, const YAML::Node& map, const char* field) {
    YAML::Node value = map[field];
    if (!value.IsDefined() || value.IsNull()) {
        return YAML::Node(YAML::NodeType::Undefined);
    }
    if (!value.IsScalar()) {
        throw_field_error(file_name, value, field, "expected a scalar value, got a list or map");
    }
    return value;
}

}  // namespace

std::optional<std::string> read_string(const std::string& file_name,
                                       const YAML::Node& map,
                                       const char* field) {
    const YAML::Node value = scalar_field(file_name, map, field);
    if (!value.IsDefined()) {
        return std::nullopt;
    }
    return value.Scalar();
}

std::optional<double> read_double(const std::string& file_name,
                                  const YAML::Node& map,
                                  const char* field) {
    const YAML::Node value = scalar_field(file_name, map, field);
    if (!value.IsDefined()) {
        return std::nullopt;
    }
    const std::string& text = value.Scalar();
    double number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc{} || end != text.data() + text.size()) {
        throw_field_error(
            file_name, value, field, fmt::format("expected a decimal number, got '{}'", text));
    }
    return number;
}

std::optional<int> read_int(const std::string& file_name,
                            const YAML::Node& map,
                            const char* field) {
    const YAML::Node value = scalar_field(file_name, map, field);
    if (!value.IsDefined()) {
        return std::nullopt;
    }
    const std::string& text = value.Scalar();
    int number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc{} || end != text.data() + text.size()) {
        throw_field_error(
            file_name, value, field, fmt::format("expected an integer, got '{}'", text));
    }
    return number;
}

}  // namespace eventcrawl::replay::detail
