#include "crawler/rate_limiter.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "crawler/detail/logger.hpp"

namespace eventcrawl::crawler {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using steady_clock = std::chrono::steady_clock;

token_bucket::token_bucket(double requests_per_second, int burst)
    : rate_(requests_per_second),
      capacity_(std::max(1, burst)),
      tokens_(static_cast<double>(std::max(1, burst))) {
    if (!(requests_per_second > 0.0)) {
        throw std::invalid_argument(
            "token_bucket needs a rate above 0 requests per second; use no bucket for an "
            "unlimited rate");
    }
}

token_bucket::time_point token_bucket::reserve(time_point now) {
    if (!started_) {
        updated_ = now;
        started_ = true;
    }
    if (now > updated_) {
        const std::chrono::duration<double> elapsed = now - updated_;
        tokens_ = std::min(capacity_, tokens_ + elapsed.count() * rate_);
        updated_ = now;
    }
    tokens_ -= 1.0;
    if (tokens_ >= 0.0) {
        return now;
    }
    // The balance is negative: this caller's token arrives after the ones reserved before it.
    const std::chrono::duration<double> wait(-tokens_ / rate_);
    return updated_ + std::chrono::round<steady_clock::duration>(wait);
}

milliseconds host_backoff::on_rate_limited(time_point now,
                                           std::optional<milliseconds> retry_after) {
    milliseconds pause = options_.first_pause;
    for (int i = 0; i < strikes_ && pause < options_.max_pause; ++i) {
        pause *= 2;
    }
    pause = std::min(pause, options_.max_pause);
    if (retry_after) {
        pause = std::max(*retry_after, milliseconds(0));
    }
    ++strikes_;
    successes_ = 0;
    paused_until_ = std::max(paused_until_, now + pause);
    return pause;
}

void host_backoff::on_success() {
    ++successes_;
    if (successes_ >= options_.successes_to_reset) {
        strikes_ = 0;
        successes_ = 0;
    }
}

rate_limiter::host_state::host_state(const rate_limiter_options& options) : backoff(options) {
    if (options.requests_per_second > 0.0) {
        bucket.emplace(options.requests_per_second, options.burst);
    }
}

rate_limiter::rate_limiter(rate_limiter_options options) : options_(options) {
    if (options_.requests_per_second < 0.0) {
        throw std::invalid_argument("invalid rate limit " +
                                    std::to_string(options_.requests_per_second) +
                                    " requests per second: expected 0 (unlimited) or more");
    }
}

rate_limiter::host_state& rate_limiter::state(const std::string& host) {
    auto found = hosts_.find(host);
    if (found == hosts_.end()) {
        found = hosts_.emplace(host, host_state(options_)).first;
    }
    return found->second;
}

asio::awaitable<bool> rate_limiter::acquire(std::string host) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    bool counted_pause = false;
    for (;;) {
        // The map never erases, so the reference stays valid across the waits below.
        auto& host_entry = state(host);
        auto now = steady_clock::now();

        // A paused host admits no request, and the pause may grow while this caller waits.
        if (now < host_entry.backoff.paused_until()) {
            if (!counted_pause) {
                ++host_entry.stats.waited_on_pause;
                counted_pause = true;
            }
            timer.expires_at(host_entry.backoff.paused_until());
            auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (error) {
                co_return false;
            }
            continue;
        }

        if (host_entry.bucket) {
            const auto ready = host_entry.bucket->reserve(now);
            if (ready > now) {
                timer.expires_at(ready);
                auto [error] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                if (error) {
                    co_return false;
                }
                // A 429 reported during the wait pauses this caller too; its token is lost.
                if (steady_clock::now() < host_entry.backoff.paused_until()) {
                    continue;
                }
            }
        }
        ++host_entry.stats.granted;
        co_return true;
    }
}

milliseconds rate_limiter::report_rate_limited(const std::string& host,
                                               std::optional<milliseconds> retry_after) {
    auto& host_entry = state(host);
    const auto pause = host_entry.backoff.on_rate_limited(steady_clock::now(), retry_after);
    ++host_entry.stats.rate_limited;
    host_entry.stats.last_pause = pause;
    detail::logger()->warn(
        "host rate limited, pausing requests host={} pause_ms={} retry_after={} strikes={}",
        host,
        pause.count(),
        retry_after ? std::to_string(retry_after->count()) + "ms" : "none",
        host_entry.backoff.strikes());
    return pause;
}

void rate_limiter::report_success(const std::string& host) {
    state(host).backoff.on_success();
}

host_rate_stats rate_limiter::stats(const std::string& host) const {
    const auto found = hosts_.find(host);
    return found == hosts_.end() ? host_rate_stats{} : found->second.stats;
}

std::string origin_host(std::string_view origin) {
    const auto scheme_end = origin.find("://");
    if (scheme_end != std::string_view::npos) {
        origin.remove_prefix(scheme_end + 3);
    }
    const auto path_start = origin.find('/');
    if (path_start != std::string_view::npos) {
        origin = origin.substr(0, path_start);
    }
    return std::string(origin);
}

}  // namespace eventcrawl::crawler
