#include "db/detail/sqlite_util.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include "db/detail/logger.hpp"
#include "db/store.hpp"
#include "db/timestamp.hpp"

namespace eventcrawl::db::detail {

void sqlite_closer::operator()(sqlite3* connection) const noexcept {
    sqlite3_close_v2(connection);
}

void sqlite_finalizer::operator()(sqlite3_stmt* statement) const noexcept {
    sqlite3_finalize(statement);
}

std::string sqlite_error_message(sqlite3* connection,
                                 std::string_view path,
                                 std::string_view step) {
    const int code = sqlite3_extended_errcode(connection);
    std::string message = fmt::format("SQLite {} failed for database '{}': {} (extended code {})",
                                      step,
                                      path,
                                      sqlite3_errmsg(connection),
                                      code);
    if ((code & 0xff) == SQLITE_BUSY) {
        message += fmt::format(
            "; another connection held a lock for more than {} ms, so stop the other writer or "
            "retry later",
            sqlite_busy_timeout_ms);
    }
    return message;
}

void sqlite_exec(sqlite3* connection,
                 std::string_view path,
                 std::string_view sql,
                 std::string_view step) {
    const std::string text{sql};
    if (sqlite3_exec(connection, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
        throw store_error{sqlite_error_message(connection, path, step)};
    }
}

sqlite_statement sqlite_prepare(sqlite3* connection, std::string_view path, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(connection,
                                      sql.data(),
                                      static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT,
                                      &raw,
                                      nullptr);
    sqlite_statement statement{raw};
    if (rc != SQLITE_OK) {
        throw store_error{sqlite_error_message(
            connection, path, fmt::format("prepare of \"{}\"", sql.substr(0, 60)))};
    }
    return statement;
}

int sqlite_schema_version(sqlite3* connection, std::string_view path) {
    auto statement =
        sqlite_prepare(connection, path, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (sqlite3_step(statement.get()) != SQLITE_ROW) {
        throw store_error{sqlite_error_message(connection, path, "read of schema_version")};
    }
    return sqlite3_column_int(statement.get(), 0);
}

namespace {

void apply_one_migration(sqlite3* connection, std::string_view path, const migration& step) {
    // BEGIN IMMEDIATE takes the write lock first, so a second process that opens the same
    // new file waits and then reads the version this one recorded.
    sqlite_exec(connection, path, "BEGIN IMMEDIATE", "begin of a migration transaction");
    try {
        if (sqlite_schema_version(connection, path) >= step.version) {
            sqlite_exec(connection, path, "ROLLBACK", "rollback of a migration");
            return;
        }
        sqlite_exec(connection,
                    path,
                    step.sql,
                    fmt::format("migration to schema version {}", step.version));

        auto record = sqlite_prepare(
            connection, path, "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)");
        const std::string applied_at = utc_timestamp_now();
        sqlite3_bind_int(record.get(), 1, step.version);
        sqlite3_bind_text(record.get(),
                          2,
                          applied_at.data(),
                          static_cast<int>(applied_at.size()),
                          SQLITE_TRANSIENT);
        if (sqlite3_step(record.get()) != SQLITE_DONE) {
            throw store_error{sqlite_error_message(connection, path, "insert into schema_version")};
        }

        sqlite_exec(connection, path, "COMMIT", "commit of a migration");
    } catch (...) {
        sqlite3_exec(connection, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    logger()->info("Applied migration path={} version={} description=\"{}\"",
                   path,
                   step.version,
                   step.description);
}

}  // namespace

int apply_sqlite_migrations(sqlite3* connection,
                            std::string_view path,
                            std::span<const migration> migrations) {
    sqlite_exec(connection,
                path,
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)",
                "creation of schema_version");

    const int latest = migrations.empty() ? 0 : migrations.back().version;
    const int current = sqlite_schema_version(connection, path);
    if (current > latest) {
        throw store_error{fmt::format(
            "SQLite database '{}' has schema version {}, but this build of eventcrawl knows "
            "versions up to {}; use a newer eventcrawl or point the DSN at another file",
            path,
            current,
            latest)};
    }

    for (const migration& step : migrations) {
        if (step.version > current) {
            apply_one_migration(connection, path, step);
        }
    }
    return sqlite_schema_version(connection, path);
}

}  // namespace eventcrawl::db::detail
