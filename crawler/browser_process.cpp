#include "crawler/browser_process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "crawler/detail/logger.hpp"

extern char** environ;

namespace eventcrawl::crawler {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(20);

fs::path make_temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = fmt::format("{}/eventcrawl-chromium-XXXXXX",
                                      base != nullptr && *base != '\0' ? base : "/tmp");
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
        throw std::runtime_error(
            fmt::format("cannot create a temp dir from pattern {}: {}; set "
                        "TMPDIR to a writable folder",
                        pattern,
                        std::strerror(errno)));
    }
    return fs::path(buffer.data());
}

std::vector<std::string> chromium_arguments(const browser_launch_options& options,
                                            const fs::path& profile_dir) {
    std::vector<std::string> args = {
        options.chromium_path,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        // Chromium keeps only the last --disable-features switch, so every feature goes here.
        // BackForwardCache is off because a page target reused from city to city would keep
        // the listing it left in that cache. With the cache, each reused renderer measured about
        // 37 MiB PSS, and 30 MiB without it (bench/compare corpus, Chromium 156).
        "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,Translate,MediaRouter,"
        "OptimizationHints,BackForwardCache",
        // Runs the GPU thread in the browser process. That dropped the GPU process (about 62 MiB
        // PSS) and added about 50 MiB to the browser process in bench/compare.
        "--in-process-gpu",
        "--remote-debugging-port=0",
        "--user-data-dir=" + profile_dir.string(),
    };
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    args.emplace_back("about:blank");
    return args;
}

// Copies this process's environment with HOME, XDG_* and TMPDIR pointed into `temp_dir`, because
// Chromium writes crash reports, dconf caches and its own temp folders outside the profile.
std::vector<std::string> chromium_environment(const fs::path& temp_dir) {
    const std::vector<std::pair<std::string, fs::path>> overrides = {
        {"HOME", temp_dir / "home"},
        {"XDG_CONFIG_HOME", temp_dir / "config"},
        {"XDG_CACHE_HOME", temp_dir / "cache"},
        {"TMPDIR", temp_dir / "tmp"},
    };
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        std::string_view variable(*entry);
        bool replaced = false;
        for (const auto& [name, value] : overrides) {
            if (variable.starts_with(name + "=")) {
                replaced = true;
            }
        }
        if (!replaced) {
            environment.emplace_back(variable);
        }
    }
    for (const auto& [name, value] : overrides) {
        fs::create_directories(value);
        environment.push_back(name + "=" + value.string());
    }
    return environment;
}

// Ids of Chromium processes (argv[0] contains "chrom") whose command line mentions `marker`.
// Chromium's crash handlers start their own sessions, so they leave the browser's process group
// but still carry the temp dir's path.
std::vector<pid_t> processes_mentioning(const std::string& marker) {
    std::vector<pid_t> found;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream file(entry.path() / "cmdline", std::ios::binary);
        const std::string command_line((std::istreambuf_iterator<char>(file)),
                                       std::istreambuf_iterator<char>());
        const std::string_view program(command_line.c_str());  // argv[0], up to its NUL
        if (program.find("chrom") != std::string_view::npos &&
            command_line.find(marker) != std::string::npos) {
            found.push_back(static_cast<pid_t>(std::stol(name)));
        }
    }
    return found;
}

std::vector<char*> pointer_array(std::vector<std::string>& strings) {
    std::vector<char*> pointers;
    for (auto& text : strings) {
        pointers.push_back(text.data());
    }
    pointers.push_back(nullptr);
    return pointers;
}

// Reads "<port>\n/devtools/browser/<id>\n"; returns "" until both lines are there.
std::string read_devtools_url(const fs::path& profile_dir) {
    std::ifstream file(profile_dir / "DevToolsActivePort");
    std::string port;
    std::string path;
    if (!std::getline(file, port) || !std::getline(file, path) || port.empty() ||
        !path.starts_with("/devtools/browser/")) {
        return {};
    }
    return fmt::format("ws://127.0.0.1:{}{}", port, path);
}

// The last `max_lines` lines of Chromium's output (at most 4 KiB), indented for an error
// message, or a note that it printed nothing. Read before the temp dir that contains it is removed.
std::string output_tail(const fs::path& log_path, std::size_t max_lines = 15) {
    constexpr std::streamoff max_bytes = 4096;
    std::ifstream file(log_path, std::ios::binary);
    file.seekg(0, std::ios::end);
    const std::streamoff size = file ? static_cast<std::streamoff>(file.tellg()) : 0;
    if (size <= 0) {
        return "Chromium printed nothing";
    }
    const auto start = std::max<std::streamoff>(0, size - max_bytes);
    file.seekg(start);
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());

    std::vector<std::string> lines;
    std::size_t begin = 0;
    while (begin < text.size()) {
        auto end = text.find('\n', begin);
        if (end == std::string::npos) {
            end = text.size();
        }
        if (end > begin) {
            lines.push_back(text.substr(begin, end - begin));
        }
        begin = end + 1;
    }
    // A cut at max_bytes leaves a partial first line.
    if (start > 0 && !lines.empty()) {
        lines.erase(lines.begin());
    }

    if (lines.size() > max_lines) {
        lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(max_lines));
    }
    std::string tail = fmt::format("last {} lines of Chromium's output:", lines.size());
    for (const auto& line : lines) {
        tail += "\n    " + line;
    }
    return tail;
}

}  // namespace

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        return fmt::format("exit code {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return fmt::format("signal {}", WTERMSIG(status));
    }
    return fmt::format("wait status {}", status);
}

std::string default_chromium_path() {
    if (::access(headless_shell_path, X_OK) == 0) {
        return headless_shell_path;
    }
    return desktop_chromium_path;
}

asio::awaitable<std::unique_ptr<browser_process>> browser_process::launch(
    asio::any_io_executor executor, browser_launch_options options) {
    if (::access(options.chromium_path.c_str(), X_OK) != 0) {
        throw std::runtime_error(fmt::format(
            "Chromium binary {} is missing or not executable: {}; install it with "
            "`apt-get install chromium-headless-shell` (or chromium) or pass the path of a "
            "Chromium or Chrome binary with --chromium",
            options.chromium_path,
            std::strerror(errno)));
    }
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    std::unique_ptr<browser_process> browser(new browser_process());
    browser->temp_dir_ = make_temp_dir();
    const auto profile_dir = browser->temp_dir_ / "profile";
    fs::create_directories(profile_dir);

    auto args = chromium_arguments(options, profile_dir);
    auto environment = chromium_environment(browser->temp_dir_);
    auto arg_pointers = pointer_array(args);
    auto environment_pointers = pointer_array(environment);
    const auto log_path = (browser->temp_dir_ / "chromium.log").string();

    // fork + exec instead of posix_spawn, so the child can ask for SIGKILL when this process
    // dies (PR_SET_PDEATHSIG): a crawler killed with SIGKILL then leaves no browser behind.
    // Only async-signal-safe calls run between fork and exec. The signal follows the thread
    // that forks, which is the event-loop thread, alive as long as the crawl.
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child == 0) {
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        const int null_fd = ::open("/dev/null", O_RDONLY);
        const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (null_fd < 0 || log_fd < 0) {
            ::_exit(127);
        }
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        ::execve(options.chromium_path.c_str(), arg_pointers.data(), environment_pointers.data());
        ::_exit(127);
    }
    if (child < 0) {
        const int fork_error = errno;
        browser->pid_ = -1;
        throw std::runtime_error(fmt::format(
            "cannot start Chromium {}: {}", options.chromium_path, std::strerror(fork_error)));
    }
    browser->pid_ = child;
    // Also set here, so the group exists before anything signals it.
    ::setpgid(child, child);
    detail::logger()->debug(
        "chromium starting pid={} dir={}", browser->pid_, browser->temp_dir_.string());

    // Poll for DevToolsActivePort: Chromium writes it once the debugging port is bound.
    const auto deadline = std::chrono::steady_clock::now() + options.launch_timeout;
    asio::steady_timer timer(executor);
    for (;;) {
        browser->websocket_url_ = read_devtools_url(profile_dir);
        if (!browser->websocket_url_.empty()) {
            break;
        }
        if (browser->has_exited()) {
            throw std::runtime_error(
                fmt::format("Chromium {} exited with {} before opening its DevTools port; {}",
                            options.chromium_path,
                            describe_wait_status(browser->exit_status_),
                            output_tail(log_path)));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error(fmt::format(
                "Chromium {} did not write DevToolsActivePort within {} ms; raise the launch "
                "timeout; {}",
                options.chromium_path,
                options.launch_timeout.count(),
                output_tail(log_path)));
        }
        timer.expires_after(poll_interval);
        co_await timer.async_wait(asio::use_awaitable);
    }
    detail::logger()->info("chromium started pid={} binary={} url={}",
                           browser->pid_,
                           options.chromium_path,
                           browser->websocket_url_);
    co_return browser;
}

browser_process::~browser_process() {
    terminate();
}

bool browser_process::has_exited() {
    if (pid_ <= 0 || exited_) {
        return true;
    }
    int status = 0;
    const pid_t result = ::waitpid(pid_, &status, WNOHANG);
    if (result == pid_ || (result < 0 && errno == ECHILD)) {
        exited_ = true;
        exit_status_ = status;
    }
    return exited_;
}

asio::awaitable<bool> browser_process::wait_for_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!has_exited()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            co_return false;
        }
        timer.expires_after(poll_interval);
        co_await timer.async_wait(asio::use_awaitable);
    }
    co_return true;
}

void browser_process::terminate() {
    if (terminated_) {
        return;
    }
    terminated_ = true;
    if (pid_ > 0) {
        // The browser leads its group, so -pid reaches the zygotes and the crash handler too.
        ::kill(-pid_, SIGKILL);
        has_exited();
        if (!exited_) {
            int status = 0;
            ::waitpid(pid_, &status, 0);
            exited_ = true;
        }
        // Helpers reparented to this process (a subreaper) are reaped here; the rest of the
        // group is gone once kill(-pid, 0) reports ESRCH.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            const pid_t reaped = ::waitpid(-pid_, &status, WNOHANG);
            if (reaped > 0) {
                continue;
            }
            if (::kill(-pid_, 0) != 0 && errno == ESRCH) {
                break;
            }
            if (reaped < 0 && errno == ECHILD) {
                // Remaining members belong to another parent; wait for them to die.
                ::kill(-pid_, SIGKILL);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        // Crash handlers run in their own sessions; find them by the temp dir in their
        // arguments, and reap those reparented to this process.
        if (!temp_dir_.empty()) {
            for (const pid_t helper : processes_mentioning(temp_dir_.string() + "/")) {
                ::kill(helper, SIGKILL);
                ::waitpid(helper, nullptr, 0);
            }
        }
        detail::logger()->debug("chromium stopped pid={}", pid_);
    }
    if (!temp_dir_.empty()) {
        std::error_code ignored;
        fs::remove_all(temp_dir_, ignored);
    }
}

}  // namespace eventcrawl::crawler
