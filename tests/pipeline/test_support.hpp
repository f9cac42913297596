#pragma once

#include <doctest/doctest.h>

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "pipeline/transform.hpp"

// Prints optional fields in failed checks as their value or "null".
namespace doctest {
template <typename T>
struct StringMaker<std::optional<T>> {
    static String convert(const std::optional<T>& value) {
        return value ? toString(*value) : String("null");
    }
};
}  // namespace doctest

namespace eventcrawl::pipeline::testing {

// Returns the path of a file in tests/fixtures/eventbrite.
std::string fixture_path(std::string_view name);

// Returns a recorded payload as `eventcrawl import` would read it (source = file, url = path).
raw_page fixture_page(std::string_view name);

// Builds a crawled page for city "new-york", page 3.
raw_page crawled_page(page_source source, std::string body);

// Builds a file page whose body is `body`, named "inline.json".
raw_page inline_page(std::string body);

// Returns a minimal expanded destination_event (id 1000000000001, Europe/London) that tests
// modify field by field.
boost::json::object minimal_event();

// Transforms one destination_event given as a file body.
transform_output transform_event(const boost::json::object& event);

// Returns the event with `id`, or nullptr.
const event_record* find_event(const transform_output& output, std::string_view id);

// Runs transform_page and records the transform_error it throws. `thrown` stays false when
// transform_page returns normally.
struct caught_failure {
    bool thrown = false;
    transform_failure failure = transform_failure::invalid_json;
    std::string message;
};
caught_failure catch_failure(const raw_page& page);

}  // namespace eventcrawl::pipeline::testing
