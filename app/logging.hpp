#pragma once

#include <string>

namespace eventcrawl::app {

// Creates the per-module loggers (app, config, crawler, pipeline, db) on one stderr sink.
// level: trace, debug, info, warn, error, critical or off. format: "text" or "json" (one JSON
// object per line with ts, level, logger and msg). Throws std::invalid_argument on a bad value.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace eventcrawl::app
