#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <string>

#include "db/store.hpp"
#include "db/timestamp.hpp"

namespace db = eventcrawl::db;

TEST_SUITE("db") {
    TEST_CASE("mask_dsn hides passwords") {
        struct dsn_case {
            const char* input;
            const char* expected;
        };
        const std::array<dsn_case, 11> cases{{
            {"postgresql://user:secret@host/db", "postgresql://user:***@host/db"},
            {"postgres://user:secret@127.0.0.1:5433/db?sslmode=disable",
             "postgres://user:***@127.0.0.1:5433/db?sslmode=disable"},
            {"postgresql://user:p@ss:word@host/db", "postgresql://user:***@host/db"},
            {"postgresql://user@host:5432/db", "postgresql://user@host:5432/db"},
            {"postgresql://host:5432/db", "postgresql://host:5432/db"},
            {"postgresql://host/db?user=u&password=secret&sslmode=disable",
             "postgresql://host/db?user=u&password=***&sslmode=disable"},
            {"host=h password=secret dbname=d", "host=h password=*** dbname=d"},
            {"host=h password = 'se cr\\'et' dbname=d", "host=h password = *** dbname=d"},
            {"PASSWORD=secret host=h", "PASSWORD=*** host=h"},
            {"host=h user=mypassword=x", "host=h user=mypassword=x"},
            {"sqlite:/var/lib/eventcrawl/events.db", "sqlite:/var/lib/eventcrawl/events.db"},
        }};
        for (const dsn_case& item : cases) {
            CAPTURE(item.input);
            CHECK(db::mask_dsn(item.input) == item.expected);
        }
    }

    TEST_CASE("utc timestamp format") {
        using namespace std::chrono;
        struct time_case {
            system_clock::time_point time;
            const char* expected;
        };
        const std::array<time_case, 3> cases{{
            {system_clock::time_point{}, "1970-01-01T00:00:00Z"},
            {sys_days{2026y / July / 1} + 17h + 5min + 9s + 999ms, "2026-07-01T17:05:09Z"},
            {sys_days{2028y / February / 29} + 23h + 59min + 59s, "2028-02-29T23:59:59Z"},
        }};
        for (const time_case& item : cases) {
            CAPTURE(item.expected);
            CHECK(db::format_utc_timestamp(item.time) == item.expected);
        }
    }
}
