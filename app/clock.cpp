#include "app/clock.hpp"

#include <fmt/format.h>

namespace eventcrawl::app {

std::string format_utc_iso(std::chrono::system_clock::time_point when) {
    // fmt 9 formats time points in the local zone, so the fields are computed here in UTC.
    const auto seconds = std::chrono::floor<std::chrono::seconds>(when);
    const auto days = std::chrono::floor<std::chrono::days>(seconds);
    const std::chrono::year_month_day date{days};
    const std::chrono::hh_mm_ss time{seconds - days};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                       static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()),
                       static_cast<unsigned>(date.day()),
                       time.hours().count(),
                       time.minutes().count(),
                       time.seconds().count());
}

}  // namespace eventcrawl::app
