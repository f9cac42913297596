#include "crawler/retry_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <string>

#include "crawler/city_task.hpp"

namespace eventcrawl::crawler {

using std::chrono::milliseconds;

namespace {

// splitmix64 finalizer: spreads neighbouring seeds (page 2 and page 3) over the whole range.
std::uint64_t mix_seed(std::uint64_t value) {
    value += 0x9e3779b97f4a7c15ULL;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
    return value ^ (value >> 31);
}

milliseconds capped_backoff(const retry_policy& policy, int attempt) {
    auto delay = policy.base_delay;
    for (int i = 1; i < attempt && delay < policy.max_delay; ++i) {
        delay *= 2;
    }
    return std::min(delay, policy.max_delay);
}

// Cursor over a Retry-After value; each read returns false and leaves the value invalid when
// the expected token is not there.
class date_reader {
public:
    explicit date_reader(std::string_view text) : text_(text) {}

    bool at_end() const { return position_ == text_.size(); }

    bool literal(char expected) {
        if (at_end() || text_[position_] != expected) {
            return false;
        }
        ++position_;
        return true;
    }

    // Reads exactly `width` digits.
    bool digits(int width, int& value) {
        value = 0;
        for (int i = 0; i < width; ++i) {
            if (at_end() || std::isdigit(static_cast<unsigned char>(text_[position_])) == 0) {
                return false;
            }
            value = value * 10 + (text_[position_] - '0');
            ++position_;
        }
        return true;
    }

    std::string_view letters() {
        const auto start = position_;
        while (!at_end() && std::isalpha(static_cast<unsigned char>(text_[position_])) != 0) {
            ++position_;
        }
        return text_.substr(start, position_ - start);
    }

    // Reads "HH:MM:SS".
    bool time_of_day(std::chrono::seconds& time) {
        int hours = 0;
        int minutes = 0;
        int seconds = 0;
        if (!digits(2, hours) || !literal(':') || !digits(2, minutes) || !literal(':') ||
            !digits(2, seconds)) {
            return false;
        }
        // 60 is a leap second, which HTTP-date allows.
        if (hours > 23 || minutes > 59 || seconds > 60) {
            return false;
        }
        time = std::chrono::hours(hours) + std::chrono::minutes(minutes) +
               std::chrono::seconds(seconds);
        return true;
    }

    // Reads a three-letter English month name ("Nov").
    bool month(unsigned& value) {
        static constexpr std::array<std::string_view, 12> names = {
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        const auto name = letters();
        const auto found = std::find(names.begin(), names.end(), name);
        if (found == names.end()) {
            return false;
        }
        value = static_cast<unsigned>(found - names.begin()) + 1;
        return true;
    }

private:
    std::string_view text_;
    std::size_t position_ = 0;
};

bool is_day_name(std::string_view name) {
    static constexpr std::array<std::string_view, 14> names = {"Mon",
                                                               "Tue",
                                                               "Wed",
                                                               "Thu",
                                                               "Fri",
                                                               "Sat",
                                                               "Sun",
                                                               "Monday",
                                                               "Tuesday",
                                                               "Wednesday",
                                                               "Thursday",
                                                               "Friday",
                                                               "Saturday",
                                                               "Sunday"};
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::optional<std::chrono::sys_seconds> make_time(int year,
                                                  unsigned month,
                                                  int day,
                                                  std::chrono::seconds time_of_day) {
    const std::chrono::year_month_day date{
        std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
    if (!date.ok()) {
        return std::nullopt;
    }
    return std::chrono::sys_days(date) + time_of_day;
}

// Parses the three HTTP-date forms; the weekday name is checked for spelling only.
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text,
                                                        std::chrono::system_clock::time_point now) {
    date_reader reader(text);
    const auto day_name = reader.letters();
    if (!is_day_name(day_name)) {
        return std::nullopt;
    }
    int day = 0;
    unsigned month = 0;
    int year = 0;
    std::chrono::seconds time{0};

    if (!reader.literal(',')) {
        // asctime: "Sun Nov  6 08:49:37 1994", the day padded with a space.
        if (!reader.literal(' ') || !reader.month(month) || !reader.literal(' ')) {
            return std::nullopt;
        }
        if (reader.literal(' ')) {
            if (!reader.digits(1, day)) {
                return std::nullopt;
            }
        } else if (!reader.digits(2, day)) {
            return std::nullopt;
        }
        if (!reader.literal(' ') || !reader.time_of_day(time) || !reader.literal(' ') ||
            !reader.digits(4, year) || !reader.at_end()) {
            return std::nullopt;
        }
        return make_time(year, month, day, time);
    }

    if (!reader.literal(' ') || !reader.digits(2, day)) {
        return std::nullopt;
    }
    if (reader.literal('-')) {
        // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". RFC 9110 reads a two-digit year that
        // would lie more than 50 years ahead as the latest past year with those digits.
        int short_year = 0;
        if (!reader.month(month) || !reader.literal('-') || !reader.digits(2, short_year)) {
            return std::nullopt;
        }
        const std::chrono::year_month_day today{std::chrono::floor<std::chrono::days>(now)};
        const int this_year = static_cast<int>(today.year());
        year = this_year - this_year % 100 + short_year;
        if (year > this_year + 50) {
            year -= 100;
        }
    } else {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
        if (!reader.literal(' ') || !reader.month(month) || !reader.literal(' ') ||
            !reader.digits(4, year)) {
            return std::nullopt;
        }
    }
    if (!reader.literal(' ') || !reader.time_of_day(time) || !reader.literal(' ') ||
        reader.letters() != "GMT" || !reader.at_end()) {
        return std::nullopt;
    }
    return make_time(year, month, day, time);
}

// Chromium's errors for requests it would not send, or that a client-side rule blocked:
// repeating them gives the same error.
constexpr std::array<std::string_view, 5> permanent_network_errors = {
    "net::ERR_BLOCKED_BY_CLIENT",
    "net::ERR_BLOCKED_BY_RESPONSE",
    "net::ERR_INVALID_URL",
    "net::ERR_UNSAFE_PORT",
    "net::ERR_DISALLOWED_URL_SCHEME",
};

}  // namespace

std::optional<milliseconds> next_delay(const retry_policy& policy,
                                       int attempt,
                                       std::optional<milliseconds> retry_after,
                                       milliseconds remaining_budget,
                                       std::uint64_t jitter_seed) {
    if (attempt < 1) {
        throw std::invalid_argument(
            fmt::format("retry attempt {} is invalid: attempts are counted from 1", attempt));
    }
    if (policy.base_delay < milliseconds(0) || policy.max_delay < milliseconds(0) ||
        !(policy.jitter >= 0.0 && policy.jitter <= 1.0)) {
        throw std::invalid_argument(fmt::format(
            "retry policy is invalid (base_delay={} ms, max_delay={} ms, jitter={}): delays must "
            "not be negative and jitter must lie in [0, 1]",
            policy.base_delay.count(),
            policy.max_delay.count(),
            policy.jitter));
    }
    if (attempt >= policy.max_attempts) {
        return std::nullopt;
    }

    const auto backoff = capped_backoff(policy, attempt);
    const double unit = static_cast<double>(mix_seed(jitter_seed) >> 11) * 0x1.0p-53;
    const double factor = 1.0 + policy.jitter * (2.0 * unit - 1.0);
    auto delay = milliseconds(std::llround(static_cast<double>(backoff.count()) * factor));
    delay = std::clamp(delay, milliseconds(0), policy.max_delay);

    if (retry_after && *retry_after > delay) {
        delay = *retry_after;
    }
    if (delay > remaining_budget) {
        return std::nullopt;
    }
    return delay;
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              std::chrono::system_clock::time_point now) {
    const auto first = value.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    value = value.substr(first, value.find_last_not_of(" \t") - first + 1);

    if (std::all_of(value.begin(), value.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
        // Values past 10^10 s (over 300 years) are clamped there so the milliseconds fit.
        constexpr std::int64_t max_seconds = 10'000'000'000;
        std::int64_t seconds = 0;
        for (char digit : value) {
            seconds = std::min(max_seconds, seconds * 10 + (digit - '0'));
        }
        return std::chrono::duration_cast<milliseconds>(std::chrono::seconds(seconds));
    }

    const auto date = parse_http_date(value, now);
    if (!date) {
        return std::nullopt;
    }
    const auto wait = std::chrono::duration_cast<milliseconds>(*date - now);
    return std::max(wait, milliseconds(0));
}

bool is_retryable(const page_failure& failure) {
    if (failure.phase == "browser" || failure.phase == "connect") {
        return false;
    }
    const int status = failure.http_status;
    if (status == 429 || status == 401 || status >= 500) {
        return true;
    }
    if (failure.phase == "bot_wall") {
        return failure.attempts < 2;
    }
    if (failure.phase == "timeout") {
        return true;
    }
    if (!failure.network_error.empty()) {
        return std::find(permanent_network_errors.begin(),
                         permanent_network_errors.end(),
                         failure.network_error) == permanent_network_errors.end();
    }
    // A capture failure on a successful response is a truncated or invalid body.
    return failure.phase == "capture" && (status == 0 || (status >= 200 && status < 300));
}

bool retry_needs_reload(const page_failure& failure) {
    return failure.http_status == 401 || failure.phase == "timeout";
}

}  // namespace eventcrawl::crawler
