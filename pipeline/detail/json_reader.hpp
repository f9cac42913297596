#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/transform.hpp"

namespace eventcrawl::pipeline::detail {

// Returns the JSON kind of a value as an error message names it ("string", "number", ...).
std::string_view kind_name(const boost::json::value& value);

// Joins a JSON path and a key: ("events", "results") -> "events.results".
std::string child_path(std::string_view path, std::string_view key);

// Joins a JSON path and an array index: ("events.results", 3) -> "events.results[3]".
std::string index_path(std::string_view path, std::size_t index);

// Typed, path-aware reads from one body. Every error names the source and the JSON path,
// and warnings are collected for the caller instead of failing the page.
class json_reader {
  public:
    json_reader(std::string source, std::vector<std::string>* warnings);

    const std::string& source() const noexcept { return source_; }

    [[noreturn]] void fail(transform_failure failure,
                           std::string_view path,
                           std::string_view problem) const;
    [[noreturn]] void fail_type(std::string_view path,
                                std::string_view expected,
                                const boost::json::value& got) const;
    void warn(std::string message) const;

    // Each read returns nothing when the key is absent or null, and throws wrong_shape when
    // the value has another JSON type.
    const boost::json::object* object_at(const boost::json::object& parent,
                                         std::string_view key,
                                         std::string_view parent_path) const;
    const boost::json::array* array_at(const boost::json::object& parent,
                                       std::string_view key,
                                       std::string_view parent_path) const;
    std::optional<std::string> string_at(const boost::json::object& parent,
                                         std::string_view key,
                                         std::string_view parent_path) const;
    std::optional<bool> bool_at(const boost::json::object& parent,
                                std::string_view key,
                                std::string_view parent_path) const;
    // Accepts integers and doubles that hold a whole number.
    std::optional<std::int64_t> int_at(const boost::json::object& parent,
                                       std::string_view key,
                                       std::string_view parent_path) const;
    // Accepts a string or an integer and returns its text ("1965571211405").
    std::optional<std::string> id_at(const boost::json::object& parent,
                                     std::string_view key,
                                     std::string_view parent_path) const;
    const boost::json::object& as_object(const boost::json::value& value,
                                         std::string_view path) const;

  private:
    std::string source_;
    std::vector<std::string>* warnings_;
};

}  // namespace eventcrawl::pipeline::detail
