#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "crawler/browser_process.hpp"
#include "crawler/rate_limiter.hpp"
#include "tests/crawler/replay_process.hpp"

namespace asio = boost::asio;
using eventcrawl::crawler::host_backoff;
using eventcrawl::crawler::origin_host;
using eventcrawl::crawler::rate_limiter;
using eventcrawl::crawler::rate_limiter_options;
using eventcrawl::crawler::token_bucket;
using eventcrawl::crawler::testing::temp_folder;
using std::chrono::milliseconds;
using time_point = std::chrono::steady_clock::time_point;

namespace {

// A fixed, arbitrary instant for the clock-free bucket and backoff tests.
const time_point start_time = time_point{} + std::chrono::hours(1000);

long long offset_ms(time_point at) {
    return std::chrono::duration_cast<milliseconds>(at - start_time).count();
}

// Acquires a slot for `host` and appends `label` to `order` once granted.
asio::awaitable<void> acquire_and_record(rate_limiter* limiter,
                                         std::string host,
                                         std::string label,
                                         std::vector<std::string>* order,
                                         std::vector<bool>* results) {
    const bool granted = co_await limiter->acquire(std::move(host));
    results->push_back(granted);
    if (granted) {
        order->push_back(std::move(label));
    }
}

}  // namespace

TEST_SUITE("crawler.rate_limit") {
    TEST_CASE("bucket spaces reservations by rate") {
        token_bucket bucket(2.0, 1);  // one request every 500 ms
        struct reservation {
            long long at_ms;
            long long expected_ms;
        };
        // Three at once queue at 0, 500 and 1000 ms. At 2000 ms the bucket has refilled to its
        // capacity of one token only, so the next two go at 2000 and 2500 ms.
        const reservation cases[] = {
            {0, 0}, {0, 500}, {0, 1000}, {2000, 2000}, {2000, 2500}, {2600, 3000}};
        for (const auto& reservation : cases) {
            CAPTURE(reservation.at_ms);
            const auto ready = bucket.reserve(start_time + milliseconds(reservation.at_ms));
            CHECK(offset_ms(ready) == reservation.expected_ms);
        }
    }

    TEST_CASE("bucket burst lets requests through") {
        token_bucket bucket(1.0, 3);
        CHECK(offset_ms(bucket.reserve(start_time)) == 0);
        CHECK(offset_ms(bucket.reserve(start_time)) == 0);
        CHECK(offset_ms(bucket.reserve(start_time)) == 0);
        CHECK(offset_ms(bucket.reserve(start_time)) == 1000);
    }

    TEST_CASE("bucket rejects zero rate") {
        CHECK_THROWS_AS(token_bucket(0.0, 1), std::invalid_argument);
        CHECK_THROWS_AS(rate_limiter(rate_limiter_options{-1.0}), std::invalid_argument);
    }

    TEST_CASE("backoff doubles to max pause") {
        rate_limiter_options options;
        options.first_pause = milliseconds(5000);
        options.max_pause = milliseconds(300000);
        host_backoff backoff(options);
        const long long expected[] = {5000, 10000, 20000, 40000, 80000, 160000, 300000, 300000};
        for (int strike = 0; strike < 8; ++strike) {
            CAPTURE(strike);
            const auto pause = backoff.on_rate_limited(start_time, std::nullopt);
            CHECK(pause.count() == expected[strike]);
        }
        CHECK(offset_ms(backoff.paused_until()) == 300000);
    }

    TEST_CASE("backoff honours retry after") {
        rate_limiter_options options;
        host_backoff backoff(options);
        CHECK(backoff.on_rate_limited(start_time, milliseconds(2000)).count() == 2000);
        CHECK(offset_ms(backoff.paused_until()) == 2000);
        // A shorter Retry-After later does not end the running pause early.
        CHECK(backoff.on_rate_limited(start_time + milliseconds(100), milliseconds(500)).count() ==
              500);
        CHECK(offset_ms(backoff.paused_until()) == 2000);
        // Without Retry-After the escalation counts the two earlier 429s.
        CHECK(backoff.on_rate_limited(start_time, std::nullopt).count() == 20000);
    }

    TEST_CASE("backoff resets after successes") {
        rate_limiter_options options;
        options.first_pause = milliseconds(1000);
        options.successes_to_reset = 3;
        struct reset_case {
            int successes;
            long long expected_pause_ms;
        };
        // Two 429s, then some successes, then a third 429.
        const reset_case cases[] = {{0, 4000}, {2, 4000}, {3, 1000}, {7, 1000}};
        for (const auto& reset : cases) {
            CAPTURE(reset.successes);
            host_backoff backoff(options);
            backoff.on_rate_limited(start_time, std::nullopt);
            backoff.on_rate_limited(start_time, std::nullopt);
            for (int i = 0; i < reset.successes; ++i) {
                backoff.on_success();
            }
            CHECK(backoff.on_rate_limited(start_time, std::nullopt).count() ==
                  reset.expected_pause_ms);
        }
    }

    TEST_CASE("pause holds host not others") {
        rate_limiter limiter(rate_limiter_options{});
        limiter.report_rate_limited("paused.test", milliseconds(50));
        std::vector<std::string> order;
        std::vector<bool> results;
        asio::io_context io;
        asio::co_spawn(io,
                       acquire_and_record(&limiter, "paused.test", "paused", &order, &results),
                       asio::detached);
        asio::co_spawn(io,
                       acquire_and_record(&limiter, "other.test", "other", &order, &results),
                       asio::detached);
        io.run();

        REQUIRE(order.size() == 2);
        CHECK(order[0] == "other");
        CHECK(order[1] == "paused");
        CHECK(limiter.stats("paused.test").waited_on_pause == 1);
        CHECK(limiter.stats("paused.test").rate_limited == 1);
        CHECK(limiter.stats("paused.test").granted == 1);
        CHECK(limiter.stats("other.test").waited_on_pause == 0);
        CHECK(limiter.stats("other.test").granted == 1);
    }

    TEST_CASE("rate grants in request order") {
        rate_limiter_options options;
        options.requests_per_second = 200.0;  // 5 ms apart
        rate_limiter limiter(options);
        std::vector<std::string> order;
        std::vector<bool> results;
        asio::io_context io;
        for (const char* label : {"first", "second", "third", "fourth"}) {
            asio::co_spawn(io,
                           acquire_and_record(&limiter, "host.test", label, &order, &results),
                           asio::detached);
        }
        io.run();

        const std::vector<std::string> expected = {"first", "second", "third", "fourth"};
        CHECK(order == expected);
        CHECK(limiter.stats("host.test").granted == 4);
    }

    TEST_CASE("cancelled wait returns false") {
        rate_limiter limiter(rate_limiter_options{});
        limiter.report_rate_limited("paused.test", milliseconds(60000));
        std::vector<std::string> order;
        std::vector<bool> results;
        asio::io_context io;
        asio::cancellation_signal stop;
        asio::co_spawn(io,
                       acquire_and_record(&limiter, "paused.test", "paused", &order, &results),
                       asio::bind_cancellation_slot(stop.slot(), asio::detached));
        io.poll();
        stop.emit(asio::cancellation_type::terminal);
        io.run();

        REQUIRE(results.size() == 1);
        CHECK_FALSE(results[0]);
        CHECK(order.empty());
        CHECK(limiter.stats("paused.test").granted == 0);
    }

    TEST_CASE("origin host from origins") {
        struct host_case {
            const char* origin;
            const char* host;
        };
        const host_case cases[] = {
            {"https://www.eventbrite.com", "www.eventbrite.com"},
            {"http://127.0.0.1:8080", "127.0.0.1:8080"},
            {"https://www.eventbrite.de/", "www.eventbrite.de"},
            {"www.eventbrite.ie", "www.eventbrite.ie"},
        };
        for (const auto& host : cases) {
            CAPTURE(host.origin);
            CHECK(origin_host(host.origin) == host.host);
        }
    }
}

TEST_SUITE("crawler.browser_process") {
    TEST_CASE("failed launch quotes output") {
        // A stand-in for Chromium that prints 30 lines and exits before opening a port.
        temp_folder folder;
        const auto script = folder.path() / "fake-chromium";
        {
            std::ofstream out(script);
            out << "#!/bin/sh\n"
                   "i=1\n"
                   "while [ $i -le 30 ]; do echo \"output line $i\"; i=$((i + 1)); done\n"
                   "echo 'fatal: no usable display' >&2\n"
                   "exit 3\n";
        }
        ::chmod(script.c_str(), 0700);

        eventcrawl::crawler::browser_launch_options options;
        options.chromium_path = script.string();
        options.launch_timeout = milliseconds(10000);
        std::string message;
        asio::io_context io;
        asio::co_spawn(
            io,
            eventcrawl::crawler::browser_process::launch(io.get_executor(), options),
            [&](std::exception_ptr error, std::unique_ptr<eventcrawl::crawler::browser_process>) {
                try {
                    if (error) {
                        std::rethrow_exception(error);
                    }
                } catch (const std::exception& failure) {
                    message = failure.what();
                }
            });
        io.run();

        CAPTURE(message);
        CHECK(message.find("exit code 3") != std::string::npos);
        CHECK(message.find("fatal: no usable display") != std::string::npos);
        // The last 15 lines: output lines 17 to 30 and the fatal line.
        CHECK(message.find("    output line 17\n") != std::string::npos);
        CHECK(message.find("    output line 16\n") == std::string::npos);
        CHECK(message.find("chromium.log") == std::string::npos);
    }
}
