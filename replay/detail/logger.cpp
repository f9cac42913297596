#include "replay/detail/logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace eventcrawl::replay::detail {

std::shared_ptr<spdlog::logger> logger() {
    if (auto existing = spdlog::get("replay")) {
        return existing;
    }
    try {
        return spdlog::stderr_color_mt("replay");
    } catch (const spdlog::spdlog_ex&) {
        // Another thread registered it between the two calls.
        return spdlog::get("replay");
    }
}

}  // namespace eventcrawl::replay::detail
