// The SQLite backend of the shared store tests: a new file in a new temp folder per backend.
#include <memory>
#include <string>

#include "db/sqlite_store.hpp"
#include "tests/db/store_backend.hpp"
#include "tests/db/test_support.hpp"

namespace eventcrawl::db::test {
namespace {

class sqlite_backend final : public backend {
public:
    sqlite_backend() : path_{dir_.file("events.db")} {
        // Opening once creates the schema, so the probe finds the tables.
        sqlite_store create{path_};
        probe_ = std::make_unique<sqlite_probe>(path_);
    }

    std::string name() const override { return "sqlite"; }

    std::unique_ptr<store> open() override { return std::make_unique<sqlite_store>(path_); }

    std::string text(const std::string& sql) override { return probe_->text(sql); }

    void exec(const std::string& sql) override { probe_->exec(sql); }

    void reject_insert(const std::string& table,
                       const std::string& column,
                       const std::string& value) override {
        probe_->exec("CREATE TRIGGER reject_" + table + " BEFORE INSERT ON " + table +
                     " WHEN NEW." + column + " = '" + value +
                     "' BEGIN SELECT RAISE(ABORT, 'test trigger rejected the row'); END");
    }

    void allow_insert(const std::string& table) override {
        probe_->exec("DROP TRIGGER reject_" + table);
    }

    std::string iso_text(const std::string& column) const override { return column; }

    bool keeps_json_bytes() const override { return true; }

private:
    temp_dir dir_;
    std::string path_;
    std::unique_ptr<sqlite_probe> probe_;
};

}  // namespace

std::unique_ptr<backend> make_backend() {
    return std::make_unique<sqlite_backend>();
}

}  // namespace eventcrawl::db::test
