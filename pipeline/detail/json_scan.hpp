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

}  // namespace eventcrawl::pipeline::detail
