// Measures how fast a store loads events, transform excluded. Not a test: ctest does not run
// it. Usage: store_load_bench DSN [EVENTS] [BATCH_ROWS]. Loads EVENTS new events (default
// 200000) with 3 tags each through store::upsert_events in batches of BATCH_ROWS (default
// 5000), then the same events again as updates, and prints events/s and CPU microseconds per
// event (user plus system time of this process) of both passes.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "db/store.hpp"
#include "pipeline/event_record.hpp"

namespace {

namespace db = eventcrawl::db;
namespace pipeline = eventcrawl::pipeline;

// An event shaped like a mapped destination event: most optional fields set, 3 tags.
pipeline::event_record realistic_event(int number) {
    pipeline::event_record event;
    event.id = std::to_string(1'000'000'000'000LL + number);
    event.name = fmt::format("Harbor Swing night {} with the Bay Big Band", number);
    event.summary = "An evening of big band swing by the water, with a dance lesson at 7 pm.";
    event.url = "https://www.eventbrite.com/e/harbor-swing-night-tickets-" + event.id;
    event.timezone = "America/Los_Angeles";
    const int day = 1 + number % 28;
    event.start_local = fmt::format("2026-08-{:02}T19:00:00", day);
    event.end_local = fmt::format("2026-08-{:02}T23:00:00", day);
    event.start_utc = fmt::format("2026-08-{:02}T02:00:00Z", day + 1);
    event.end_utc = fmt::format("2026-08-{:02}T06:00:00Z", day + 1);
    event.is_free = number % 5 == 0;
    event.venue_name = "Pier 39 Ballroom";
    event.address = "Beach Street & The Embarcadero, San Francisco, CA 94133";
    event.city = "San Francisco";
    event.region = "CA";
    event.country = "US";
    event.latitude = 37.8087 + (number % 100) * 0.0001;
    event.longitude = -122.4098;
    event.price_min_minor = 1500;
    event.price_max_minor = 4500;
    event.currency = "USD";
    event.organizer_name = "Bay Big Band Society";
    event.series_id = number % 3 == 0 ? std::optional<std::string>{"77" + event.id} : std::nullopt;
    event.image_url = "https://img.evbuc.com/images/" + event.id + "/original.jpg";
    event.tags = {"EventbriteCategory/103",
                  fmt::format("EventbriteSubCategory/{}", 3000 + number % 20),
                  "EventbriteFormat/11"};
    return event;
}

double cpu_seconds_now() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& time) {
        return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct load_rate {
    double events_per_second = 0;
    double cpu_microseconds_per_event = 0;
};

load_rate load(db::store& store,
               const std::vector<pipeline::event_record>& events,
               std::size_t batch_rows,
               const std::string& seen_at) {
    const auto started = std::chrono::steady_clock::now();
    const double cpu_started = cpu_seconds_now();
    for (std::size_t offset = 0; offset < events.size(); offset += batch_rows) {
        const std::size_t count = std::min(batch_rows, events.size() - offset);
        store.upsert_events(std::span{events}.subspan(offset, count), seen_at);
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - started;
    const auto count = static_cast<double>(events.size());
    return {count / elapsed.count(), (cpu_seconds_now() - cpu_started) * 1e6 / count};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} DSN [EVENTS] [BATCH_ROWS]\n", argv[0]);
        return 2;
    }
    const std::string dsn = argv[1];
    const int event_count = argc > 2 ? std::atoi(argv[2]) : 200'000;
    const auto batch_rows = static_cast<std::size_t>(argc > 3 ? std::atoi(argv[3]) : 5000);
    if (event_count <= 0 || batch_rows == 0) {
        fmt::print(stderr, "EVENTS and BATCH_ROWS must be positive integers\n");
        return 2;
    }
    try {
        spdlog::set_level(spdlog::level::warn);
        std::vector<pipeline::event_record> events;
        events.reserve(static_cast<std::size_t>(event_count));
        for (int number = 0; number < event_count; ++number) {
            events.push_back(realistic_event(number));
        }
        auto store = db::open_store(dsn);
        const std::int64_t before = store->count_events();

        const load_rate insert = load(*store, events, batch_rows, "2026-07-01T10:00:00Z");
        const load_rate update = load(*store, events, batch_rows, "2026-07-02T10:00:00Z");

        fmt::print("dsn={} events={} batch_rows={} tags_per_event=3\n",
                   db::mask_dsn(dsn),
                   event_count,
                   batch_rows);
        fmt::print(
            "insert_events_per_s={:.0f} insert_cpu_us_per_event={:.1f} update_events_per_s={:.0f} "
            "update_cpu_us_per_event={:.1f} rows_added={}\n",
            insert.events_per_second,
            insert.cpu_microseconds_per_event,
            update.events_per_second,
            update.cpu_microseconds_per_event,
            store->count_events() - before);
    } catch (const std::exception& error) {
        fmt::print(stderr, "error: {}\n", error.what());
        return 1;
    }
    return 0;
}
