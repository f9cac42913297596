#include "pipeline/detail/event_mapping.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <charconv>
#include <cmath>

#include "pipeline/detail/money.hpp"
#include "pipeline/detail/time_convert.hpp"

namespace eventcrawl::pipeline::detail {

namespace json = boost::json;

namespace {

// Fields shared by every warning about one event: where it sits and which id it has.
struct event_site {
    const json_reader& reader;
    std::string path;
    std::string id;

    void warn(std::string_view field, std::string_view problem) const {
        if (path.empty()) {
            reader.warn(fmt::format("id={}: {}: {}", id, field, problem));
        } else {
            reader.warn(fmt::format("{} id={}: {}: {}", path, id, field, problem));
        }
    }
};

// Drops the query string and fragment, so "…-123?aff=ebdssbdestsearch" and "…-123" match.
std::string strip_query(std::string_view url) {
    const std::size_t cut = url.find_first_of("?#");
    return std::string(url.substr(0, cut));
}

// Returns nothing for an empty string, because Eventbrite sends "" for an unknown value.
std::optional<std::string> non_empty(std::optional<std::string> text) {
    if (text && text->empty()) {
        return std::nullopt;
    }
    return text;
}

void add_tag(event_record& record, std::string tag) {
    if (tag.empty()) {
        return;
    }
    if (std::find(record.tags.begin(), record.tags.end(), tag) == record.tags.end()) {
        record.tags.push_back(std::move(tag));
    }
}

// Reads a coordinate that Eventbrite sends as a string ("47.76014079999999"). A number is
// accepted too. Garbage and out-of-range values become null with a warning.
std::optional<double> read_coordinate(const json::object& address,
                                      std::string_view key,
                                      std::string_view address_path,
                                      double limit,
                                      const event_site& site) {
    const json::value* value = address.if_contains(key);
    if (value == nullptr || value->is_null()) {
        return std::nullopt;
    }
    const std::string field = child_path(address_path, key);
    double number = 0;
    if (value->is_number()) {
        number = value->to_number<double>();
    } else if (value->is_string()) {
        const std::string_view text = value->get_string();
        if (text.empty()) {
            return std::nullopt;
        }
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (error != std::errc{} || end != text.data() + text.size()) {
            site.warn(field, fmt::format("invalid coordinate \"{}\", stored as null", text));
            return std::nullopt;
        }
    } else {
        site.warn(field,
                  fmt::format("expected a string, got {}, stored as null", kind_name(*value)));
        return std::nullopt;
    }
    if (!std::isfinite(number) || std::abs(number) > limit) {
        site.warn(field,
                  fmt::format("coordinate {} is outside ±{}, stored as null", number, limit));
        return std::nullopt;
    }
    return number;
}

// Fills start/end local and UTC times from a local ISO string and the event's zone.
void set_times(event_record& record,
               const std::optional<std::string>& start_local,
               const std::optional<std::string>& end_local,
               const event_site& site) {
    record.start_local = start_local;
    record.end_local = end_local;
    if (!record.timezone || (!start_local && !end_local)) {
        return;
    }
    const date::time_zone* zone = find_zone(*record.timezone);
    if (zone == nullptr) {
        site.warn(
            "timezone",
            fmt::format("unknown time zone \"{}\", UTC times stored as null", *record.timezone));
        return;
    }
    if (start_local) {
        if (const auto local = parse_local_iso(*start_local)) {
            record.start_utc = format_utc(local_to_utc(*zone, *local));
        }
    }
    if (end_local) {
        if (const auto local = parse_local_iso(*end_local)) {
            record.end_utc = format_utc(local_to_utc(*zone, *local));
        }
    }
}

// Joins start_date/start_time (or end_*) into a local ISO time; malformed parts warn.
std::optional<std::string> read_date_time(const json::object& item,
                                          std::string_view date_key,
                                          std::string_view time_key,
                                          const event_site& site) {
    const auto day = site.reader.string_at(item, date_key, site.path);
    const auto time_of_day = site.reader.string_at(item, time_key, site.path);
    if (!day && !time_of_day) {
        return std::nullopt;
    }
    if (!day || !time_of_day) {
        site.warn(day ? time_key : date_key, "missing while the other part is present");
        return std::nullopt;
    }
    auto joined = join_local_iso(*day, *time_of_day);
    if (!joined) {
        site.warn(date_key,
                  fmt::format("invalid date or time \"{} {}\", expected YYYY-MM-DD and HH:MM",
                              *day,
                              *time_of_day));
    }
    return joined;
}

// Reads one Eventbrite price object {currency, value, major_value, display}.
struct price_reading {
    std::optional<std::int64_t> minor;
    std::optional<std::string> currency;
};

price_reading read_price(const json::object& availability,
                         std::string_view key,
                         std::string_view availability_path,
                         const event_site& site) {
    const json::object* price = site.reader.object_at(availability, key, availability_path);
    if (price == nullptr) {
        return {};
    }
    const std::string price_path = child_path(availability_path, key);
    price_reading reading;
    reading.currency = non_empty(site.reader.string_at(*price, "currency", price_path));
    reading.minor = site.reader.int_at(*price, "value", price_path);
    if (reading.minor) {
        return reading;
    }
    const auto major = site.reader.string_at(*price, "major_value", price_path);
    if (!major) {
        return reading;
    }
    if (!reading.currency) {
        site.warn(child_path(price_path, "major_value"),
                  "amount without currency, price stored as null");
        return reading;
    }
    reading.minor = decimal_to_minor(*major, currency_exponent(*reading.currency));
    if (!reading.minor) {
        site.warn(
            child_path(price_path, "major_value"),
            fmt::format(
                "invalid amount \"{}\" for {}, price stored as null", *major, *reading.currency));
    }
    return reading;
}

void set_prices(event_record& record, const price_reading& low, const price_reading& high) {
    record.price_min_minor = low.minor;
    record.price_max_minor = high.minor;
    if (low.minor) {
        record.currency = low.currency;
    } else if (high.minor) {
        record.currency = high.currency;
    }
}

void read_ticket_availability(event_record& record,
                              const json::object& item,
                              const event_site& site) {
    const json::object* availability =
        site.reader.object_at(item, "ticket_availability", site.path);
    if (availability == nullptr) {
        return;
    }
    const std::string availability_path = child_path(site.path, "ticket_availability");
    record.is_free =
        site.reader.bool_at(*availability, "is_free", availability_path).value_or(false);
    const price_reading low =
        read_price(*availability, "minimum_ticket_price", availability_path, site);
    const price_reading high =
        read_price(*availability, "maximum_ticket_price", availability_path, site);
    if (low.minor && high.minor && low.currency != high.currency) {
        site.warn(availability_path,
                  fmt::format("minimum and maximum prices differ in currency ({} and {})",
                              low.currency.value_or("none"),
                              high.currency.value_or("none")));
    }
    set_prices(record, low, high);
}

void read_primary_venue(event_record& record, const json::object& item, const event_site& site) {
    const json::object* venue = site.reader.object_at(item, "primary_venue", site.path);
    if (venue == nullptr) {
        return;
    }
    const std::string venue_path = child_path(site.path, "primary_venue");
    record.venue_name = non_empty(site.reader.string_at(*venue, "name", venue_path));
    const json::object* address = site.reader.object_at(*venue, "address", venue_path);
    if (address == nullptr) {
        return;
    }
    const std::string address_path = child_path(venue_path, "address");
    const json_reader& reader = site.reader;
    record.address =
        non_empty(reader.string_at(*address, "localized_address_display", address_path));
    if (!record.address) {
        const auto line_1 = non_empty(reader.string_at(*address, "address_1", address_path));
        const auto line_2 = non_empty(reader.string_at(*address, "address_2", address_path));
        if (line_1 && line_2) {
            record.address = *line_1 + ", " + *line_2;
        } else {
            record.address = line_1 ? line_1 : line_2;
        }
    }
    record.city = non_empty(reader.string_at(*address, "city", address_path));
    record.region = non_empty(reader.string_at(*address, "region", address_path));
    record.country = non_empty(reader.string_at(*address, "country", address_path));
    record.latitude = read_coordinate(*address, "latitude", address_path, 90.0, site);
    record.longitude = read_coordinate(*address, "longitude", address_path, 180.0, site);
}

void read_tags(event_record& record, const json::object& item, const event_site& site) {
    const json::array* tags = site.reader.array_at(item, "tags", site.path);
    if (tags == nullptr) {
        return;
    }
    const std::string tags_path = child_path(site.path, "tags");
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const json::value& tag = (*tags)[i];
        if (tag.is_string()) {
            add_tag(record, std::string(tag.get_string()));
            continue;
        }
        const json::object& tag_object = site.reader.as_object(tag, index_path(tags_path, i));
        if (auto text = site.reader.string_at(tag_object, "tag", index_path(tags_path, i))) {
            add_tag(record, std::move(*text));
        }
    }
}

// Reads the event name, which is a string in destination events and {text, html} in v3.
std::string read_name(const json::object& item, const event_site& site) {
    const json::value* name = item.if_contains("name");
    if (name != nullptr && name->is_object()) {
        return site.reader.string_at(name->get_object(), "text", child_path(site.path, "name"))
            .value_or("");
    }
    auto text = site.reader.string_at(item, "name", site.path);
    if (!text) {
        site.warn("name", "missing, stored as an empty string");
    }
    return text.value_or("");
}

std::optional<std::string> read_image_url(const json::object& item,
                                          std::string_view key,
                                          const event_site& site) {
    const json::object* image = site.reader.object_at(item, key, site.path);
    if (image == nullptr) {
        return std::nullopt;
    }
    const std::string image_path = child_path(site.path, key);
    if (auto url = non_empty(site.reader.string_at(*image, "url", image_path))) {
        return url;
    }
    const json::object* original = site.reader.object_at(*image, "original", image_path);
    if (original == nullptr) {
        return std::nullopt;
    }
    return non_empty(site.reader.string_at(*original, "url", child_path(image_path, "original")));
}

event_record map_destination_event(const json::object& item,
                                   std::string id,
                                   const event_site& site) {
    const json_reader& reader = site.reader;
    event_record record;
    record.id = std::move(id);
    record.name = read_name(item, site);
    record.summary = reader.string_at(item, "summary", site.path);
    if (auto url = reader.string_at(item, "url", site.path)) {
        record.url = strip_query(*url);
    }
    record.timezone = non_empty(reader.string_at(item, "timezone", site.path));
    const auto start_local = read_date_time(item, "start_date", "start_time", site);
    const auto end_local = read_date_time(item, "end_date", "end_time", site);
    set_times(record, start_local, end_local, site);

    auto online = reader.bool_at(item, "is_online_event", site.path);
    if (!online) {
        online = reader.bool_at(item, "online_event", site.path);
    }
    record.is_online = online.value_or(false);
    record.is_cancelled = reader.bool_at(item, "is_cancelled", site.path).value_or(false);

    read_ticket_availability(record, item, site);
    read_primary_venue(record, item, site);
    if (const json::object* organizer = reader.object_at(item, "primary_organizer", site.path)) {
        record.organizer_name = non_empty(
            reader.string_at(*organizer, "name", child_path(site.path, "primary_organizer")));
    }
    record.series_id = reader.id_at(item, "series_id", site.path);
    record.image_url = read_image_url(item, "image", site);
    read_tags(record, item, site);
    return record;
}

// Reads a v3 {timezone, local, utc} time object.
void read_v3_time(const json::object& item,
                  std::string_view key,
                  const event_site& site,
                  std::optional<std::string>& local_out,
                  std::optional<std::string>& utc_out,
                  std::optional<std::string>& zone_out) {
    const json::object* moment = site.reader.object_at(item, key, site.path);
    if (moment == nullptr) {
        return;
    }
    const std::string moment_path = child_path(site.path, key);
    if (!zone_out) {
        zone_out = non_empty(site.reader.string_at(*moment, "timezone", moment_path));
    }
    local_out = site.reader.string_at(*moment, "local", moment_path);
    if (local_out && !parse_local_iso(*local_out)) {
        site.warn(child_path(moment_path, "local"),
                  fmt::format("invalid local time \"{}\", stored as null", *local_out));
        local_out.reset();
    }
    const auto utc_text = site.reader.string_at(*moment, "utc", moment_path);
    if (!utc_text) {
        return;
    }
    if (const auto parsed = parse_offset_iso(*utc_text)) {
        utc_out = format_utc(parsed->utc);
    } else {
        site.warn(child_path(moment_path, "utc"),
                  fmt::format("invalid UTC time \"{}\", stored as null", *utc_text));
    }
}

event_record map_v3_event(const json::object& item, std::string id, const event_site& site) {
    const json_reader& reader = site.reader;
    event_record record;
    record.id = std::move(id);
    record.name = read_name(item, site);
    record.summary = reader.string_at(item, "summary", site.path);
    if (auto url = reader.string_at(item, "url", site.path)) {
        record.url = strip_query(*url);
    }
    std::optional<std::string> start_utc;
    std::optional<std::string> end_utc;
    read_v3_time(item, "start", site, record.start_local, start_utc, record.timezone);
    read_v3_time(item, "end", site, record.end_local, end_utc, record.timezone);
    // The body states UTC itself; compute it from the zone only where it is missing.
    set_times(record, record.start_local, record.end_local, site);
    if (start_utc) {
        record.start_utc = start_utc;
    }
    if (end_utc) {
        record.end_utc = end_utc;
    }
    record.is_online = reader.bool_at(item, "online_event", site.path).value_or(false);
    record.is_free = reader.bool_at(item, "is_free", site.path).value_or(false);
    record.is_cancelled = reader.string_at(item, "status", site.path) == "canceled";
    record.image_url = read_image_url(item, "logo", site);

    // The v3 category, subcategory and format ids map to the tag names of destination events.
    const std::pair<std::string_view, std::string_view> tag_keys[] = {
        {"subcategory_id", "EventbriteSubCategory"},
        {"category_id", "EventbriteCategory"},
        {"format_id", "EventbriteFormat"},
    };
    for (const auto& [key, prefix] : tag_keys) {
        if (const auto tag_id = reader.id_at(item, key, site.path)) {
            add_tag(record, fmt::format("{}/{}", prefix, *tag_id));
        }
    }
    return record;
}

// Returns the trailing digits of an event page URL ("…-tickets-1980427365562?aff=x").
std::optional<std::string> id_from_event_url(std::string_view url) {
    const std::string path = strip_query(url);
    std::size_t begin = path.size();
    while (begin > 0 && path[begin - 1] >= '0' && path[begin - 1] <= '9') {
        --begin;
    }
    if (begin == path.size() || begin == 0 || path[begin - 1] != '-') {
        return std::nullopt;
    }
    return path.substr(begin);
}

void read_json_ld_time(const json::object& item,
                       std::string_view key,
                       const event_site& site,
                       std::optional<std::string>& local_out,
                       std::optional<std::string>& utc_out) {
    const auto text = site.reader.string_at(item, key, site.path);
    if (!text) {
        return;
    }
    if (const auto parsed = parse_offset_iso(*text)) {
        local_out = parsed->local_iso;
        utc_out = format_utc(parsed->utc);
        return;
    }
    // A time without offset is local to an unknown zone: keep it, UTC stays null.
    if (parse_local_iso(*text)) {
        local_out = *text;
        return;
    }
    site.warn(key, fmt::format("invalid date-time \"{}\", stored as null", *text));
}

// Reads a schema.org offer amount, a decimal string ("30.87") or a number, in minor units.
std::optional<std::int64_t> read_offer_amount(const json::object& offer,
                                              std::string_view key,
                                              std::string_view offer_path,
                                              const std::string& currency,
                                              const event_site& site) {
    const json::value* amount = offer.if_contains(key);
    if (amount == nullptr || amount->is_null()) {
        return std::nullopt;
    }
    std::string text;
    if (amount->is_string()) {
        text = std::string(amount->get_string());
    } else if (amount->is_number()) {
        text = fmt::format("{}", amount->to_number<double>());
    } else {
        site.reader.fail_type(child_path(offer_path, key), "a string", *amount);
    }
    auto minor = decimal_to_minor(text, currency_exponent(currency));
    if (!minor) {
        site.warn(child_path(offer_path, key),
                  fmt::format("invalid amount \"{}\" for {}, stored as null", text, currency));
    }
    return minor;
}

void read_json_ld_offer(event_record& record, const json::object& item, const event_site& site) {
    const json::value* offers = item.if_contains("offers");
    if (offers == nullptr || offers->is_null()) {
        return;
    }
    std::string offer_path = child_path(site.path, "offers");
    const json::object* offer = nullptr;
    if (offers->is_array()) {
        if (offers->get_array().empty()) {
            return;
        }
        offer_path = index_path(offer_path, 0);
        offer = &site.reader.as_object(offers->get_array().front(), offer_path);
    } else {
        offer = &site.reader.as_object(*offers, offer_path);
    }
    const auto currency = non_empty(site.reader.string_at(*offer, "priceCurrency", offer_path));
    if (!currency) {
        return;
    }

    // AggregateOffer has lowPrice and highPrice, while a plain Offer has a single price.
    price_reading low{read_offer_amount(*offer, "lowPrice", offer_path, *currency, site), currency};
    price_reading high{read_offer_amount(*offer, "highPrice", offer_path, *currency, site),
                       currency};
    if (!low.minor && !high.minor) {
        low.minor = read_offer_amount(*offer, "price", offer_path, *currency, site);
        high.minor = low.minor;
    }
    set_prices(record, low, high);
    record.is_free = high.minor == 0 && (!low.minor || *low.minor == 0);
}

event_record map_json_ld_event(const json::object& item, std::string id, const event_site& site) {
    const json_reader& reader = site.reader;
    event_record record;
    record.id = std::move(id);
    record.name = read_name(item, site);
    record.summary = reader.string_at(item, "description", site.path);
    if (auto url = reader.string_at(item, "url", site.path)) {
        record.url = strip_query(*url);
    }
    // JSON-LD carries numeric offsets but no IANA zone, so `timezone` stays null.
    read_json_ld_time(item, "startDate", site, record.start_local, record.start_utc);
    read_json_ld_time(item, "endDate", site, record.end_local, record.end_utc);

    const auto mode = reader.string_at(item, "eventAttendanceMode", site.path).value_or("");
    record.is_online = mode.find("OnlineEventAttendanceMode") != std::string::npos;
    const auto status = reader.string_at(item, "eventStatus", site.path).value_or("");
    record.is_cancelled = status.find("EventCancelled") != std::string::npos;
    read_json_ld_offer(record, item, site);

    if (const json::object* location = reader.object_at(item, "location", site.path)) {
        const std::string location_path = child_path(site.path, "location");
        record.venue_name = non_empty(reader.string_at(*location, "name", location_path));
        if (const json::object* address = reader.object_at(*location, "address", location_path)) {
            const std::string address_path = child_path(location_path, "address");
            record.address = non_empty(reader.string_at(*address, "streetAddress", address_path));
            record.city = non_empty(reader.string_at(*address, "addressLocality", address_path));
            record.region = non_empty(reader.string_at(*address, "addressRegion", address_path));
            record.country = non_empty(reader.string_at(*address, "addressCountry", address_path));
        }
    }
    if (const json::object* organizer = reader.object_at(item, "organizer", site.path)) {
        record.organizer_name =
            non_empty(reader.string_at(*organizer, "name", child_path(site.path, "organizer")));
    }
    const json::value* image = item.if_contains("image");
    if (image != nullptr && image->is_string()) {
        record.image_url = non_empty(std::string(image->get_string()));
    } else if (image != nullptr && image->is_array() && !image->get_array().empty() &&
               image->get_array().front().is_string()) {
        record.image_url = std::string(image->get_array().front().get_string());
    }
    return record;
}

// Reads the event id; JSON-LD items carry it only in the event page URL.
std::optional<std::string> read_event_id(const json::object& item,
                                         event_form form,
                                         std::string_view path,
                                         const json_reader& reader) {
    if (form == event_form::json_ld) {
        if (const auto url = reader.string_at(item, "url", path)) {
            if (auto id = id_from_event_url(*url)) {
                return id;
            }
        }
    }
    return non_empty(reader.id_at(item, "id", path));
}

}  // namespace

event_form detect_event_form(const json::object& item) {
    if (item.contains("@type") || item.contains("@context")) {
        return event_form::json_ld;
    }
    const json::value* type = item.if_contains("_type");
    if ((type != nullptr && type->is_string() && type->get_string() == "destination_event") ||
        item.contains("start_date") || item.contains("eventbrite_event_id") ||
        item.contains("primary_venue_id")) {
        return event_form::destination_event;
    }
    const json::value* start = item.if_contains("start");
    if (start != nullptr && start->is_object()) {
        return event_form::v3_event;
    }
    return event_form::unknown;
}

std::optional<event_record> map_event(const json::value& item,
                                      std::string_view path,
                                      const json_reader& reader) {
    const json::object& object = reader.as_object(item, path);
    const event_form form = detect_event_form(object);
    if (form == event_form::unknown) {
        reader.fail(transform_failure::wrong_shape,
                    path,
                    "expected an event object (destination_event, v3 event or JSON-LD Event), "
                    "got an object without start_date, start or @type");
    }
    auto id = read_event_id(object, form, path, reader);
    if (!id) {
        reader.warn(fmt::format("{}: event without id skipped", path));
        return std::nullopt;
    }
    const event_site site{reader, std::string(path), *id};
    switch (form) {
        case event_form::destination_event:
            return map_destination_event(object, std::move(*id), site);
        case event_form::v3_event:
            return map_v3_event(object, std::move(*id), site);
        case event_form::json_ld:
            return map_json_ld_event(object, std::move(*id), site);
        case event_form::unknown:
            break;
    }
    return std::nullopt;
}

}  // namespace eventcrawl::pipeline::detail
