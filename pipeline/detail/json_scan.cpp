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

object_assignment find_object_assignment(std::string_view html, std::string_view name) {
    std::size_t search_from = 0;
    while (true) {
        const std::size_t name_at = html.find(name, search_from);
        if (name_at == std::string_view::npos) {
            return {assignment_status::missing, 0};
        }
        search_from = name_at + name.size();

        std::size_t pos = html.find_first_not_of(" \t\r\n", search_from);
        if (pos == std::string_view::npos || html[pos] != '=' ||
            (pos + 1 < html.size() && html[pos + 1] == '=')) {
            continue;
        }
        pos = html.find_first_not_of(" \t\r\n", pos + 1);
        if (pos == std::string_view::npos || html[pos] == '<') {
            return {assignment_status::no_value, 0};
        }
        if (html[pos] == '{') {
            return {assignment_status::found, pos};
        }
    }
}

}  // namespace eventcrawl::pipeline::detail
