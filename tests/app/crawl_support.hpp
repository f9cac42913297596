// Helpers for the end-to-end crawl tests: the replay site, crawl command lines and table dumps.
#pragma once

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
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

// Process ids of every running Chromium process.
inline std::set<std::string> chromium_processes() {
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
        if (command.find("chrom") != std::string::npos && !zombie) {
            pids.insert(name);
        }
    }
    return pids;
}

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

private:
    background_process process_;
    std::string url_;
};

inline std::vector<std::string> crawl_argv(const std::string& base_url,
                                           const std::filesystem::path& database,
                                           const std::string& mode) {
    return {eventcrawl_binary,
            "crawl",
            "--cities",
            (corpus / "cities.yaml").string(),
            "--base-url",
            base_url,
            "--db",
            "sqlite:" + database.string(),
            "--mode",
            mode,
            "--concurrency",
            "3",
            "--browsers",
            "2",
            "--no-progress"};
}

// Every stored column but the first/last-seen times, in id order, as one text block.
inline std::string table_dump(const std::filesystem::path& database) {
    const auto rows = query_rows(
        database,
        "SELECT id, name, summary, url, timezone, start_local, end_local, start_utc, end_utc, "
        "is_online, is_free, is_cancelled, venue_name, address, city, region, country, latitude, "
        "longitude, price_min_minor, price_max_minor, currency, organizer_name, series_id, "
        "image_url, (SELECT group_concat(tag, '|') FROM (SELECT tag FROM event_tags t WHERE "
        "t.event_id = e.id ORDER BY tag)) FROM events e ORDER BY id");
    std::string dump;
    for (const auto& row : rows) {
        for (const auto& value : row) {
            dump += value;
            dump += '\t';
        }
        dump += '\n';
    }
    return dump;
}

}  // namespace eventcrawl::test
