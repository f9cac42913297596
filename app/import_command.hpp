#pragma once

#include <string>
#include <vector>

namespace eventcrawl::app {

struct import_options {
    std::string db_dsn;
    std::vector<std::string> files;
    std::string command_line;
};

// Transforms and loads recorded payload files. Each file loads in whole or not at all; files that
// are known non-event documents (request bodies, API error responses) are skipped and reported.
// Returns the process exit code: 0 when every file loaded, 2 when some failed, 1 when the
// database could not be opened.
int run_import(const import_options& options);

}  // namespace eventcrawl::app
