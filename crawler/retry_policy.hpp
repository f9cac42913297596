#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace eventcrawl::crawler {

struct page_failure;

// How often and how long to wait before a failed page is requested again.
struct retry_policy {
    int max_attempts = 4;  // attempts per page, the first one included
    std::chrono::milliseconds base_delay{500};
    std::chrono::milliseconds max_delay{30000};  // cap of the backoff; Retry-After may exceed it
    double jitter = 0.2;                         // fraction of the backoff added or removed
};

// Returns the wait before the next attempt after `attempt` (1-based) failed, or nothing when no
// attempt is left or the wait would exceed `remaining_budget`. The backoff is
// base_delay * 2^(attempt - 1), scaled by a factor in [1 - jitter, 1 + jitter] derived from
// `jitter_seed` (equal seeds give equal delays), and capped at max_delay. A `retry_after` longer
// than that backoff replaces it, unjittered and not capped by max_delay. Throws
// std::invalid_argument when `attempt` is below 1 or the policy has a negative delay or jitter.
std::optional<std::chrono::milliseconds> next_delay(
    const retry_policy& policy,
    int attempt,
    std::optional<std::chrono::milliseconds> retry_after,
    std::chrono::milliseconds remaining_budget,
    std::uint64_t jitter_seed);

// Parses a Retry-After header value: delay-seconds ("120") or an HTTP-date in any of the three
// forms RFC 9110 section 5.6.7 lists ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94
// 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"). Returns the wait from `now`, zero for a date in
// the past, and nothing for an empty or invalid value.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// True when requesting the failed page again may succeed, given the attempts already made
// (failure.attempts):
// - While attempts remain, as the policy counts them: HTTP 429, 5xx and 401, timeouts, a
//   response that never arrived, and truncated or invalid bodies. On the search API a 401 is a
//   rejected CSRF token, which a reload of the listing page replaces. A missing response is any
//   net::ERR_* except a request the browser itself blocked or could not form.
// - Bot walls (HTTP 403, a listing without placeId, an HTML interstitial in place of JSON): once,
//   so only when failure.attempts is 1, because a WAF sometimes lets a second request through
//   but keeps blocking a client that insists.
// - Anything else (other 4xx, a lost browser, a CDP protocol error): never.
bool is_retryable(const page_failure& failure);

// True for a failure whose retry should load the listing page again instead of repeating the
// search request from the open page. That is a 401, because a reload renews the CSRF token,
// and a timeout, because the open page may still have a request in flight.
bool retry_needs_reload(const page_failure& failure);

}  // namespace eventcrawl::crawler
