#include "test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
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

extern char** environ;

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

running_server::running_server(corpus corpus, server_options options) {
    server_.emplace(io_, std::move(corpus), std::move(options));
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

asio::awaitable<void> run_raw(unsigned short port,
                              http_request request,
                              std::chrono::milliseconds timeout,
                              raw_exchange* result) {
    using namespace asio::experimental::awaitable_operators;
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
    tcp::socket socket(co_await asio::this_coro::executor);
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    auto [connect_error] = co_await socket.async_connect(endpoint, use_tuple);
    if (connect_error) {
        result->error = connect_error;
        co_return;
    }
    std::ostringstream serialized;
    serialized << request;
    const std::string text = serialized.str();
    const auto request_buffer = asio::buffer(text);
    auto [write_error, written] = co_await asio::async_write(socket, request_buffer, use_tuple);
    if (write_error) {
        result->error = write_error;
        co_return;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(timeout);
    std::string received;
    auto received_buffer = asio::dynamic_buffer(received);
    auto outcome = co_await (timer.async_wait(use_tuple) ||
                             asio::async_read(socket, received_buffer, use_tuple));
    result->received = std::move(received);
    if (outcome.index() == 0) {
        result->error = asio::error::timed_out;
    } else {
        result->error = std::get<0>(std::get<1>(outcome));
    }
}

}  // namespace

raw_exchange send_raw(unsigned short port,
                      http_request request,
                      std::chrono::milliseconds timeout) {
    asio::io_context io;
    raw_exchange result;
    asio::co_spawn(io, run_raw(port, std::move(request), timeout, &result), asio::detached);
    io.run();
    return result;
}

process_result run_replay_binary(const std::string& binary, std::vector<std::string> arguments) {
    int error_pipe[2];
    if (pipe(error_pipe) != 0) {
        throw std::runtime_error("creating a pipe for the replay binary's stderr failed");
    }

    // Start the binary with stderr on the pipe and stdout discarded.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, error_pipe[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, error_pipe[0]);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    arguments.insert(arguments.begin(), binary);
    std::vector<char*> argv;
    for (std::string& argument : arguments) {
        argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    pid_t child = 0;
    const int spawned =
        posix_spawn(&child, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(error_pipe[1]);
    if (spawned != 0) {
        close(error_pipe[0]);
        throw std::runtime_error("starting " + binary +
                                 " failed; build the eventbrite-replay target");
    }

    // Read stderr until the child closes it.
    process_result result;
    char buffer[512];
    pollfd descriptor{error_pipe[0], POLLIN, 0};
    while (poll(&descriptor, 1, 20000) > 0) {
        const ssize_t count = read(error_pipe[0], buffer, sizeof buffer);
        if (count <= 0) {
            break;
        }
        result.error_output.append(buffer, static_cast<std::size_t>(count));
    }
    close(error_pipe[0]);

    // Reap the child.
    int status = 0;
    bool exited = false;
    for (int attempt = 0; attempt < 100 && !exited; ++attempt) {
        exited = waitpid(child, &status, WNOHANG) == child;
        if (!exited) {
            usleep(50000);
        }
    }
    if (!exited) {
        // Still running 5 s after its stderr closed or the deadline passed: end it.
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        return result;
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

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
