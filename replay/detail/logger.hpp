#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace eventcrawl::replay::detail {

// The module's "replay" logger, writing to stderr; created on first use.
std::shared_ptr<spdlog::logger> logger();

}  // namespace eventcrawl::replay::detail
