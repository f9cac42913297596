// End-to-end crawls with real Chromium against the local replay site.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>
#include <sstream>

#include "tests/app/process.hpp"
#include "tests/app/sqlite_query.hpp"

namespace {

using eventcrawl::test::background_process;
using eventcrawl::test::query_number;
using eventcrawl::test::query_rows;
using eventcrawl::test::run_command;
using eventcrawl::test::temp_dir;

const std::string eventcrawl_binary = EVENTCRAWL_BINARY;
const std::string replay_binary = REPLAY_BINARY;
const std::filesystem::path corpus =
    std::filesystem::path(EVENTCRAWL_SOURCE_DIR) / "replay/corpus/real";

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

long long expected_value(const std::string& key) {
    const auto text = read_text(corpus / "expected.json");
    const std::regex pattern("\"" + key + "\"\\s*:\\s*([0-9]+)");
    std::smatch match;
    if (!std::regex_search(text, match, pattern)) {
        throw std::runtime_error("expected.json has no " + key);
    }
    return std::stoll(match[1]);
}

// Process ids of every running Chromium process.
std::set<std::string> chromium_processes() {
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

std::vector<std::string> crawl_argv(const std::string& base_url,
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
std::string table_dump(const std::filesystem::path& database) {
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

}  // namespace

TEST_SUITE("app") {
    TEST_CASE("crawl stores every corpus event") {
        replay_site site(corpus);
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        const auto result = run_command(crawl_argv(site.url(), database, "async"));
        CAPTURE(result.output);
        REQUIRE(result.exit_code == 0);
        CHECK(query_number(database, "SELECT count(*) FROM events") ==
              expected_value("unique_events"));
        CHECK(query_number(database, "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities"));
        CHECK(query_number(database, "SELECT sum(pages) FROM run_cities") ==
              expected_value("pages_crawled"));
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'ok'") == 1);
    }

    TEST_CASE("sync and async rows match") {
        replay_site site(corpus);
        temp_dir dir;
        const auto async_db = dir.path() / "async.db";
        const auto sync_db = dir.path() / "sync.db";
        const auto async_run = run_command(crawl_argv(site.url(), async_db, "async"));
        CAPTURE(async_run.output);
        REQUIRE(async_run.exit_code == 0);
        const auto sync_run = run_command(crawl_argv(site.url(), sync_db, "sync"));
        CAPTURE(sync_run.output);
        REQUIRE(sync_run.exit_code == 0);
        const auto async_rows = table_dump(async_db);
        CHECK(async_rows.size() > 1000);
        CHECK(async_rows == table_dump(sync_db));
    }

    TEST_CASE("blocked city keeps others") {
        temp_dir dir;
        const auto corpus_copy = dir.path() / "corpus";
        std::filesystem::copy(corpus, corpus_copy, std::filesystem::copy_options::recursive);
        {
            std::ofstream faults(corpus_copy / "fl--key-west" / "faults.yaml");
            faults << "- {page: 1, endpoint: listing, kind: status, status: 403}\n";
        }
        replay_site site(corpus_copy);
        const auto database = dir.path() / "events.db";
        auto argv = crawl_argv(site.url(), database, "async");
        argv[3] = (corpus_copy / "cities.yaml").string();
        const auto result = run_command(argv);
        CAPTURE(result.output);
        CHECK(result.exit_code == 2);
        CHECK(query_number(database,
                           "SELECT count(*) FROM run_cities WHERE city_slug = 'fl--key-west' AND "
                           "status = 'blocked'") == 1);
        CHECK(query_number(database, "SELECT count(*) FROM run_cities WHERE status = 'ok'") ==
              expected_value("cities") - 1);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'partial'") == 1);
        CHECK(result.output.find("bot_wall") != std::string::npos);
    }

    TEST_CASE("sigterm stops crawl cleanly") {
        const auto before = chromium_processes();
        replay_site site(corpus, 400);
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        background_process crawl(crawl_argv(site.url(), database, "async"));
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        const int exit_code = crawl.stop();

        CHECK(exit_code == 2);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'interrupted'") ==
              1);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE finished_at IS NULL") == 0);
        std::set<std::string> left;
        for (const auto& pid : chromium_processes()) {
            if (before.count(pid) == 0) {
                left.insert(pid);
            }
        }
        CHECK(left.empty());
    }
}
