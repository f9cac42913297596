#pragma once

#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace eventcrawl::test {

// Output and exit status of a finished command.
struct command_result {
    int exit_code = -1;
    std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] with the arguments (and `environment` entries NAME=VALUE added to this
// process's environment), waits for it and captures its output.
command_result run_command(const std::vector<std::string>& argv,
                           const std::vector<std::string>& environment = {});

// A child process that runs until stop() or destruction (SIGTERM, then SIGKILL after 30 s).
class background_process {
public:
    explicit background_process(const std::vector<std::string>& argv);

    // Sends `signal` without waiting.
    void send_signal(int signal) const;
    ~background_process();
    background_process(const background_process&) = delete;
    background_process& operator=(const background_process&) = delete;

    // Reads one line of the child's stdout (waits up to 20 s). Throws on timeout or EOF.
    std::string read_line();

    // Sends SIGTERM and waits; returns the exit code (128 + signal if killed).
    int stop();

    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    std::string buffered_;
};

// A temporary directory removed with everything in it on destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace eventcrawl::test
