#include "db/detail/logger.hpp"

#include <spdlog/common.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace eventcrawl::db::detail {

std::shared_ptr<spdlog::logger> logger() {
    static constexpr const char* name = "db";
    if (auto existing = spdlog::get(name)) {
        return existing;
    }
    try {
        return spdlog::stdout_color_mt(name);
    } catch (const spdlog::spdlog_ex&) {
        // Another thread registered the logger between get() and stdout_color_mt().
        return spdlog::get(name);
    }
}

}  // namespace eventcrawl::db::detail
