#include "replay/synthetic.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string_view>

namespace eventcrawl::replay {

namespace json = boost::json;

namespace {

// splitmix64: a small generator whose output depends only on the seed, unlike the
// distributions of <random>, whose results may differ between standard libraries.
class random_source {
  public:
    explicit random_source(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t value = (state_ += 0x9E3779B97F4A7C15ULL);
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
        return value ^ (value >> 31);
    }

    // Uniform integer in [0, bound).
    std::uint64_t below(std::uint64_t bound) { return next() % bound; }

  private:
    std::uint64_t state_;
};

struct city_template {
    std::string_view region;
    std::string_view city_slug;
    std::string_view name;
    std::string_view country;
    std::string_view domain;
    std::string_view timezone;
    double latitude;
    double longitude;
};

constexpr std::array<city_template, 10> city_templates{{
    {"ny",
     "new-york",
     "New York",
     "US",
     "www.eventbrite.com",
     "America/New_York",
     40.7128,
     -74.006},
    {"ca",
     "san-francisco",
     "San Francisco",
     "US",
     "www.eventbrite.com",
     "America/Los_Angeles",
     37.7749,
     -122.4194},
    {"united-kingdom",
     "london",
     "London",
     "GB",
     "www.eventbrite.co.uk",
     "Europe/London",
     51.5072,
     -0.1276},
    {"germany", "berlin", "Berlin", "DE", "www.eventbrite.de", "Europe/Berlin", 52.52, 13.405},
    {"japan", "tokyo", "Tokyo", "JP", "www.eventbrite.com", "Asia/Tokyo", 35.6762, 139.6503},
    {"australia",
     "sydney",
     "Sydney",
     "AU",
     "www.eventbrite.com.au",
     "Australia/Sydney",
     -33.8688,
     151.2093},
    {"kuwait",
     "kuwait-city",
     "Kuwait City",
     "KW",
     "www.eventbrite.com",
     "Asia/Kuwait",
     29.3759,
     47.9774},
    {"new-zealand",
     "auckland",
     "Auckland",
     "NZ",
     "www.eventbrite.co.nz",
     "Pacific/Auckland",
     -36.8485,
     174.7633},
    {"ireland", "dublin", "Dublin", "IE", "www.eventbrite.ie", "Europe/Dublin", 53.3498, -6.2603},
    {"chile",
     "santiago",
     "Santiago",
     "CL",
     "www.eventbrite.com",
     "America/Santiago",
     -33.4489,
     -70.6693},
}};

// Twenty IANA zones; every event takes one of them.
constexpr std::array<std::string_view, 20> zones{
    "America/New_York",  "America/Chicago",  "America/Denver",   "America/Los_Angeles",
    "America/Sao_Paulo", "America/Santiago", "America/St_Johns", "Europe/London",
    "Europe/Berlin",     "Europe/Dublin",    "Australia/Sydney", "Australia/Lord_Howe",
    "Pacific/Auckland",  "Africa/Cairo",     "Asia/Tokyo",       "Asia/Kolkata",
    "Asia/Kathmandu",    "Asia/Ho_Chi_Minh", "Asia/Kuwait",      "Asia/Singapore"};

// Local wall-clock times that do not exist (spring-forward gap) or exist twice (fall-back
// overlap) in 2027, from the tz database (tzdata 2026f).
struct dst_edge {
    std::string_view zone;
    std::string_view gap_date;
    std::string_view gap_time;
    std::string_view overlap_date;
    std::string_view overlap_time;
};

constexpr std::array<dst_edge, 8> dst_edges{{
    {"America/New_York", "2027-03-14", "02:30", "2027-11-07", "01:30"},
    {"America/Los_Angeles", "2027-03-14", "02:30", "2027-11-07", "01:30"},
    {"Europe/Berlin", "2027-03-28", "02:30", "2027-10-31", "02:30"},
    {"Europe/London", "2027-03-28", "01:30", "2027-10-31", "01:30"},
    {"Australia/Sydney", "2027-10-03", "02:30", "2027-04-04", "02:30"},
    {"Pacific/Auckland", "2027-09-26", "02:30", "2027-04-04", "02:30"},
    {"Australia/Lord_Howe", "2027-10-03", "02:15", "2027-04-04", "01:45"},
    {"America/Santiago", "2027-09-05", "00:30", "2027-04-03", "23:30"},
}};

struct currency_info {
    std::string_view code;
    int decimals;
};

constexpr std::array<currency_info, 6> currencies{
    {{"USD", 2}, {"EUR", 2}, {"GBP", 2}, {"AUD", 2}, {"JPY", 0}, {"KWD", 3}}};

constexpr std::array<std::string_view, 7> url_hosts{"www.eventbrite.com",
                                                    "www.eventbrite.co.uk",
                                                    "www.eventbrite.ca",
                                                    "www.eventbrite.ie",
                                                    "www.eventbrite.com.au",
                                                    "www.eventbrite.de",
                                                    "www.eventbrite.sg"};

constexpr std::array<std::string_view, 8> plain_names{"Sunset Rooftop Jazz",
                                                      "Founders Breakfast Meetup",
                                                      "Intro to Pottery Workshop",
                                                      "Harbour Night Market",
                                                      "Data Engineering Meetup",
                                                      "Salsa Social Night",
                                                      "Comedy Open Mic",
                                                      "Vintage Vinyl Fair"};

// Names with accents, CJK, Vietnamese, German and an emoji outside the BMP.
constexpr std::array<std::string_view, 5> unicode_names{"Café Crème Tasting — Après-midi",
                                                        "東京ジャズ・セッション 2027",
                                                        "Đêm nhạc Trịnh Công Sơn",
                                                        "Ölfest Übersee 🍺",
                                                        "Fiesta de Año Nuevo «Ñandú»"};

constexpr std::array<std::string_view, 4> organizer_tags{"OrganizerTag/đánh_thức_sự_giàu_có",
                                                         "OrganizerTag/networking",
                                                         "OrganizerTag/日本酒",
                                                         "OrganizerTag/live_music"};

struct event_context {
    int city_index;
    const city_template* place;
    std::string_view domain;
};

std::string format_date(std::chrono::year_month_day date) {
    return fmt::format("{:04}-{:02}-{:02}",
                       static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()),
                       static_cast<unsigned>(date.day()));
}

std::chrono::year_month_day add_days(std::chrono::year_month_day date, int days) {
    return std::chrono::year_month_day(std::chrono::sys_days(date) + std::chrono::days(days));
}

json::value price(const currency_info& currency, std::int64_t minor_units) {
    std::int64_t scale = 1;
    for (int digit = 0; digit < currency.decimals; ++digit) {
        scale *= 10;
    }
    std::string major = std::to_string(minor_units / scale);
    if (currency.decimals > 0) {
        major += fmt::format(".{:0{}}", minor_units % scale, currency.decimals);
    }
    json::object object;
    object["currency"] = currency.code;
    object["major_value"] = major;
    object["value"] = minor_units;
    object["display"] = fmt::format("{} {}", major, currency.code);
    return object;
}

// Minor units of a price between 5 and 200 major units of `currency`.
std::int64_t random_price(random_source& random, const currency_info& currency) {
    std::int64_t scale = 1;
    for (int digit = 0; digit < currency.decimals; ++digit) {
        scale *= 10;
    }
    const std::int64_t major = 5 + static_cast<std::int64_t>(random.below(196));
    const std::int64_t cents =
        currency.decimals == 0 ? 0 : static_cast<std::int64_t>(random.below(4)) * 25;
    return currency.decimals == 0 ? major * 100 : major * scale + cents * scale / 100;
}

json::object ticket_availability(random_source& random, int index) {
    const currency_info& currency = currencies[static_cast<std::size_t>((index / 2) % 6)];
    json::object tickets;
    const int price_kind = index % 6;
    const bool sold_out = index % 23 == 9;
    tickets["has_available_tickets"] = !sold_out;
    if (price_kind == 1) {
        // Paid flag with no price objects at all.
        tickets["minimum_ticket_price"] = nullptr;
        tickets["maximum_ticket_price"] = nullptr;
        tickets["is_free"] = false;
    } else if (price_kind == 2) {
        tickets["minimum_ticket_price"] = price(currency, 0);
        tickets["maximum_ticket_price"] = price(currency, 0);
        tickets["is_free"] = true;
    } else if (price_kind == 3) {
        // A free tier next to paid tiers.
        tickets["minimum_ticket_price"] = price(currency, 0);
        tickets["maximum_ticket_price"] = price(currency, random_price(random, currency));
        tickets["is_free"] = false;
    } else {
        const std::int64_t low = random_price(random, currency);
        const std::int64_t high = price_kind == 4 ? low : low + random_price(random, currency);
        tickets["minimum_ticket_price"] = price(currency, low);
        tickets["maximum_ticket_price"] = price(currency, high);
        tickets["is_free"] = false;
    }
    tickets["is_sold_out"] = sold_out;
    tickets["has_bogo_tickets"] = false;
    return tickets;
}

// A coordinate as the site sends it: a string, for some events with binary float noise.
std::string coordinate(random_source& random, double base, int index) {
    const double value = base + (static_cast<double>(random.below(20001)) - 10000.0) * 1e-5;
    if (index % 4 == 0) {
        return fmt::format("{:.14f}", value + 1e-15);
    }
    return fmt::format("{:.7f}", value);
}

json::object venue(random_source& random, const event_context& context, int index, std::string id) {
    const city_template& place = *context.place;
    json::object address;
    const std::string street = fmt::format("{} Market Street", 1 + random.below(900));
    address["address_1"] = street;
    address["address_2"] = index % 10 == 0 ? "Level 2" : "";
    address["city"] = place.name;
    address["region"] = index % 11 == 5 ? std::string_view{} : place.region;
    if (index % 7 != 3) {
        address["postal_code"] = fmt::format("{:05}", random.below(100000));
    }
    address["country"] = place.country;
    address["latitude"] = coordinate(random, place.latitude, index);
    address["longitude"] = coordinate(random, place.longitude, index);
    address["localized_address_display"] = fmt::format("{}, {}", street, place.name);
    address["localized_area_display"] = place.name;
    address["localized_multi_line_address_display"] =
        json::array{json::value(street), json::value(place.name)};

    json::object result;
    result["_type"] = "destination_venue";
    result["id"] = std::move(id);
    result["name"] = fmt::format("{} Hall {}", place.name, 1 + index % 5);
    result["venue_profile_id"] = nullptr;
    result["venue_profile_url"] = "";
    result["address"] = std::move(address);
    return result;
}

json::array tags(int index) {
    const int category = 101 + index % 20;
    json::array result;
    json::object subcategory;
    subcategory["prefix"] = "EventbriteSubCategory";
    subcategory["tag"] = fmt::format("EventbriteSubCategory/{}", category * 10 + 1);
    subcategory["display_name"] = "Other";
    result.push_back(std::move(subcategory));

    json::object localized;
    localized["display_name"] = "Music";
    json::object main_category;
    main_category["prefix"] = "EventbriteCategory";
    main_category["tag"] = fmt::format("EventbriteCategory/{}", category);
    main_category["display_name"] = "Music";
    main_category["localized"] = std::move(localized);
    result.push_back(std::move(main_category));

    json::object format_tag;
    format_tag["prefix"] = "EventbriteFormat";
    format_tag["tag"] = fmt::format("EventbriteFormat/{}", 1 + index % 19);
    format_tag["display_name"] = "Party or Social Gathering";
    result.push_back(std::move(format_tag));

    if (index % 4 == 0) {
        const std::string_view tag = organizer_tags[static_cast<std::size_t>((index / 4) % 4)];
        json::object organizer_tag;
        organizer_tag["_type"] = "tag";
        organizer_tag["prefix"] = "OrganizerTag";
        organizer_tag["tag"] = tag;
        organizer_tag["display_name"] = tag.substr(tag.find('/') + 1);
        result.push_back(std::move(organizer_tag));
    }
    return result;
}

json::object image(random_source& random, int index, std::string id) {
    json::object original;
    original["url"] = fmt::format("https://img.evbuc.com/original/{}.jpg", id);
    original["width"] = 2160;
    original["height"] = 1080;
    json::object result;
    result["id"] = id;
    result["url"] = fmt::format("https://img.evbuc.com/crop/{}.jpg", id);
    result["original"] = std::move(original);
    result["crop_mask"] = nullptr;
    if (index % 3 == 0) {
        result["aspect_ratio"] = 2;
    } else {
        result["aspect_ratio"] = index % 3 == 1 ? "2" : "1.905";
    }
    result["focal_point"] = nullptr;
    result["edge_color"] = random.below(2) == 0 ? json::value(nullptr) : json::value("#2d2d2d");
    result["edge_color_set"] = true;
    return result;
}

json::object organizer(random_source& random, int index, std::string_view host) {
    const std::string id = fmt::format("{}", 30000000000ULL + random.below(1000000000ULL));
    json::object result;
    result["_type"] = "destination_profile";
    result["id"] = id;
    result["name"] = fmt::format("Organizer {}", index % 37);
    result["url"] = fmt::format("https://{}/o/organizer-{}", host, id);
    result["profile_type"] = "organizer";
    result["summary"] = index % 5 == 0 ? json::value(nullptr) : json::value("We host events...");
    result["num_followers"] = random.below(5000);
    result["website_url"] = "";
    result["facebook"] = "";
    result["twitter"] = "";
    result["image_id"] = nullptr;
    result["num_upcoming_events"] = nullptr;
    return result;
}

std::string event_name(random_source& random, int index) {
    if (index % 30 == 11) {
        return "</script><script>alert(\"x\")</script> Launch Party";
    }
    if (index % 8 == 2) {
        return std::string(unicode_names[static_cast<std::size_t>((index / 8) % 5)]);
    }
    return std::string(plain_names[random.below(plain_names.size())]);
}

std::string event_summary(int index) {
    if (index % 10 == 3) {
        return "Doors at 7. </script><!-- a summary that would close a script tag -->";
    }
    if (index % 15 == 8) {
        return "Line one\u2028line two\u2029paragraph two & more <b>bold</b>";
    }
    return "Join us for an evening of music, food and new friends.";
}

struct event_times {
    std::string start_date;
    std::string start_time;
    std::string end_date;
    std::string end_time;
    std::string_view timezone;
};

event_times times_for(random_source& random, const event_context& context, int index) {
    event_times times;
    times.timezone = zones[static_cast<std::size_t>((index * 7 + context.city_index) % 20)];
    const dst_edge& edge = dst_edges[static_cast<std::size_t>((index / 25) % 8)];
    if (index % 25 == 7) {
        // Starts at a local time that the spring-forward transition skips.
        times.timezone = edge.zone;
        times.start_date = edge.gap_date;
        times.start_time = edge.gap_time;
        times.end_date = edge.gap_date;
        times.end_time = "05:00";
        return times;
    }
    if (index % 25 == 19) {
        // Starts at a local time that occurs twice because of the fall-back transition.
        times.timezone = edge.zone;
        times.start_date = edge.overlap_date;
        times.start_time = edge.overlap_time;
        times.end_date = edge.overlap_date;
        times.end_time = "23:59";
        return times;
    }

    using namespace std::chrono;
    const year_month_day base{year{2027}, January, day{4}};
    const year_month_day start = add_days(base, index * 2 + static_cast<int>(random.below(3)));
    times.start_date = format_date(start);
    if (index % 9 == 4) {
        // Overnight: ends after midnight on the next date.
        times.start_time = "22:00";
        times.end_date = format_date(add_days(start, 1));
        times.end_time = index % 2 == 0 ? "03:00" : "00:00";
        return times;
    }
    const int hour = 9 + static_cast<int>(random.below(13));
    const int minute = random.below(2) == 0 ? 0 : 30;
    times.start_time = fmt::format("{:02}:{:02}", hour, minute);
    if (index % 13 == 6) {
        times.end_date = format_date(add_days(start, 2 + static_cast<int>(random.below(4))));
        times.end_time = "17:00";
        return times;
    }
    times.end_date = times.start_date;
    const int end_hour = hour + 2 + static_cast<int>(random.below(2));
    times.end_time = end_hour > 23 ? "23:30" : fmt::format("{:02}:{:02}", end_hour, minute);
    return times;
}

json::object make_event(random_source& random, const event_context& context, int index) {
    const std::string id = fmt::format("7{:03}{:08}", context.city_index, index);
    const std::string_view host =
        url_hosts[static_cast<std::size_t>((index + context.city_index) % 7)];
    const bool online = index % 5 == 1;
    const std::string name = event_name(random, index);
    const event_times times = times_for(random, context, index);
    const bool series_child = index % 12 >= 8 && index % 12 <= 10;

    json::object event;
    event["_type"] = "destination_event";
    event["id"] = id;
    event["eid"] = id;
    event["eventbrite_event_id"] = id;
    event["name"] = name;
    event["summary"] = event_summary(index);
    event["full_description"] = nullptr;
    event["url"] = fmt::format("https://{}/e/event-tickets-{}?aff=ebdssbdestsearch", host, id);
    event["tickets_url"] = fmt::format("https://www.eventbrite.com/checkout-external?eid={}", id);
    event["tickets_by"] = "Eventbrite";
    event["checkout_flow"] = "widget";
    event["language"] = host.ends_with(".de") ? "de-de" : "en-us";
    event["timezone"] = times.timezone;
    event["start_date"] = times.start_date;
    event["start_time"] = times.start_time;
    event["end_date"] = times.end_date;
    event["end_time"] = times.end_time;
    event["hide_start_date"] = false;
    event["hide_end_date"] = index % 9 == 4;
    event["published"] = fmt::format("2026-11-{:02}T12:00:00Z", 1 + index % 28);
    event["is_online_event"] = online;
    event["is_cancelled"] = nullptr;
    event["is_protected_event"] = false;
    if (series_child) {
        const std::string series_id = fmt::format("8{:03}{:08}", context.city_index, index / 12);
        event["series_id"] = series_id;
        event["parent_url"] =
            fmt::format("https://www.eventbrite.com/e/series-tickets-{}", series_id);
        event["num_children"] = 3;
    } else {
        event["series_id"] = nullptr;
        event["parent_url"] = nullptr;
        event["num_children"] = nullptr;
    }
    json::object dedup;
    dedup["count"] = 1;
    dedup["hash"] = fmt::format("{:016x}", random.next());
    event["dedup"] = std::move(dedup);
    event["debug_info"] = json::object();
    json::object urgency;
    urgency["messages"] = json::array();
    urgency["categories"] = index % 6 == 0 ? json::array{json::value("popular")} : json::array();
    event["urgency_signals"] = std::move(urgency);
    const std::string image_id = fmt::format("{}", 900000000 + index);
    event["image_id"] = image_id;
    event["image"] = image(random, index, image_id);
    event["tags"] = tags(index);
    if (online) {
        event["primary_venue_id"] = nullptr;
    } else {
        const std::string venue_id =
            fmt::format("{}", 200000000 + context.city_index * 1000 + index % 50);
        event["primary_venue_id"] = venue_id;
        event["primary_venue"] = venue(random, context, index, venue_id);
    }
    json::object organizer_object = organizer(random, index, host);
    event["primary_organizer_id"] = organizer_object["id"];
    event["primary_organizer"] = std::move(organizer_object);
    event["ticket_availability"] = ticket_availability(random, index);
    json::object sales;
    sales["_type"] = "event_sales_status";
    sales["sales_status"] = index % 23 == 9 ? "sold_out" : "on_sale";
    event["event_sales_status"] = std::move(sales);
    event["saves"] = json::object();
    event["public_collections"] = json::object();
    return event;
}

city make_city(random_source& random, int city_index, int pages) {
    const city_template& place =
        city_templates[static_cast<std::size_t>(city_index) % city_templates.size()];
    const int round = city_index / static_cast<int>(city_templates.size());
    city result;
    result.slug = round == 0 ? fmt::format("{}--{}", place.region, place.city_slug)
                             : fmt::format("{}--{}-{}", place.region, place.city_slug, round + 1);
    result.name =
        round == 0 ? std::string(place.name) : fmt::format("{} {}", place.name, round + 1);
    result.country = place.country;
    result.domain = place.domain;
    result.place_id = synthetic_place_id(result.slug);
    result.latitude = place.latitude;
    result.longitude = place.longitude;
    result.timezone = place.timezone;
    result.pagination =
        city_index % 2 == 0 ? pagination_style::full : pagination_style::continuation;
    result.has_results = true;

    const event_context context{city_index, &place, place.domain};
    int index = 0;
    for (int page = 1; page <= pages; ++page) {
        for (int slot = 0; slot < synthetic_page_size; ++slot) {
            if (page % 2 == 0 && slot == 0) {
                // The last event of the previous page shows up again, as on the live site.
                result.results.push_back(result.results.back());
                continue;
            }
            result.results.push_back(make_event(random, context, index));
            ++index;
        }
    }
    return result;
}

std::string yaml_quote(std::string_view text) {
    std::string quoted = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            quoted += '\\';
        }
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

void write_text(const std::filesystem::path& path, std::string_view text) {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(text.data(), static_cast<std::streamsize>(text.size()));
    stream.close();
    if (!stream) {
        throw corpus_error(
            fmt::format("{}: writing the file failed; check the folder exists and "
                        "is writable",
                        path.string()));
    }
}

}  // namespace

corpus generate_corpus(const synthetic_options& options) {
    if (options.cities < 1 || options.pages < 1) {
        throw std::invalid_argument(
            fmt::format("synthetic corpus needs at least 1 city and 1 "
                        "page, got cities={} pages={}",
                        options.cities,
                        options.pages));
    }
    corpus result;
    for (int city_index = 0; city_index < options.cities; ++city_index) {
        random_source random(options.seed * 1000003ULL + static_cast<std::uint64_t>(city_index));
        result.cities.push_back(make_city(random, city_index, options.pages));
    }
    return result;
}

void write_corpus(const corpus& corpus, const std::filesystem::path& directory) {
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error) {
        throw corpus_error(
            fmt::format("{}: cannot create the folder: {}", directory.string(), error.message()));
    }
    std::string yaml = "cities:\n";
    for (const city& city : corpus.cities) {
        yaml += fmt::format("  - slug: {}\n", city.slug);
        yaml += fmt::format("    name: {}\n", yaml_quote(city.name));
        yaml += fmt::format("    country: {}\n", city.country);
        yaml += fmt::format("    domain: {}\n", city.domain);
        if (!city.place_id_synthetic) {
            yaml += fmt::format("    place_id: {}\n", yaml_quote(city.place_id));
        }
        if (city.latitude && city.longitude) {
            yaml += fmt::format("    latitude: {}\n", *city.latitude);
            yaml += fmt::format("    longitude: {}\n", *city.longitude);
        }
        if (!city.timezone.empty()) {
            yaml += fmt::format("    timezone: {}\n", city.timezone);
        }
        yaml += fmt::format("    pagination: {}\n",
                            city.pagination == pagination_style::full ? "full" : "continuation");

        const auto folder = directory / city.slug;
        std::filesystem::create_directories(folder, error);
        if (error) {
            throw corpus_error(
                fmt::format("{}: cannot create the folder: {}", folder.string(), error.message()));
        }
        if (city.has_results) {
            write_text(folder / "results.json", json::serialize(city.results) + "\n");
        } else {
            for (std::size_t page = 0; page < city.recorded_bodies.size(); ++page) {
                write_text(folder / fmt::format("search-page-{}.json", page + 1),
                           city.recorded_bodies[page]);
            }
        }
    }
    write_text(directory / "cities.yaml", yaml);
}

}  // namespace eventcrawl::replay
