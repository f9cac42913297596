#include "tests/app/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace eventcrawl::test {
namespace {

std::vector<char*> to_argv(const std::vector<std::string>& argv) {
    std::vector<char*> pointers;
    for (const auto& argument : argv) {
        pointers.push_back(const_cast<char*>(argument.c_str()));
    }
    pointers.push_back(nullptr);
    return pointers;
}

int decode_status(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

pid_t spawn(const std::vector<std::string>& argv,
            int& read_fd,
            bool merge_stderr,
            const std::vector<std::string>& environment = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    const pid_t pid = fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        if (merge_stderr) {
            dup2(fds[1], STDERR_FILENO);
        }
        for (const auto& entry : environment) {
            putenv(const_cast<char*>(entry.c_str()));
        }
        auto pointers = to_argv(argv);
        execv(pointers[0], pointers.data());
        _exit(127);
    }
    close(fds[1]);
    read_fd = fds[0];
    return pid;
}

}  // namespace

command_result run_command(const std::vector<std::string>& argv,
                           const std::vector<std::string>& environment) {
    int read_fd = -1;
    const pid_t pid = spawn(argv, read_fd, true, environment);
    command_result result;
    char buffer[4096];
    for (;;) {
        const auto count = read(read_fd, buffer, sizeof buffer);
        if (count <= 0) {
            break;
        }
        result.output.append(buffer, static_cast<std::size_t>(count));
    }
    close(read_fd);
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_code = decode_status(status);
    return result;
}

background_process::background_process(const std::vector<std::string>& argv) {
    pid_ = spawn(argv, stdout_fd_, false);
}

background_process::~background_process() {
    if (pid_ > 0) {
        stop();
    }
}

void background_process::send_signal(int signal) const {
    if (pid_ > 0) {
        kill(pid_, signal);
    }
}

std::string background_process::read_line() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
        const auto newline = buffered_.find('\n');
        if (newline != std::string::npos) {
            auto line = buffered_.substr(0, newline);
            buffered_.erase(0, newline + 1);
            return line;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw std::runtime_error("no line from child process within 20 s");
        }
        pollfd descriptor{stdout_fd_, POLLIN, 0};
        poll(&descriptor, 1, static_cast<int>(left.count()));
        char buffer[1024];
        const auto count = read(stdout_fd_, buffer, sizeof buffer);
        if (count == 0) {
            throw std::runtime_error("child process closed its stdout");
        }
        if (count > 0) {
            buffered_.append(buffer, static_cast<std::size_t>(count));
        }
    }
}

int background_process::stop() {
    if (pid_ <= 0) {
        return -1;
    }
    kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    close(stdout_fd_);
    stdout_fd_ = -1;
    return decode_status(status);
}

temp_dir::temp_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "eventcrawl-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed for " + pattern);
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace eventcrawl::test
