#include "replay/server.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>

#include "replay/detail/logger.hpp"
#include "replay/detail/request_handler.hpp"
#include "replay/detail/server_state.hpp"

namespace eventcrawl::replay {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A client that sends no complete request within this time is disconnected.
constexpr std::chrono::seconds idle_timeout{30};
// Bound on writing one response.
constexpr std::chrono::seconds write_timeout{30};
// Bodies above this size are rejected by the parser.
constexpr std::uint64_t max_request_body = 8 * 1024 * 1024;

// Registers a connection so stop() can close it while idle, and removes it on destruction.
class connection_guard {
public:
    connection_guard(detail::server_state& state, beast::tcp_stream& stream)
        : state_(state), id_(state.next_connection_id++) {
        state_.connections[id_] = detail::connection_entry{&stream, false};
    }
    connection_guard(const connection_guard&) = delete;
    connection_guard& operator=(const connection_guard&) = delete;
    ~connection_guard() { state_.connections.erase(id_); }

    void set_busy(bool busy) { state_.connections[id_].busy = busy; }

private:
    detail::server_state& state_;
    std::uint64_t id_;
};

// Counts one request as in flight for its lifetime.
class in_flight_guard {
public:
    explicit in_flight_guard(detail::server_counters& counters) : counters_(counters) {
        ++counters_.in_flight;
        counters_.max_in_flight = std::max(counters_.max_in_flight, counters_.in_flight);
    }
    in_flight_guard(const in_flight_guard&) = delete;
    in_flight_guard& operator=(const in_flight_guard&) = delete;
    ~in_flight_guard() { --counters_.in_flight; }

private:
    detail::server_counters& counters_;
};

asio::awaitable<void> wait_for(std::chrono::milliseconds delay) {
    if (delay.count() <= 0) {
        co_return;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(delay);
    co_await timer.async_wait(use_tuple);
}

// Writes the header and the first half of the body of `response`, then waits until
// `duration` passes or the client closes the connection. The caller closes it afterwards.
// `stream` is a reference because the caller awaits this coroutine, so it outlives the call.
asio::awaitable<void> write_stalled(beast::tcp_stream& stream,
                                    detail::http_response response,
                                    std::chrono::milliseconds duration) {
    std::ostringstream serialized;
    serialized << response;
    const std::string text = serialized.str();
    const std::size_t body_start = text.size() - response.body().size();
    const std::string part = text.substr(0, body_start + response.body().size() / 2);
    stream.expires_after(write_timeout);
    const auto part_buffer = asio::buffer(part);
    auto [write_error, written] = co_await asio::async_write(stream, part_buffer, use_tuple);
    if (write_error) {
        co_return;
    }
    stream.expires_never();

    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(duration);
    std::array<char, 512> discard{};
    const auto discard_buffer = asio::buffer(discard);
    for (;;) {
        // Bytes the client sends while it waits are read and dropped. An error or EOF means
        // the client gave up.
        auto outcome = co_await (timer.async_wait(use_tuple) ||
                                 stream.socket().async_read_some(discard_buffer, use_tuple));
        if (outcome.index() == 0) {
            co_return;
        }
        const auto [read_error, read_bytes] = std::get<1>(outcome);
        if (read_error) {
            co_return;
        }
    }
}

// Resets the connection: with SO_LINGER on and a zero timeout, close() sends RST.
void reset_connection(beast::tcp_stream& stream) {
    boost::system::error_code ignored;
    stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
    stream.socket().close(ignored);
}

asio::awaitable<void> serve_connection(std::shared_ptr<detail::server_state> state,
                                       tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    connection_guard guard(*state, stream);
    beast::flat_buffer buffer;

    while (!state->stopping) {
        // Read one request.
        http::request_parser<http::string_body> parser;
        parser.body_limit(max_request_body);
        stream.expires_after(idle_timeout);
        auto [read_error, read_bytes] =
            co_await http::async_read(stream, buffer, parser, use_tuple);
        if (read_error) {
            if (read_error != http::error::end_of_stream &&
                read_error != asio::error::operation_aborted) {
                detail::logger()->debug("Connection closed error={}", read_error.message());
            }
            break;
        }
        guard.set_busy(true);
        detail::http_request request = parser.release();
        const bool control = detail::is_control_request(request);

        // Handle it, holding the in-flight count across the configured delay.
        std::optional<in_flight_guard> in_flight;
        if (!control) {
            in_flight.emplace(state->counters);
        }
        detail::reply reply = detail::handle_request(*state, request);
        if (!control) {
            co_await wait_for(state->options.delay + reply.delay);
        }
        if (reply.drop_connection) {
            detail::logger()->info("Dropping connection target={}", std::string(request.target()));
            break;
        }
        if (reply.reset_connection) {
            detail::logger()->info("Resetting connection target={}", std::string(request.target()));
            reset_connection(stream);
            break;
        }
        if (reply.stall) {
            detail::logger()->info("Stalling response target={} stall_ms={}",
                                   std::string(request.target()),
                                   reply.stall->count());
            // Not busy while stalled, so stop() closes the connection.
            in_flight.reset();
            guard.set_busy(false);
            co_await write_stalled(stream, std::move(reply.response), *reply.stall);
            break;
        }

        // Write the response.
        const bool keep_alive = reply.response.keep_alive() && !state->stopping;
        reply.response.keep_alive(keep_alive);
        stream.expires_after(write_timeout);
        auto [write_error, written_bytes] =
            co_await http::async_write(stream, reply.response, use_tuple);
        in_flight.reset();
        guard.set_busy(false);
        if (write_error) {
            detail::logger()->warn("Writing a response failed error={}", write_error.message());
            break;
        }
        if (!keep_alive) {
            break;
        }
    }
    boost::system::error_code ignored;
    if (stream.socket().is_open()) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream.socket().close(ignored);
    }
}

asio::awaitable<void> accept_connections(std::shared_ptr<detail::server_state> state) {
    while (!state->stopping) {
        auto [error, socket] = co_await state->acceptor.async_accept(use_tuple);
        if (error) {
            if (error == asio::error::operation_aborted || state->stopping) {
                break;
            }
            detail::logger()->warn("Accepting a connection failed error={}", error.message());
            continue;
        }
        asio::co_spawn(state->io, serve_connection(state, std::move(socket)), asio::detached);
    }
}

void stop_on_io_thread(const std::shared_ptr<detail::server_state>& state) {
    if (state->stopping) {
        return;
    }
    detail::logger()->info("Stopping in_flight={}", state->counters.in_flight);
    state->stopping = true;
    boost::system::error_code ignored;
    state->acceptor.close(ignored);
    for (auto& [id, connection] : state->connections) {
        if (!connection.busy) {
            connection.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
            connection.stream->socket().close(ignored);
        }
    }
}

}  // namespace

server::server(asio::io_context& io, corpus corpus, server_options options)
    : state_(std::make_shared<detail::server_state>(io, std::move(corpus), std::move(options))) {}

server::~server() = default;

tcp::endpoint server::start() {
    const tcp::endpoint endpoint(asio::ip::make_address(state_->options.host),
                                 state_->options.port);
    state_->acceptor.open(endpoint.protocol());
    state_->acceptor.set_option(asio::socket_base::reuse_address(true));
    state_->acceptor.bind(endpoint);
    state_->acceptor.listen(asio::socket_base::max_listen_connections);
    const tcp::endpoint bound = state_->acceptor.local_endpoint();
    detail::logger()->info("Started address={} port={} cities={}",
                           bound.address().to_string(),
                           bound.port(),
                           state_->corpus.cities.size());
    asio::co_spawn(state_->io, accept_connections(state_), asio::detached);
    return bound;
}

void server::stop() {
    asio::post(state_->io, [state = state_] { stop_on_io_thread(state); });
}

}  // namespace eventcrawl::replay
