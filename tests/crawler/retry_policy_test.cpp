#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "crawler/retry_policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

#include "crawler/city_task.hpp"
#include "crawler/detail/page_tracker.hpp"

using eventcrawl::crawler::is_retryable;
using eventcrawl::crawler::next_delay;
using eventcrawl::crawler::page_failure;
using eventcrawl::crawler::parse_retry_after;
using eventcrawl::crawler::retry_needs_reload;
using eventcrawl::crawler::retry_policy;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds large_budget{10'000'000};

retry_policy policy_without_jitter(int max_attempts) {
    retry_policy policy;
    policy.max_attempts = max_attempts;
    policy.jitter = 0.0;
    return policy;
}

// 1994-11-06 08:49:37 UTC, the instant of RFC 9110's example date.
std::chrono::system_clock::time_point example_now() {
    using namespace std::chrono;
    return sys_days(year(1994) / November / 6) + hours(8) + minutes(49) + seconds(37);
}

// Shows an optional delay in failure messages.
std::string describe(std::optional<milliseconds> delay) {
    return delay ? std::to_string(delay->count()) + " ms" : "none";
}

}  // namespace

TEST_SUITE("crawler.retry") {
    TEST_CASE("backoff doubles up to cap") {
        // base 500 ms, max 30 s: 500 * 2^(attempt - 1), then 30000 from attempt 7.
        const long long expected[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
        const auto policy = policy_without_jitter(20);
        for (int attempt = 1; attempt <= 9; ++attempt) {
            CAPTURE(attempt);
            const auto delay = next_delay(policy, attempt, std::nullopt, large_budget, 7);
            REQUIRE(delay.has_value());
            CHECK(delay->count() == expected[attempt - 1]);
        }
    }

    TEST_CASE("backoff survives huge attempt") {
        const auto policy = policy_without_jitter(1000);
        const auto delay = next_delay(policy, 900, std::nullopt, large_budget, 7);
        REQUIRE(delay.has_value());
        CHECK(delay->count() == 30000);
    }

    TEST_CASE("jitter stays within bounds") {
        struct jitter_case {
            int attempt;
            long long low;
            long long high;
        };
        // attempt 1: 500 ms +-20 %. attempt 10: capped at 30 s, so only the lower side remains.
        const jitter_case cases[] = {{1, 400, 600}, {3, 1600, 2400}, {10, 24000, 30000}};
        retry_policy policy;
        policy.max_attempts = 20;
        for (const auto& bounds : cases) {
            CAPTURE(bounds.attempt);
            milliseconds::rep lowest = bounds.high;
            milliseconds::rep highest = bounds.low;
            for (std::uint64_t seed = 0; seed < 1000; ++seed) {
                const auto delay =
                    next_delay(policy, bounds.attempt, std::nullopt, large_budget, seed);
                REQUIRE(delay.has_value());
                lowest = std::min(lowest, delay->count());
                highest = std::max(highest, delay->count());
            }
            CAPTURE(lowest);
            CAPTURE(highest);
            CHECK(lowest >= bounds.low);
            CHECK(highest <= bounds.high);
            // 1000 seeds reach close to both ends, so the jitter is actually applied.
            const auto spread = bounds.high - bounds.low;
            CHECK(lowest < bounds.low + spread / 10);
            CHECK(highest > bounds.high - spread / 10);
        }
    }

    TEST_CASE("jitter deterministic per seed") {
        const retry_policy policy;
        int differing = 0;
        for (std::uint64_t seed = 0; seed < 50; ++seed) {
            CAPTURE(seed);
            const auto first = next_delay(policy, 2, std::nullopt, large_budget, seed);
            const auto second = next_delay(policy, 2, std::nullopt, large_budget, seed);
            REQUIRE(first.has_value());
            REQUIRE(second.has_value());
            CHECK(first->count() == second->count());
            const auto neighbour = next_delay(policy, 2, std::nullopt, large_budget, seed + 1);
            REQUIRE(neighbour.has_value());
            if (neighbour->count() != first->count()) {
                ++differing;
            }
        }
        CHECK(differing > 40);
    }

    TEST_CASE("retry after versus backoff") {
        struct precedence_case {
            const char* name;
            int attempt;
            std::optional<long long> retry_after_ms;
            long long budget_ms;
            std::optional<long long> expected_ms;
        };
        // Backoff without jitter: attempt 1 = 500 ms, attempt 2 = 1000 ms.
        const precedence_case cases[] = {
            {"longer header wins", 1, 1000, 100000, 1000},
            {"shorter header ignored", 2, 200, 100000, 1000},
            {"zero header ignored", 1, 0, 100000, 500},
            {"header beyond max_delay", 1, 60000, 100000, 60000},
            {"header beyond budget", 1, 60000, 10000, std::nullopt},
            {"header equal to budget", 1, 10000, 10000, 10000},
        };
        const auto policy = policy_without_jitter(4);
        for (const auto& precedence : cases) {
            const std::string name = precedence.name;
            CAPTURE(name);
            std::optional<milliseconds> retry_after;
            if (precedence.retry_after_ms) {
                retry_after = milliseconds(*precedence.retry_after_ms);
            }
            const auto delay = next_delay(
                policy, precedence.attempt, retry_after, milliseconds(precedence.budget_ms), 3);
            const auto shown = describe(delay);
            CAPTURE(shown);
            REQUIRE(delay.has_value() == precedence.expected_ms.has_value());
            if (delay) {
                CHECK(delay->count() == *precedence.expected_ms);
            }
        }
    }

    TEST_CASE("budget exhaustion ends retries") {
        struct budget_case {
            int attempt;
            long long budget_ms;
            bool expect_delay;
        };
        // attempt 3 waits 2000 ms without jitter.
        const budget_case cases[] = {
            {3, 2000, true}, {3, 1999, false}, {3, 0, false}, {3, -5, false}, {1, 500, true}};
        const auto policy = policy_without_jitter(4);
        for (const auto& budget : cases) {
            CAPTURE(budget.attempt);
            CAPTURE(budget.budget_ms);
            const auto delay =
                next_delay(policy, budget.attempt, std::nullopt, milliseconds(budget.budget_ms), 3);
            CHECK(delay.has_value() == budget.expect_delay);
        }
    }

    TEST_CASE("max attempts ends retries") {
        struct attempts_case {
            int max_attempts;
            int attempt;
            bool expect_delay;
        };
        const attempts_case cases[] = {
            {4, 1, true},
            {4, 3, true},
            {4, 4, false},
            {4, 5, false},
            {1, 1, false},
            {2, 1, true},
            {2, 2, false},
        };
        for (const auto& attempts : cases) {
            CAPTURE(attempts.max_attempts);
            CAPTURE(attempts.attempt);
            const auto policy = policy_without_jitter(attempts.max_attempts);
            const auto delay = next_delay(policy, attempts.attempt, std::nullopt, large_budget, 3);
            CHECK(delay.has_value() == attempts.expect_delay);
        }
    }

    TEST_CASE("invalid attempt or policy rejected") {
        const retry_policy policy;
        CHECK_THROWS_AS(next_delay(policy, 0, std::nullopt, large_budget, 1),
                        std::invalid_argument);
        auto negative = policy;
        negative.base_delay = milliseconds(-1);
        CHECK_THROWS_AS(next_delay(negative, 1, std::nullopt, large_budget, 1),
                        std::invalid_argument);
        auto wide = policy;
        wide.jitter = 1.5;
        CHECK_THROWS_AS(next_delay(wide, 1, std::nullopt, large_budget, 1), std::invalid_argument);
    }

    TEST_CASE("retry after seconds parsed") {
        struct seconds_case {
            const char* value;
            std::optional<long long> expected_ms;
        };
        const seconds_case cases[] = {
            {"1", 1000},
            {"0", 0},
            {"120", 120000},
            {" 30\t", 30000},
            {"99999999999999999999", 10'000'000'000'000},
            {"", std::nullopt},
            {"  ", std::nullopt},
            {"-5", std::nullopt},
            {"1.5", std::nullopt},
            {"10s", std::nullopt},
            {"soon", std::nullopt},
        };
        for (const auto& seconds : cases) {
            const std::string value = seconds.value;
            CAPTURE(value);
            const auto delay = parse_retry_after(value, example_now());
            const auto shown = describe(delay);
            CAPTURE(shown);
            REQUIRE(delay.has_value() == seconds.expected_ms.has_value());
            if (delay) {
                CHECK(delay->count() == *seconds.expected_ms);
            }
        }
    }

    TEST_CASE("retry after http date parsed") {
        struct date_case {
            const char* value;
            std::optional<long long> expected_ms;  // from 1994-11-06 08:49:37 UTC
        };
        const date_case cases[] = {
            {"Sun, 06 Nov 1994 08:49:47 GMT", 10000},
            {"Mon, 07 Nov 1994 08:49:37 GMT", 86400000},
            {"Sunday, 06-Nov-94 08:50:37 GMT", 60000},
            {"Sun Nov  6 08:49:40 1994", 3000},
            {"Sun Nov 16 08:49:37 1994", 864000000},
            {"Sun, 06 Nov 1994 08:49:37 GMT", 0},
            // A date in the past means the client may retry at once.
            {"Sun, 06 Nov 1994 08:00:00 GMT", 0},
            {"Fri, 01 Jan 1971 00:00:00 GMT", 0},
            {"Sun, 31 Feb 1994 08:49:37 GMT", std::nullopt},
            {"Sun, 06 Nov 1994 25:00:00 GMT", std::nullopt},
            {"Sun, 06 Nov 1994 08:49:47 PST", std::nullopt},
            {"Sun, 06 Foo 1994 08:49:47 GMT", std::nullopt},
            {"Xyz, 06 Nov 1994 08:49:47 GMT", std::nullopt},
            {"Sun, 06 Nov 1994 08:49:47 GMT trailing", std::nullopt},
            {"Sun, 6 Nov 1994 08:49:47 GMT", std::nullopt},
        };
        for (const auto& date : cases) {
            const std::string value = date.value;
            CAPTURE(value);
            const auto delay = parse_retry_after(value, example_now());
            const auto shown = describe(delay);
            CAPTURE(shown);
            REQUIRE(delay.has_value() == date.expected_ms.has_value());
            if (delay) {
                CHECK(delay->count() == *date.expected_ms);
            }
        }
    }

    TEST_CASE("two digit year within fifty years") {
        using namespace std::chrono;
        const system_clock::time_point now = sys_days(year(2026) / January / 1);
        // "70" is 2070 (44 years ahead, not more than 50); "94" would be 2094, so it is 1994.
        const auto ahead = parse_retry_after("Thursday, 01-Jan-70 00:00:00 GMT", now);
        REQUIRE(ahead.has_value());
        const auto expected = duration_cast<milliseconds>(sys_days(year(2070) / January / 1) - now);
        CHECK(ahead->count() == expected.count());
        const auto past = parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now);
        REQUIRE(past.has_value());
        CHECK(past->count() == 0);
    }

    TEST_CASE("failure retryability by kind") {
        struct kind_case {
            const char* name;
            const char* phase;
            int status;
            const char* network_error;
            int attempts;
            bool retryable;
            bool reload;
        };
        const kind_case cases[] = {
            {"listing 503", "navigate", 503, "", 3, true, false},
            {"search 500", "capture", 500, "", 1, true, false},
            {"search 429", "bot_wall", 429, "", 3, true, false},
            {"search 401 csrf", "bot_wall", 401, "", 2, true, true},
            {"listing 403 first", "bot_wall", 403, "", 1, true, false},
            {"listing 403 second", "bot_wall", 403, "", 2, false, false},
            {"no place id first", "bot_wall", 200, "", 1, true, false},
            {"no place id second", "bot_wall", 200, "", 2, false, false},
            {"timeout", "timeout", 0, "", 2, true, true},
            {"dropped search", "capture", 0, "net::ERR_EMPTY_RESPONSE", 1, true, false},
            {"refused navigation", "navigate", 0, "net::ERR_CONNECTION_REFUSED", 1, true, false},
            {"blocked by client", "navigate", 0, "net::ERR_BLOCKED_BY_CLIENT", 1, false, false},
            {"truncated body", "capture", 200, "", 1, true, false},
            {"listing 404", "navigate", 404, "", 1, false, false},
            {"search 400", "capture", 400, "", 1, false, false},
            {"lost browser", "browser", 0, "", 1, false, false},
            {"target not opened", "connect", 0, "", 1, false, false},
        };
        for (const auto& kind : cases) {
            const std::string name = kind.name;
            CAPTURE(name);
            page_failure failure;
            failure.phase = kind.phase;
            failure.http_status = kind.status;
            failure.network_error = kind.network_error;
            failure.attempts = kind.attempts;
            CHECK(is_retryable(failure) == kind.retryable);
            CHECK(retry_needs_reload(failure) == kind.reload);
        }
    }

    TEST_CASE("tracker reads retry after header") {
        namespace json = boost::json;
        const char* spellings[] = {"Retry-After", "retry-after", "RETRY-AFTER"};
        for (const char* spelling : spellings) {
            const std::string name = spelling;
            CAPTURE(name);
            eventcrawl::crawler::detail::page_tracker tracker;
            eventcrawl::crawler::cdp_event sent;
            sent.method = "Network.requestWillBeSent";
            sent.params["requestId"] = "r1";
            sent.params["type"] = "XHR";
            json::object request;
            request["url"] = "http://127.0.0.1:1/api/v3/destination/search/";
            request["method"] = "POST";
            sent.params["request"] = std::move(request);
            tracker.apply(sent);

            eventcrawl::crawler::cdp_event received;
            received.method = "Network.responseReceived";
            received.params["requestId"] = "r1";
            json::object headers;
            headers["Content-Type"] = "text/html";
            headers[name] = "7";
            json::object response;
            response["status"] = 429;
            response["mimeType"] = "text/html";
            response["headers"] = std::move(headers);
            received.params["response"] = std::move(response);
            tracker.apply(received);

            const auto* tracked = tracker.find("r1");
            REQUIRE(tracked != nullptr);
            CHECK(tracked->status == 429);
            CHECK(tracked->retry_after == "7");
        }
    }

    TEST_CASE("tracker without retry after header") {
        eventcrawl::crawler::detail::page_tracker tracker;
        eventcrawl::crawler::cdp_event sent;
        sent.method = "Network.requestWillBeSent";
        sent.params["requestId"] = "r2";
        tracker.apply(sent);
        eventcrawl::crawler::cdp_event received;
        received.method = "Network.responseReceived";
        received.params["requestId"] = "r2";
        boost::json::object response;
        response["status"] = 503;
        response["headers"] = boost::json::object{{"Retry-After-Extra", "9"}};
        received.params["response"] = std::move(response);
        tracker.apply(received);
        const auto* tracked = tracker.find("r2");
        REQUIRE(tracked != nullptr);
        CHECK(tracked->retry_after.empty());
    }
}
