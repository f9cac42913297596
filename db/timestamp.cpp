#include "db/timestamp.hpp"

#include <fmt/format.h>

namespace eventcrawl::db {

std::string format_utc_timestamp(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;

    const auto seconds_since_epoch = floor<seconds>(time);
    const auto day = floor<days>(seconds_since_epoch);
    const year_month_day date{day};
    const hh_mm_ss clock_time{seconds_since_epoch - day};

    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                       static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()),
                       static_cast<unsigned>(date.day()),
                       clock_time.hours().count(),
                       clock_time.minutes().count(),
                       clock_time.seconds().count());
}

std::string utc_timestamp_now() {
    return format_utc_timestamp(std::chrono::system_clock::now());
}

}  // namespace eventcrawl::db
