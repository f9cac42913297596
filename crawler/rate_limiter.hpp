#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace eventcrawl::crawler {

struct rate_limiter_options {
    double requests_per_second = 0.0;  // per host; 0 = unlimited
    int burst = 1;                     // requests a host may make at once after an idle spell
    // Pause after a 429 without Retry-After; it doubles with each further 429 up to max_pause.
    std::chrono::milliseconds first_pause{5000};
    std::chrono::milliseconds max_pause{std::chrono::minutes(5)};
    // Successful requests in a row after which the next 429 pauses for first_pause again.
    int successes_to_reset = 10;
};

// Token bucket of one host, kept apart from timers so that tests can drive it with any clock.
// A reservation may take the balance below zero: callers then queue in reservation order.
class token_bucket {
public:
    using time_point = std::chrono::steady_clock::time_point;

    token_bucket(double requests_per_second, int burst);

    // Takes one token and returns the time at which the caller may send its request (`now` when
    // a token was available).
    time_point reserve(time_point now);

private:
    double rate_;  // tokens per second, above zero
    double capacity_;
    double tokens_;
    time_point updated_{};
    bool started_ = false;
};

// Long-backoff state of one host after HTTP 429 responses.
class host_backoff {
public:
    using time_point = std::chrono::steady_clock::time_point;

    explicit host_backoff(const rate_limiter_options& options) : options_(options) {}

    // Starts a pause at `now` and returns its length: `retry_after` when the response carried
    // one, otherwise first_pause doubled once per earlier 429 since the last reset, capped at
    // max_pause. A pause never shortens one already running.
    std::chrono::milliseconds on_rate_limited(time_point now,
                                              std::optional<std::chrono::milliseconds> retry_after);

    // Counts a successful request; successes_to_reset of them in a row reset the escalation.
    void on_success();

    time_point paused_until() const noexcept { return paused_until_; }
    int strikes() const noexcept { return strikes_; }

private:
    rate_limiter_options options_;
    time_point paused_until_{};
    int strikes_ = 0;  // 429 responses since the last reset
    int successes_ = 0;
};

// Counts of one host, for reports and tests.
struct host_rate_stats {
    int granted = 0;          // requests let through
    int rate_limited = 0;     // 429 responses reported
    int waited_on_pause = 0;  // acquisitions that found the host paused and waited
    std::chrono::milliseconds last_pause{0};
};

// Gates page requests per host: a token bucket of requests_per_second, and after a 429 a pause
// during which no request to that host starts. Shared by every city task of a crawl; use it from
// the crawl's one io_context thread.
class rate_limiter {
public:
    explicit rate_limiter(rate_limiter_options options);

    // Waits (on a steady_timer) until a request to `host` may start. Returns false when the wait
    // was cancelled, for example by a stop request.
    boost::asio::awaitable<bool> acquire(std::string host);

    // Starts or extends the host's pause after a 429, logs it at warning, and returns its length.
    std::chrono::milliseconds report_rate_limited(
        const std::string& host, std::optional<std::chrono::milliseconds> retry_after);

    void report_success(const std::string& host);

    host_rate_stats stats(const std::string& host) const;
    const rate_limiter_options& options() const noexcept { return options_; }

private:
    struct host_state {
        explicit host_state(const rate_limiter_options& options);
        std::optional<token_bucket> bucket;  // empty when the rate is unlimited
        host_backoff backoff;
        host_rate_stats stats;
    };

    host_state& state(const std::string& host);

    rate_limiter_options options_;
    std::map<std::string, host_state, std::less<>> hosts_;
};

// Returns the host[:port] of an origin such as "https://www.eventbrite.com" or
// "http://127.0.0.1:8080"; the text itself when it has no scheme.
std::string origin_host(std::string_view origin);

}  // namespace eventcrawl::crawler
