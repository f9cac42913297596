#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace eventcrawl::app {

// Sets environment variables from a .env file (KEY=VALUE lines; `export ` prefixes, '#'
// comments and single or double quotes around values are allowed). A variable that is already
// set keeps its value, so the precedence is: flags > environment > .env > defaults. A missing
// file is not an error. Returns the names it set. Throws std::runtime_error naming the file and
// line of a malformed entry.
std::vector<std::string> load_dotenv(const std::filesystem::path& path);

}  // namespace eventcrawl::app
