#include "crawler/cdp_connection.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "crawler/detail/logger.hpp"

namespace eventcrawl::crawler {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string_view to_string(cdp_failure failure) noexcept {
    switch (failure) {
        case cdp_failure::none:
            return "none";
        case cdp_failure::timeout:
            return "timeout";
        case cdp_failure::protocol_error:
            return "protocol_error";
        case cdp_failure::session_detached:
            return "session_detached";
        case cdp_failure::target_crashed:
            return "target_crashed";
        case cdp_failure::connection_closed:
            return "connection_closed";
        case cdp_failure::event_overflow:
            return "event_overflow";
    }
    return "unknown";
}

struct cdp_connection::pending_call {
    pending_call(const executor_type& executor, std::string method_name, std::string session)
        : method(std::move(method_name)), session_id(std::move(session)), timer(executor) {}

    std::string method;
    std::string session_id;
    asio::steady_timer timer;
    std::optional<cdp_result> result;
};

struct cdp_connection::session_state {
    session_state(const executor_type& executor, std::size_t capacity, std::string target)
        : target_id(std::move(target)), events(executor, capacity), wakeup(executor) {}

    std::string target_id;
    event_channel events;
    // next_event waits on this timer, never on events.async_receive: Asio 1.26 (Boost 1.81)
    // leaves a buffered channel refusing every try_send after a pending receive is cancelled,
    // which a timed-out wait does. Queuing an event or failing the session cancels the wait.
    asio::steady_timer wakeup;
    cdp_failure failure = cdp_failure::none;
    std::string failure_message;
};

namespace {

std::string string_field(const json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    if (value == nullptr || !value->is_string()) {
        return {};
    }
    return std::string(value->get_string());
}

}  // namespace

cdp_connection::cdp_connection(executor_type executor,
                               std::string url,
                               cdp_connection_options options)
    : executor_(executor),
      url_(std::move(url)),
      options_(options),
      socket_(executor),
      outgoing_(executor, 1024),
      reader_done_(executor, asio::steady_timer::time_point::max()) {}

cdp_connection::~cdp_connection() = default;

asio::awaitable<std::shared_ptr<cdp_connection>> cdp_connection::connect(
    executor_type executor, std::string websocket_url, cdp_connection_options options) {
    auto parsed = boost::urls::parse_uri(websocket_url);
    if (!parsed || parsed->scheme() != "ws" || parsed->host().empty()) {
        throw cdp_error(cdp_failure::connection_closed,
                        fmt::format("invalid DevTools WebSocket URL '{}': expected "
                                    "ws://host:port/devtools/browser/<id>",
                                    websocket_url));
    }
    std::string host(parsed->host());
    std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
    std::string target = std::string(parsed->encoded_target());
    if (target.empty()) {
        target = "/";
    }

    std::shared_ptr<cdp_connection> self(new cdp_connection(executor, websocket_url, options));
    auto& tcp = beast::get_lowest_layer(self->socket_);

    asio::ip::tcp::resolver resolver(executor);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
    if (resolve_error) {
        throw cdp_error(cdp_failure::connection_closed,
                        fmt::format("cannot resolve DevTools host '{}' of {}: {}",
                                    host,
                                    websocket_url,
                                    resolve_error.message()));
    }

    tcp.expires_after(options.connect_timeout);
    auto [connect_error, endpoint] = co_await tcp.async_connect(endpoints, use_tuple);
    if (connect_error) {
        throw cdp_error(cdp_failure::connection_closed,
                        fmt::format("cannot connect to DevTools at {} within {} ms: {}; check that "
                                    "the browser is running and the port is right",
                                    websocket_url,
                                    options.connect_timeout.count(),
                                    connect_error.message()));
    }
    tcp.expires_never();

    // Chrome rejects WebSocket upgrades whose Origin is not allowlisted, and Beast sends none.
    beast::websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = options.connect_timeout;
    timeouts.idle_timeout = beast::websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    self->socket_.set_option(timeouts);
    self->socket_.read_message_max(options.read_message_max);
    self->socket_.text(true);
    auto host_header = fmt::format("{}:{}", host, port);
    auto [handshake_error] = co_await self->socket_.async_handshake(host_header, target, use_tuple);
    if (handshake_error) {
        throw cdp_error(cdp_failure::connection_closed,
                        fmt::format("WebSocket handshake with {} failed: {}",
                                    websocket_url,
                                    handshake_error.message()));
    }

    asio::co_spawn(executor, run_reader(self), asio::detached);
    asio::co_spawn(executor, run_writer(self), asio::detached);
    detail::logger()->debug("cdp connected url={}", websocket_url);
    co_return self;
}

asio::awaitable<void> cdp_connection::run_reader(std::shared_ptr<cdp_connection> self) {
    beast::flat_buffer buffer;
    std::string reason;
    for (;;) {
        auto [read_error, bytes] = co_await self->socket_.async_read(buffer, use_tuple);
        if (read_error) {
            reason = read_error.message();
            break;
        }
        const auto data = buffer.cdata();
        self->dispatch_message(
            std::string_view(static_cast<const char*>(data.data()), data.size()));
        buffer.consume(buffer.size());
    }

    if (self->close_expected_) {
        detail::logger()->debug("cdp connection closed url={} reason=\"{}\"", self->url_, reason);
    } else {
        detail::logger()->warn("cdp connection lost url={} reason=\"{}\"", self->url_, reason);
    }
    self->fail_everything(fmt::format("WebSocket to {} closed: {}", self->url_, reason));
    self->outgoing_.close();
    self->reader_done_.cancel();
}

asio::awaitable<void> cdp_connection::run_writer(std::shared_ptr<cdp_connection> self) {
    for (;;) {
        auto [receive_error, text] = co_await self->outgoing_.async_receive(use_tuple);
        if (receive_error) {
            break;
        }
        auto [write_error, bytes] =
            co_await self->socket_.async_write(asio::buffer(text), use_tuple);
        if (write_error) {
            detail::logger()->debug(
                "cdp write failed url={} error=\"{}\"", self->url_, write_error.message());
            break;
        }
    }
    if (self->close_expected_ && self->socket_.is_open()) {
        auto [close_error] =
            co_await self->socket_.async_close(beast::websocket::close_code::normal, use_tuple);
        (void)close_error;
    }
}

void cdp_connection::dispatch_message(std::string_view text) {
    error_code parse_error;
    auto value = json::parse(text, parse_error);
    if (parse_error || !value.is_object()) {
        detail::logger()->warn(
            "cdp message is not a JSON object url={} bytes={}", url_, text.size());
        return;
    }
    auto& message = value.as_object();
    if (const auto* id = message.if_contains("id"); id != nullptr && id->is_int64()) {
        dispatch_reply(id->as_int64(), message);
        return;
    }
    cdp_event event;
    event.method = string_field(message, "method");
    event.session_id = string_field(message, "sessionId");
    if (auto* params = message.if_contains("params"); params != nullptr && params->is_object()) {
        event.params = std::move(params->as_object());
    }
    dispatch_event(std::move(event));
}

void cdp_connection::dispatch_reply(std::int64_t id, json::object& message) {
    auto found = pending_.find(id);
    if (found == pending_.end()) {
        // The caller already gave up on this call (deadline passed).
        detail::logger()->debug("cdp late reply dropped url={} id={}", url_, id);
        return;
    }
    auto call = found->second;
    pending_.erase(found);

    cdp_result outcome;
    if (const auto* error = message.if_contains("error"); error != nullptr && error->is_object()) {
        const auto& details = error->as_object();
        outcome.failure = cdp_failure::protocol_error;
        if (const auto* code = details.if_contains("code"); code != nullptr && code->is_int64()) {
            outcome.error_code = code->as_int64();
        }
        outcome.message = fmt::format("CDP call {} failed: code={} message=\"{}\"",
                                      call->method,
                                      outcome.error_code,
                                      string_field(details, "message"));
    } else if (auto* result = message.if_contains("result");
               result != nullptr && result->is_object()) {
        outcome.result = std::move(result->as_object());
    }
    call->result = std::move(outcome);
    call->timer.cancel();
}

void cdp_connection::dispatch_event(cdp_event event) {
    if (event.session_id.empty()) {
        if (event.method == "Target.detachedFromTarget") {
            auto session_id = string_field(event.params, "sessionId");
            fail_session(session_id,
                         cdp_failure::session_detached,
                         fmt::format("session {} detached from its target", session_id));
        } else if (event.method == "Target.targetCrashed") {
            auto target_id = string_field(event.params, "targetId");
            std::vector<std::string> crashed;
            for (const auto& [session_id, state] : sessions_) {
                if (state->target_id == target_id) {
                    crashed.push_back(session_id);
                }
            }
            for (const auto& session_id : crashed) {
                fail_session(session_id,
                             cdp_failure::target_crashed,
                             fmt::format("target {} crashed (status={})",
                                         target_id,
                                         string_field(event.params, "status")));
            }
        }
        return;
    }

    auto found = sessions_.find(event.session_id);
    if (found == sessions_.end()) {
        return;
    }
    auto state = found->second;
    if (event.method == "Inspector.targetCrashed") {
        fail_session(event.session_id,
                     cdp_failure::target_crashed,
                     fmt::format("target of session {} crashed", event.session_id));
        return;
    }
    if (event.method == "Inspector.detached") {
        fail_session(event.session_id,
                     cdp_failure::session_detached,
                     fmt::format("session {} detached: reason={}",
                                 event.session_id,
                                 string_field(event.params, "reason")));
        return;
    }
    if (state->failure != cdp_failure::none) {
        return;
    }
    auto session_id = event.session_id;
    if (state->events.try_send(error_code{}, std::move(event))) {
        state->wakeup.cancel();
    } else {
        fail_session(session_id,
                     cdp_failure::event_overflow,
                     fmt::format("event queue of session {} overflowed at {} events; the "
                                 "consumer fell behind, so events were lost",
                                 session_id,
                                 options_.session_event_capacity));
    }
}

void cdp_connection::fail_session(const std::string& session_id,
                                  cdp_failure failure,
                                  std::string message) {
    if (auto found = sessions_.find(session_id); found != sessions_.end()) {
        auto& state = *found->second;
        if (state.failure == cdp_failure::none) {
            state.failure = failure;
            state.failure_message = message;
            state.events.close();
            state.wakeup.cancel();
        }
    }
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto& call = *it->second;
        if (call.session_id != session_id) {
            ++it;
            continue;
        }
        cdp_result outcome;
        outcome.failure = failure;
        outcome.message = fmt::format("CDP call {} failed: {}", call.method, message);
        call.result = std::move(outcome);
        call.timer.cancel();
        it = pending_.erase(it);
    }
}

void cdp_connection::fail_everything(std::string message) {
    closed_ = true;
    close_reason_ = message;
    std::vector<std::string> session_ids;
    for (const auto& entry : sessions_) {
        session_ids.push_back(entry.first);
    }
    for (const auto& session_id : session_ids) {
        fail_session(session_id, cdp_failure::connection_closed, message);
    }
    for (auto& [id, call] : pending_) {
        cdp_result outcome;
        outcome.failure = cdp_failure::connection_closed;
        outcome.message = fmt::format("CDP call {} failed: {}", call->method, message);
        call->result = std::move(outcome);
        call->timer.cancel();
    }
    pending_.clear();
}

void cdp_connection::register_session(const std::string& session_id, const std::string& target_id) {
    auto state =
        std::make_shared<session_state>(executor_, options_.session_event_capacity, target_id);
    if (closed_) {
        state->failure = cdp_failure::connection_closed;
        state->failure_message = close_reason_;
        state->events.close();
    }
    sessions_[session_id] = std::move(state);
}

void cdp_connection::unregister_session(const std::string& session_id) {
    if (auto found = sessions_.find(session_id); found != sessions_.end()) {
        found->second->events.close();
        found->second->wakeup.cancel();
        sessions_.erase(found);
    }
}

std::string cdp_connection::session_failure_message(const std::string& session_id) const {
    auto found = sessions_.find(session_id);
    if (found == sessions_.end()) {
        return fmt::format("session {} is not registered", session_id);
    }
    return found->second->failure_message;
}

asio::awaitable<cdp_result> cdp_connection::try_call(std::string method,
                                                     json::object params,
                                                     std::string session_id,
                                                     std::chrono::milliseconds timeout) {
    if (closed_) {
        cdp_result outcome;
        outcome.failure = cdp_failure::connection_closed;
        outcome.message = fmt::format("CDP call {} not sent: {}", method, close_reason_);
        co_return outcome;
    }
    if (!session_id.empty()) {
        auto found = sessions_.find(session_id);
        if (found != sessions_.end() && found->second->failure != cdp_failure::none) {
            cdp_result outcome;
            outcome.failure = found->second->failure;
            outcome.message =
                fmt::format("CDP call {} not sent: {}", method, found->second->failure_message);
            co_return outcome;
        }
    }

    const auto id = next_id_++;
    json::object message;
    message["id"] = id;
    message["method"] = method;
    message["params"] = std::move(params);
    if (!session_id.empty()) {
        message["sessionId"] = session_id;
    }
    auto text = json::serialize(message);

    auto call = std::make_shared<pending_call>(executor_, method, session_id);
    call->timer.expires_after(timeout);
    pending_[id] = call;

    error_code no_error;
    auto [send_error] = co_await outgoing_.async_send(no_error, std::move(text), use_tuple);
    if (send_error && !call->result) {
        pending_.erase(id);
        cdp_result outcome;
        outcome.failure = cdp_failure::connection_closed;
        outcome.message =
            fmt::format("CDP call {} not sent: connection to {} is closed", method, url_);
        co_return outcome;
    }

    if (!call->result) {
        auto [wait_error] = co_await call->timer.async_wait(use_tuple);
        (void)wait_error;
    }
    if (call->result) {
        co_return std::move(*call->result);
    }

    pending_.erase(id);
    cdp_result outcome;
    outcome.failure = cdp_failure::timeout;
    outcome.message = fmt::format(
        "CDP call {} (id={}, session={}) timed out after {} ms without a reply; the browser or "
        "page is hung or overloaded",
        method,
        id,
        session_id.empty() ? "browser" : session_id,
        timeout.count());
    co_return outcome;
}

asio::awaitable<json::object> cdp_connection::call(std::string method,
                                                   json::object params,
                                                   std::string session_id,
                                                   std::chrono::milliseconds timeout) {
    auto outcome =
        co_await try_call(std::move(method), std::move(params), std::move(session_id), timeout);
    if (!outcome.ok()) {
        throw cdp_error(outcome.failure, std::move(outcome.message));
    }
    co_return std::move(outcome.result);
}

asio::awaitable<std::pair<cdp_failure, cdp_event>> cdp_connection::next_event(
    std::string session_id, std::chrono::milliseconds timeout) {
    auto found = sessions_.find(session_id);
    if (found == sessions_.end()) {
        co_return std::pair(cdp_failure::session_detached, cdp_event{});
    }
    auto state = found->second;
    if (state->failure != cdp_failure::none) {
        co_return std::pair(state->failure, cdp_event{});
    }

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool wait_aborted = false;
    for (;;) {
        cdp_event event;
        bool received = false;
        state->events.try_receive([&](error_code receive_error, cdp_event value) {
            if (!receive_error) {
                event = std::move(value);
                received = true;
            }
        });
        if (received) {
            co_return std::pair(cdp_failure::none, std::move(event));
        }
        if (state->failure != cdp_failure::none) {
            co_return std::pair(state->failure, cdp_event{});
        }
        if (sessions_.find(session_id) == sessions_.end()) {
            co_return std::pair(cdp_failure::session_detached, cdp_event{});
        }
        // A cancelled caller ends the wait the way a closed connection does.
        const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (wait_aborted && cancelled != asio::cancellation_type::none) {
            co_return std::pair(cdp_failure::connection_closed, cdp_event{});
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return std::pair(cdp_failure::timeout, cdp_event{});
        }

        state->wakeup.expires_at(deadline);
        auto [wait_error] = co_await state->wakeup.async_wait(use_tuple);
        wait_aborted = wait_error == asio::error::operation_aborted;
    }
}

asio::awaitable<void> cdp_connection::close(std::chrono::milliseconds timeout) {
    if (closed_) {
        co_return;
    }
    close_expected_ = true;
    outgoing_.close();
    asio::steady_timer deadline(executor_, timeout);
    co_await (reader_done_.async_wait(use_tuple) || deadline.async_wait(use_tuple));
    if (!closed_) {
        error_code ignored;
        beast::get_lowest_layer(socket_).socket().close(ignored);
    }
}

}  // namespace eventcrawl::crawler
