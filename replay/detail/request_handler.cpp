#include "replay/detail/request_handler.hpp"

#include <fmt/format.h>

#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <string_view>

#include "replay/detail/fault_engine.hpp"
#include "replay/detail/listing_page.hpp"
#include "replay/detail/logger.hpp"
#include "replay/query.hpp"

namespace eventcrawl::replay::detail {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view csrf_failed_body =
    R"({"status_code":401,"error_description":"CSRF Failed: CSRF token missing or incorrect.","error":"ACCESS_DENIED"})";

constexpr std::array<std::string_view, 4> allowed_top_level_keys{
    "browse_surface", "event_search", "expand.destination_event", "debug_experiment_overrides"};

// Keys of event_search the live site accepts; anything else is rejected with 400.
constexpr std::array<std::string_view, 21> allowed_event_search_keys{"dates",
                                                                     "date_range",
                                                                     "places",
                                                                     "point_radius",
                                                                     "bbox",
                                                                     "q",
                                                                     "price",
                                                                     "tags",
                                                                     "sort",
                                                                     "page",
                                                                     "page_size",
                                                                     "dedup",
                                                                     "online_events_only",
                                                                     "client_timezone",
                                                                     "include_promoted_events_for",
                                                                     "languages",
                                                                     "currencies",
                                                                     "aggs",
                                                                     "image",
                                                                     "continuation",
                                                                     "special_event_categories"};

enum class endpoint_kind { listing, search, static_file, other };

http_response make_response(const http_request& request,
                            http::status status,
                            std::string_view content_type,
                            std::string body) {
    http_response response{status, request.version()};
    response.set(http::field::server, "eventbrite-replay");
    response.set(http::field::content_type, content_type);
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

http_response json_error(const http_request& request,
                         http::status status,
                         std::string_view field,
                         std::string_view problem) {
    json::object detail;
    detail[field] = json::array{json::value(problem)};
    json::object errors;
    errors["ARGUMENTS_ERROR"] = std::move(detail);
    json::object body;
    body["status_code"] = static_cast<int>(status);
    body["error"] = "ARGUMENTS_ERROR";
    body["error_description"] =
        fmt::format("There are errors with your arguments: {} - {}", field, problem);
    body["error_detail"] = std::move(errors);
    return make_response(request, status, "application/json", json::serialize(body));
}

bool is_valid_csrf_token(std::string_view token) {
    if (token.size() != 32) {
        return false;
    }
    for (const char c : token) {
        const bool alphanumeric =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alphanumeric) {
            return false;
        }
    }
    return true;
}

std::string cookie_value(const http_request& request, std::string_view name) {
    const auto header = request.find(http::field::cookie);
    if (header == request.end()) {
        return {};
    }
    std::string_view rest = header->value();
    while (!rest.empty()) {
        const auto end = rest.find(';');
        std::string_view pair = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        while (!pair.empty() && pair.front() == ' ') {
            pair.remove_prefix(1);
        }
        const auto equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            return std::string(pair.substr(equals + 1));
        }
    }
    return {};
}

std::string new_csrf_token(server_state& state) {
    static constexpr std::string_view alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string token;
    for (int index = 0; index < 32; ++index) {
        token += alphabet[pick(state.random)];
    }
    return token;
}

endpoint_kind classify(std::string_view method, std::string_view path) {
    if (method == "GET" && path.starts_with("/d/")) {
        return endpoint_kind::listing;
    }
    if (path == "/api/v3/destination/search/" || path == "/api/v3/destination/search") {
        return endpoint_kind::search;
    }
    constexpr std::array<std::string_view, 11> static_suffixes{
        ".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".woff", ".woff2"};
    if (path.starts_with("/static/")) {
        return endpoint_kind::static_file;
    }
    for (const auto suffix : static_suffixes) {
        if (path.ends_with(suffix)) {
            return endpoint_kind::static_file;
        }
    }
    return endpoint_kind::other;
}

// Length of a stall whose rule gives no delay_ms.
constexpr std::chrono::milliseconds default_stall{60000};

// Builds the reply of a fault that replaces the response; nullopt for kinds that change
// or slow the normal response instead (no_place_id, truncated_*, empty_results,
// capped_pages, stall).
std::optional<reply> fault_reply(const http_request& request, const fault_rule& rule) {
    reply result;
    switch (rule.kind) {
        case fault_kind::status: {
            result.response = make_response(request,
                                            static_cast<http::status>(rule.status),
                                            "text/html; charset=utf-8",
                                            render_whoops_page(rule.status));
            if (rule.retry_after_seconds) {
                result.response.set(http::field::retry_after,
                                    std::to_string(*rule.retry_after_seconds));
            }
            return result;
        }
        case fault_kind::html_instead_of_json:
            result.response = make_response(
                request, http::status::ok, "text/html; charset=utf-8", render_interstitial_page());
            return result;
        case fault_kind::blocked:
            result.response = make_response(request,
                                            http::status::forbidden,
                                            "text/html; charset=utf-8",
                                            render_blocked_page());
            return result;
        case fault_kind::drop_connection:
            result.drop_connection = true;
            return result;
        case fault_kind::reset:
            result.reset_connection = true;
            return result;
        default:
            return std::nullopt;
    }
}

int page_from_query(const boost::urls::url_view& url) {
    const auto params = url.params();
    const auto found = params.find("page");
    if (found == params.end() || !(*found).has_value) {
        return 1;
    }
    const std::string text = (*found).value;
    if (text.empty() || text.size() > 6 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
        return 1;
    }
    return std::max(1, std::stoi(text));
}

std::string_view listing_slug(std::string_view path) {
    // /d/<slug>/all-events/ with or without the trailing slash.
    constexpr std::string_view prefix = "/d/";
    std::string_view rest = path.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
        return {};
    }
    std::string_view tail = rest.substr(slash);
    if (tail != "/all-events/" && tail != "/all-events") {
        return {};
    }
    return rest.substr(0, slash);
}

// Faults and jitter of one request, decided when the request arrives.
struct request_faults {
    fault_match match;
    std::chrono::milliseconds jitter{0};

    std::chrono::milliseconds delay() const { return match.delay + jitter; }
    // Kind of the rule that decides the response; fault_kind::delay when none does.
    fault_kind action_kind() const {
        return match.action != nullptr ? match.action->kind : fault_kind::delay;
    }
};

request_faults check_faults(server_state& state,
                            const city* city,
                            const request_identity& identity) {
    const std::uint64_t attempt = count_attempt(state, identity);
    request_faults faults;
    faults.match = match_faults(state, city, identity, attempt);
    faults.jitter = jitter_for(state, identity, attempt);
    return faults;
}

// The result cap, and the body changes of an empty_results or capped_pages fault.
event_query query_for(const server_state& state, const fault_match& fault) {
    event_query query;
    query.result_cap = state.options.result_cap;
    if (fault.action != nullptr && fault.action->kind == fault_kind::empty_results) {
        query.empty_results = true;
    }
    if (fault.action != nullptr && fault.action->kind == fault_kind::capped_pages) {
        query.page_cap = fault.action->page_count.value_or(0);
    }
    return query;
}

// Marks the reply of a stall fault; other replies are left as they are.
void apply_stall(reply& result, const request_faults& faults) {
    if (faults.action_kind() == fault_kind::stall) {
        const int stall_ms = faults.match.action->delay_ms;
        result.stall = stall_ms > 0 ? std::chrono::milliseconds(stall_ms) : default_stall;
    }
}

// Reads start_date and end_date of a listing URL. Returns false when only one is given or
// either is not a valid date.
bool read_listing_window(const boost::urls::url_view& url, std::optional<date_window>& window) {
    const auto params = url.params();
    const auto start = params.find("start_date");
    const auto end = params.find("end_date");
    if (start == params.end() && end == params.end()) {
        return true;
    }
    if (start == params.end() || end == params.end()) {
        return false;
    }
    window = parse_date_window((*start).value, (*end).value);
    return window.has_value();
}

reply handle_listing(server_state& state,
                     const http_request& request,
                     const boost::urls::url_view& url) {
    const std::string path = url.path();
    const std::string_view slug = listing_slug(path);
    const city* city = state.corpus.find_by_slug(slug);
    if (city == nullptr) {
        ++state.counters.other;
        reply result;
        result.response = make_response(request,
                                        http::status::not_found,
                                        "text/html; charset=utf-8",
                                        render_not_found_page(path));
        return result;
    }
    ++state.counters.listing;
    const int page = page_from_query(url);

    std::optional<date_window> window;
    if (!read_listing_window(url, window)) {
        logger()->info("Listing rejected status=400 city={} reason=date_window", city->slug);
        reply result;
        result.response = make_response(request,
                                        http::status::bad_request,
                                        "text/html; charset=utf-8",
                                        render_whoops_page(400));
        return result;
    }

    std::string token = cookie_value(request, "csrftoken");
    if (!is_valid_csrf_token(token)) {
        token = new_csrf_token(state);
    }
    state.counters.csrf_tokens.insert(token);

    const request_faults faults =
        check_faults(state, city, request_identity{fault_endpoint::listing, city->slug, page, {}});
    const fault_match& fault = faults.match;
    blob_form form = blob_form::normal;
    if (fault.action != nullptr) {
        if (auto replaced = fault_reply(request, *fault.action)) {
            replaced->delay = faults.delay();
            return std::move(*replaced);
        }
        if (fault.action->kind == fault_kind::no_place_id) {
            form = blob_form::without_place_id;
        } else if (fault.action->kind == fault_kind::truncated_server_data) {
            form = blob_form::truncated;
        }
    }
    event_query query = query_for(state, fault);
    query.window = std::move(window);

    ++state.counters.pages_by_city[city->slug].listing;
    reply result;
    result.delay = faults.delay();
    result.response = make_response(request,
                                    http::status::ok,
                                    "text/html; charset=utf-8",
                                    render_listing_page(*city, page, token, form, query));
    result.response.set(http::field::set_cookie,
                        fmt::format("csrftoken={}; Path=/; SameSite=Lax", token));
    apply_stall(result, faults);
    return result;
}

// A validated search request: place id, page and the event_search object to echo.
struct search_arguments {
    std::string place_id;
    int page = 1;
    json::object event_search;
    std::optional<date_window> window;  // from event_search.date_range
};

bool asks_custom_date(const json::object& event_search) {
    const json::value* dates = event_search.if_contains("dates");
    if (dates == nullptr) {
        return false;
    }
    if (dates->is_string()) {
        return dates->as_string() == "custom_date";
    }
    if (dates->is_array()) {
        for (const json::value& item : dates->as_array()) {
            if (item.is_string() && item.as_string() == "custom_date") {
                return true;
            }
        }
    }
    return false;
}

// Reads event_search.date_range; nullopt in `window` when the request has none. Returns
// false when the range is invalid, or missing although dates is custom_date.
bool read_search_window(const json::object& event_search, std::optional<date_window>& window) {
    const json::value* range = event_search.if_contains("date_range");
    if (range == nullptr) {
        return !asks_custom_date(event_search);
    }
    const json::object* bounds = range->if_object();
    const json::value* from = bounds ? bounds->if_contains("from") : nullptr;
    const json::value* to = bounds ? bounds->if_contains("to") : nullptr;
    if (from == nullptr || to == nullptr || !from->is_string() || !to->is_string()) {
        return false;
    }
    window = parse_date_window(from->as_string(), to->as_string());
    return window.has_value();
}

// Validates the body of a search request; on failure returns the 400 response.
std::variant<search_arguments, http_response> parse_search_body(const http_request& request) {
    boost::system::error_code error;
    const json::value body = json::parse(request.body(), error);
    if (error || !body.is_object()) {
        return json_error(
            request, http::status::bad_request, "body", "Request body must be a JSON object");
    }
    for (const auto& member : body.as_object()) {
        const std::string_view key = member.key();
        if (std::find(allowed_top_level_keys.begin(), allowed_top_level_keys.end(), key) ==
            allowed_top_level_keys.end()) {
            return json_error(request, http::status::bad_request, key, "Unknown field");
        }
    }
    const json::value* event_search = body.as_object().if_contains("event_search");
    if (event_search == nullptr || !event_search->is_object()) {
        return json_error(
            request, http::status::bad_request, "event_search", "This field is required");
    }
    search_arguments arguments;
    arguments.event_search = event_search->as_object();
    for (const auto& member : arguments.event_search) {
        const std::string_view key = member.key();
        if (std::find(allowed_event_search_keys.begin(), allowed_event_search_keys.end(), key) ==
            allowed_event_search_keys.end()) {
            return json_error(request,
                              http::status::bad_request,
                              fmt::format("event_search.{}", key),
                              "Unknown field");
        }
    }
    const json::value* places = arguments.event_search.if_contains("places");
    if (places == nullptr || !places->is_array() || places->as_array().empty() ||
        !places->as_array().front().is_string()) {
        return json_error(request,
                          http::status::bad_request,
                          "event_search.places",
                          "Must be a list of place id strings");
    }
    arguments.place_id = places->as_array().front().as_string();

    if (const json::value* page = arguments.event_search.if_contains("page")) {
        if (!page->is_int64() || page->as_int64() < 1 || page->as_int64() > 1000000) {
            return json_error(request,
                              http::status::bad_request,
                              "event_search.page",
                              "Must be an integer greater than or equal to 1");
        }
        arguments.page = static_cast<int>(page->as_int64());
    } else if (const json::value* token = arguments.event_search.if_contains("continuation")) {
        const std::optional<int> page =
            token->is_string() ? decode_continuation(token->as_string()) : std::nullopt;
        if (!page) {
            return json_error(request,
                              http::status::bad_request,
                              "event_search.continuation",
                              "Invalid continuation token");
        }
        arguments.page = *page;
    }
    if (!read_search_window(arguments.event_search, arguments.window)) {
        return json_error(request,
                          http::status::bad_request,
                          "event_search.date_range",
                          "Must be {\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"} with from "
                          "not after to; required when dates is custom_date");
    }
    return arguments;
}

reply handle_search(server_state& state, const http_request& request) {
    ++state.counters.search;
    reply result;
    const std::string cookie = cookie_value(request, "csrftoken");
    const auto header = request.find("X-CSRFToken");
    if (request.method() != http::verb::post) {
        result.response = make_response(request,
                                        http::status::method_not_allowed,
                                        "application/json",
                                        R"({"status_code":405,"error":"METHOD_NOT_ALLOWED",)"
                                        R"("error_description":"Use POST."})");
        return result;
    }
    if (cookie.empty() || header == request.end() || header->value() != cookie) {
        logger()->info("Search rejected status=401 reason=csrf cookie_present={} header_present={}",
                       !cookie.empty(),
                       header != request.end());
        result.response = make_response(
            request, http::status::unauthorized, "application/json", std::string(csrf_failed_body));
        return result;
    }

    auto parsed = parse_search_body(request);
    if (auto* error = std::get_if<http_response>(&parsed)) {
        logger()->info("Search rejected status=400 body={}", error->body());
        result.response = std::move(*error);
        return result;
    }
    const search_arguments& arguments = std::get<search_arguments>(parsed);
    const city* city = state.corpus.find_by_place_id(arguments.place_id);
    if (city == nullptr) {
        result.response = make_response(request,
                                        http::status::ok,
                                        "application/json",
                                        empty_search_response_body(arguments.event_search));
        return result;
    }

    const request_faults faults = check_faults(
        state, city, request_identity{fault_endpoint::search, city->slug, arguments.page, {}});
    const fault_match& fault = faults.match;
    if (fault.action != nullptr) {
        if (auto replaced = fault_reply(request, *fault.action)) {
            replaced->delay = faults.delay();
            return std::move(*replaced);
        }
    }
    event_query query = query_for(state, fault);
    query.window = arguments.window;
    std::string body = search_response_body(*city, arguments.page, arguments.event_search, query);
    if (faults.action_kind() == fault_kind::truncated_body) {
        body.resize(body.size() / 2);
    }
    ++state.counters.pages_by_city[city->slug].search;
    result.delay = faults.delay();
    result.response = make_response(request, http::status::ok, "application/json", std::move(body));
    apply_stall(result, faults);
    return result;
}

reply handle_static(server_state& state, const http_request& request, std::string_view path) {
    const request_faults faults = check_faults(
        state, nullptr, request_identity{fault_endpoint::static_file, {}, 0, std::string(path)});
    if (faults.match.action != nullptr) {
        if (auto replaced = fault_reply(request, *faults.match.action)) {
            replaced->delay = faults.delay();
            return std::move(*replaced);
        }
    }
    reply result;
    result.delay = faults.delay();
    const static_file* file = find_static_file(state.assets, path);
    if (file == nullptr) {
        result.response = make_response(request,
                                        http::status::not_found,
                                        "text/html; charset=utf-8",
                                        render_not_found_page(path));
        return result;
    }
    const auto match = request.find(http::field::if_none_match);
    if (match != request.end() && match->value() == file->etag) {
        result.response =
            make_response(request, http::status::not_modified, file->content_type, {});
        result.response.content_length(boost::none);
    } else {
        result.response = make_response(request, http::status::ok, file->content_type, file->body);
    }
    result.response.set(http::field::cache_control, static_cache_control);
    result.response.set(http::field::etag, file->etag);
    result.response.set(http::field::access_control_allow_origin, "*");
    apply_stall(result, faults);
    return result;
}

std::string stats_body(const server_state& state) {
    const server_counters& counters = state.counters;
    json::object requests;
    requests["listing"] = counters.listing;
    requests["search"] = counters.search;
    requests["static"] = counters.static_files;
    requests["other"] = counters.other;
    requests["total"] = counters.listing + counters.search + counters.static_files + counters.other;
    json::object cities;
    for (const auto& [slug, pages] : counters.pages_by_city) {
        json::object entry;
        entry["listing"] = pages.listing;
        entry["search"] = pages.search;
        cities[slug] = std::move(entry);
    }
    json::object body;
    body["requests"] = std::move(requests);
    body["pages_by_city"] = std::move(cities);
    body["in_flight"] = counters.in_flight;
    body["max_in_flight"] = counters.max_in_flight;
    body["csrf_sessions"] = counters.csrf_tokens.size();
    json::object faults;
    for (const fault_kind kind : all_fault_kinds()) {
        const auto found = state.faults_by_kind.find(kind);
        faults[to_string(kind)] = found == state.faults_by_kind.end() ? 0 : found->second;
    }
    body["faults"] = std::move(faults);
    return json::serialize(body);
}

reply handle_control(server_state& state, const http_request& request, std::string_view path) {
    reply result;
    if (path == "/__replay/stats" && request.method() == http::verb::get) {
        result.response =
            make_response(request, http::status::ok, "application/json", stats_body(state));
    } else if (path == "/__replay/reset" && request.method() == http::verb::post) {
        const int in_flight = state.counters.in_flight;
        state.counters = server_counters{};
        state.counters.in_flight = in_flight;
        state.counters.max_in_flight = in_flight;
        state.fault_fired.clear();
        state.faults_by_kind.clear();
        state.attempts.clear();
        logger()->info("Counters reset");
        result.response =
            make_response(request, http::status::ok, "application/json", stats_body(state));
    } else {
        result.response = make_response(request,
                                        http::status::not_found,
                                        "application/json",
                                        R"({"error":"NOT_FOUND","error_description":)"
                                        R"("Use GET /__replay/stats or POST /__replay/reset."})");
    }
    return result;
}

}  // namespace

bool is_control_request(const http_request& request) {
    return request.target().starts_with("/__replay/");
}

reply handle_request(server_state& state, const http_request& request) {
    const auto parsed = boost::urls::parse_origin_form(request.target());
    if (!parsed) {
        ++state.counters.other;
        reply result;
        result.response = make_response(request,
                                        http::status::bad_request,
                                        "text/html; charset=utf-8",
                                        render_whoops_page(400));
        return result;
    }
    const boost::urls::url_view url = *parsed;
    const std::string path = url.path();
    if (is_control_request(request)) {
        return handle_control(state, request, path);
    }
    switch (classify(request.method_string(), path)) {
        case endpoint_kind::listing:
            return handle_listing(state, request, url);
        case endpoint_kind::search:
            return handle_search(state, request);
        case endpoint_kind::static_file:
            ++state.counters.static_files;
            return handle_static(state, request, path);
        case endpoint_kind::other:
            break;
    }
    ++state.counters.other;
    reply result;
    result.response = make_response(
        request, http::status::not_found, "text/html; charset=utf-8", render_not_found_page(path));
    return result;
}

}  // namespace eventcrawl::replay::detail
