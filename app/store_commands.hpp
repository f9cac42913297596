#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace eventcrawl::app {

// `eventcrawl runs`: lists the newest runs with their counts and status. Returns the exit code.
int run_list_runs(const std::string& db_dsn, int limit);

struct export_options {
    std::string db_dsn;
    std::string format = "jsonl";      // "csv" or "jsonl"
    std::optional<std::string> since;  // date (YYYY-MM-DD) or ISO 8601 UTC time
    std::optional<std::string> city;
    std::string output;  // empty or "-": stdout
};

// `eventcrawl export`: writes the stored events as CSV or JSON lines. Returns the exit code.
int run_export(const export_options& options);

// `eventcrawl retransform --run ID`: transforms the run's archived pages again and upserts the
// events, so a transform change applies without crawling again. Returns the exit code.
int run_retransform(const std::string& db_dsn, std::int64_t run_id);

}  // namespace eventcrawl::app
