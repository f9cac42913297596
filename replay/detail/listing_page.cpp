#include "replay/detail/listing_page.hpp"

#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "replay/detail/static_assets.hpp"

namespace eventcrawl::replay::detail {

namespace json = boost::json;

namespace {

// Paging script of the listing page. It reads window.__SERVER_DATA__, sends the next search
// request the way the live site does and renders the returned events into #event-list.
constexpr std::string_view paging_script = R"JS((function () {
  'use strict';
  var data = window.__SERVER_DATA__ || {};
  var search = data.search_data;
  if (!search) { return; }
  var list = document.getElementById('event-list');
  var next = document.querySelector('[data-testid="page-next"]');
  var prev = document.querySelector('[data-testid="page-prev"]');
  var current = document.querySelector('[data-testid="page-current"]');
  var expand = ['primary_venue', 'image', 'ticket_availability', 'saves',
                'event_sales_status', 'primary_organizer', 'public_collections'];
  var state = { page: data.page_number || 1, pageCount: data.page_count || null,
                events: search.events || {}, busy: false };
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : '';
  }
  function stableId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return 'xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx'.replace(/x/g, function () {
      return Math.floor(Math.random() * 16).toString(16);
    });
  }
  function hasNext() {
    var results = state.events.results || [];
    var pagination = state.events.pagination || {};
    if (results.length === 0) { return false; }
    if (pagination.continuation === null || pagination.continuation === undefined) { return false; }
    return state.pageCount === null || state.page < state.pageCount;
  }
  function render() {
    list.textContent = '';
    (state.events.results || []).forEach(function (event) {
      var item = document.createElement('li');
      item.className = 'event-card';
      item.setAttribute('data-event-id', String(event.id));
      var image = document.createElement('img');
      image.src = '/static/images/events/' + encodeURIComponent(String(event.id)) + '.png';
      image.alt = '';
      image.width = 200;
      image.height = 100;
      item.appendChild(image);
      var link = document.createElement('a');
      link.href = event.url || '#';
      link.textContent = typeof event.name === 'string' ? event.name : '';
      item.appendChild(link);
      list.appendChild(item);
    });
    current.textContent = String(state.page);
    next.disabled = !hasNext();
    prev.disabled = state.page <= 1;
    document.body.setAttribute('data-page', String(state.page));
  }
  function load(page) {
    if (state.busy) { return; }
    state.busy = true;
    document.body.setAttribute('data-loading', 'true');
    var eventSearch = Object.assign({}, search.event_search, { page: page });
    var body = { browse_surface: 'search', event_search: eventSearch,
                 'expand.destination_event': expand };
    fetch('/api/v3/destination/search/?stable_id=' + stableId(), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest',
                 'X-CSRFToken': csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) { throw new Error('search request failed with status ' + response.status); }
      return response.json();
    }).then(function (answer) {
      state.page = page;
      state.events = answer.events || {};
      render();
      var query = new URLSearchParams(window.location.search);
      query.set('page', String(page));
      history.pushState({ page: page }, '', '?' + query.toString());
    }).catch(function (error) {
      document.body.setAttribute('data-error', String(error.message));
    }).finally(function () {
      state.busy = false;
      document.body.removeAttribute('data-loading');
    });
  }
  next.addEventListener('click', function () { if (hasNext()) { load(state.page + 1); } });
  prev.addEventListener('click', function () { if (state.page > 1) { load(state.page - 1); } });
  render();
})();)JS";

std::string render_cards(const json::object& events) {
    std::string cards;
    const json::value* results = events.if_contains("results");
    if (results == nullptr || !results->is_array()) {
        return cards;
    }
    for (const json::value& row : results->as_array()) {
        const json::object* event = row.if_object();
        if (event == nullptr) {
            continue;
        }
        std::string id;
        std::string name;
        std::string url = "#";
        if (const json::value* value = event->if_contains("id"); value && value->is_string()) {
            id = value->as_string();
        }
        if (const json::value* value = event->if_contains("name"); value && value->is_string()) {
            name = value->as_string();
        }
        if (const json::value* value = event->if_contains("url"); value && value->is_string()) {
            url = value->as_string();
        }
        cards += fmt::format(
            "<li class=\"event-card\" data-event-id=\"{}\"><img src=\"{}\" alt=\"\" "
            "width=\"200\" height=\"100\"><a href=\"{}\">{}</a></li>\n",
            html_escape(id),
            html_escape(event_image_path(id)),
            html_escape(url),
            html_escape(name));
    }
    return cards;
}

}  // namespace

std::string json_for_script(const json::value& value) {
    const std::string text = json::serialize(value);
    std::string escaped;
    escaped.reserve(text.size() + text.size() / 16);
    for (std::size_t index = 0; index < text.size(); ++index) {
        const char c = text[index];
        if (c == '<') {
            escaped += "\\u003c";
        } else if (c == '>') {
            escaped += "\\u003e";
        } else if (c == '&') {
            escaped += "\\u0026";
        } else if (c == '\xE2' && index + 2 < text.size() && text[index + 1] == '\x80' &&
                   (text[index + 2] == '\xA8' || text[index + 2] == '\xA9')) {
            // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR end a line in older
            // JavaScript engines, so they may not appear raw in a script.
            escaped += text[index + 2] == '\xA8' ? "\\u2028" : "\\u2029";
            index += 2;
        } else {
            escaped += c;
        }
    }
    return escaped;
}

std::string html_escape(std::string_view text) {
    std::string escaped;
    escaped.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                escaped += "&amp;";
                break;
            case '<':
                escaped += "&lt;";
                break;
            case '>':
                escaped += "&gt;";
                break;
            case '"':
                escaped += "&quot;";
                break;
            case '\'':
                escaped += "&#39;";
                break;
            default:
                escaped += c;
        }
    }
    return escaped;
}

json::object build_server_data(const city& city, int page, blob_form form) {
    return build_server_data(city, page, form, event_query{});
}

json::object build_server_data(const city& city,
                               int page,
                               blob_form form,
                               const event_query& query) {
    json::object data;
    data["app_name"] = "discover";
    data["location_slug"] = city.slug;
    data["page_number"] = page;
    if (form == blob_form::without_place_id) {
        return data;
    }
    if (auto page_count = announced_page_count(city, page, query)) {
        data["page_count"] = *page_count;
    }
    data["placeId"] = city.place_id;
    if (city.latitude && city.longitude) {
        data["latitude"] = *city.latitude;
        data["longitude"] = *city.longitude;
    }

    json::object event_search;
    if (query.window) {
        event_search["dates"] = "custom_date";
        json::object range;
        range["from"] = query.window->from;
        range["to"] = query.window->to;
        event_search["date_range"] = std::move(range);
    } else {
        event_search["dates"] = "current_future";
    }
    event_search["dedup"] = true;
    event_search["places"] = json::array{json::value(city.place_id)};
    event_search["page"] = page;
    event_search["page_size"] = page_size_of(city);

    json::object search_data;
    search_data["event_search"] = std::move(event_search);
    search_data["events"] = events_for_query(city, page, query);
    data["search_data"] = std::move(search_data);
    return data;
}

std::string render_listing_page(const city& city,
                                int page,
                                std::string_view csrf_token,
                                blob_form form) {
    return render_listing_page(city, page, csrf_token, form, event_query{});
}

std::string render_listing_page(const city& city,
                                int page,
                                std::string_view csrf_token,
                                blob_form form,
                                const event_query& query) {
    const json::object data = build_server_data(city, page, form, query);
    std::string blob = json_for_script(data);
    if (form == blob_form::truncated) {
        // Cut at half, moved back to the start of a UTF-8 sequence.
        std::size_t cut = blob.size() / 2;
        while (cut > 0 && (static_cast<unsigned char>(blob[cut]) & 0xC0) == 0x80) {
            --cut;
        }
        blob.resize(cut);
    }
    std::string cards;
    if (const json::value* search_data = data.if_contains("search_data")) {
        cards = render_cards(search_data->as_object().at("events").as_object());
    }
    const std::string name = html_escape(city.name);
    const std::string slug = html_escape(city.slug);

    std::string html;
    html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += fmt::format("<title>{} Events | Eventbrite</title>\n", name);
    html += "<link rel=\"stylesheet\" href=\"/static/css/discover.css\">\n";
    html +=
        "<link rel=\"preload\" href=\"/static/fonts/benton-sans.woff2\" as=\"font\" "
        "type=\"font/woff2\" crossorigin>\n";
    html += "</head>\n<body>\n";
    html +=
        "<header><img src=\"/static/images/logo.png\" alt=\"Eventbrite\" width=\"110\" "
        "height=\"40\"></header>\n";
    html += fmt::format(
        "<form id=\"search-form\" method=\"get\" action=\"/d/{}/all-events/\">"
        "<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{}\"></form>\n",
        slug,
        html_escape(csrf_token));
    html += fmt::format("<main>\n<h1>Events in {}</h1>\n", name);
    html += "<ul id=\"event-list\" data-testid=\"search-results\">\n" + cards + "</ul>\n";
    html +=
        "<nav data-testid=\"pagination\" aria-label=\"Pagination\">"
        "<button type=\"button\" data-testid=\"page-prev\" aria-label=\"Previous Page\">"
        "Previous</button>"
        "<span data-testid=\"page-current\"></span>"
        "<button type=\"button\" data-testid=\"page-next\" aria-label=\"Next Page\">"
        "Next</button></nav>\n</main>\n";
    html +=
        "<script>window.__I18N__ = {\"locale\":\"en_US\",\"recaptcha_language\":\"en\"};"
        "</script>\n";
    html += "<script>window.__SERVER_DATA__ = " + blob;
    if (form == blob_form::truncated) {
        html += "</script>\n";
    } else {
        html += ";window.__REACT_QUERY_STATE__ = {};window.__PAGE_READY__ = true;</script>\n";
    }
    html += "<script>\n";
    html += paging_script;
    html += "\n</script>\n</body>\n</html>\n";
    return html;
}

std::string render_whoops_page(int status) {
    return fmt::format(
        "<html><body><h1>Whoops!</h1><p>Something went wrong (status {}). Please try again "
        "later.</p></body></html>\n",
        status);
}

std::string render_blocked_page() {
    return "<!DOCTYPE html>\n<html><head><title>Access Denied</title></head><body>"
           "<h1>Access Denied</h1><p>Your request was blocked by our security service.</p>"
           "<p>Reference: eventbrite-replay-waf</p></body></html>\n";
}

std::string render_interstitial_page() {
    return "<!DOCTYPE html>\n<html><head><title>Human Verification</title></head><body>"
           "<h1>Please verify you are a human</h1><div id=\"challenge-container\"></div>"
           "</body></html>\n";
}

std::string render_not_found_page(std::string_view path) {
    return fmt::format(
        "<!DOCTYPE html>\n<html><head><title>Page Not Found | Eventbrite</title></head><body>"
        "<h1>Whoops! The page you requested was not found.</h1><p>{}</p></body></html>\n",
        html_escape(path));
}

}  // namespace eventcrawl::replay::detail
