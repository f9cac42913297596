// Helpers for the fault matrix: a replay site with fault rules, crawl command lines, row dumps
// and a scan for Chromium processes a crawl left behind.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/app/process.hpp"

namespace eventcrawl::faults_test {

inline const std::string eventcrawl_binary = EVENTCRAWL_BINARY;
inline const std::string replay_binary = REPLAY_BINARY;
inline const std::filesystem::path real_corpus =
    std::filesystem::path(EVENTCRAWL_SOURCE_DIR) / "replay/corpus/real";

// Slugs of the cities in replay/corpus/real/cities.yaml, in file order.
std::vector<std::string> corpus_cities(const std::filesystem::path& corpus_dir);

// Copies the real corpus into `target` and writes `faults_yaml` as `city`'s faults.yaml (no
// file when `city` is empty).
void copy_corpus(const std::filesystem::path& target,
                 const std::string& city,
                 const std::string& faults_yaml);

// eventbrite-replay on a free loopback port, stopped when the object is destroyed.
class replay_site {
public:
    replay_site(const std::filesystem::path& corpus_dir, const std::vector<std::string>& flags);
    const std::string& url() const { return url_; }

    // The parsed /__replay/stats body. Throws when the request fails.
    boost::json::object stats() const;

private:
    test::background_process process_;
    std::string url_;
};

// Firings of fault `kind` in stats()["faults"], or nothing when the site does not count them.
std::optional<long long> fault_firings(const boost::json::object& stats, const std::string& kind);

// Settings of one crawl in the matrix.
struct crawl_setup {
    std::filesystem::path corpus_dir;
    std::string base_url;
    std::string dsn;
    std::filesystem::path chromium_tmp;  // TMPDIR of the crawl, so profiles land below it
    std::vector<std::string> cities;     // empty: every city in the corpus
    std::string summary_json;            // empty: no --summary-json
};

// The crawl command line, prefixed with /usr/bin/env TMPDIR=... so that the process id stays
// the crawl's own.
std::vector<std::string> crawl_argv(const crawl_setup& setup);

// Every row of events without seq, first_seen_at and last_seen_at, then every row of event_tags,
// each as one line with columns separated by U+001F.
std::vector<std::string> event_rows(const std::filesystem::path& database);

// Process ids of live (non-zombie) processes whose command line contains `marker`.
std::vector<pid_t> processes_matching(const std::string& marker);

// Process ids of live (non-zombie) processes whose parent chain leads to `ancestor`.
std::vector<pid_t> descendants_of(pid_t ancestor);

// True when `pid` has ended: it is gone or a zombie that its parent has not reaped yet.
bool has_exited(pid_t pid);

// The Chromium browser process (not a renderer or helper) whose command line contains `marker`.
std::optional<pid_t> browser_process(const std::string& marker);

// Runs `condition` every 100 ms until it returns true or `timeout` passes, and returns the
// last result.
template <typename Condition>
bool wait_until(std::chrono::milliseconds timeout, Condition condition) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
}

}  // namespace eventcrawl::faults_test
