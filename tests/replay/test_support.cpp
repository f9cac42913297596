#include "test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/stream_parser.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace eventcrawl::replay::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

temp_directory::temp_directory() {
    std::random_device random;
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto candidate = base / ("replay-test-" + std::to_string(random()));
        if (std::filesystem::create_directory(candidate)) {
            path_ = candidate;
            return;
        }
    }
    throw std::runtime_error("cannot create a temp folder under " + base.string());
}

temp_directory::~temp_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream stream(path, std::ios::binary);
    stream << text;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream stream(path, std::ios::binary);
    std::ostringstream contents;
    contents << stream.rdbuf();
    return contents.str();
}

running_server::running_server(corpus corpus, std::chrono::milliseconds delay) {
    server_options options;
    options.delay = delay;
    server_.emplace(io_, std::move(corpus), options);
    port_ = server_->start().port();
    thread_ = std::thread([this] { io_.run(); });
}

running_server::~running_server() {
    server_->stop();
    thread_.join();
}

namespace {

asio::awaitable<void> run_exchange(unsigned short port, http_request request, exchange* result) {
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    stream.expires_after(std::chrono::seconds(20));
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    auto [connect_error] =
        co_await stream.async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
    if (connect_error) {
        result->error = connect_error.message();
        co_return;
    }
    auto [write_error, written] =
        co_await http::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
    if (write_error) {
        result->error = write_error.message();
        co_return;
    }
    beast::flat_buffer buffer;
    http_response response;
    auto [read_error, read] =
        co_await http::async_read(stream, buffer, response, asio::as_tuple(asio::use_awaitable));
    if (read_error) {
        result->error = read_error.message();
        co_return;
    }
    result->response = std::move(response);
}

}  // namespace

std::vector<exchange> send_all(unsigned short port, std::vector<http_request> requests) {
    asio::io_context io;
    std::vector<exchange> results(requests.size());
    for (std::size_t index = 0; index < requests.size(); ++index) {
        asio::co_spawn(
            io, run_exchange(port, std::move(requests[index]), &results[index]), asio::detached);
    }
    io.run();
    return results;
}

http_response send(unsigned short port, http_request request) {
    std::vector<http_request> requests;
    requests.push_back(std::move(request));
    auto results = send_all(port, std::move(requests));
    if (!results.front().response) {
        throw std::runtime_error("HTTP exchange failed: " + results.front().error);
    }
    return std::move(*results.front().response);
}

http_request get_request(const std::string& target, const std::string& cookie) {
    http_request request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1");
    request.keep_alive(false);
    if (!cookie.empty()) {
        request.set(http::field::cookie, cookie);
    }
    return request;
}

http_request search_request(const std::string& body,
                            const std::string& cookie_token,
                            const std::string& header_token) {
    http_request request{http::verb::post, "/api/v3/destination/search/?stable_id=test", 11};
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.keep_alive(false);
    if (!cookie_token.empty()) {
        request.set(http::field::cookie, "csrftoken=" + cookie_token);
    }
    if (!header_token.empty()) {
        request.set("X-CSRFToken", header_token);
    }
    request.body() = body;
    request.prepare_payload();
    return request;
}

std::string csrf_cookie(const http_response& response) {
    const auto header = response.find(http::field::set_cookie);
    if (header == response.end()) {
        return {};
    }
    const std::string value(header->value());
    const std::string prefix = "csrftoken=";
    if (value.rfind(prefix, 0) != 0) {
        return {};
    }
    return value.substr(prefix.size(), value.find(';') - prefix.size());
}

std::optional<boost::json::value> server_data(const std::string& html) {
    const std::string marker = "window.__SERVER_DATA__ = ";
    const auto start = html.find(marker);
    if (start == std::string::npos) {
        return std::nullopt;
    }
    const auto end = html.find("</script>", start);
    const std::string script = html.substr(start + marker.size(), end - start - marker.size());
    boost::json::stream_parser parser;
    boost::system::error_code error;
    parser.write_some(script.data(), script.size(), error);
    if (error || !parser.done()) {
        return std::nullopt;
    }
    return parser.release();
}

}  // namespace eventcrawl::replay::testing
