#include "app/dotenv.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace eventcrawl::app {
namespace {

std::string trim(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t\r");
    return text.substr(first, last - first + 1);
}

bool is_valid_name(const std::string& name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
        return false;
    }
    for (const char c : name) {
        const bool allowed =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::vector<std::string> load_dotenv(const std::filesystem::path& path) {
    std::vector<std::string> names;
    std::ifstream in(path);
    if (!in) {
        return names;
    }
    std::string raw_line;
    int line_number = 0;
    while (std::getline(in, raw_line)) {
        ++line_number;
        std::string line = trim(raw_line);
        if (line.empty() || line[0] == '#') {
            continue;
        }
        if (line.rfind("export ", 0) == 0) {
            line = trim(line.substr(7));
        }
        const auto equals = line.find('=');
        const std::string name = equals == std::string::npos ? line : trim(line.substr(0, equals));
        if (equals == std::string::npos || !is_valid_name(name)) {
            throw std::runtime_error(path.string() + ":" + std::to_string(line_number) +
                                     ": invalid entry '" + raw_line +
                                     "': expected NAME=VALUE with NAME of letters, digits and _");
        }
        std::string value = trim(line.substr(equals + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.find(value.front(), 1) != std::string::npos) {
            value = value.substr(1, value.find(value.front(), 1) - 1);
        } else if (const auto comment = value.find(" #"); comment != std::string::npos) {
            value = trim(value.substr(0, comment));  // an unquoted value ends at " #"
        }
        if (std::getenv(name.c_str()) == nullptr) {
            setenv(name.c_str(), value.c_str(), 0);
            names.push_back(name);
        }
    }
    return names;
}

}  // namespace eventcrawl::app
