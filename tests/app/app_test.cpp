// End-to-end tests of the eventcrawl command line that need neither Chromium nor PostgreSQL.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "tests/app/process.hpp"
#include "tests/app/sqlite_query.hpp"

namespace {

using eventcrawl::test::query_number;
using eventcrawl::test::run_command;
using eventcrawl::test::temp_dir;

const std::string eventcrawl_binary = EVENTCRAWL_BINARY;
const std::filesystem::path fixtures = EVENTCRAWL_FIXTURES;
const std::filesystem::path source_dir = EVENTCRAWL_SOURCE_DIR;

std::vector<std::string> fixture_files() {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(fixtures)) {
        const auto extension = entry.path().extension();
        if (extension == ".json" || extension == ".html") {
            files.push_back(entry.path().string());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
}

}  // namespace

TEST_SUITE("app") {
    TEST_CASE("import every fixture twice") {
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        std::vector<std::string> argv = {
            eventcrawl_binary, "import", "--db", "sqlite:" + database.string()};
        const auto files = fixture_files();
        REQUIRE(files.size() == 16);
        argv.insert(argv.end(), files.begin(), files.end());

        const auto first = run_command(argv);
        CAPTURE(first.output);
        REQUIRE(first.exit_code == 0);
        const auto events = query_number(database, "SELECT count(*) FROM events");
        const auto tags = query_number(database, "SELECT count(*) FROM event_tags");
        // 241 distinct event ids across the event-bearing fixtures, counted by hand with a
        // script over each file's id fields (one Key West id repeats elsewhere).
        CHECK(events == 241);
        CHECK(tags > 0);

        const auto second = run_command(argv);
        CAPTURE(second.output);
        REQUIRE(second.exit_code == 0);
        CHECK(query_number(database, "SELECT count(*) FROM events") == events);
        CHECK(query_number(database, "SELECT count(*) FROM event_tags") == tags);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'ok'") == 2);
    }

    TEST_CASE("import keeps good files") {
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        const auto truncated = dir.path() / "truncated.json";
        write_file(truncated,
                   R"({"events":{"pagination":{"object_count":3},"results":[{"id":"1",)");
        const auto good = fixtures / "destination-events_by-ids_eventbrite-de_bavaria_trimmed.json";

        const auto result = run_command({eventcrawl_binary,
                                         "import",
                                         "--db",
                                         "sqlite:" + database.string(),
                                         truncated.string(),
                                         good.string()});
        CAPTURE(result.output);
        CHECK(result.exit_code == 2);
        CHECK(result.output.find("failed " + truncated.string()) != std::string::npos);
        CHECK(query_number(database, "SELECT count(*) FROM events") == 3);
        CHECK(query_number(database, "SELECT count(*) FROM runs WHERE status = 'partial'") == 1);
    }

    TEST_CASE("import rejects missing database folder") {
        const auto result = run_command(
            {eventcrawl_binary,
             "import",
             "--db",
             "sqlite:/nonexistent-folder/events.db",
             (fixtures / "destination-event_single_oslo_eventbrite-co-uk-url.json").string()});
        CAPTURE(result.output);
        CHECK(result.exit_code == 1);
        CHECK(result.output.find("/nonexistent-folder") != std::string::npos);
    }

    TEST_CASE("crawl bad input writes nothing") {
        temp_dir dir;
        const auto cities = dir.path() / "cities.yaml";
        write_file(cities,
                   "cities:\n  - slug: ny--new-york\n    name: New York\n    latitude: north\n");
        const std::string known_cities = (source_dir / "cities.yaml").string();
        const std::string database = (dir.path() / "events.db").string();
        const std::string missing_cities = (dir.path() / "missing.yaml").string();

        // A bound socket that does not listen refuses connections on its port.
        const int silent_socket = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(silent_socket >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(silent_socket, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(silent_socket, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        const std::string silent_url =
            "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

        struct bad_input {
            std::vector<std::string> arguments;
            std::string named_value;
            std::string database;
        };
        const std::vector<bad_input> table{
            {{"--cities", missing_cities}, missing_cities, "sqlite:" + database},
            {{"--cities", cities.string()}, "cities.yaml:2", "sqlite:" + database},
            {{"--cities", known_cities, "--city", "ny--new-yrok"},
             "ny--new-yrok",
             "sqlite:" + database},
            {{"--cities", known_cities, "--base-url", "127.0.0.1:8080"},
             "127.0.0.1:8080",
             "sqlite:" + database},
            {{"--cities", known_cities, "--city", "ny--new-york", "--base-url", silent_url},
             silent_url,
             "sqlite:" + database},
            {{"--cities", known_cities, "--city", "ny--new-york"}, "mysql://x", "mysql://x"},
            {{"--cities", known_cities, "--city", "ny--new-york", "--db-load-connections", "2"},
             "--db-load-connections 2",
             "sqlite:" + database},
            {{"--cities", known_cities, "--city", "ny--new-york"},
             "/nonexistent-folder",
             "sqlite:/nonexistent-folder/events.db"},
        };
        for (const auto& row : table) {
            std::vector<std::string> command{eventcrawl_binary, "crawl", "--db", row.database};
            command.insert(command.end(), row.arguments.begin(), row.arguments.end());
            const auto result = run_command(command);
            CAPTURE(row.named_value);
            CAPTURE(result.output);
            CHECK(result.exit_code == 1);
            const auto error_line = result.output.find("error: ");
            REQUIRE(error_line != std::string::npos);
            const auto line_end = result.output.find('\n', error_line);
            const auto line = result.output.substr(error_line, line_end - error_line);
            CHECK(line.find(row.named_value) != std::string::npos);
            CHECK(result.output.find("error: ", error_line + 1) == std::string::npos);
            CHECK_FALSE(std::filesystem::exists(database));
        }
        ::close(silent_socket);
    }

    TEST_CASE("help lists every option") {
        const auto result = run_command({eventcrawl_binary, "crawl", "--help"});
        CAPTURE(result.output);
        CHECK(result.exit_code == 0);
        for (const char* option : {"--cities",
                                   "--city",
                                   "--base-url",
                                   "--db",
                                   "--concurrency",
                                   "--browsers",
                                   "--browser-url",
                                   "--max-pages",
                                   "--mode",
                                   "--queue-capacity",
                                   "--db-load-connections"}) {
            CAPTURE(option);
            CHECK(result.output.find(option) != std::string::npos);
        }
    }

    TEST_CASE("dotenv fills missing settings") {
        temp_dir dir;
        const auto env_db = dir.path() / "env.db";
        const auto flag_db = dir.path() / "flag.db";
        const auto env_file = dir.path() / ".env";
        write_file(env_file,
                   "# settings\nexport EVENTCRAWL_DB=\"sqlite:" + env_db.string() + "\"\n");
        const auto file =
            (fixtures / "destination-events_by-ids_eventbrite-de_bavaria_trimmed.json").string();
        const std::vector<std::string> environment = {"EVENTCRAWL_ENV_FILE=" + env_file.string()};

        const auto from_env = run_command({eventcrawl_binary, "import", file}, environment);
        CAPTURE(from_env.output);
        REQUIRE(from_env.exit_code == 0);
        CHECK(query_number(env_db, "SELECT count(*) FROM events") == 3);

        const auto from_flag = run_command(
            {eventcrawl_binary, "import", "--db", "sqlite:" + flag_db.string(), file}, environment);
        CAPTURE(from_flag.output);
        REQUIRE(from_flag.exit_code == 0);
        CHECK(query_number(flag_db, "SELECT count(*) FROM events") == 3);
        CHECK(query_number(env_db, "SELECT count(*) FROM runs") == 1);
    }

    TEST_CASE("export writes csv and jsonl") {
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        const std::string dsn = "sqlite:" + database.string();
        const auto file =
            (fixtures / "destination-events_by-ids_eventbrite-de_bavaria_trimmed.json").string();
        REQUIRE(run_command({eventcrawl_binary, "import", "--db", dsn, file}).exit_code == 0);

        const auto csv = dir.path() / "events.csv";
        const auto csv_run = run_command({eventcrawl_binary,
                                          "export",
                                          "--db",
                                          dsn,
                                          "--format",
                                          "csv",
                                          "--output",
                                          csv.string()});
        CAPTURE(csv_run.output);
        REQUIRE(csv_run.exit_code == 0);
        std::ifstream csv_in(csv);
        std::vector<std::string> csv_lines;
        for (std::string line; std::getline(csv_in, line);) {
            csv_lines.push_back(line);
        }
        REQUIRE(csv_lines.size() == 4);
        CHECK(csv_lines[0].rfind("id,name,summary,url,timezone,", 0) == 0);

        const auto jsonl =
            run_command({eventcrawl_binary, "--log-level", "off", "export", "--db", dsn});
        REQUIRE(jsonl.exit_code == 0);
        CHECK(std::count(jsonl.output.begin(), jsonl.output.end(), '\n') == 3);
        CHECK(jsonl.output.find("\"currency\":\"EUR\"") != std::string::npos);

        const auto future = run_command({eventcrawl_binary,
                                         "--log-level",
                                         "off",
                                         "export",
                                         "--db",
                                         dsn,
                                         "--since",
                                         "2099-01-01"});
        REQUIRE(future.exit_code == 0);
        CHECK(future.output.empty());

        const auto bad_since =
            run_command({eventcrawl_binary, "export", "--db", dsn, "--since", "yesterday"});
        CHECK(bad_since.exit_code == 1);
        CHECK(bad_since.output.find("--since 'yesterday'") != std::string::npos);
    }

    TEST_CASE("failed export leaves no file") {
        temp_dir dir;
        const auto database = dir.path() / "events.db";
        const std::string dsn = "sqlite:" + database.string();
        const auto file =
            (fixtures / "destination-events_by-ids_eventbrite-de_bavaria_trimmed.json").string();
        REQUIRE(run_command({eventcrawl_binary, "import", "--db", dsn, file}).exit_code == 0);
        // A row added by hand whose tags are not JSON stops the export at that row.
        eventcrawl::test::execute_sql(
            database,
            "INSERT INTO events (id, name, is_online, is_free, is_cancelled, start_utc, "
            "first_seen_at, last_seen_at, tags) VALUES ('hand', 'Hand', 0, 1, 0, "
            "'2099-01-01T00:00:00Z', '2026-06-01T00:00:00Z', '2026-06-01T00:00:00Z', 'oops')");

        const auto output = dir.path() / "events.jsonl";
        const auto result =
            run_command({eventcrawl_binary, "export", "--db", dsn, "--output", output.string()});
        CAPTURE(result.output);
        CHECK(result.exit_code == 1);
        CHECK(result.output.find("event id 'hand'") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(output));
        CHECK_FALSE(std::filesystem::exists(output.string() + ".partial"));
    }

    TEST_CASE("runs lists each run") {
        temp_dir dir;
        const std::string dsn = "sqlite:" + (dir.path() / "events.db").string();
        const auto file =
            (fixtures / "destination-event_single_oslo_eventbrite-co-uk-url.json").string();
        REQUIRE(run_command({eventcrawl_binary, "import", "--db", dsn, file}).exit_code == 0);
        REQUIRE(run_command({eventcrawl_binary, "import", "--db", dsn, file}).exit_code == 0);

        const auto listed =
            run_command({eventcrawl_binary, "--log-level", "off", "runs", "--db", dsn});
        CAPTURE(listed.output);
        CHECK(listed.exit_code == 0);
        CHECK(std::count(listed.output.begin(), listed.output.end(), '\n') == 3);
        CHECK(listed.output.find("import") != std::string::npos);
    }

    TEST_CASE("retransform rejects unknown run") {
        temp_dir dir;
        const std::string dsn = "sqlite:" + (dir.path() / "events.db").string();
        const auto file =
            (fixtures / "destination-event_single_oslo_eventbrite-co-uk-url.json").string();
        REQUIRE(run_command({eventcrawl_binary, "import", "--db", dsn, file}).exit_code == 0);

        const auto result =
            run_command({eventcrawl_binary, "retransform", "--db", dsn, "--run", "42"});
        CAPTURE(result.output);
        CHECK(result.exit_code == 1);
        CHECK(result.output.find("run 42 not found") != std::string::npos);
    }

    TEST_CASE("export rejects missing database") {
        temp_dir dir;
        const auto missing = dir.path() / "typo.db";
        const auto result =
            run_command({eventcrawl_binary, "export", "--db", "sqlite:" + missing.string()});
        CAPTURE(result.output);
        CHECK(result.exit_code == 1);
        CHECK(result.output.find("not found") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(missing));
    }
}
