// Helpers for the end-to-end crawl tests: the replay site, crawl command lines and table dumps.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "tests/app/process.hpp"
#include "tests/app/sqlite_query.hpp"

namespace eventcrawl::test {

inline const std::string eventcrawl_binary = EVENTCRAWL_BINARY;
inline const std::string replay_binary = REPLAY_BINARY;
inline const std::filesystem::path corpus =
    std::filesystem::path(EVENTCRAWL_SOURCE_DIR) / "replay/corpus/real";

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

inline long long expected_value(const std::string& key) {
    const auto text = read_text(corpus / "expected.json");
    const std::regex pattern("\"" + key + "\"\\s*:\\s*([0-9]+)");
    std::smatch match;
    if (!std::regex_search(text, match, pattern)) {
        throw std::runtime_error("expected.json has no " + key);
    }
    return std::stoll(match[1]);
}

// Process ids of the running Chromium processes whose command line contains `marker`, or of
// every running Chromium process when `marker` is empty.
inline std::set<std::string> chromium_processes(const std::string& marker = {}) {
    std::set<std::string> pids;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream comm(entry.path() / "comm");
        std::string command;
        std::getline(comm, command);
        std::ifstream stat(entry.path() / "stat");
        std::string stat_line;
        std::getline(stat, stat_line);
        const auto state_at = stat_line.rfind(')');
        const bool zombie = state_at != std::string::npos && state_at + 2 < stat_line.size() &&
                            stat_line[state_at + 2] == 'Z';
        if (command.find("chrom") == std::string::npos || zombie) {
            continue;
        }
        if (!marker.empty()) {
            std::ifstream cmdline_file(entry.path() / "cmdline");
            const std::string cmdline{std::istreambuf_iterator<char>(cmdline_file),
                                      std::istreambuf_iterator<char>()};
            if (cmdline.find(marker) == std::string::npos) {
                continue;
            }
        }
        pids.insert(name);
    }
    return pids;
}

// Points TMPDIR at a new folder while it lives, and deletes the folder at the end. eventcrawl
// creates its Chromium profiles under TMPDIR, and every Chromium process names its profile on its
// command line, so chromium_processes(path()) finds the browsers of the crawls started meanwhile
// and no others. The folder is short (/tmp/ecb-XXXXXX), because Chromium rejects a profile whose
// socket path exceeds the 108 bytes of a Unix socket address.
class scoped_tmpdir {
public:
    scoped_tmpdir() {
        std::string pattern = "/tmp/ecb-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed for " + pattern);
        }
        path_ = pattern;
        if (const char* old = std::getenv("TMPDIR"); old != nullptr) {
            old_ = old;
        }
        ::setenv("TMPDIR", path_.c_str(), 1);
    }
    ~scoped_tmpdir() {
        if (old_) {
            ::setenv("TMPDIR", old_->c_str(), 1);
        } else {
            ::unsetenv("TMPDIR");
        }
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    scoped_tmpdir(const scoped_tmpdir&) = delete;
    scoped_tmpdir& operator=(const scoped_tmpdir&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::optional<std::string> old_;
};

// The replay site on a free loopback port, stopped when the test ends.
class replay_site {
public:
    explicit replay_site(const std::filesystem::path& corpus_dir, int delay_ms = 0)
        : process_({replay_binary,
                    "--corpus",
                    corpus_dir.string(),
                    "--port",
                    "0",
                    "--delay-ms",
                    std::to_string(delay_ms)}) {
        const auto line = process_.read_line();
        const std::string prefix = "listening on ";
        if (line.rfind(prefix, 0) != 0) {
            throw std::runtime_error("unexpected first line from eventbrite-replay: " + line);
        }
        url_ = line.substr(prefix.size());
    }
    const std::string& url() const { return url_; }

    // Listing, search and other requests the site has served so far (from /__replay/stats).
    long long total_requests() const {
        const auto stats = run_command({"/usr/bin/curl", "-sf", url_ + "/__replay/stats"});
        static const std::regex total(R"("total":([0-9]+))");
        std::smatch match;
        if (stats.exit_code != 0 || !std::regex_search(stats.output, match, total)) {
            throw std::runtime_error("cannot read /__replay/stats: " + stats.output);
        }
        return std::stoll(match[1]);
    }

private:
    background_process process_;
    std::string url_;
};

inline std::vector<std::string> crawl_argv(const std::string& base_url,
                                           const std::string& dsn,
                                           const std::string& mode) {
    return {eventcrawl_binary,
            "crawl",
            "--cities",
            (corpus / "cities.yaml").string(),
            "--base-url",
            base_url,
            "--db",
            dsn,
            "--mode",
            mode,
            "--concurrency",
            "3",
            "--browsers",
            "2",
            "--no-progress"};
}

// Exported JSON lines without the first/last-seen times, which differ between two crawls.
inline std::string export_without_seen_times(const std::string& dsn) {
    const auto result =
        run_command({eventcrawl_binary, "--log-level", "off", "export", "--db", dsn});
    if (result.exit_code != 0) {
        throw std::runtime_error("export failed: " + result.output);
    }
    static const std::regex seen_times(R"(,"first_seen_at":"[^"]*","last_seen_at":"[^"]*")");
    return std::regex_replace(result.output, seen_times, "");
}

// A fresh database for one test: a SQLite file, or a new database in the PostgreSQL cluster
// that tests/db/pg_cluster.sh started when EVENTCRAWL_TEST_BACKEND is "postgres".
class test_database {
public:
    explicit test_database(const std::filesystem::path& folder,
                           const std::string& name = "events") {
        const char* backend = std::getenv("EVENTCRAWL_TEST_BACKEND");
        postgres_ = backend != nullptr && std::string(backend) == "postgres";
        if (!postgres_) {
            path_ = folder / (name + ".db");
            dsn_ = "sqlite:" + path_.string();
            return;
        }
        const char* cluster = std::getenv("EVENTCRAWL_TEST_PG_DSN");
        if (cluster == nullptr) {
            throw std::runtime_error(
                "EVENTCRAWL_TEST_BACKEND=postgres needs EVENTCRAWL_TEST_PG_DSN");
        }
        static int counter = 0;
        const std::string database_name =
            name + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
        psql(cluster, "CREATE DATABASE " + database_name);
        const std::string base = cluster;
        dsn_ = base.substr(0, base.rfind('/') + 1) + database_name;
    }

    const std::string& dsn() const { return dsn_; }
    bool is_postgres() const { return postgres_; }

    long long number(const std::string& sql) const {
        if (!postgres_) {
            return query_number(path_, sql);
        }
        return std::stoll(psql(dsn_, sql));
    }

    void execute(const std::string& sql) const {
        if (!postgres_) {
            execute_sql(path_, sql);
            return;
        }
        psql(dsn_, sql);
    }

    // Every stored event with its tags, without the seen times, in a stable order.
    std::string dump() const { return export_without_seen_times(dsn_); }

private:
    static std::string psql(const std::string& dsn, const std::string& sql) {
        const auto result =
            run_command({"/usr/bin/psql", dsn, "-v", "ON_ERROR_STOP=1", "-Atqc", sql});
        if (result.exit_code != 0) {
            throw std::runtime_error("psql '" + sql + "' failed: " + result.output);
        }
        return result.output;
    }

    bool postgres_ = false;
    std::string dsn_;
    std::filesystem::path path_;
};

}  // namespace eventcrawl::test
