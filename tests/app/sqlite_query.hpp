#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace eventcrawl::test {

// Runs a query on a SQLite file and returns every row, each column as text ("NULL" for NULL).
inline std::vector<std::vector<std::string>> query_rows(const std::filesystem::path& database,
                                                        const std::string& sql) {
    sqlite3* connection = nullptr;
    if (sqlite3_open_v2(database.c_str(), &connection, SQLITE_OPEN_READONLY, nullptr) !=
        SQLITE_OK) {
        const std::string message = sqlite3_errmsg(connection);
        sqlite3_close(connection);
        throw std::runtime_error("cannot open " + database.string() + ": " + message);
    }
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(connection, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
        const std::string message = sqlite3_errmsg(connection);
        sqlite3_close(connection);
        throw std::runtime_error("cannot prepare '" + sql + "': " + message);
    }
    std::vector<std::vector<std::string>> rows;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        std::vector<std::string> row;
        for (int column = 0; column < sqlite3_column_count(statement); ++column) {
            const auto* text = sqlite3_column_text(statement, column);
            row.emplace_back(text == nullptr ? "NULL" : reinterpret_cast<const char*>(text));
        }
        rows.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
    sqlite3_close(connection);
    return rows;
}

// Runs statements that change the database (for tests that damage data on purpose).
inline void execute_sql(const std::filesystem::path& database, const std::string& sql) {
    sqlite3* connection = nullptr;
    if (sqlite3_open(database.c_str(), &connection) != SQLITE_OK) {
        sqlite3_close(connection);
        throw std::runtime_error("cannot open " + database.string());
    }
    char* message = nullptr;
    const int status = sqlite3_exec(connection, sql.c_str(), nullptr, nullptr, &message);
    const std::string error = message == nullptr ? "" : message;
    sqlite3_free(message);
    sqlite3_close(connection);
    if (status != SQLITE_OK) {
        throw std::runtime_error("cannot run '" + sql + "': " + error);
    }
}

inline long long query_number(const std::filesystem::path& database, const std::string& sql) {
    const auto rows = query_rows(database, sql);
    if (rows.size() != 1 || rows[0].size() != 1) {
        throw std::runtime_error("expected one value from '" + sql + "'");
    }
    return std::stoll(rows[0][0]);
}

}  // namespace eventcrawl::test
