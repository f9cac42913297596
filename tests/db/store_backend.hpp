#pragma once

#include <memory>
#include <string>

#include "db/store.hpp"

namespace eventcrawl::db::test {

// One database engine as the store tests see it: a fresh, empty database, a way to open a
// store on it, and a second connection that reads and changes it behind the store's back.
// Each test executable links exactly one implementation of make_backend().
class backend {
public:
    virtual ~backend() = default;

    // "sqlite" or "postgres", for CAPTURE.
    virtual std::string name() const = 0;

    // Opens a store on the backend's database; every call opens a new connection.
    virtual std::unique_ptr<store> open() = 0;

    // The first column of the first row as text, "<null>" for NULL, "<no row>" when empty.
    virtual std::string text(const std::string& sql) = 0;

    // Runs one statement that returns no rows; fails the test case on error.
    virtual void exec(const std::string& sql) = 0;

    // Makes every INSERT into `table` whose `column` equals `value` fail with the message
    // "test trigger rejected the row".
    virtual void reject_insert(const std::string& table,
                               const std::string& column,
                               const std::string& value) = 0;

    // Removes the trigger that reject_insert created on `table`.
    virtual void allow_insert(const std::string& table) = 0;

    // SQL that reads a time column as the ISO 8601 text the store returns, for probes.
    virtual std::string iso_text(const std::string& column) const = 0;

    // Whether load_pages returns a JSON body byte for byte (false when it is kept as jsonb).
    virtual bool keeps_json_bytes() const = 0;
};

// Creates the backend of this test executable on a fresh, empty database.
std::unique_ptr<backend> make_backend();

}  // namespace eventcrawl::db::test
