#pragma once

#include <cstddef>
#include <string_view>

namespace eventcrawl::pipeline::detail {

// Result of looking for the end of a JSON value that starts at a given offset.
enum class scan_status {
    complete,    // `end` is one past the closing brace or bracket
    incomplete,  // the text ends, or an HTML tag starts, before the value is closed
    malformed,   // a closing bracket does not match the open one
};

struct scan_result {
    scan_status status = scan_status::incomplete;
    std::size_t end = 0;
};

// Finds the end of the JSON object or array that opens at text[begin]. The scan tracks
// strings and backslash escapes, so braces and "</script>" inside strings do not count.
// A '<' outside a string means the script element ended before the value did, because
// JSON never contains '<' outside strings.
scan_result scan_json_value(std::string_view text, std::size_t begin);

// Result of looking for an object assigned to a script variable (`name = {...}`) in HTML.
enum class assignment_status {
    found,     // `value_begin` is the offset of the object's opening brace
    missing,   // the text has no assignment to the name
    no_value,  // an assignment whose value is missing before the text or the script ends
};

struct object_assignment {
    assignment_status status = assignment_status::missing;
    std::size_t value_begin = 0;
};

// Finds the first assignment of an object to `name`. Reads such as `name||{}`, comparisons
// (`==`) and assignments of values other than objects are passed over.
object_assignment find_object_assignment(std::string_view html, std::string_view name);

}  // namespace eventcrawl::pipeline::detail
