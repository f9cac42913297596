#include "crawler/detail/logger.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace eventcrawl::crawler::detail {

std::shared_ptr<spdlog::logger> logger() {
    static const std::shared_ptr<spdlog::logger> instance = [] {
        if (auto existing = spdlog::get("crawler")) {
            return existing;
        }
        try {
            return spdlog::stdout_color_mt("crawler");
        } catch (const spdlog::spdlog_ex&) {
            // Another thread registered it between the lookup and the creation.
            return spdlog::get("crawler");
        }
    }();
    return instance;
}

}  // namespace eventcrawl::crawler::detail
