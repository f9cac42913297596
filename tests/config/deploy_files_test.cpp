// Checks of the container files at the repository root. No Docker engine runs in the test
// environment, so these parse the files instead of building the image.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

const std::filesystem::path source_dir(EVENTCRAWL_SOURCE_DIR);

std::string read_text(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// Splits a Dockerfile into whitespace-separated words, dropping comment lines.
std::vector<std::string> dockerfile_words(const std::string& text) {
    std::istringstream lines(text);
    std::vector<std::string> words;
    std::string line;
    while (std::getline(lines, line)) {
        if (line.find_first_not_of(' ') != std::string::npos &&
            line[line.find_first_not_of(' ')] == '#') {
            continue;
        }
        std::istringstream line_words(line);
        std::string word;
        while (line_words >> word) {
            words.push_back(word);
        }
    }
    return words;
}

std::size_t count_word(const std::vector<std::string>& words, const std::string& word) {
    std::size_t count = 0;
    for (const auto& candidate : words) {
        count += candidate == word ? 1 : 0;
    }
    return count;
}

}  // namespace

TEST_SUITE("config") {
    TEST_CASE("compose file services") {
        const auto compose = YAML::LoadFile((source_dir / "docker-compose.yml").string());
        const auto services = compose["services"];
        REQUIRE(services.IsMap());
        CHECK(services.size() == 3);

        const auto postgres = services["postgres"];
        REQUIRE(postgres.IsMap());
        CHECK(postgres["image"].as<std::string>() == "postgres:15");
        CHECK(postgres["healthcheck"]["test"].IsSequence());
        CHECK(postgres["volumes"][0].as<std::string>() == "pgdata:/var/lib/postgresql/data");

        const auto replay = services["replay"];
        REQUIRE(replay.IsMap());
        const auto replay_command = replay["command"].as<std::vector<std::string>>();
        const std::vector<std::string> expected_replay = {
            "--corpus", "/app/replay/corpus/real", "--host", "0.0.0.0", "--port", "8080"};
        CHECK(replay_command == expected_replay);
        CHECK(replay["entrypoint"][2].as<std::string>() == "eventbrite-replay");

        const auto crawler = services["crawler"];
        REQUIRE(crawler.IsMap());
        CHECK(crawler["shm_size"].as<std::string>() == "1gb");
        CHECK(crawler["depends_on"]["postgres"]["condition"].as<std::string>() ==
              "service_healthy");
        const auto crawler_command = crawler["command"].as<std::vector<std::string>>();
        REQUIRE(crawler_command.size() == 7);
        CHECK(crawler_command[0] == "crawl");
        CHECK(crawler_command[2] == "/app/replay/corpus/real/cities.yaml");
        CHECK(crawler_command[4] == "http://replay:8080");
        CHECK(crawler_command[6].rfind("postgresql://", 0) == 0);
        CHECK(crawler["image"].as<std::string>() == replay["image"].as<std::string>());

        CHECK(compose["volumes"]["pgdata"].IsDefined());
    }

    TEST_CASE("dockerfile stages and packages") {
        const auto words = dockerfile_words(read_text(source_dir / "Dockerfile"));
        CHECK(count_word(words, "FROM") == 2);
        CHECK(count_word(words, "debian:bookworm-slim") == 2);
        for (const auto* package : {"clang-19",
                                    "libboost1.81-dev",
                                    "libboost-json1.81-dev",
                                    "libboost-url1.81-dev",
                                    "libhowardhinnant-date-dev",
                                    "chromium-headless-shell",
                                    "tini",
                                    "tzdata"}) {
            CAPTURE(package);
            CHECK(count_word(words, package) == 1);
        }
        // The unversioned Boost packages are 1.74 and conflict with the 1.81 ones.
        CHECK(count_word(words, "libboost-dev") == 0);
        CHECK(count_word(words, "libboost-all-dev") == 0);
        CHECK(count_word(words, "USER") == 1);
        const auto user = std::find(words.begin(), words.end(), "USER");
        REQUIRE(user + 1 < words.end());
        CHECK(*(user + 1) == "eventcrawl");
        CHECK(count_word(words, "[\"/usr/bin/tini\",") == 1);
    }
}
