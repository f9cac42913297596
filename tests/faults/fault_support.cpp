#include "tests/faults/fault_support.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "tests/app/sqlite_query.hpp"

namespace eventcrawl::faults_test {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// Fields of /proc/PID/stat after the command name: state and parent id.
struct proc_stat {
    char state = '?';
    pid_t parent = 0;
};

std::optional<proc_stat> read_stat(pid_t pid) {
    const std::string line = read_file(fs::path("/proc") / std::to_string(pid) / "stat");
    const auto name_end = line.rfind(')');
    if (name_end == std::string::npos || name_end + 2 >= line.size()) {
        return std::nullopt;
    }
    std::istringstream rest(line.substr(name_end + 2));
    proc_stat stat;
    rest >> stat.state >> stat.parent;
    return stat;
}

std::string read_cmdline(pid_t pid) {
    std::string text = read_file(fs::path("/proc") / std::to_string(pid) / "cmdline");
    for (auto& character : text) {
        if (character == '\0') {
            character = ' ';
        }
    }
    return text;
}

std::vector<pid_t> live_process_ids() {
    std::vector<pid_t> pids;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return pids;
}

bool descends_from(pid_t pid, pid_t ancestor) {
    for (int depth = 0; depth < 64 && pid > 1; ++depth) {
        const auto stat = read_stat(pid);
        if (!stat) {
            return false;
        }
        if (stat->parent == ancestor) {
            return true;
        }
        pid = stat->parent;
    }
    return false;
}

}  // namespace

std::vector<std::string> corpus_cities(const fs::path& corpus_dir) {
    const YAML::Node root = YAML::LoadFile((corpus_dir / "cities.yaml").string());
    std::vector<std::string> slugs;
    for (const auto& city : root["cities"]) {
        slugs.push_back(city["slug"].as<std::string>());
    }
    return slugs;
}

void copy_corpus(const fs::path& target, const std::string& city, const std::string& faults_yaml) {
    fs::copy(real_corpus, target, fs::copy_options::recursive);
    if (city.empty()) {
        return;
    }
    if (!fs::is_directory(target / city)) {
        throw std::invalid_argument(
            "city '" + city + "' not found: expected a folder of that name in " + target.string());
    }
    std::ofstream out(target / city / "faults.yaml");
    out << faults_yaml;
}

namespace {

std::vector<std::string> replay_argv(const fs::path& corpus_dir,
                                     const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {
        replay_binary, "--corpus", corpus_dir.string(), "--host", "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return argv;
}

}  // namespace

replay_site::replay_site(const fs::path& corpus_dir, const std::vector<std::string>& flags)
    : process_(replay_argv(corpus_dir, flags)) {
    const auto line = process_.read_line();
    const std::string prefix = "listening on ";
    if (line.rfind(prefix, 0) != 0) {
        throw std::runtime_error("unexpected first line from eventbrite-replay: " + line);
    }
    url_ = line.substr(prefix.size());
}

json::object replay_site::stats() const {
    const auto result = test::run_command({"/usr/bin/curl", "-sf", url_ + "/__replay/stats"});
    boost::system::error_code error;
    const auto value = json::parse(result.output, error);
    if (result.exit_code != 0 || error || !value.is_object()) {
        throw std::runtime_error("GET " + url_ + "/__replay/stats failed: " + result.output);
    }
    return value.get_object();
}

std::optional<long long> fault_firings(const json::object& stats, const std::string& kind) {
    const auto* faults = stats.if_contains("faults");
    if (faults == nullptr || !faults->is_object()) {
        return std::nullopt;
    }
    const auto* count = faults->get_object().if_contains(kind);
    if (count == nullptr || !count->is_number()) {
        return 0;
    }
    return count->to_number<long long>();
}

std::vector<std::string> crawl_argv(const crawl_setup& setup) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "TMPDIR=" + setup.chromium_tmp.string(),
                                     eventcrawl_binary,
                                     "--log-level",
                                     "warn",
                                     "crawl",
                                     "--cities",
                                     (setup.corpus_dir / "cities.yaml").string(),
                                     "--base-url",
                                     setup.base_url,
                                     "--db",
                                     setup.dsn,
                                     "--concurrency",
                                     "4",
                                     "--page-timeout",
                                     "4",
                                     "--no-progress"};
    for (const auto& city : setup.cities) {
        argv.push_back("--city");
        argv.push_back(city);
    }
    if (!setup.summary_json.empty()) {
        argv.push_back("--summary-json");
        argv.push_back(setup.summary_json);
    }
    return argv;
}

std::vector<std::string> event_rows(const fs::path& database) {
    std::string columns;
    for (const auto& column : test::query_rows(database, "PRAGMA table_info(events)")) {
        const std::string& name = column.at(1);
        // seq follows the order of inserts, which retries and restarts change.
        if (name == "seq" || name == "first_seen_at" || name == "last_seen_at") {
            continue;
        }
        columns += (columns.empty() ? "" : ", ") + name;
    }
    std::vector<std::string> lines;
    const auto append = [&lines](const std::vector<std::vector<std::string>>& rows,
                                 const std::string& prefix) {
        for (const auto& row : rows) {
            std::string line = prefix;
            for (const auto& value : row) {
                line += value + '\x1f';
            }
            lines.push_back(std::move(line));
        }
    };
    append(test::query_rows(database, "SELECT " + columns + " FROM events ORDER BY id"), "event ");
    append(test::query_rows(database, "SELECT event_id, tag FROM event_tags ORDER BY 1, 2"),
           "tag ");
    return lines;
}

std::vector<pid_t> processes_matching(const std::string& marker) {
    std::vector<pid_t> found;
    for (const pid_t pid : live_process_ids()) {
        const auto stat = read_stat(pid);
        if (stat && stat->state != 'Z' && read_cmdline(pid).find(marker) != std::string::npos) {
            found.push_back(pid);
        }
    }
    return found;
}

std::vector<pid_t> descendants_of(pid_t ancestor) {
    std::vector<pid_t> found;
    for (const pid_t pid : live_process_ids()) {
        const auto stat = read_stat(pid);
        if (stat && stat->state != 'Z' && descends_from(pid, ancestor)) {
            found.push_back(pid);
        }
    }
    return found;
}

bool has_exited(pid_t pid) {
    const auto stat = read_stat(pid);
    return !stat || stat->state == 'Z';
}

std::optional<pid_t> browser_process(const std::string& marker) {
    for (const pid_t pid : live_process_ids()) {
        const std::string command = read_cmdline(pid);
        if (command.find("--user-data-dir=" + marker) != std::string::npos &&
            command.find("--type=") == std::string::npos) {
            const auto stat = read_stat(pid);
            if (stat && stat->state != 'Z') {
                return pid;
            }
        }
    }
    return std::nullopt;
}

}  // namespace eventcrawl::faults_test
