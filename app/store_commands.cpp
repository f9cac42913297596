#include "app/store_commands.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <system_error>

#include "app/page_pipeline.hpp"
#include "db/store.hpp"
#include "pipeline/transform.hpp"

namespace eventcrawl::app {
namespace {

namespace json = boost::json;

// Opens an existing store for reading. A SQLite path that does not exist is an error here (a
// mistyped path would otherwise create an empty database and export nothing).
std::unique_ptr<db::store> open_or_report(const std::string& db_dsn) {
    for (const std::string_view prefix : {"sqlite://", "sqlite:"}) {
        if (db_dsn.rfind(prefix, 0) == 0) {
            const std::string path = db_dsn.substr(prefix.size());
            if (!path.empty() && !std::filesystem::exists(path)) {
                fmt::print(
                    stderr, "error: database file '{}' not found; check the --db path\n", path);
                return nullptr;
            }
            break;
        }
    }
    try {
        return db::open_store(db_dsn);
    } catch (const std::exception& error) {
        spdlog::get("app")->error("cannot open database: {}", error.what());
        fmt::print(stderr, "error: {}\n", error.what());
        return nullptr;
    }
}

// RFC 4180 field: quoted when it contains a comma, quote or line break.
std::string csv_field(std::string_view text) {
    if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
        return std::string(text);
    }
    std::string quoted = "\"";
    for (const char c : text) {
        quoted += c;
        if (c == '"') {
            quoted += '"';
        }
    }
    quoted += '"';
    return quoted;
}

template <typename T>
std::string optional_text(const std::optional<T>& value) {
    if (!value) {
        return {};
    }
    if constexpr (std::is_same_v<T, std::string>) {
        return *value;
    } else {
        return fmt::format("{}", *value);
    }
}

template <typename T>
json::value optional_json(const std::optional<T>& value) {
    if (!value) {
        return nullptr;
    }
    return json::value_from(*value);
}

const char* const csv_header =
    "id,name,summary,url,timezone,start_local,end_local,start_utc,end_utc,is_online,is_free,"
    "is_cancelled,venue_name,address,city,region,country,latitude,longitude,price_min_minor,"
    "price_max_minor,currency,organizer_name,series_id,image_url,tags,first_seen_at,"
    "last_seen_at";

std::string to_csv_row(const pipeline::event_record& event,
                       std::string_view first_seen_at,
                       std::string_view last_seen_at) {
    std::string tags;
    for (const auto& tag : event.tags) {
        tags += tags.empty() ? "" : "|";
        tags += tag;
    }
    const std::string fields[] = {
        event.id,
        event.name,
        optional_text(event.summary),
        optional_text(event.url),
        optional_text(event.timezone),
        optional_text(event.start_local),
        optional_text(event.end_local),
        optional_text(event.start_utc),
        optional_text(event.end_utc),
        event.is_online ? "1" : "0",
        event.is_free ? "1" : "0",
        event.is_cancelled ? "1" : "0",
        optional_text(event.venue_name),
        optional_text(event.address),
        optional_text(event.city),
        optional_text(event.region),
        optional_text(event.country),
        optional_text(event.latitude),
        optional_text(event.longitude),
        optional_text(event.price_min_minor),
        optional_text(event.price_max_minor),
        optional_text(event.currency),
        optional_text(event.organizer_name),
        optional_text(event.series_id),
        optional_text(event.image_url),
        tags,
        std::string(first_seen_at),
        std::string(last_seen_at),
    };
    std::string row;
    for (const auto& field : fields) {
        row += row.empty() && &field == &fields[0] ? "" : ",";
        row += csv_field(field);
    }
    return row;
}

std::string to_json_line(const pipeline::event_record& event,
                         std::string_view first_seen_at,
                         std::string_view last_seen_at) {
    json::object object;
    object["id"] = event.id;
    object["name"] = event.name;
    object["summary"] = optional_json(event.summary);
    object["url"] = optional_json(event.url);
    object["timezone"] = optional_json(event.timezone);
    object["start_local"] = optional_json(event.start_local);
    object["end_local"] = optional_json(event.end_local);
    object["start_utc"] = optional_json(event.start_utc);
    object["end_utc"] = optional_json(event.end_utc);
    object["is_online"] = event.is_online;
    object["is_free"] = event.is_free;
    object["is_cancelled"] = event.is_cancelled;
    object["venue_name"] = optional_json(event.venue_name);
    object["address"] = optional_json(event.address);
    object["city"] = optional_json(event.city);
    object["region"] = optional_json(event.region);
    object["country"] = optional_json(event.country);
    object["latitude"] = optional_json(event.latitude);
    object["longitude"] = optional_json(event.longitude);
    object["price_min_minor"] = optional_json(event.price_min_minor);
    object["price_max_minor"] = optional_json(event.price_max_minor);
    object["currency"] = optional_json(event.currency);
    object["organizer_name"] = optional_json(event.organizer_name);
    object["series_id"] = optional_json(event.series_id);
    object["image_url"] = optional_json(event.image_url);
    json::array tags;
    for (const auto& tag : event.tags) {
        tags.emplace_back(tag);
    }
    object["tags"] = std::move(tags);
    object["first_seen_at"] = first_seen_at;
    object["last_seen_at"] = last_seen_at;
    return json::serialize(object);
}

// A bare date means the start of that day in UTC.
std::string normalize_since(const std::string& since) {
    const bool date_only = since.size() == 10;
    const bool full_time = since.size() == 20 && since[10] == 'T' && since.back() == 'Z';
    int year = 0;
    unsigned month = 0;
    unsigned day = 0;
    unsigned hour = 0;
    unsigned minute = 0;
    unsigned second = 0;
    char tail = 0;
    const bool parsed =
        date_only   ? std::sscanf(since.c_str(), "%4d-%2u-%2u%c", &year, &month, &day, &tail) == 3
        : full_time ? std::sscanf(since.c_str(),
                                  "%4d-%2u-%2uT%2u:%2u:%2uZ%c",
                                  &year,
                                  &month,
                                  &day,
                                  &hour,
                                  &minute,
                                  &second,
                                  &tail) == 6
                    : false;
    const std::chrono::year_month_day date{
        std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{day}};
    if (parsed && date.ok() && hour < 24 && minute < 60 && second < 60) {
        return date_only ? since + "T00:00:00Z" : since;
    }
    throw std::invalid_argument("invalid --since '" + since +
                                "': expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
}

}  // namespace

int run_list_runs(const std::string& db_dsn, int limit) {
    auto store = open_or_report(db_dsn);
    if (!store) {
        return 1;
    }
    fmt::print("{:>5} {:<6} {:<11} {:<20} {:<20} {:>6} {:>6} {:>6} {:>7} {:>6}\n",
               "run",
               "mode",
               "status",
               "started",
               "finished",
               "ok",
               "failed",
               "pages",
               "events",
               "errors");
    for (const auto& run : store->list_runs(limit)) {
        fmt::print("{:>5} {:<6} {:<11} {:<20} {:<20} {:>6} {:>6} {:>6} {:>7} {:>6}\n",
                   run.id,
                   run.mode,
                   run.status,
                   run.started_at,
                   run.finished_at.value_or("-"),
                   run.cities_ok,
                   run.cities_failed,
                   run.pages,
                   run.events,
                   run.errors);
    }
    return 0;
}

int run_export(const export_options& options) {
    db::event_filter filter;
    try {
        if (options.since) {
            filter.since_utc = normalize_since(*options.since);
        }
    } catch (const std::exception& error) {
        fmt::print(stderr, "error: {}\n", error.what());
        return 1;
    }
    filter.city = options.city;

    auto store = open_or_report(options.db_dsn);
    if (!store) {
        return 1;
    }
    // A file export is written next to its target and renamed when complete, so that a failed
    // export leaves no partial file under the name the caller asked for.
    std::ofstream file;
    std::ostream* out = &std::cout;
    const bool to_file = !options.output.empty() && options.output != "-";
    const std::string partial_path = options.output + ".partial";
    if (to_file) {
        file.open(partial_path, std::ios::trunc);
        if (!file) {
            fmt::print(stderr,
                       "error: cannot write '{}': check that the folder exists and is writable\n",
                       partial_path);
            return 1;
        }
        out = &file;
    }
    const auto discard_partial = [&] {
        if (to_file) {
            file.close();
            std::error_code ignored;
            std::filesystem::remove(partial_path, ignored);
        }
    };

    const bool csv = options.format == "csv";
    if (csv) {
        *out << csv_header << '\n';
    }
    std::int64_t count = 0;
    try {
        store->for_each_event(filter,
                              [&](const pipeline::event_record& event,
                                  std::string_view first_seen_at,
                                  std::string_view last_seen_at) {
                                  *out << (csv ? to_csv_row(event, first_seen_at, last_seen_at)
                                               : to_json_line(event, first_seen_at, last_seen_at))
                                       << '\n';
                                  ++count;
                              });
    } catch (...) {
        discard_partial();
        throw;
    }
    out->flush();
    if (!*out) {
        discard_partial();
        fmt::print(stderr, "error: writing the export failed\n");
        return 1;
    }
    if (to_file) {
        file.close();
        std::error_code error;
        std::filesystem::rename(partial_path, options.output, error);
        if (error) {
            discard_partial();
            fmt::print(stderr,
                       "error: cannot rename '{}' to '{}': {}\n",
                       partial_path,
                       options.output,
                       error.message());
            return 1;
        }
    }
    spdlog::get("app")->info("export finished format={} events={}", options.format, count);
    return 0;
}

int run_retransform(const std::string& db_dsn, std::int64_t run_id) {
    auto log = spdlog::get("app");
    auto store = open_or_report(db_dsn);
    if (!store) {
        return 1;
    }
    if (!store->find_run(run_id)) {
        fmt::print(stderr,
                   "error: run {} not found in {}; `eventcrawl runs` lists the runs\n",
                   run_id,
                   db::mask_dsn(db_dsn));
        return 1;
    }
    const auto pages = store->load_pages(run_id);
    if (pages.empty()) {
        fmt::print(stderr, "error: run {} has no archived pages to transform\n", run_id);
        return 1;
    }

    std::int64_t events = 0;
    int failed = 0;
    for (const auto& archived : pages) {
        const pipeline::raw_page page = from_archived(archived);
        try {
            const auto output = pipeline::transform_page(page);
            // The page's capture time stays its last_seen_at, so re-transforming changes no
            // timestamps.
            store->upsert_events(output.events, archived.captured_at);
            events += static_cast<std::int64_t>(output.events.size());
        } catch (const std::exception& error) {
            ++failed;
            log->warn("city={} page={} retransform failed: {}",
                      archived.city_slug,
                      archived.page_number,
                      error.what());
        }
    }
    fmt::print(
        "run {}: {} pages re-transformed, {} failed, {} events written; rows in "
        "database: {}\n",
        run_id,
        pages.size() - static_cast<std::size_t>(failed),
        failed,
        events,
        store->count_events());
    return failed == 0 ? 0 : 2;
}

}  // namespace eventcrawl::app
