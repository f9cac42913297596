#include "replay/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

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
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
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
