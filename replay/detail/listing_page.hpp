#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "replay/corpus.hpp"
#include "replay/query.hpp"

namespace eventcrawl::replay::detail {

// Form of the __SERVER_DATA__ blob written into a listing page.
enum class blob_form {
    normal,
    without_place_id,  // no placeId and no search_data, as a bot wall page
    truncated,         // cut in the middle of the object
};

// Serializes JSON for use inside a <script> element: `<`, `>`, `&`, U+2028 and U+2029 become
// \u escapes, so no string value can close the script or break the JavaScript line.
std::string json_for_script(const boost::json::value& value);

// Escapes text for an HTML text node or a double-quoted attribute value.
std::string html_escape(std::string_view text);

// Builds the window.__SERVER_DATA__ object of page `page` of `city`.
boost::json::object build_server_data(const city& city, int page, blob_form form);

// Builds the window.__SERVER_DATA__ object for `query`. With a date window, event_search
// carries `"dates": "custom_date"` and `date_range`, which the paging script sends on.
boost::json::object build_server_data(const city& city,
                                      int page,
                                      blob_form form,
                                      const event_query& query);

// Renders the whole /d/<slug>/all-events/ HTML page.
std::string render_listing_page(const city& city,
                                int page,
                                std::string_view csrf_token,
                                blob_form form);

// Renders the listing page for `query`; `start_date`/`end_date` of a window stay in the
// URLs the paging script pushes.
std::string render_listing_page(const city& city,
                                int page,
                                std::string_view csrf_token,
                                blob_form form,
                                const event_query& query);

// Body of the HTML "Whoops!" page served with a fault status.
std::string render_whoops_page(int status);

// Body of the 403 page a web application firewall serves to a blocked client.
std::string render_blocked_page();

// Body of the 200 text/html page a bot wall serves in place of data.
std::string render_interstitial_page();

// Body of the 404 page for an unknown path or city.
std::string render_not_found_page(std::string_view path);

}  // namespace eventcrawl::replay::detail
