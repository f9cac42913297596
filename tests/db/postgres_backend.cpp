// The PostgreSQL backend of the shared store tests. It runs against the cluster that
// pg_cluster.sh starts, and empties the database's public schema per backend.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "db/postgres_store.hpp"
#include "tests/db/store_backend.hpp"

namespace eventcrawl::db::test {
namespace {

std::string test_dsn() {
    const char* dsn = std::getenv("EVENTCRAWL_TEST_PG_DSN");
    REQUIRE_MESSAGE(dsn != nullptr,
                    "EVENTCRAWL_TEST_PG_DSN is not set; run this suite through "
                    "tests/db/pg_cluster.sh or ctest -L postgres");
    return dsn;
}

class postgres_backend final : public backend {
public:
    postgres_backend() : dsn_{test_dsn()}, connection_{dsn_} {
        pqxx::work transaction{connection_};
        transaction.exec0("DROP SCHEMA public CASCADE");
        transaction.exec0("CREATE SCHEMA public");
        transaction.commit();
        // Opening once creates the schema, so the probe finds the tables.
        postgres_store create{dsn_};
    }

    std::string name() const override { return "postgres"; }

    std::unique_ptr<store> open() override { return std::make_unique<postgres_store>(dsn_); }

    std::string text(const std::string& sql) override {
        pqxx::nontransaction query{connection_};
        const pqxx::result rows = query.exec(sql);
        if (rows.empty()) {
            return "<no row>";
        }
        return rows[0][0].is_null() ? std::string{"<null>"} : rows[0][0].as<std::string>();
    }

    void exec(const std::string& sql) override {
        pqxx::work transaction{connection_};
        transaction.exec0(sql);
        transaction.commit();
    }

    void reject_insert(const std::string& table,
                       const std::string& column,
                       const std::string& value) override {
        exec("CREATE FUNCTION reject_" + table +
             "() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW." + column + " = '" + value +
             "' THEN RAISE EXCEPTION 'test trigger rejected the row'; END IF; RETURN NEW; END $$");
        exec("CREATE TRIGGER reject_" + table + " BEFORE INSERT ON " + table +
             " FOR EACH ROW EXECUTE FUNCTION reject_" + table + "()");
    }

    void allow_insert(const std::string& table) override {
        exec("DROP TRIGGER reject_" + table + " ON " + table);
        exec("DROP FUNCTION reject_" + table + "()");
    }

    std::string iso_text(const std::string& column) const override {
        return "to_char(" + column + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
    }

    bool keeps_json_bytes() const override { return false; }

private:
    std::string dsn_;
    pqxx::connection connection_;
};

}  // namespace

std::unique_ptr<backend> make_backend() {
    return std::make_unique<postgres_backend>();
}

}  // namespace eventcrawl::db::test
