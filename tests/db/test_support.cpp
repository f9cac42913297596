#include "tests/db/test_support.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <stdexcept>
#include <system_error>

namespace eventcrawl::db::test {

namespace fs = std::filesystem;

temp_dir::temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "eventcrawl-db-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error{"mkdtemp failed for " + pattern};
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    std::error_code error;
    // Tests make files read-only; give the owner write access back so removal cannot fail.
    for (const auto& entry : fs::recursive_directory_iterator(path_, error)) {
        fs::permissions(entry.path(), fs::perms::owner_all, fs::perm_options::add, error);
    }
    fs::remove_all(path_, error);
}

pipeline::event_record full_event(const std::string& id) {
    pipeline::event_record event;
    event.id = id;
    event.name = "Rooftop Jazz " + id;
    event.summary = "Live quartet on the roof";
    event.url = "https://www.eventbrite.com/e/rooftop-jazz-tickets-" + id;
    event.timezone = "America/New_York";
    event.start_local = "2026-07-01T18:00:00";
    event.end_local = "2026-07-01T21:30:00";
    event.start_utc = "2026-07-01T22:00:00Z";
    event.end_utc = "2026-07-02T01:30:00Z";
    event.is_online = false;
    event.is_free = false;
    event.is_cancelled = false;
    event.venue_name = "The Roof";
    event.address = "1 Main St, New York, NY 10001";
    event.city = "New York";
    event.region = "NY";
    event.country = "US";
    event.latitude = 40.7128;
    event.longitude = -74.006;
    event.price_min_minor = 2500;
    event.price_max_minor = 4000;
    event.currency = "USD";
    event.organizer_name = "Night Owls";
    event.series_id = "series-77";
    event.image_url = "https://img.evbuc.com/" + id + ".jpg";
    event.tags = {"EventbriteCategory/103", "EventbriteFormat/6"};
    return event;
}

pipeline::event_record bare_event(const std::string& id) {
    pipeline::event_record event;
    event.id = id;
    event.name = "Bare " + id;
    return event;
}

sqlite_probe::sqlite_probe(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &connection_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        const std::string message = sqlite3_errmsg(connection_);
        sqlite3_close_v2(connection_);
        throw std::runtime_error{"cannot open " + path + ": " + message};
    }
    sqlite3_busy_timeout(connection_, 5000);
}

sqlite_probe::~sqlite_probe() {
    sqlite3_close_v2(connection_);
}

void sqlite_probe::exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(connection_, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    INFO("sql: ", sql, " error: ", text);
    REQUIRE(rc == SQLITE_OK);
}

std::string sqlite_probe::exec_error(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(connection_, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message != nullptr ? message : "";
    sqlite3_free(message);
    return rc == SQLITE_OK ? "<no error>" : text;
}

std::vector<std::string> sqlite_probe::column(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    const int rc = sqlite3_prepare_v2(connection_, sql.c_str(), -1, &statement, nullptr);
    INFO("sql: ", sql, " error: ", sqlite3_errmsg(connection_));
    REQUIRE(rc == SQLITE_OK);
    std::vector<std::string> values;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        const auto* value = sqlite3_column_text(statement, 0);
        values.emplace_back(value != nullptr ? reinterpret_cast<const char*>(value) : "<null>");
    }
    sqlite3_finalize(statement);
    return values;
}

std::string sqlite_probe::text(const std::string& sql) {
    const std::vector<std::string> values = column(sql);
    return values.empty() ? std::string{"<no row>"} : values.front();
}

long long sqlite_probe::integer(const std::string& sql) {
    return std::stoll(text(sql));
}

}  // namespace eventcrawl::db::test
