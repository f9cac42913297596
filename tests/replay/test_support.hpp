#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "replay/server.hpp"

namespace eventcrawl::replay::testing {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// A fresh folder under the system temp folder, removed with everything in it on destruction.
class temp_directory {
public:
    temp_directory();
    temp_directory(const temp_directory&) = delete;
    temp_directory& operator=(const temp_directory&) = delete;
    ~temp_directory();

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);

// A replay server on 127.0.0.1 with a free port, running on its own thread until destroyed.
class running_server {
public:
    explicit running_server(corpus corpus, std::chrono::milliseconds delay = {});
    running_server(corpus corpus, server_options options);
    running_server(const running_server&) = delete;
    running_server& operator=(const running_server&) = delete;
    ~running_server();

    unsigned short port() const { return port_; }

private:
    boost::asio::io_context io_;
    std::optional<server> server_;
    std::thread thread_;
    unsigned short port_ = 0;
};

// Result of one HTTP exchange: a response, or the error that ended the connection.
struct exchange {
    std::optional<http_response> response;
    std::string error;
};

// Sends each request on its own connection, all at once, and waits (at most 20 s) for all.
std::vector<exchange> send_all(unsigned short port, std::vector<http_request> requests);

// Sends one request and returns its response; throws when the connection fails.
http_response send(unsigned short port, http_request request);

// Bytes a server sent on one connection before it closed it or `timeout` passed.
struct raw_exchange {
    std::string received;
    boost::system::error_code error;  // eof, connection_reset, or timed_out for the deadline
};

// Writes `request` on a new connection and reads until the server closes it or `timeout`
// passes, then closes the connection.
raw_exchange send_raw(unsigned short port, http_request request, std::chrono::milliseconds timeout);

// Exit code and standard error of a finished child process.
struct process_result {
    int exit_code = -1;
    std::string error_output;
};

// Runs the replay binary with `arguments` and waits (at most 20 s) for it to exit; kills it
// when it does not.
process_result run_replay_binary(const std::string& binary, std::vector<std::string> arguments);

http_request get_request(const std::string& target, const std::string& cookie = {});
http_request search_request(const std::string& body,
                            const std::string& cookie_token,
                            const std::string& header_token);

// Value of the csrftoken cookie set by a response, or "" when none is set.
std::string csrf_cookie(const http_response& response);

// Parses the window.__SERVER_DATA__ object out of a listing page, or nullopt when the page
// has none or it is not complete JSON.
std::optional<boost::json::value> server_data(const std::string& html);

}  // namespace eventcrawl::replay::testing
