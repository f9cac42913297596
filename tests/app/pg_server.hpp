// Control of the throwaway PostgreSQL cluster that tests/db/pg_cluster.sh starts: stopping and
// starting the server mid-test, and databases in it with their own DSN.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/app/process.hpp"

namespace eventcrawl::test {

// An environment variable that pg_cluster.sh exports. Throws when it is missing.
inline std::string cluster_setting(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        throw std::runtime_error(std::string(name) +
                                 " is not set; run this test through tests/db/pg_cluster.sh");
    }
    return value;
}

// Runs pg_ctl as the postgres user on the cluster's data folder, for example {"stop", "-m",
// "fast"}. Waits until pg_ctl is done (-w) and throws when it fails.
inline void run_pg_ctl(const std::vector<std::string>& action) {
    const std::string bin = cluster_setting("EVENTCRAWL_TEST_PG_BIN");
    std::vector<std::string> argv = {"/usr/sbin/runuser",
                                     "-u",
                                     "postgres",
                                     "--",
                                     bin + "/pg_ctl",
                                     "-D",
                                     cluster_setting("EVENTCRAWL_TEST_PG_DATA"),
                                     "-l",
                                     cluster_setting("EVENTCRAWL_TEST_PG_LOG"),
                                     "-w",
                                     "-t",
                                     "60"};
    argv.insert(argv.end(), action.begin(), action.end());
    const auto result = run_command(argv);
    if (result.exit_code != 0) {
        throw std::runtime_error("pg_ctl failed with exit code " +
                                 std::to_string(result.exit_code) + ": " + result.output);
    }
}

// Whether the cluster's server runs (pg_ctl status exits 0 when it does, 3 when it does not).
inline bool pg_server_running() {
    const auto result = run_command({"/usr/sbin/runuser",
                                     "-u",
                                     "postgres",
                                     "--",
                                     cluster_setting("EVENTCRAWL_TEST_PG_BIN") + "/pg_ctl",
                                     "-D",
                                     cluster_setting("EVENTCRAWL_TEST_PG_DATA"),
                                     "status"});
    return result.exit_code == 0;
}

inline void start_pg_server() {
    run_pg_ctl({"-o", cluster_setting("EVENTCRAWL_TEST_PG_SERVER_OPTIONS"), "start"});
}

inline void stop_pg_server() {
    run_pg_ctl({"-m", "fast", "stop"});
}

inline void restart_pg_server() {
    run_pg_ctl(
        {"-m", "fast", "-o", cluster_setting("EVENTCRAWL_TEST_PG_SERVER_OPTIONS"), "restart"});
}

// Starts the server again on destruction if a test stopped it and failed before starting it,
// so that later tests in the same cluster find it running.
class pg_server_guard {
public:
    pg_server_guard() = default;
    ~pg_server_guard() {
        try {
            if (!pg_server_running()) {
                start_pg_server();
            }
        } catch (const std::exception&) {
            // A destructor must not throw, so the next test reports the server as unreachable.
        }
    }
    pg_server_guard(const pg_server_guard&) = delete;
    pg_server_guard& operator=(const pg_server_guard&) = delete;
};

// Output and exit code of one psql call.
inline command_result run_psql(const std::string& dsn, const std::string& sql) {
    return run_command(
        {"/usr/bin/psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", "-P", "null=NULL", "-Atqc", sql});
}

// A new database in the cluster. Its DSN carries a password, which the cluster's trust
// authentication ignores, so that tests can check that no output reveals it.
class pg_database {
public:
    static constexpr const char* password = "pw-7Qx2vK9m";

    explicit pg_database(const std::string& name) {
        static int counter = 0;
        name_ = name + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
        const std::string cluster = cluster_setting("EVENTCRAWL_TEST_PG_DSN");
        const std::string port = cluster_setting("EVENTCRAWL_TEST_PG_PORT");
        query(cluster, "CREATE DATABASE " + name_);
        dsn_ =
            "postgresql://postgres:" + std::string(password) + "@127.0.0.1:" + port + "/" + name_;
        masked_dsn_ = "postgresql://postgres:***@127.0.0.1:" + port + "/" + name_;
    }

    const std::string& dsn() const { return dsn_; }
    // The DSN as eventcrawl prints it, with the password replaced by ***.
    const std::string& masked_dsn() const { return masked_dsn_; }

    // Runs SQL and returns its output (one row a line, columns separated by |). Throws when
    // psql fails.
    std::string query(const std::string& sql) const { return query(dsn_, sql); }

    long long number(const std::string& sql) const { return std::stoll(query(sql)); }

    // Polls `sql` (a single number) every 100 ms until it reaches `minimum`, tolerating failed
    // connections. Returns false when `timeout` passes first.
    bool wait_for_number(const std::string& sql,
                         long long minimum,
                         std::chrono::seconds timeout) const {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto result = run_psql(dsn_, sql);
            if (result.exit_code == 0 && !result.output.empty() &&
                std::stoll(result.output) >= minimum) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }

    // Every events row without first_seen_at and last_seen_at, ordered by id, then every
    // event_tags row, as text. The column list comes from the live schema, so a column added
    // later is compared too.
    std::string event_rows() const {
        const std::string columns = query(
            "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = 'public' AND "
            "table_name = 'events' AND column_name NOT IN ('first_seen_at', 'last_seen_at')");
        std::string trimmed = columns;
        while (!trimmed.empty() && trimmed.back() == '\n') {
            trimmed.pop_back();
        }
        return query("SELECT " + trimmed + " FROM events ORDER BY id") + "-- tags\n" +
               query("SELECT event_id, tag FROM event_tags ORDER BY event_id, tag");
    }

private:
    static std::string query(const std::string& dsn, const std::string& sql) {
        const auto result = run_psql(dsn, sql);
        if (result.exit_code != 0) {
            throw std::runtime_error("psql '" + sql + "' failed: " + result.output);
        }
        return result.output;
    }

    std::string name_;
    std::string dsn_;
    std::string masked_dsn_;
};

}  // namespace eventcrawl::test
