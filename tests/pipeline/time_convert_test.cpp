// Time formatting and zone lookup of the transform, and parser reuse across pages.
#include "pipeline/detail/time_convert.hpp"

#include <date/tz.h>
#include <doctest/doctest.h>

#include <boost/json/serialize.hpp>
#include <chrono>

#include "tests/pipeline/test_support.hpp"

namespace eventcrawl::pipeline {

using detail::sys_seconds;

namespace {

sys_seconds utc_instant(int year, unsigned month, unsigned day, std::chrono::seconds time) {
    return date::sys_days{date::year{year} / date::month{month} / date::day{day}} + time;
}

}  // namespace

TEST_SUITE("pipeline") {
    TEST_CASE("format utc fixed values") {
        using std::chrono::hours;
        using std::chrono::minutes;
        using std::chrono::seconds;
        struct format_case {
            sys_seconds instant;
            std::string_view expected;
        };
        const format_case cases[] = {
            {utc_instant(1970, 1, 1, seconds{0}), "1970-01-01T00:00:00Z"},
            {utc_instant(1969, 12, 31, hours{16}), "1969-12-31T16:00:00Z"},
            {utc_instant(2024, 2, 29, hours{23} + minutes{59} + seconds{59}),
             "2024-02-29T23:59:59Z"},
            {utc_instant(2026, 7, 1, hours{17} + minutes{5} + seconds{9}), "2026-07-01T17:05:09Z"},
            {utc_instant(0, 1, 1, seconds{0}), "0000-01-01T00:00:00Z"},
            {utc_instant(9999, 12, 31, hours{23} + minutes{59} + seconds{59}),
             "9999-12-31T23:59:59Z"},
        };
        for (const format_case& entry : cases) {
            CAPTURE(entry.expected);
            CHECK(detail::format_utc(entry.instant) == std::string(entry.expected));
        }
    }

    TEST_CASE("format utc matches date format") {
        // Years outside 0000-9999 take the date::format path; the rest must print the same.
        const int years[] = {-1, 0, 1, 1899, 1900, 1999, 2000, 2100, 9999, 10000};
        for (const int year : years) {
            for (const unsigned month : {1U, 2U, 12U}) {
                const sys_seconds instant =
                    utc_instant(year, month, 28, std::chrono::hours{13} + std::chrono::seconds{7});
                CAPTURE(year);
                CAPTURE(month);
                CHECK(detail::format_utc(instant) == date::format("%FT%TZ", instant));
            }
        }
    }

    TEST_CASE("join local iso parts") {
        struct join_case {
            std::string_view day;
            std::string_view time;
            std::optional<std::string> expected;
        };
        const join_case cases[] = {
            {"2026-07-01", "18:00", "2026-07-01T18:00:00"},
            {"2026-07-01", "18:00:05", "2026-07-01T18:00:05"},
            {"2024-02-29", "00:00", "2024-02-29T00:00:00"},
            {"2026-02-29", "00:00", std::nullopt},
            {"2026-07-01", "24:00", std::nullopt},
            {"2026-7-01", "18:00", std::nullopt},
            {"2026-07-01", "18:00:5", std::nullopt},
        };
        for (const join_case& entry : cases) {
            CAPTURE(entry.day);
            CAPTURE(entry.time);
            CHECK(detail::join_local_iso(entry.day, entry.time) == entry.expected);
        }
    }

    TEST_CASE("find zone repeated lookups") {
        const date::time_zone* first = detail::find_zone("Europe/Berlin");
        REQUIRE(first != nullptr);
        CHECK(first->name() == "Europe/Berlin");
        CHECK(detail::find_zone("Europe/Berlin") == first);
        CHECK(detail::find_zone("Asia/Tokyo") != first);
        CHECK(detail::find_zone("Mars/Olympus_Mons") == nullptr);
        CHECK(detail::find_zone("Mars/Olympus_Mons") == nullptr);
        CHECK(detail::find_zone("") == nullptr);
    }

    TEST_CASE("parser reused after invalid body") {
        const std::string valid = boost::json::serialize(testing::minimal_event());
        const testing::caught_failure failure =
            testing::catch_failure(testing::inline_page(valid.substr(0, valid.size() / 2)));
        CHECK(failure.thrown);
        CHECK(failure.failure == transform_failure::invalid_json);

        const transform_output output = transform_page(testing::inline_page(valid));
        REQUIRE(output.events.size() == 1);
        CHECK(output.events[0].id == "1000000000001");
        CHECK(output.events[0].start_utc == "2026-07-01T17:00:00Z");
    }
}

}  // namespace eventcrawl::pipeline
