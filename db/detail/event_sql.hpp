#pragma once

#include <span>
#include <string>
#include <string_view>

namespace eventcrawl::db::detail {

// The events columns in insert order; both stores bind or select values in this order.
inline constexpr std::string_view event_insert_columns =
    "id, name, summary, url, timezone, start_local, end_local, start_utc, end_utc,\n"
    "    is_online, is_free, is_cancelled, venue_name, address, city, region, country,\n"
    "    latitude, longitude, price_min_minor, price_max_minor, currency, organizer_name,\n"
    "    series_id, image_url, first_seen_at, last_seen_at";

// The upsert's update: every column from the new row except first_seen_at, which keeps the
// time the event was first stored. The same text is valid SQLite and PostgreSQL.
inline constexpr std::string_view event_conflict_update =
    "ON CONFLICT (id) DO UPDATE SET\n"
    "    name = excluded.name,\n"
    "    summary = excluded.summary,\n"
    "    url = excluded.url,\n"
    "    timezone = excluded.timezone,\n"
    "    start_local = excluded.start_local,\n"
    "    end_local = excluded.end_local,\n"
    "    start_utc = excluded.start_utc,\n"
    "    end_utc = excluded.end_utc,\n"
    "    is_online = excluded.is_online,\n"
    "    is_free = excluded.is_free,\n"
    "    is_cancelled = excluded.is_cancelled,\n"
    "    venue_name = excluded.venue_name,\n"
    "    address = excluded.address,\n"
    "    city = excluded.city,\n"
    "    region = excluded.region,\n"
    "    country = excluded.country,\n"
    "    latitude = excluded.latitude,\n"
    "    longitude = excluded.longitude,\n"
    "    price_min_minor = excluded.price_min_minor,\n"
    "    price_max_minor = excluded.price_max_minor,\n"
    "    currency = excluded.currency,\n"
    "    organizer_name = excluded.organizer_name,\n"
    "    series_id = excluded.series_id,\n"
    "    image_url = excluded.image_url,\n"
    "    last_seen_at = excluded.last_seen_at";

// The events columns that the upsert compares to decide whether a stored row changed: every
// column except id, first_seen_at and last_seen_at.
inline constexpr std::string_view event_compared_columns[] = {"name",
                                                              "summary",
                                                              "url",
                                                              "timezone",
                                                              "start_local",
                                                              "end_local",
                                                              "start_utc",
                                                              "end_utc",
                                                              "is_online",
                                                              "is_free",
                                                              "is_cancelled",
                                                              "venue_name",
                                                              "address",
                                                              "city",
                                                              "region",
                                                              "country",
                                                              "latitude",
                                                              "longitude",
                                                              "price_min_minor",
                                                              "price_max_minor",
                                                              "currency",
                                                              "organizer_name",
                                                              "series_id",
                                                              "image_url"};

// Returns "(events.name, ...) IS DISTINCT FROM (excluded.name, ...)", true when the row in
// events differs from the proposed row in a compared column or in one of `extra_columns`. NULLs
// compare equal to each other. SQLite (3.39 and later) and PostgreSQL accept the same text.
inline std::string event_changed_condition(std::span<const std::string_view> extra_columns = {}) {
    std::string stored = "(";
    std::string proposed = "(";
    const auto add = [&](std::string_view column) {
        if (stored.size() > 1) {
            stored += ", ";
            proposed += ", ";
        }
        stored += "events.";
        stored += column;
        proposed += "excluded.";
        proposed += column;
    };
    for (std::string_view column : event_compared_columns) {
        add(column);
    }
    for (std::string_view column : extra_columns) {
        add(column);
    }
    return stored + ")\n    IS DISTINCT FROM " + proposed + ")";
}

// Returns "INSERT INTO events (<columns>) <source> ON CONFLICT ... DO UPDATE ...", where
// source is a VALUES list or a SELECT. `extra_columns` follow last_seen_at in the column list,
// and the update sets them too. `insert_only_columns` follow them, and the update leaves them.
inline std::string event_upsert_sql(std::string_view source,
                                    std::span<const std::string_view> extra_columns = {},
                                    std::span<const std::string_view> insert_only_columns = {}) {
    std::string sql = "INSERT INTO events (\n    ";
    sql += event_insert_columns;
    for (std::string_view column : extra_columns) {
        sql += ", ";
        sql += column;
    }
    for (std::string_view column : insert_only_columns) {
        sql += ", ";
        sql += column;
    }
    sql += ")\n";
    sql += source;
    sql += '\n';
    sql += event_conflict_update;
    for (std::string_view column : extra_columns) {
        sql += ",\n    ";
        sql += column;
        sql += " = excluded.";
        sql += column;
    }
    return sql;
}

}  // namespace eventcrawl::db::detail
