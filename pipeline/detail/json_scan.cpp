#include "pipeline/detail/json_scan.hpp"

#include <string>

namespace eventcrawl::pipeline::detail {

scan_result scan_json_value(std::string_view text, std::size_t begin) {
    std::string open_stack;
    bool in_string = false;
    bool escaped = false;

    for (std::size_t i = begin; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }

        switch (c) {
            case '"':
                in_string = true;
                break;
            case '{':
            case '[':
                open_stack.push_back(c);
                break;
            case '}':
            case ']': {
                const char expected_open = c == '}' ? '{' : '[';
                if (open_stack.empty() || open_stack.back() != expected_open) {
                    return {scan_status::malformed, i};
                }
                open_stack.pop_back();
                if (open_stack.empty()) {
                    return {scan_status::complete, i + 1};
                }
                break;
            }
            case '<':
                return {scan_status::incomplete, i};
            default:
                break;
        }
    }
    return {scan_status::incomplete, text.size()};
}

}  // namespace eventcrawl::pipeline::detail
