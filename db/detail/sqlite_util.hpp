#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "db/detail/migration.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace eventcrawl::db::detail {

struct sqlite_closer {
    void operator()(sqlite3* connection) const noexcept;
};

struct sqlite_finalizer {
    void operator()(sqlite3_stmt* statement) const noexcept;
};

using sqlite_connection = std::unique_ptr<sqlite3, sqlite_closer>;
using sqlite_statement = std::unique_ptr<sqlite3_stmt, sqlite_finalizer>;

// How long a connection waits for another connection's lock before a call fails.
inline constexpr int sqlite_busy_timeout_ms = 5000;

// Builds the store_error text for a failed SQLite call: the step, the database path, the
// SQLite message and the extended result code.
std::string sqlite_error_message(sqlite3* connection, std::string_view path, std::string_view step);

// Runs one or more SQL statements that return no rows. Throws store_error naming `step`.
void sqlite_exec(sqlite3* connection,
                 std::string_view path,
                 std::string_view sql,
                 std::string_view step);

// Prepares one statement that is kept for the life of the connection.
sqlite_statement sqlite_prepare(sqlite3* connection, std::string_view path, std::string_view sql);

// Returns the highest version recorded in schema_version, or 0 for an empty database.
int sqlite_schema_version(sqlite3* connection, std::string_view path);

// Creates schema_version if missing, then applies each migration newer than the recorded
// version, each in its own transaction together with its schema_version row. Throws
// store_error when the database is newer than the newest migration. Returns the version the
// database has afterwards.
int apply_sqlite_migrations(sqlite3* connection,
                            std::string_view path,
                            std::span<const migration> migrations);

}  // namespace eventcrawl::db::detail
