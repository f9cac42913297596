#pragma once

#include <memory>

#include <spdlog/spdlog.h>

namespace eventcrawl::crawler::detail {

// The module's logger, "crawler"; created on first use, reused if the app registered it first.
std::shared_ptr<spdlog::logger> logger();

}  // namespace eventcrawl::crawler::detail
