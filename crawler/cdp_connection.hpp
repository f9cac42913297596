#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace eventcrawl::crawler {

// Reason a CDP call or event wait produced no result.
enum class cdp_failure {
    none,
    timeout,            // no reply or event before the deadline
    protocol_error,     // the browser replied {"error":{"code","message"}}
    session_detached,   // Target.detachedFromTarget or Inspector.detached for the session
    target_crashed,     // Inspector.targetCrashed or Target.targetCrashed for the session
    connection_closed,  // the WebSocket closed or failed
    event_overflow,     // the session's event queue was full, so events were lost
};

std::string_view to_string(cdp_failure failure) noexcept;

// Outcome of one CDP call: `result` when failure == none, otherwise `message` explains it.
struct cdp_result {
    cdp_failure failure = cdp_failure::none;
    boost::json::object result;
    std::int64_t error_code = 0;  // CDP error code when failure == protocol_error
    std::string message;

    bool ok() const noexcept { return failure == cdp_failure::none; }
};

// A CDP call or event wait that failed; thrown by the throwing variants.
class cdp_error : public std::runtime_error {
public:
    cdp_error(cdp_failure failure, std::string message)
        : std::runtime_error(std::move(message)), failure_(failure) {}

    cdp_failure failure() const noexcept { return failure_; }

    // True when the browser, its WebSocket or the page target is gone (not a slow or bad reply).
    bool is_browser_failure() const noexcept {
        return failure_ == cdp_failure::connection_closed ||
               failure_ == cdp_failure::target_crashed || failure_ == cdp_failure::session_detached;
    }

private:
    cdp_failure failure_;
};

// One protocol event. Default-constructible because Asio channels build an empty value on close.
struct cdp_event {
    std::string method;
    boost::json::object params;
    std::string session_id;
};

struct cdp_connection_options {
    std::chrono::milliseconds connect_timeout{10000};
    std::size_t read_message_max = 256u * 1024u * 1024u;  // Chrome's own outbound cap is 256 MiB
    std::size_t session_event_capacity = 16384;
};

// One WebSocket to one browser's /devtools/browser/<id> endpoint, carrying flat sessions.
//
// A reader coroutine routes replies by id and events by sessionId; a writer coroutine drains
// the outgoing queue, since Beast allows one outstanding write. Every member must be used from
// the connection's executor (a single-threaded io_context or a strand).
//
// Each attached session has a bounded event queue. When a consumer falls behind and its queue
// fills up, the reader does not block (that would stall replies for every session): it fails
// the session with event_overflow, which fails its pending calls and ends its event waits.
class cdp_connection : public std::enable_shared_from_this<cdp_connection> {
public:
    using executor_type = boost::asio::any_io_executor;

    // Connects to `ws://host:port/path` within options.connect_timeout; throws cdp_error
    // (connection_closed) naming the URL on failure. The handshake sends no Origin header.
    static boost::asio::awaitable<std::shared_ptr<cdp_connection>> connect(
        executor_type executor, std::string websocket_url, cdp_connection_options options = {});

    ~cdp_connection();
    cdp_connection(const cdp_connection&) = delete;
    cdp_connection& operator=(const cdp_connection&) = delete;

    // Sends `method` with `params` on `session_id` ("" = browser level) and waits until the reply
    // arrives or `timeout` passes. Returns CDP-level failures as values; see cdp_result.
    boost::asio::awaitable<cdp_result> try_call(std::string method,
                                                boost::json::object params,
                                                std::string session_id,
                                                std::chrono::milliseconds timeout);

    // Like try_call, but throws cdp_error when the call fails.
    boost::asio::awaitable<boost::json::object> call(std::string method,
                                                     boost::json::object params,
                                                     std::string session_id,
                                                     std::chrono::milliseconds timeout);

    // Starts routing events of `session_id` (returned by Target.attachToTarget) into its own
    // queue. `target_id` lets a browser-level Target.targetCrashed fail the session.
    void register_session(const std::string& session_id, const std::string& target_id);

    // Drops the session's queue; later events for it are discarded.
    void unregister_session(const std::string& session_id);

    // Waits for the next event of `session_id`. Returns failure timeout after `timeout`, or the
    // session's failure once it is detached, crashed, overflowed or the socket closed.
    boost::asio::awaitable<std::pair<cdp_failure, cdp_event>> next_event(
        std::string session_id, std::chrono::milliseconds timeout);

    // Why the session failed, or "" while it is usable.
    std::string session_failure_message(const std::string& session_id) const;

    // Sends a WebSocket close frame and waits (bounded) for the reader to finish.
    boost::asio::awaitable<void> close(std::chrono::milliseconds timeout);

    bool is_open() const noexcept { return !closed_; }
    const std::string& url() const noexcept { return url_; }
    executor_type get_executor() const { return executor_; }

    // Counters for tests and reports.
    std::int64_t calls_sent() const noexcept { return next_id_ - 1; }

private:
    struct pending_call;
    struct session_state;
    using event_channel =
        boost::asio::experimental::channel<void(boost::system::error_code, cdp_event)>;
    using text_channel =
        boost::asio::experimental::channel<void(boost::system::error_code, std::string)>;

    cdp_connection(executor_type executor, std::string url, cdp_connection_options options);

    static boost::asio::awaitable<void> run_reader(std::shared_ptr<cdp_connection> self);
    static boost::asio::awaitable<void> run_writer(std::shared_ptr<cdp_connection> self);

    void dispatch_message(std::string_view text);
    void dispatch_reply(std::int64_t id, boost::json::object& message);
    void dispatch_event(cdp_event event);
    void fail_session(const std::string& session_id, cdp_failure failure, std::string message);
    void fail_everything(std::string message);

    executor_type executor_;
    std::string url_;
    cdp_connection_options options_;
    boost::beast::websocket::stream<boost::beast::tcp_stream> socket_;
    text_channel outgoing_;
    std::int64_t next_id_ = 1;
    std::map<std::int64_t, std::shared_ptr<pending_call>> pending_;
    std::map<std::string, std::shared_ptr<session_state>> sessions_;
    bool closed_ = false;
    bool close_expected_ = false;
    std::string close_reason_;
    boost::asio::steady_timer reader_done_;
};

}  // namespace eventcrawl::crawler
