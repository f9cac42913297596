#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace eventcrawl::db::detail {

// Returns the "db" logger, creating it on first use. Safe when another part of the program
// has already registered a logger of that name.
std::shared_ptr<spdlog::logger> logger();

}  // namespace eventcrawl::db::detail
