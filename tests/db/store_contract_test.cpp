// The store contract, checked on the backend that this executable links (SQLite in db_test,
// PostgreSQL in db_postgres_test).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "db/store.hpp"
#include "pipeline/event_record.hpp"
#include "tests/db/store_backend.hpp"
#include "tests/db/test_support.hpp"

namespace db = eventcrawl::db;
namespace pipeline = eventcrawl::pipeline;
using db::test::bare_event;
using db::test::full_event;
using db::test::make_backend;

namespace {

constexpr std::string_view first_seen = "2026-07-01T10:00:00Z";
constexpr std::string_view second_seen = "2026-07-02T11:30:00Z";

struct exported_event {
    pipeline::event_record event;
    std::string first_seen_at;
    std::string last_seen_at;
};

std::vector<exported_event> export_events(db::store& store, const db::event_filter& filter = {}) {
    std::vector<exported_event> rows;
    store.for_each_event(
        filter,
        [&rows](const pipeline::event_record& event,
                std::string_view first_seen_at,
                std::string_view last_seen_at) {
            rows.push_back({event, std::string{first_seen_at}, std::string{last_seen_at}});
        });
    return rows;
}

std::vector<std::string> ids_of(const std::vector<exported_event>& rows) {
    std::vector<std::string> ids;
    for (const exported_event& row : rows) {
        ids.push_back(row.event.id);
    }
    return ids;
}

// A forked process that runs `setup`, reports whether it succeeded through a pipe, and then
// waits until it is killed. The destructor kills and reaps it if the test did not.
class child_process {
public:
    explicit child_process(const std::function<bool()>& setup) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(fds[0]);
            char status = 'E';
            try {
                status = setup() ? 'R' : 'E';
            } catch (...) {
                status = 'E';
            }
            [[maybe_unused]] const auto written = ::write(fds[1], &status, 1);
            // Waits for SIGKILL without running any destructor of the parent's objects.
            for (;;) {
                ::pause();
            }
        }
        ::close(fds[1]);
        read_fd_ = fds[0];
    }

    ~child_process() {
        kill();
        if (read_fd_ >= 0) {
            ::close(read_fd_);
        }
    }

    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // Blocks until the child reports; false when setup failed or the child died first.
    bool wait_ready() {
        char status = 0;
        return ::read(read_fd_, &status, 1) == 1 && status == 'R';
    }

    void kill() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

private:
    pid_t pid_ = -1;
    int read_fd_ = -1;
};

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const db::store_error& error) {
        return error.what();
    }
    return "<no error>";
}

db::archived_page page_of(const std::string& city, int number, const std::string& body) {
    db::archived_page page;
    page.city_slug = city;
    page.page_number = number;
    page.url = "http://127.0.0.1:8080/d/" + city + "/all-events/?page=" + std::to_string(number);
    page.http_status = 200;
    page.content_type = "text/html; charset=utf-8";
    page.source = "listing_html";
    page.body = body;
    page.captured_at = "2026-07-01T10:0" + std::to_string(number % 10) + ":00Z";
    return page;
}

// A multi-megabyte HTML body with non-ASCII text, a script with JSON, tabs and CRLF line ends.
std::string large_html() {
    std::string body =
        "<!doctype html>\r\n<html><head><title>Événements à São Paulo — 東京 "
        "🎷</title></head><body>\r\n";
    for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) {
        body += "<div class=\"card\" data-id=\"" + std::to_string(i) + "\">\tCafé concert n°" +
                std::to_string(i * 7919 % 100003) + " \\ \"quoted\" &amp; ümlaut</div>\n";
    }
    body += "<script>window.__SERVER_DATA__ = {\"a\":1};</script></body></html>";
    return body;
}

db::city_result city_of(const std::string& slug, const std::string& status, int pages) {
    db::city_result result;
    result.city_slug = slug;
    result.status = status;
    result.pages = pages;
    result.events = pages * 20;
    result.errors = status == "ok" ? 0 : 1;
    if (status != "ok") {
        result.last_error = "HTTP 503 on page " + std::to_string(pages + 1);
    }
    result.started_at = "2026-07-01T10:00:00Z";
    result.finished_at = "2026-07-01T10:05:00Z";
    return result;
}

}  // namespace

TEST_SUITE("db") {
    TEST_CASE("store upsert twice is idempotent") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::vector<pipeline::event_record> events{
            full_event("101"), full_event("102"), bare_event("103")};

        store->upsert_events(events, first_seen);
        store->upsert_events(events, first_seen);

        CHECK(store->count_events() == 3);
        CHECK(backend->text("SELECT count(*) FROM event_tags") == "4");
        CHECK(backend->text("SELECT count(*) FROM events WHERE first_seen_at = last_seen_at") ==
              "3");
    }

    TEST_CASE("store exports every field") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        std::vector<pipeline::event_record> events{full_event("201"), bare_event("202")};
        events[0].is_online = true;
        events[0].is_cancelled = true;
        events[0].price_min_minor = 0;
        events[0].latitude = -33.868820000000001;
        events[0].tags = {"EventbriteFormat/6", "EventbriteCategory/103", "Quote\"and\\back"};
        store->upsert_events(events, first_seen);
        events[0].name = "Rooftop Jazz (moved indoors)";
        events[0].venue_name.reset();
        store->upsert_events(events, second_seen);

        const std::vector<exported_event> rows = export_events(*store);

        REQUIRE(rows.size() == 2);
        pipeline::event_record expected = events[0];
        expected.tags = {"EventbriteCategory/103", "EventbriteFormat/6", "Quote\"and\\back"};
        CHECK(rows[0].event.id == "201");
        CHECK(rows[0].event.name == "Rooftop Jazz (moved indoors)");
        CHECK(rows[0].event.summary == expected.summary);
        CHECK(rows[0].event.url == expected.url);
        CHECK(rows[0].event.timezone == expected.timezone);
        CHECK(rows[0].event.start_local == expected.start_local);
        CHECK(rows[0].event.end_local == expected.end_local);
        CHECK(rows[0].event.start_utc == expected.start_utc);
        CHECK(rows[0].event.end_utc == expected.end_utc);
        CHECK(rows[0].event.is_online);
        CHECK_FALSE(rows[0].event.is_free);
        CHECK(rows[0].event.is_cancelled);
        CHECK_FALSE(rows[0].event.venue_name.has_value());
        CHECK(rows[0].event.address == expected.address);
        CHECK(rows[0].event.city == expected.city);
        CHECK(rows[0].event.region == expected.region);
        CHECK(rows[0].event.country == expected.country);
        CHECK(rows[0].event.latitude == expected.latitude);
        CHECK(rows[0].event.longitude == expected.longitude);
        CHECK(rows[0].event.price_min_minor == std::optional<std::int64_t>{0});
        CHECK(rows[0].event.price_max_minor == std::optional<std::int64_t>{4000});
        CHECK(rows[0].event.currency == expected.currency);
        CHECK(rows[0].event.organizer_name == expected.organizer_name);
        CHECK(rows[0].event.series_id == expected.series_id);
        CHECK(rows[0].event.image_url == expected.image_url);
        CHECK(rows[0].event.tags == expected.tags);
        CHECK(rows[0].first_seen_at == first_seen);
        CHECK(rows[0].last_seen_at == second_seen);

        CHECK(rows[1].event.id == "202");
        CHECK(rows[1].event.name == "Bare 202");
        CHECK_FALSE(rows[1].event.summary.has_value());
        CHECK_FALSE(rows[1].event.start_utc.has_value());
        CHECK_FALSE(rows[1].event.latitude.has_value());
        CHECK_FALSE(rows[1].event.price_min_minor.has_value());
        CHECK(rows[1].event.tags.empty());
    }

    TEST_CASE("store tags replaced per event") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        std::vector<pipeline::event_record> events{full_event("301"), full_event("302")};
        events[0].tags = {"EventbriteCategory/103", "EventbriteFormat/6"};
        events[1].tags = {"EventbriteCategory/110"};
        store->upsert_events(events, first_seen);

        // The same id twice in one batch: the later event wins, tags included.
        std::vector<pipeline::event_record> update{full_event("301"), full_event("301")};
        update[0].name = "earlier copy";
        update[0].tags = {"EventbriteCategory/199"};
        update[1].tags = {
            "EventbriteFormat/6", "EventbriteSubCategory/3004", "EventbriteSubCategory/3004"};
        store->upsert_events(update, second_seen);

        const std::vector<exported_event> rows = export_events(*store);
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].event.name == "Rooftop Jazz 301");
        CHECK(rows[0].event.tags ==
              std::vector<std::string>{"EventbriteFormat/6", "EventbriteSubCategory/3004"});
        CHECK(rows[1].event.tags == std::vector<std::string>{"EventbriteCategory/110"});
        CHECK(backend->text("SELECT count(*) FROM event_tags") == "3");
    }

    TEST_CASE("store failing batch rolls back") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        std::vector<pipeline::event_record> before{full_event("keep")};
        before[0].name = "old name";
        store->upsert_events(before, first_seen);
        backend->reject_insert("events", "id", "bad");

        std::vector<pipeline::event_record> batch{
            full_event("keep"), full_event("new1"), full_event("bad"), full_event("new2")};
        batch[0].name = "new name";
        const std::string message = error_of([&] { store->upsert_events(batch, second_seen); });

        CHECK(message.find("event id 'bad'") != std::string::npos);
        CHECK(message.find("test trigger rejected the row") != std::string::npos);
        CHECK(store->count_events() == 1);
        CHECK(backend->text("SELECT name FROM events WHERE id = 'keep'") == "old name");
        CHECK(backend->text("SELECT " + backend->iso_text("last_seen_at") +
                            " FROM events WHERE id = 'keep'") == first_seen);
        CHECK(backend->text("SELECT count(*) FROM event_tags WHERE event_id = 'new1'") == "0");

        // The store stays usable after the rollback.
        backend->allow_insert("events");
        store->upsert_events(batch, second_seen);
        CHECK(store->count_events() == 4);
    }

    TEST_CASE("store empty id rejected") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::vector<pipeline::event_record> batch{
            full_event("601"), bare_event(""), full_event("602")};

        const std::string message = error_of([&] { store->upsert_events(batch, first_seen); });

        CHECK(message.find("position 1 of 3") != std::string::npos);
        CHECK(store->count_events() == 0);
    }

    TEST_CASE("store run record fields") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::string options = R"({"cities": ["ny--new-york"], "max_pages": 3})";

        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl --all", options});
        const std::optional<db::run_record> running = store->find_run(run_id);

        REQUIRE(running.has_value());
        CHECK(running->id == run_id);
        CHECK(running->mode == "async");
        CHECK(running->command == "eventcrawl crawl --all");
        CHECK(running->options_json == options);
        CHECK(running->status == "running");
        CHECK(running->started_at.size() == 20);
        CHECK_FALSE(running->finished_at.has_value());
        CHECK(running->events == 0);

        store->finish_run(run_id, {"partial", 1, 1, 4, 80, 5});
        const std::optional<db::run_record> finished = store->find_run(run_id);

        REQUIRE(finished.has_value());
        CHECK(finished->status == "partial");
        CHECK(finished->finished_at.has_value());
        CHECK(finished->cities_ok == 1);
        CHECK(finished->cities_failed == 1);
        CHECK(finished->pages == 4);
        CHECK(finished->events == 80);
        CHECK(finished->errors == 5);
        CHECK_FALSE(store->find_run(run_id + 1).has_value());
    }

    TEST_CASE("store run options empty or invalid") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();

        const std::int64_t run_id = store->begin_run({"import", "eventcrawl import", ""});

        CHECK(store->find_run(run_id)->options_json.empty());
        CHECK(backend->text("SELECT options FROM runs") == "<null>");
        const std::string message =
            error_of([&] { store->begin_run({"async", "eventcrawl crawl", "{not json"}); });
        CHECK(message.find("runs") != std::string::npos);
        CHECK(backend->text("SELECT count(*) FROM runs") == "1");
    }

    TEST_CASE("store list_runs newest first") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        std::vector<std::int64_t> ids;
        for (const char* mode : {"async", "sync", "import"}) {
            ids.push_back(store->begin_run({mode, "eventcrawl", "{}"}));
        }

        const std::vector<db::run_record> two = store->list_runs(2);
        const std::vector<db::run_record> all = store->list_runs(10);

        REQUIRE(two.size() == 2);
        CHECK(two[0].id == ids[2]);
        CHECK(two[0].mode == "import");
        CHECK(two[1].id == ids[1]);
        CHECK(all.size() == 3);
        CHECK(all.back().id == ids[0]);
        CHECK(error_of([&] { store->list_runs(0); }).find("at least 1, got 0") !=
              std::string::npos);
    }

    TEST_CASE("store reopen_run resets status") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        store->finish_run(run_id, {"interrupted", 1, 0, 2, 40, 0});

        store->reopen_run(run_id);
        const std::optional<db::run_record> reopened = store->find_run(run_id);

        REQUIRE(reopened.has_value());
        CHECK(reopened->status == "running");
        CHECK_FALSE(reopened->finished_at.has_value());
        CHECK(reopened->events == 40);
        const std::string message = error_of([&] { store->reopen_run(run_id + 7); });
        CHECK(message.find("run " + std::to_string(run_id + 7) + " does not exist") !=
              std::string::npos);
    }

    TEST_CASE("store run misuse rejected") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const db::run_summary summary{"ok", 1, 0, 1, 1, 0};
        const db::city_result city{"ny--new-york", "ok", 1, 1, 0, std::nullopt, "", ""};

        CHECK_THROWS_WITH_AS(store->finish_run(42, summary),
                             doctest::Contains("run 42 does not exist"),
                             db::store_error);
        CHECK_THROWS_WITH_AS(store->record_city(42, city),
                             doctest::Contains("run_cities of run 42 city 'ny--new-york'"),
                             db::store_error);
        CHECK(backend->text("SELECT count(*) FROM run_cities") == "0");
    }

    TEST_CASE("store city results replace") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        const std::int64_t other_run = store->begin_run({"async", "eventcrawl crawl", "{}"});

        store->record_city(run_id, city_of("ny--new-york", "failed", 1));
        store->record_city(run_id, city_of("ca--san-francisco", "blocked", 0));
        store->record_city(other_run, city_of("il--chicago", "ok", 9));
        // A resumed city replaces its earlier row.
        const std::vector<pipeline::event_record> no_events;
        const std::vector<db::archived_page> no_pages;
        store->commit_city(
            run_id, city_of("ny--new-york", "ok", 4), no_events, no_pages, first_seen);

        const std::vector<db::city_result> results = store->city_results(run_id);

        REQUIRE(results.size() == 2);
        CHECK(results[0].city_slug == "ca--san-francisco");
        CHECK(results[0].status == "blocked");
        CHECK(results[0].last_error == std::optional<std::string>{"HTTP 503 on page 1"});
        CHECK(results[1].city_slug == "ny--new-york");
        CHECK(results[1].status == "ok");
        CHECK(results[1].pages == 4);
        CHECK(results[1].events == 80);
        CHECK(results[1].errors == 0);
        CHECK_FALSE(results[1].last_error.has_value());
        CHECK(results[1].started_at == "2026-07-01T10:00:00Z");
        CHECK(results[1].finished_at == "2026-07-01T10:05:00Z");
        CHECK(store->city_results(other_run + 1).empty());
    }

    TEST_CASE("store archive round trip") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        const std::int64_t other_run = store->begin_run({"async", "eventcrawl crawl", "{}"});
        const std::string html = large_html();
        const std::string json_body =
            R"({"events":{"results":[{"id":"1","name":"Café \"Ñ\" 東京"}]},"page":2})";
        const std::string not_json = "{\"truncated\": [1, 2";

        std::vector<db::archived_page> pages{page_of("ny--new-york", 2, "first version"),
                                             page_of("ny--new-york", 1, html),
                                             page_of("ca--san-francisco", 1, not_json),
                                             page_of("ny--new-york", 2, json_body)};
        pages[3].source = "search_xhr";
        pages[3].content_type = "application/json";
        pages[3].http_status = 201;
        store->archive_pages(run_id, pages);
        store->archive_pages(other_run, std::vector<db::archived_page>{page_of("x--y", 1, "z")});
        // Re-archiving the same (run, city, page, source) replaces the body.
        pages[0].body = "second version";
        store->archive_pages(run_id, std::span{pages}.first(1));

        const std::vector<db::archived_page> loaded = store->load_pages(run_id);

        REQUIRE(loaded.size() == 4);
        CHECK(loaded[0].city_slug == "ca--san-francisco");
        CHECK(loaded[0].body == not_json);
        CHECK(loaded[1].city_slug == "ny--new-york");
        CHECK(loaded[1].page_number == 1);
        CHECK(loaded[1].body.size() == html.size());
        CHECK(loaded[1].body == html);
        CHECK(loaded[1].url == pages[1].url);
        CHECK(loaded[1].captured_at == "2026-07-01T10:01:00Z");
        CHECK(loaded[2].page_number == 2);
        CHECK(loaded[2].source == "listing_html");
        CHECK(loaded[2].body == "second version");
        CHECK(loaded[3].source == "search_xhr");
        CHECK(loaded[3].content_type == "application/json");
        CHECK(loaded[3].http_status == 201);
        if (backend->keeps_json_bytes()) {
            CHECK(loaded[3].body == json_body);
        } else {
            // jsonb renders with a space after ':' and ',', and orders keys by length.
            CHECK(
                loaded[3].body ==
                R"({"page": 2, "events": {"results": [{"id": "1", "name": "Café \"Ñ\" 東京"}]}})");
        }
        CHECK(store->load_pages(other_run).size() == 1);
        CHECK(store->load_pages(other_run + 1).empty());
    }

    TEST_CASE("store commit_city writes together") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        const std::vector<pipeline::event_record> events{full_event("901"), full_event("902")};
        const std::vector<db::archived_page> pages{page_of("ny--new-york", 1, "<html>1</html>"),
                                                   page_of("ny--new-york", 2, "<html>2</html>")};

        store->commit_city(run_id, city_of("ny--new-york", "ok", 2), events, pages, first_seen);

        CHECK(store->count_events() == 2);
        CHECK(backend->text("SELECT count(*) FROM event_tags") == "4");
        CHECK(store->load_pages(run_id).size() == 2);
        REQUIRE(store->city_results(run_id).size() == 1);
        CHECK(store->city_results(run_id)[0].pages == 2);

        const std::vector<db::archived_page> other_city{page_of("il--chicago", 1, "<p>")};
        const std::string message = error_of([&] {
            store->commit_city(
                run_id, city_of("ny--new-york", "ok", 1), events, other_city, second_seen);
        });
        CHECK(message.find("page 1 of city 'il--chicago'") != std::string::npos);
        CHECK(backend->text("SELECT " + backend->iso_text("last_seen_at") +
                            " FROM events WHERE id = '901'") == first_seen);
    }

    TEST_CASE("store failed commit_city writes nothing") {
        struct failure_case {
            const char* name;
            bool missing_run;
            bool reject_city_row;
            const char* expected;
        };
        const std::array<failure_case, 3> cases{{
            {"run does not exist", true, false, "raw_pages"},
            {"city row rejected", false, true, "test trigger rejected the row"},
            {"page row rejected", false, false, "test trigger rejected the row"},
        }};
        for (const failure_case& item : cases) {
            auto backend = make_backend();
            CAPTURE(backend->name());
            CAPTURE(item.name);
            auto store = backend->open();
            const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
            if (item.reject_city_row) {
                backend->reject_insert("run_cities", "city_slug", "ny--new-york");
            } else if (!item.missing_run) {
                backend->reject_insert("raw_pages", "captured_at", "2026-07-01T10:02:00Z");
            }
            const std::vector<pipeline::event_record> events{full_event("951"), full_event("952")};
            const std::vector<db::archived_page> pages{page_of("ny--new-york", 1, "<p>1</p>"),
                                                       page_of("ny--new-york", 2, "<p>2</p>")};
            const std::int64_t target = item.missing_run ? run_id + 50 : run_id;

            const std::string message = error_of([&] {
                store->commit_city(
                    target, city_of("ny--new-york", "ok", 2), events, pages, first_seen);
            });

            CHECK(message.find(item.expected) != std::string::npos);
            CHECK(store->count_events() == 0);
            CHECK(backend->text("SELECT count(*) FROM event_tags") == "0");
            CHECK(backend->text("SELECT count(*) FROM raw_pages") == "0");
            CHECK(backend->text("SELECT count(*) FROM run_cities") == "0");
        }
    }

    TEST_CASE("store for_each_event filters") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        std::vector<pipeline::event_record> events{full_event("e5"),
                                                   full_event("e1"),
                                                   full_event("e3"),
                                                   bare_event("e0"),
                                                   full_event("e2"),
                                                   full_event("e4")};
        events[0].start_utc = "2026-08-01T00:00:00Z";
        events[1].start_utc = "2026-06-30T23:59:59Z";
        events[2].start_utc = "2026-07-01T00:00:00Z";
        events[2].city = "NEW YORK";
        events[4].start_utc = "2026-07-01T00:00:00Z";
        events[4].city = "Newark";
        events[5].start_utc = "2026-07-15T12:00:00Z";
        events[5].city = "new york";
        store->upsert_events(events, first_seen);

        struct filter_case {
            const char* name;
            db::event_filter filter;
            std::vector<std::string> expected;
        };
        const std::vector<filter_case> cases{
            {"no filter", {}, {"e1", "e2", "e3", "e4", "e5", "e0"}},
            {"since", {"2026-07-01T00:00:00Z", std::nullopt}, {"e2", "e3", "e4", "e5"}},
            {"city any case", {std::nullopt, "New York"}, {"e1", "e3", "e4", "e5"}},
            {"since and city", {"2026-07-02T00:00:00Z", "NEW york"}, {"e4", "e5"}},
            {"no match", {std::nullopt, "Boston"}, {}},
        };
        for (const filter_case& item : cases) {
            CAPTURE(item.name);
            CHECK(ids_of(export_events(*store, item.filter)) == item.expected);
        }
    }

    TEST_CASE("store pages of two queries kept") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});
        std::vector<db::archived_page> pages{page_of("ny--new-york", 1, "whole listing"),
                                             page_of("ny--new-york", 1, "december"),
                                             page_of("ny--new-york", 2, "december page 2")};
        pages[1].query = "start_date=2026-12-01&end_date=2026-12-31";
        pages[2].query = pages[1].query;
        store->archive_pages(run_id, pages);
        // The same key again replaces only the page of that query.
        pages[1].body = "december again";
        store->archive_pages(run_id, std::span{pages}.subspan(1, 1));

        const std::vector<db::archived_page> loaded = store->load_pages(run_id);

        REQUIRE(loaded.size() == 3);
        CHECK(loaded[0].query.empty());
        CHECK(loaded[0].body == "whole listing");
        CHECK(loaded[1].query == "start_date=2026-12-01&end_date=2026-12-31");
        CHECK(loaded[1].page_number == 1);
        CHECK(loaded[1].body == "december again");
        CHECK(loaded[2].query == "start_date=2026-12-01&end_date=2026-12-31");
        CHECK(loaded[2].page_number == 2);
        CHECK(backend->text("SELECT count(*) FROM raw_pages") == "3");
    }

    TEST_CASE("store claim excludes second claim") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        auto other_store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});

        auto claim = store->claim_run(run_id);
        REQUIRE(claim != nullptr);
        CHECK(claim->run_id() == run_id);

        std::string message;
        try {
            other_store->claim_run(run_id);
        } catch (const db::run_claimed_error& error) {
            message = error.what();
        }
        CHECK(message.find("run " + std::to_string(run_id) + " ") != std::string::npos);
        CHECK(message.find("another eventcrawl process") != std::string::npos);
        CHECK(message.find("pid " + std::to_string(::getpid()) + " on host") != std::string::npos);
        // Another run is free while this one is held.
        CHECK(other_store->claim_run(run_id + 1) != nullptr);

        claim.reset();
        auto second = other_store->claim_run(run_id);
        CHECK(second != nullptr);
    }

    TEST_CASE("store claim freed by killed process") {
        auto backend = make_backend();
        CAPTURE(backend->name());
        auto store = backend->open();
        const std::int64_t run_id = store->begin_run({"async", "eventcrawl crawl", "{}"});

        child_process holder{[&backend, run_id] {
            // Static, so that the store and the claim outlive the setup until the kill.
            static std::unique_ptr<db::store> child_store;
            static std::unique_ptr<db::run_claim> claim;
            child_store = backend->open();
            claim = child_store->claim_run(run_id);
            return claim != nullptr;
        }};
        REQUIRE(holder.wait_ready());
        CHECK_THROWS_AS(store->claim_run(run_id), db::run_claimed_error);

        holder.kill();
        // PostgreSQL ends the dead client's session, and so drops its lock, a moment after the
        // kill, so the claim is tried again for up to 30 s.
        std::unique_ptr<db::run_claim> claim;
        for (int attempt = 0; attempt < 300 && claim == nullptr; ++attempt) {
            try {
                claim = store->claim_run(run_id);
            } catch (const db::run_claimed_error&) {
                std::this_thread::sleep_for(std::chrono::milliseconds{100});
            }
        }
        CHECK(claim != nullptr);
    }
}
