#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/event_record.hpp"

struct sqlite3;

namespace eventcrawl::db::test {

// A fresh folder under the system temp directory, removed with its contents on destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// An event with every optional field set, so that tests can clear the ones they need empty.
pipeline::event_record full_event(const std::string& id);

// An event with only the id and name set.
pipeline::event_record bare_event(const std::string& id);

// A second, independent connection to a SQLite file, for checking what the store wrote.
class sqlite_probe {
public:
    explicit sqlite_probe(const std::string& path);
    ~sqlite_probe();
    sqlite_probe(const sqlite_probe&) = delete;
    sqlite_probe& operator=(const sqlite_probe&) = delete;

    // Runs statements that return no rows; fails the test case on error.
    void exec(const std::string& sql);

    // Runs statements that are expected to fail and returns SQLite's message, or "<no error>".
    std::string exec_error(const std::string& sql);

    // The first column of the first row as text, "<null>" for NULL, "<no row>" when empty.
    std::string text(const std::string& sql);

    // The first column of every row as text.
    std::vector<std::string> column(const std::string& sql);

    long long integer(const std::string& sql);

private:
    sqlite3* connection_ = nullptr;
};

}  // namespace eventcrawl::db::test
