#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace eventcrawl::crawler {

// Debian's packages: chromium-headless-shell holds only the headless browser, chromium the whole
// desktop browser.
inline constexpr const char* headless_shell_path = "/usr/lib/chromium/chromium-headless-shell";
inline constexpr const char* desktop_chromium_path = "/usr/lib/chromium/chromium";

// Returns headless_shell_path when that file is executable, or else desktop_chromium_path. The
// headless shell has no browser window, tabs or address bar to run. In bench/compare it used
// about half of the CPU per page of the desktop binary in headless mode (same version, same
// switches).
std::string default_chromium_path();

struct browser_launch_options {
    std::string chromium_path = default_chromium_path();
    std::chrono::milliseconds launch_timeout{20000};
    std::vector<std::string> extra_args;
};

// One headless Chromium launched by this process, in its own process group, with a fresh
// temporary profile. The destructor kills the group, reaps it and removes the temp dir, so an
// exception anywhere above still leaves no browser behind.
//
// If this process dies without unwinding (SIGKILL, abort), the kernel kills the browser
// (PR_SET_PDEATHSIG); its helper processes exit once the browser's sockets close.
// @note launch() makes this process a child subreaper (PR_SET_CHILD_SUBREAPER), so Chromium's
// helpers (zygote, crash handler) are reparented here when the browser dies and can be reaped.
class browser_process {
public:
    // Spawns Chromium and waits (bounded by launch_timeout) for <profile>/DevToolsActivePort.
    // Throws std::runtime_error naming the path when the binary is missing, when the browser
    // exits first (with its exit status), or when the deadline passes. The last two messages
    // quote the last lines of Chromium's output, because its log is deleted with the temp dir.
    static boost::asio::awaitable<std::unique_ptr<browser_process>> launch(
        boost::asio::any_io_executor executor, browser_launch_options options);

    ~browser_process();
    browser_process(const browser_process&) = delete;
    browser_process& operator=(const browser_process&) = delete;

    const std::string& websocket_url() const noexcept { return websocket_url_; }
    pid_t pid() const noexcept { return pid_; }
    const std::filesystem::path& temp_dir() const noexcept { return temp_dir_; }

    // True once the main browser process has exited (reaps it if so).
    bool has_exited();

    // Waits up to `timeout` for the main process to exit on its own (after Browser.close).
    boost::asio::awaitable<bool> wait_for_exit(std::chrono::milliseconds timeout);

    // SIGKILLs the whole process group and the helpers that left it (found by the temp dir in
    // their command line), reaps those that are children of this process and removes the temp
    // dir. Safe to call more than once.
    void terminate();

private:
    browser_process() = default;

    pid_t pid_ = -1;
    bool exited_ = false;
    int exit_status_ = 0;
    bool terminated_ = false;
    std::filesystem::path temp_dir_;
    std::string websocket_url_;
};

// Returns the status text ("exit code 1", "signal 9") for a waitpid status.
std::string describe_wait_status(int status);

}  // namespace eventcrawl::crawler
