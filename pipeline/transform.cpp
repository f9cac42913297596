#include "pipeline/transform.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "pipeline/detail/event_mapping.hpp"
#include "pipeline/detail/json_reader.hpp"
#include "pipeline/detail/json_scan.hpp"
#include "pipeline/detail/transform_paths.hpp"

namespace eventcrawl::pipeline {

namespace json = boost::json;
using detail::child_path;
using detail::index_path;
using detail::json_reader;

namespace {

constexpr std::string_view server_data_name = "window.__SERVER_DATA__";
constexpr std::size_t max_logged_warnings = 3;

std::shared_ptr<spdlog::logger> logger() {
    if (auto existing = spdlog::get("pipeline")) {
        return existing;
    }
    try {
        return spdlog::stdout_color_mt("pipeline");
    } catch (const spdlog::spdlog_ex&) {
        // Another thread registered it between the two calls.
        return spdlog::get("pipeline");
    }
}

// Names a body in messages: the file path for imports, city and page for crawled pages.
std::string source_name(const raw_page& page) {
    if (page.source == page_source::file) {
        return page.url.empty() ? std::string("file") : page.url;
    }
    return fmt::format("city={} page={}", page.city_slug, page.page_number);
}

std::string_view trim_left(std::string_view text) {
    const std::size_t first = text.find_first_not_of(" \t\r\n\f\v");
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first);
}

bool looks_like_html(std::string_view body) {
    const std::string_view content = trim_left(body);
    return !content.empty() && content.front() == '<';
}

// Parses `text` into a value whose nodes live in `storage`.
json::value parse_json(std::string_view text,
                       std::string_view path,
                       const json_reader& reader,
                       json::storage_ptr storage) {
    // One parser per thread keeps its internal stack allocated from page to page.
    thread_local json::stream_parser parser({}, [] {
        json::parse_options options;
        // __SERVER_DATA__ nests deeper than Boost.JSON's default limit of 32.
        options.max_depth = 512;
        return options;
    }());
    parser.reset(std::move(storage));
    boost::system::error_code error;
    const std::size_t consumed = parser.write(text.data(), text.size(), error);
    if (!error) {
        parser.finish(error);
    }
    if (error) {
        parser.reset();
        reader.fail(transform_failure::invalid_json,
                    path,
                    fmt::format("invalid JSON at byte {} of {}: {}",
                                std::min(consumed, text.size()),
                                text.size(),
                                error.message()));
    }
    json::value root = parser.release();
    // Drop the parser's reference to `storage`, so the page's memory goes with the page.
    parser.reset();
    return root;
}

std::string extract_server_data_text(std::string_view html, const json_reader& reader) {
    const detail::object_assignment assignment =
        detail::find_object_assignment(html, server_data_name);
    if (assignment.status == detail::assignment_status::missing) {
        reader.fail(transform_failure::missing_server_data,
                    "",
                    "no window.__SERVER_DATA__ assignment found in the HTML, so this is not "
                    "a server-rendered listing page");
    }
    if (assignment.status == detail::assignment_status::no_value) {
        reader.fail(transform_failure::incomplete_server_data,
                    server_data_name,
                    "the assignment has no value before the script ends");
    }
    const std::size_t pos = assignment.value_begin;
    const detail::scan_result scan = detail::scan_json_value(html, pos);
    if (scan.status == detail::scan_status::complete) {
        return std::string(html.substr(pos, scan.end - pos));
    }
    reader.fail(
        transform_failure::incomplete_server_data,
        server_data_name,
        fmt::format("the object opened at byte {} is {} at byte {}, so the page was cut off",
                    pos,
                    scan.status == detail::scan_status::malformed ? "mismatched" : "unclosed",
                    scan.end));
}

// One event object inside the parsed body, with its JSON path for messages.
struct item_ref {
    const json::value* value = nullptr;
    std::string path;
};

// Event items and pagination object found in one body, pointing into the parsed `root`.
struct located_page {
    explicit located_page(json::storage_ptr page_storage)
        : storage(page_storage), root(std::move(page_storage)) {}

    // A monotonic resource: the tree is freed at once with the page, not node by node. The
    // root must use it from the start, because assigning a value from another resource
    // copies the whole tree.
    json::storage_ptr storage;
    json::value root;
    std::vector<item_ref> items;
    const json::object* pagination = nullptr;
    std::string pagination_path;
    bool dedupe_by_id = false;  // city-browse shelves repeat the same event
};

void add_array_items(located_page& located, const json::array& items, const std::string& path) {
    for (std::size_t i = 0; i < items.size(); ++i) {
        located.items.push_back({&items[i], index_path(path, i)});
    }
}

// Reads a search response's `events` object: {pagination, results[], ...}.
void locate_events_object(located_page& located,
                          const json::object& events,
                          const std::string& path,
                          const json_reader& reader) {
    const json::array* results = reader.array_at(events, "results", path);
    if (results == nullptr) {
        reader.fail(transform_failure::wrong_shape,
                    child_path(path, "results"),
                    "missing, expected the array of events");
    }
    add_array_items(located, *results, child_path(path, "results"));
    located.pagination = reader.object_at(events, "pagination", path);
    located.pagination_path = child_path(path, "pagination");
}

[[noreturn]] void fail_error_response(const json::object& root, const json_reader& reader) {
    std::string details;
    for (const auto& [key, value] : root) {
        if (value.is_string() || value.is_number()) {
            details += fmt::format(" {}={}", std::string_view(key), json::serialize(value));
        }
    }
    reader.fail(
        transform_failure::wrong_shape,
        "",
        fmt::format("expected Eventbrite event data, got an API error response:{}", details));
}

bool is_error_response(const json::object& root) {
    return root.contains("status_code") && root.contains("error");
}

// Reads window.__SERVER_DATA__ of an /all-events/ page (search_data.events) or of a
// city-browse page (buckets[].events[]).
void locate_server_data(located_page& located, std::string_view path, const json_reader& reader) {
    const json::object& blob = reader.as_object(located.root, path);
    const std::string base(path);
    bool found_events = false;
    if (const json::object* search = reader.object_at(blob, "search_data", base)) {
        const std::string search_path = child_path(base, "search_data");
        if (const json::object* events = reader.object_at(*search, "events", search_path)) {
            locate_events_object(located, *events, child_path(search_path, "events"), reader);
            found_events = true;
        }
    }
    if (!found_events) {
        if (const json::array* buckets = reader.array_at(blob, "buckets", base)) {
            const std::string buckets_path = child_path(base, "buckets");
            for (std::size_t i = 0; i < buckets->size(); ++i) {
                const std::string bucket_path = index_path(buckets_path, i);
                const json::object& bucket = reader.as_object((*buckets)[i], bucket_path);
                // Shelves such as "collection" and "trending_searches" carry no events.
                if (const json::array* events = reader.array_at(bucket, "events", bucket_path)) {
                    add_array_items(located, *events, child_path(bucket_path, "events"));
                }
            }
            located.dedupe_by_id = true;
            found_events = true;
        }
    }

    // A challenge page keeps the template but drops the place and the events.
    const bool has_place = blob.contains("placeId");
    if (!has_place && located.items.empty()) {
        reader.fail(transform_failure::bot_wall,
                    base,
                    "no placeId and no events, so the page looks like a bot-check interstitial");
    }
    if (!found_events) {
        reader.fail(transform_failure::wrong_shape,
                    base,
                    "expected search_data.events (all-events page) or buckets (city page)");
    }
}

void locate_html(located_page& located, std::string_view body, const json_reader& reader) {
    const std::string text = extract_server_data_text(body, reader);
    located.root = parse_json(text, server_data_name, reader, located.storage);
    locate_server_data(located, server_data_name, reader);
}

void locate_search_response(located_page& located,
                            const json::object& root,
                            const json_reader& reader) {
    if (const json::value* events = root.if_contains("events"); events != nullptr) {
        locate_events_object(located, reader.as_object(*events, "events"), "events", reader);
        return;
    }
    if (root.contains("results")) {
        locate_events_object(located, root, "", reader);
        return;
    }
    if (is_error_response(root)) {
        fail_error_response(root, reader);
    }
    reader.fail(transform_failure::wrong_shape,
                "",
                "expected a search response with events.results or results");
}

std::string describe_keys(const json::object& root) {
    std::string keys;
    std::size_t listed = 0;
    for (const auto& entry : root) {
        if (listed == 8) {
            keys += ", ...";
            break;
        }
        keys += listed == 0 ? "" : ", ";
        keys += std::string_view(entry.key());
        ++listed;
    }
    return keys.empty() ? std::string("no keys") : "keys " + keys;
}

// Detects the shape of a recorded JSON file from its keys.
void locate_file_json(located_page& located, const json_reader& reader) {
    if (located.root.is_array()) {
        add_array_items(located, located.root.get_array(), "");
        return;
    }
    const json::object& root = reader.as_object(located.root, "");
    if (const json::value* events = root.if_contains("events"); events != nullptr) {
        if (events->is_array()) {
            // Batch response of GET /api/v3/destination/events/.
            add_array_items(located, events->get_array(), "events");
            located.pagination = reader.object_at(root, "pagination", "");
            located.pagination_path = "pagination";
            return;
        }
        locate_events_object(located, reader.as_object(*events, "events"), "events", reader);
        return;
    }
    if (root.contains("results")) {
        locate_events_object(located, root, "", reader);
        return;
    }
    if (const json::array* list = reader.array_at(root, "event_list", "")) {
        add_array_items(located, *list, "event_list");
        return;
    }
    if (const json::object* suggestions = reader.object_at(root, "suggestions", "")) {
        if (const json::array* events = reader.array_at(*suggestions, "events", "suggestions")) {
            add_array_items(located, *events, "suggestions.events");
            return;
        }
    }
    if (root.contains("search_data") || root.contains("buckets")) {
        locate_server_data(located, "", reader);
        return;
    }
    if (is_error_response(root)) {
        fail_error_response(root, reader);
    }
    if (detail::detect_event_form(root) != detail::event_form::unknown) {
        located.items.push_back({&located.root, ""});
        return;
    }
    reader.fail(transform_failure::wrong_shape,
                "",
                fmt::format("no known Eventbrite shape (search response, results list, batch, "
                            "autocomplete, single event, JSON-LD or home view model) matches "
                            "an object with {}",
                            describe_keys(root)));
}

bool is_search_request(const json::value& value) {
    const json::object* object = value.if_object();
    if (object == nullptr) {
        return false;
    }
    if (const json::value* body = object->if_contains("body"); body != nullptr) {
        return is_search_request(*body);  // a recorded request: {url, headers, body}
    }
    return object->contains("event_search") && !object->contains("events") &&
           !object->contains("search_data");
}

// Recorded files may hold documents that carry no events by nature; they are reported as
// such rather than as malformed data.
void reject_non_event_document(const json::value& root, const json_reader& reader) {
    if (const json::object* object = root.if_object()) {
        if (is_error_response(*object)) {
            reader.fail(transform_failure::no_event_data,
                        "",
                        fmt::format("an Eventbrite API error response (status_code {}, error "
                                    "{}), which holds no events",
                                    json::serialize(object->at("status_code")),
                                    json::serialize(object->at("error"))));
        }
    }
    bool request = is_search_request(root);
    if (const json::array* list = root.if_array(); list != nullptr && !list->empty()) {
        request = std::all_of(list->begin(), list->end(), is_search_request);
    }
    if (request) {
        reader.fail(transform_failure::no_event_data,
                    "",
                    "a search request body (event_search without events), which holds no events");
    }
}

located_page locate_page(const raw_page& page, const json_reader& reader) {
    // First block of the page's resource, sized by an estimate: a parsed tree takes about
    // twice the size of its text, and further blocks are added when it takes more.
    located_page located(
        json::make_shared_resource<json::monotonic_resource>(page.body.size() * 2));
    const std::string_view body = page.body;
    if (trim_left(body).empty()) {
        reader.fail(transform_failure::invalid_json, "", "the body is empty");
    }
    switch (page.source) {
        case page_source::listing_html:
            if ((page.http_status == 403 || page.http_status == 429) &&
                body.find(server_data_name) == std::string_view::npos) {
                reader.fail(transform_failure::bot_wall,
                            "",
                            fmt::format("HTTP {} page without server data", page.http_status));
            }
            locate_html(located, body, reader);
            break;
        case page_source::search_xhr:
            if (looks_like_html(body)) {
                reader.fail(transform_failure::bot_wall,
                            "",
                            fmt::format("expected a JSON search response, got HTML (HTTP {})",
                                        page.http_status));
            }
            located.root = parse_json(body, "", reader, located.storage);
            locate_search_response(located, reader.as_object(located.root, ""), reader);
            break;
        case page_source::file:
            if (looks_like_html(body)) {
                if (body.find(server_data_name) == std::string_view::npos &&
                    body.find("data-event-id") != std::string_view::npos) {
                    reader.fail(transform_failure::no_event_data,
                                "",
                                "saved event-card HTML without window.__SERVER_DATA__; cards "
                                "are not read, save the whole listing page instead");
                }
                locate_html(located, body, reader);
            } else {
                located.root = parse_json(body, "", reader, located.storage);
                reject_non_event_document(located.root, reader);
                locate_file_json(located, reader);
            }
            break;
    }
    return located;
}

std::optional<int> read_small_int(const json::object& pagination,
                                  std::string_view key,
                                  std::string_view path,
                                  const json_reader& reader) {
    const auto value = reader.int_at(pagination, key, path);
    if (!value) {
        return std::nullopt;
    }
    if (*value < 0 || *value > std::numeric_limits<int>::max()) {
        reader.fail(
            transform_failure::wrong_shape,
            child_path(path, key),
            fmt::format(
                "expected a count from 0 to {}, got {}", std::numeric_limits<int>::max(), *value));
    }
    return static_cast<int>(*value);
}

page_facts read_facts(const located_page& located, const json_reader& reader) {
    page_facts facts;
    facts.result_count = located.items.size();
    if (located.pagination == nullptr) {
        return facts;
    }
    const json::object& pagination = *located.pagination;
    const std::string& path = located.pagination_path;
    facts.object_count = reader.int_at(pagination, "object_count", path);
    facts.page_count = read_small_int(pagination, "page_count", path, reader);
    facts.page_number = read_small_int(pagination, "page_number", path, reader);
    facts.page_size = read_small_int(pagination, "page_size", path, reader);
    facts.continuation = reader.string_at(pagination, "continuation", path);
    facts.has_more_items = reader.bool_at(pagination, "has_more_items", path);
    return facts;
}

void log_result(const std::string& source, const transform_output& output) {
    const auto log = logger();
    log->debug("Transformed page source=\"{}\" events={} results={} warnings={}",
               source,
               output.events.size(),
               output.facts.result_count,
               output.warnings.size());
    for (std::size_t i = 0; i < output.warnings.size() && i < max_logged_warnings; ++i) {
        log->warn("Event data problem: {}", output.warnings[i]);
    }
    if (output.warnings.size() > max_logged_warnings) {
        log->warn("Event data problems not logged source=\"{}\" count={}",
                  source,
                  output.warnings.size() - max_logged_warnings);
    }
}

}  // namespace

std::string extract_server_data(std::string_view html) {
    const json_reader reader("listing page", nullptr);
    return extract_server_data_text(html, reader);
}

page_facts read_page_facts(const raw_page& page) {
    if (std::optional<page_facts> facts = detail::stream_page_facts(page)) {
        return *facts;
    }
    return detail::dom_page_facts(page);
}

namespace detail {

page_facts dom_page_facts(const raw_page& page) {
    const json_reader reader(source_name(page), nullptr);
    const located_page located = locate_page(page, reader);
    return read_facts(located, reader);
}

transform_output dom_transform_page(const raw_page& page) {
    transform_output output;
    const json_reader reader(source_name(page), &output.warnings);
    const located_page located = locate_page(page, reader);
    output.facts = read_facts(located, reader);

    std::unordered_set<std::string> seen_ids;
    output.events.reserve(located.items.size());
    for (const item_ref& item : located.items) {
        auto record = detail::map_event(*item.value, item.path, reader);
        if (!record) {
            continue;
        }
        if (located.dedupe_by_id && !seen_ids.insert(record->id).second) {
            continue;
        }
        output.events.push_back(std::move(*record));
    }
    return output;
}

}  // namespace detail

namespace {

// Removes U+0000 from every text of the event, because PostgreSQL text cannot hold it and
// SQLite's JSON functions end a string there. A tag that then is empty or equals an earlier tag
// is dropped.
void remove_nul_characters(event_record& event) {
    const auto clean = [](std::string& text) { return std::erase(text, '\0') > 0; };
    // An optional text that held only NUL characters becomes absent, as an empty one is.
    const auto clean_optional = [&](std::optional<std::string>& text) {
        if (text && clean(*text) && text->empty()) {
            text.reset();
        }
    };
    clean(event.id);
    clean(event.name);
    for (std::optional<std::string>* text : {&event.summary,
                                             &event.url,
                                             &event.timezone,
                                             &event.start_local,
                                             &event.end_local,
                                             &event.start_utc,
                                             &event.end_utc,
                                             &event.venue_name,
                                             &event.address,
                                             &event.city,
                                             &event.region,
                                             &event.country,
                                             &event.currency,
                                             &event.organizer_name,
                                             &event.series_id,
                                             &event.image_url}) {
        clean_optional(*text);
    }

    bool tags_changed = false;
    for (std::string& tag : event.tags) {
        tags_changed = clean(tag) || tags_changed;
    }
    if (tags_changed) {
        std::vector<std::string> distinct;
        for (std::string& tag : event.tags) {
            if (!tag.empty() &&
                std::find(distinct.begin(), distinct.end(), tag) == distinct.end()) {
                distinct.push_back(std::move(tag));
            }
        }
        event.tags = std::move(distinct);
    }
}

}  // namespace

transform_output transform_page(const raw_page& page) {
    // The streaming path maps the common crawl bodies without a DOM. It declines everything
    // that needs the DOM path's shape detection, warnings or error messages.
    std::optional<transform_output> streamed = detail::stream_transform_page(page);
    transform_output output = streamed ? std::move(*streamed) : detail::dom_transform_page(page);
    for (event_record& event : output.events) {
        remove_nul_characters(event);
    }
    const auto without_id =
        std::erase_if(output.events, [](const event_record& event) { return event.id.empty(); });
    if (without_id > 0) {
        output.warnings.push_back(
            fmt::format("dropped {} events whose id held only NUL characters", without_id));
    }
    log_result(source_name(page), output);
    return output;
}

}  // namespace eventcrawl::pipeline
