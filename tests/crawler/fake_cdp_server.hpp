#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

namespace eventcrawl::crawler::testing {

// A scripted DevTools endpoint on 127.0.0.1 for one client connection. Each request from the
// client goes to on_request, which replies (or not) through reply/reply_error/send_event.
class fake_cdp_server {
public:
    using request_handler = std::function<void(fake_cdp_server&, const boost::json::object&)>;

    explicit fake_cdp_server(boost::asio::io_context& io)
        : acceptor_(io,
                    boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
          outgoing_(io, 256) {
        boost::asio::co_spawn(io, serve(this), boost::asio::detached);
    }

    std::string url() const {
        return fmt::format("ws://127.0.0.1:{}/devtools/browser/fake-browser",
                           acceptor_.local_endpoint().port());
    }

    void send(const boost::json::object& message) {
        outgoing_.try_send(boost::system::error_code(), boost::json::serialize(message));
    }

    void reply(const boost::json::object& request, boost::json::object result) {
        boost::json::object message;
        message["id"] = request.at("id");
        message["result"] = std::move(result);
        if (const auto* session = request.if_contains("sessionId")) {
            message["sessionId"] = *session;
        }
        send(message);
    }

    void reply_error(const boost::json::object& request, int code, std::string text) {
        boost::json::object error;
        error["code"] = code;
        error["message"] = std::move(text);
        boost::json::object message;
        message["id"] = request.at("id");
        message["error"] = std::move(error);
        send(message);
    }

    // Sends an event; an empty session_id makes it a browser-level event.
    void send_event(std::string method, boost::json::object params, std::string session_id = {}) {
        boost::json::object message;
        message["method"] = std::move(method);
        message["params"] = std::move(params);
        if (!session_id.empty()) {
            message["sessionId"] = std::move(session_id);
        }
        send(message);
    }

    // Drops the TCP connection after the messages queued so far, without a close frame.
    void drop_connection() { outgoing_.try_send(boost::system::error_code(), std::string()); }

    request_handler on_request;
    std::vector<boost::json::object> requests;
    bool handshake_seen = false;
    bool origin_header_seen = false;

private:
    using socket_stream = boost::beast::websocket::stream<boost::beast::tcp_stream>;

    static boost::asio::awaitable<void> serve(fake_cdp_server* self) {
        namespace beast = boost::beast;
        constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
        auto [accept_error, socket] = co_await self->acceptor_.async_accept(use_tuple);
        self->acceptor_.close();
        if (accept_error) {
            co_return;
        }
        beast::flat_buffer buffer;
        beast::http::request<beast::http::string_body> upgrade;
        beast::tcp_stream stream(std::move(socket));
        auto [read_error, read_bytes] =
            co_await beast::http::async_read(stream, buffer, upgrade, use_tuple);
        if (read_error) {
            co_return;
        }
        self->handshake_seen = true;
        self->origin_header_seen = upgrade.count(beast::http::field::origin) > 0;

        auto ws = std::make_shared<socket_stream>(std::move(stream));
        auto [handshake_error] = co_await ws->async_accept(upgrade, use_tuple);
        if (handshake_error) {
            co_return;
        }
        ws->text(true);
        boost::asio::co_spawn(ws->get_executor(), write_loop(self, ws), boost::asio::detached);

        beast::flat_buffer message;
        for (;;) {
            auto [error, bytes] = co_await ws->async_read(message, use_tuple);
            if (error) {
                break;
            }
            auto value = boost::json::parse(beast::buffers_to_string(message.cdata()));
            message.consume(message.size());
            self->requests.push_back(value.as_object());
            if (self->on_request) {
                self->on_request(*self, value.as_object());
            }
        }
        self->outgoing_.close();
    }

    static boost::asio::awaitable<void> write_loop(fake_cdp_server* self,
                                                   std::shared_ptr<socket_stream> ws) {
        constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
        for (;;) {
            auto [error, text] = co_await self->outgoing_.async_receive(use_tuple);
            if (error) {
                break;
            }
            if (text.empty()) {
                boost::system::error_code ignored;
                boost::beast::get_lowest_layer(*ws).socket().shutdown(
                    boost::asio::ip::tcp::socket::shutdown_both, ignored);
                boost::beast::get_lowest_layer(*ws).socket().close(ignored);
                break;
            }
            auto [write_error, bytes] =
                co_await ws->async_write(boost::asio::buffer(text), use_tuple);
            if (write_error) {
                break;
            }
        }
    }

    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::experimental::channel<void(boost::system::error_code, std::string)> outgoing_;
};

}  // namespace eventcrawl::crawler::testing
