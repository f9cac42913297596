#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>

#include "crawler/cdp_connection.hpp"
#include "tests/crawler/fake_cdp_server.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using eventcrawl::crawler::cdp_connection;
using eventcrawl::crawler::cdp_error;
using eventcrawl::crawler::cdp_failure;
using eventcrawl::crawler::cdp_result;
using eventcrawl::crawler::testing::fake_cdp_server;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds long_wait{5000};
constexpr milliseconds short_wait{100};

using scenario_task = asio::awaitable<void>;

// What a scenario observed, checked after the io_context stopped.
struct scenario_results {
    cdp_result first;
    cdp_result second;
    cdp_failure event_failure = cdp_failure::none;
    std::size_t received_bytes = 0;
};

// Runs `scenario` against `server` on `io` until every coroutine finished; rethrows its error.
template <typename Scenario>
void run_scenario(asio::io_context& io,
                  fake_cdp_server& server,
                  Scenario scenario,
                  scenario_results* results = nullptr) {
    std::exception_ptr failure;
    asio::co_spawn(
        io, scenario(&server, results), [&](std::exception_ptr error) { failure = error; });
    io.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
}

asio::awaitable<std::shared_ptr<cdp_connection>> connect_to(fake_cdp_server* server) {
    auto executor = co_await asio::this_coro::executor;
    co_return co_await cdp_connection::connect(executor, server->url());
}

// Hands out the pending requests for the named method once `count` of them arrived.
struct request_collector {
    std::string method;
    std::size_t count = 0;
    std::vector<json::object> held;

    bool add(const json::object& request) {
        if (request.at("method").as_string() != method) {
            return false;
        }
        held.push_back(request);
        return held.size() == count;
    }
};

}  // namespace

TEST_SUITE("crawler.cdp_connection") {
    TEST_CASE("replies routed by id out of order") {
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            // Reply only after all three arrived, newest first.
            if (self.requests.size() < 3) {
                return;
            }
            for (auto it = self.requests.rbegin(); it != self.requests.rend(); ++it) {
                json::object result;
                result["echo"] = it->at("method");
                self.reply(*it, std::move(result));
            }
            (void)request;
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            auto first = connection->call("Domain.first", json::object(), "", long_wait);
            auto second = connection->call("Domain.second", json::object(), "S1", long_wait);
            auto third = connection->call("Domain.third", json::object(), "S2", long_wait);
            auto [a, b, c] = co_await (std::move(first) && std::move(second) && std::move(third));
            CHECK(a.at("echo").as_string() == "Domain.first");
            CHECK(b.at("echo").as_string() == "Domain.second");
            CHECK(c.at("echo").as_string() == "Domain.third");
            co_await connection->close(long_wait);
        });
        REQUIRE(server.requests.size() == 3);
        CHECK(server.requests[0].at("id") != server.requests[1].at("id"));
        CHECK(server.requests[1].at("id") != server.requests[2].at("id"));
        CHECK(server.requests[0].at("id") != server.requests[2].at("id"));
        CHECK(server.requests[1].at("sessionId").as_string() == "S1");
        CHECK(server.requests[0].if_contains("sessionId") == nullptr);
    }

    TEST_CASE("handshake sends no Origin") {
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            self.reply(request, json::object());
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            co_await connection->call("Browser.getVersion", json::object(), "", long_wait);
            co_await connection->close(long_wait);
        });
        CHECK(server.handshake_seen);
        CHECK_FALSE(server.origin_header_seen);
    }

    TEST_CASE("events routed by session") {
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            json::object second;
            second["n"] = 2;
            self.send_event("Network.requestWillBeSent", second, "S2");
            json::object first;
            first["n"] = 1;
            self.send_event("Network.loadingFinished", first, "S1");
            self.send_event("Network.loadingFinished", first, "unknown-session");
            self.reply(request, json::object());
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            connection->register_session("S1", "T1");
            connection->register_session("S2", "T2");
            co_await connection->call("Network.enable", json::object(), "S1", long_wait);

            auto [failure1, event1] = co_await connection->next_event("S1", long_wait);
            CHECK(failure1 == cdp_failure::none);
            CHECK(event1.method == "Network.loadingFinished");
            CHECK(event1.session_id == "S1");
            CHECK(event1.params.at("n").as_int64() == 1);

            auto [failure2, event2] = co_await connection->next_event("S2", long_wait);
            CHECK(failure2 == cdp_failure::none);
            CHECK(event2.method == "Network.requestWillBeSent");
            CHECK(event2.params.at("n").as_int64() == 2);

            auto [failure3, event3] = co_await connection->next_event("S1", milliseconds(50));
            CHECK(failure3 == cdp_failure::timeout);
            co_await connection->close(long_wait);
        });
    }

    TEST_CASE("event after timed out wait") {
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            json::object params;
            params["n"] = 3;
            self.send_event("Network.loadingFinished", params, "S1");
            self.reply(request, json::object());
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            connection->register_session("S1", "T1");
            auto [timed_out, nothing] = co_await connection->next_event("S1", milliseconds(50));
            CHECK(timed_out == cdp_failure::timeout);

            // The timed-out wait must leave the session able to queue the next event.
            auto enabled =
                co_await connection->try_call("Network.enable", json::object(), "S1", long_wait);
            CHECK(enabled.ok());
            auto [failure, event] = co_await connection->next_event("S1", long_wait);
            CHECK(failure == cdp_failure::none);
            CHECK(event.method == "Network.loadingFinished");
            co_await connection->close(long_wait);
        });
    }

    TEST_CASE("call without reply times out") {
        asio::io_context io;
        fake_cdp_server server(io);
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            auto outcome =
                co_await connection->try_call("Page.navigate", json::object(), "S1", short_wait);
            CHECK(outcome.failure == cdp_failure::timeout);
            CHECK(outcome.message.find("Page.navigate") != std::string::npos);
            CHECK(outcome.message.find("100 ms") != std::string::npos);
            co_await connection->close(long_wait);
        });
    }

    TEST_CASE("error reply names code and message") {
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            self.reply_error(request, -32601, "'Foo.bar' wasn't found");
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            auto outcome = co_await connection->try_call("Foo.bar", json::object(), "", long_wait);
            CHECK(outcome.failure == cdp_failure::protocol_error);
            CHECK(outcome.error_code == -32601);
            CHECK(outcome.message.find("Foo.bar") != std::string::npos);
            CHECK(outcome.message.find("-32601") != std::string::npos);
            CHECK(outcome.message.find("wasn't found") != std::string::npos);

            bool thrown = false;
            try {
                co_await connection->call("Foo.bar", json::object(), "", long_wait);
            } catch (const cdp_error& error) {
                thrown = error.failure() == cdp_failure::protocol_error;
            }
            CHECK(thrown);
            co_await connection->close(long_wait);
        });
    }

    TEST_CASE("session loss fails only that session") {
        struct loss_case {
            const char* name;
            const char* event;
            const char* event_session;  // "" = browser level
            const char* param_key;
            const char* param_value;
            cdp_failure expected;
        };
        const loss_case cases[] = {
            {"detached",
             "Target.detachedFromTarget",
             "",
             "sessionId",
             "S1",
             cdp_failure::session_detached},
            {"inspector detached",
             "Inspector.detached",
             "S1",
             "reason",
             "target_closed",
             cdp_failure::session_detached},
            {"renderer crashed",
             "Inspector.targetCrashed",
             "S1",
             "",
             "",
             cdp_failure::target_crashed},
            {"target crashed",
             "Target.targetCrashed",
             "",
             "targetId",
             "T1",
             cdp_failure::target_crashed},
        };
        for (const auto& loss : cases) {
            CAPTURE(loss.name);
            asio::io_context io;
            fake_cdp_server server(io);
            auto collector = std::make_shared<request_collector>();
            collector->method = "Runtime.evaluate";
            collector->count = 2;
            server.on_request = [collector, loss](fake_cdp_server& self,
                                                  const json::object& request) {
                if (!collector->add(request)) {
                    return;
                }
                json::object params;
                if (*loss.param_key != '\0') {
                    params[loss.param_key] = loss.param_value;
                }
                self.send_event(loss.event, params, loss.event_session);
                for (const auto& held : collector->held) {
                    if (held.at("sessionId").as_string() == "S2") {
                        self.reply(held, json::object());
                    }
                }
            };
            scenario_results results;
            auto scenario = [](fake_cdp_server* fake, scenario_results* observed) -> scenario_task {
                auto connection = co_await connect_to(fake);
                connection->register_session("S1", "T1");
                connection->register_session("S2", "T2");
                auto on_first =
                    connection->try_call("Runtime.evaluate", json::object(), "S1", long_wait);
                auto on_second =
                    connection->try_call("Runtime.evaluate", json::object(), "S2", long_wait);
                auto [first, second] = co_await (std::move(on_first) && std::move(on_second));
                observed->first = std::move(first);
                observed->second = std::move(second);
                auto [failure, event] = co_await connection->next_event("S1", long_wait);
                observed->event_failure = failure;
                co_await connection->close(long_wait);
            };
            run_scenario(io, server, scenario, &results);
            CHECK(results.first.failure == loss.expected);
            CHECK(results.first.message.find("Runtime.evaluate") != std::string::npos);
            CHECK(results.second.ok());
            CHECK(results.event_failure == loss.expected);
        }
    }

    TEST_CASE("closed socket fails all calls") {
        asio::io_context io;
        fake_cdp_server server(io);
        auto collector = std::make_shared<request_collector>();
        collector->method = "Page.navigate";
        collector->count = 2;
        server.on_request = [collector](fake_cdp_server& self, const json::object& request) {
            if (collector->add(request)) {
                self.drop_connection();
            }
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto connection = co_await connect_to(fake);
            connection->register_session("S1", "T1");
            auto browser_call =
                connection->try_call("Page.navigate", json::object(), "", long_wait);
            auto session_call =
                connection->try_call("Page.navigate", json::object(), "S1", long_wait);
            auto [first, second] = co_await (std::move(browser_call) && std::move(session_call));
            CHECK(first.failure == cdp_failure::connection_closed);
            CHECK(second.failure == cdp_failure::connection_closed);
            CHECK_FALSE(connection->is_open());

            auto [failure, event] = co_await connection->next_event("S1", long_wait);
            CHECK(failure == cdp_failure::connection_closed);
            auto late =
                co_await connection->try_call("Page.reload", json::object(), "S1", long_wait);
            CHECK(late.failure == cdp_failure::connection_closed);
        });
    }

    TEST_CASE("full event queue fails session") {
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            for (int i = 0; i < 10; ++i) {
                self.send_event("Network.dataReceived", json::object(), "S1");
            }
            self.reply(request, json::object());
        };
        run_scenario(io, server, [](fake_cdp_server* fake, scenario_results*) -> scenario_task {
            auto executor = co_await asio::this_coro::executor;
            eventcrawl::crawler::cdp_connection_options options;
            options.session_event_capacity = 4;
            auto connection = co_await cdp_connection::connect(executor, fake->url(), options);
            connection->register_session("S1", "T1");
            co_await connection->call("Network.enable", json::object(), "", long_wait);
            auto [failure, event] = co_await connection->next_event("S1", long_wait);
            CHECK(failure == cdp_failure::event_overflow);
            CHECK(connection->session_failure_message("S1").find("overflowed") !=
                  std::string::npos);
            co_await connection->close(long_wait);
        });
    }

    TEST_CASE("30 MB message received") {
        constexpr std::size_t body_size = 30u * 1024u * 1024u;
        asio::io_context io;
        fake_cdp_server server(io);
        server.on_request = [](fake_cdp_server& self, const json::object& request) {
            json::object result;
            result["body"] = std::string(body_size, 'x');
            result["base64Encoded"] = false;
            self.reply(request, std::move(result));
        };
        scenario_results results;
        auto scenario = [](fake_cdp_server* fake, scenario_results* observed) -> scenario_task {
            auto connection = co_await connect_to(fake);
            auto result =
                co_await connection->call("Network.getResponseBody", json::object(), "", long_wait);
            observed->received_bytes = result.at("body").as_string().size();
            co_await connection->close(long_wait);
        };
        run_scenario(io, server, scenario, &results);
        CHECK(results.received_bytes == body_size);
    }
}
