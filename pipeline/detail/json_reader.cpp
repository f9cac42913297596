#include "pipeline/detail/json_reader.hpp"

#include <fmt/format.h>

#include <boost/json/object.hpp>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>

namespace eventcrawl::pipeline::detail {

namespace json = boost::json;

std::string_view kind_name(const json::value& value) {
    switch (value.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "boolean";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
            return "number";
        case json::kind::string:
            return "string";
        case json::kind::array:
            return "array";
        case json::kind::object:
            return "object";
    }
    return "unknown";
}

std::string child_path(std::string_view path, std::string_view key) {
    if (path.empty()) {
        return std::string(key);
    }
    std::string joined;
    joined.reserve(path.size() + 1 + key.size());
    joined.append(path);
    joined.push_back('.');
    joined.append(key);
    return joined;
}

std::string index_path(std::string_view path, std::size_t index) {
    char digits[20];
    const auto [end, error] = std::to_chars(std::begin(digits), std::end(digits), index);
    const std::string_view number(digits, static_cast<std::size_t>(end - digits));
    std::string joined;
    joined.reserve(path.size() + number.size() + 2);
    joined.append(path);
    joined.push_back('[');
    joined.append(number);
    joined.push_back(']');
    return joined;
}

json_reader::json_reader(std::string source, std::vector<std::string>* warnings)
    : source_(std::move(source)), warnings_(warnings) {}

void json_reader::fail(transform_failure failure,
                       std::string_view path,
                       std::string_view problem) const {
    if (path.empty()) {
        throw transform_error(failure, fmt::format("{}: {}", source_, problem));
    }
    throw transform_error(failure, fmt::format("{}: {}: {}", source_, path, problem));
}

void json_reader::fail_type(std::string_view path,
                            std::string_view expected,
                            const json::value& got) const {
    fail(transform_failure::wrong_shape,
         path,
         fmt::format("expected {}, got {}", expected, kind_name(got)));
}

void json_reader::warn(std::string message) const {
    if (warnings_ != nullptr) {
        warnings_->push_back(fmt::format("{}: {}", source_, message));
    }
}

namespace {

const json::value* find_present(const json::object& parent, std::string_view key) {
    const json::value* value = parent.if_contains(key);
    if (value == nullptr || value->is_null()) {
        return nullptr;
    }
    return value;
}

}  // namespace

const json::object* json_reader::object_at(const json::object& parent,
                                           std::string_view key,
                                           std::string_view parent_path) const {
    const json::value* value = find_present(parent, key);
    if (value == nullptr) {
        return nullptr;
    }
    if (!value->is_object()) {
        fail_type(child_path(parent_path, key), "an object", *value);
    }
    return &value->get_object();
}

const json::array* json_reader::array_at(const json::object& parent,
                                         std::string_view key,
                                         std::string_view parent_path) const {
    const json::value* value = find_present(parent, key);
    if (value == nullptr) {
        return nullptr;
    }
    if (!value->is_array()) {
        fail_type(child_path(parent_path, key), "an array", *value);
    }
    return &value->get_array();
}

std::optional<std::string> json_reader::string_at(const json::object& parent,
                                                  std::string_view key,
                                                  std::string_view parent_path) const {
    const json::value* value = find_present(parent, key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->is_string()) {
        fail_type(child_path(parent_path, key), "a string", *value);
    }
    return std::string(value->get_string());
}

std::optional<bool> json_reader::bool_at(const json::object& parent,
                                         std::string_view key,
                                         std::string_view parent_path) const {
    const json::value* value = find_present(parent, key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->is_bool()) {
        fail_type(child_path(parent_path, key), "a boolean", *value);
    }
    return value->get_bool();
}

std::optional<std::int64_t> json_reader::int_at(const json::object& parent,
                                                std::string_view key,
                                                std::string_view parent_path) const {
    const json::value* value = find_present(parent, key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_int64()) {
        return value->get_int64();
    }
    if (value->is_uint64() &&
        value->get_uint64() <=
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(value->get_uint64());
    }
    if (value->is_double()) {
        const double number = value->get_double();
        // 2^63 is exactly representable; anything at or above it does not fit in int64.
        if (std::isfinite(number) && std::trunc(number) == number && number > -9.2e18 &&
            number < 9.2e18) {
            return static_cast<std::int64_t>(number);
        }
    }
    fail_type(child_path(parent_path, key), "an integer", *value);
}

std::optional<std::string> json_reader::id_at(const json::object& parent,
                                              std::string_view key,
                                              std::string_view parent_path) const {
    const json::value* value = find_present(parent, key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_string()) {
        return std::string(value->get_string());
    }
    if (value->is_int64()) {
        return std::to_string(value->get_int64());
    }
    if (value->is_uint64()) {
        return std::to_string(value->get_uint64());
    }
    fail_type(child_path(parent_path, key), "a string or an integer", *value);
}

const json::object& json_reader::as_object(const json::value& value, std::string_view path) const {
    if (!value.is_object()) {
        fail_type(path.empty() ? std::string_view("top level") : path, "an object", value);
    }
    return value.get_object();
}

}  // namespace eventcrawl::pipeline::detail
