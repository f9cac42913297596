#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

extern char** environ;

namespace eventcrawl::crawler::testing {

// An eventbrite-replay child process on 127.0.0.1 and a free port; stopped (SIGTERM, then
// SIGKILL) and reaped by the destructor.
class replay_process {
public:
    replay_process(const std::string& binary, std::vector<std::string> arguments) {
        int pipe_fds[2];
        if (::pipe(pipe_fds) != 0) {
            throw std::runtime_error("pipe() failed for the replay server's stdout");
        }
        std::vector<std::string> args = {binary, "--host", "127.0.0.1", "--port", "0"};
        args.insert(args.end(), arguments.begin(), arguments.end());
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
        ::posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
        ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        const int error =
            ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
        ::posix_spawn_file_actions_destroy(&actions);
        ::close(pipe_fds[1]);
        if (error != 0) {
            ::close(pipe_fds[0]);
            pid_ = -1;
            throw std::runtime_error(fmt::format("cannot start {}", binary));
        }

        // First stdout line: "listening on http://HOST:PORT".
        std::string line;
        char c = 0;
        while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n') {
            line.push_back(c);
        }
        ::close(pipe_fds[0]);
        const std::string prefix = "listening on http://";
        if (!line.starts_with(prefix)) {
            stop();
            throw std::runtime_error(
                fmt::format("eventbrite-replay printed '{}' instead of its address", line));
        }
        origin_ = "http://" + line.substr(prefix.size());
        const auto colon = line.rfind(':');
        port_ = static_cast<unsigned short>(std::stoi(line.substr(colon + 1)));
    }

    ~replay_process() { stop(); }
    replay_process(const replay_process&) = delete;
    replay_process& operator=(const replay_process&) = delete;

    const std::string& origin() const { return origin_; }

    // GET /__replay/stats, parsed.
    boost::json::object stats() const {
        namespace beast = boost::beast;
        namespace http = beast::http;
        boost::asio::io_context io;
        boost::asio::ip::tcp::socket socket(io);
        socket.connect(boost::asio::ip::tcp::endpoint(
            boost::asio::ip::make_address("127.0.0.1"), port_));
        http::request<http::empty_body> request(http::verb::get, "/__replay/stats", 11);
        request.set(http::field::host, fmt::format("127.0.0.1:{}", port_));
        http::write(socket, request);
        beast::flat_buffer buffer;
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        return boost::json::parse(response.body()).as_object();
    }

private:
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 200; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            ::usleep(10000);
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    pid_t pid_ = -1;
    std::string origin_;
    unsigned short port_ = 0;
};

// A temp folder removed (recursively) by the destructor.
class temp_folder {
public:
    temp_folder() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "crawler-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed for the test corpus");
        }
        path_ = pattern;
    }
    ~temp_folder() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace eventcrawl::crawler::testing
