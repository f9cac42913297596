#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

namespace eventcrawl::replay::detail {

// Location of a YAML node for error messages: "FILE:LINE" with a 1-based line.
std::string yaml_location(const std::string& file_name, const YAML::Node& node);

// Parses YAML text, turning a syntax error into corpus_error with file and line.
YAML::Node parse_yaml(const std::string& text, const std::string& file_name);

// Readers for one field of a YAML mapping. They return nullopt when the key is absent and
// throw corpus_error naming file, line, field and the expected form when the value is invalid.
std::optional<std::string> read_string(const std::string& file_name,
                                       const YAML::Node& map,
                                       const char* field);
std::optional<double> read_double(const std::string& file_name,
                                  const YAML::Node& map,
                                  const char* field);
std::optional<int> read_int(const std::string& file_name, const YAML::Node& map, const char* field);

// Throws corpus_error: "FILE:LINE: invalid field 'FIELD': PROBLEM".
[[noreturn]] void throw_field_error(const std::string& file_name,
                                    const YAML::Node& node,
                                    const char* field,
                                    const std::string& problem);

}  // namespace eventcrawl::replay::detail
