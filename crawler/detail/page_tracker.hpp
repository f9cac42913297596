#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "crawler/cdp_connection.hpp"

namespace eventcrawl::crawler::detail {

// Network-domain state of one request, keyed by requestId.
struct tracked_request {
    std::size_t order = 0;  // position in the order requests were first seen
    std::string request_id;
    std::string url;
    std::string method;
    std::string resource_type;  // "Document", "XHR", "Fetch", "Image", ...
    std::string post_data;
    int status = 0;
    std::string mime_type;
    std::string retry_after;  // Retry-After response header, empty when absent
    bool finished = false;    // Network.loadingFinished
    bool failed = false;      // Network.loadingFailed
    std::string error_text;
    std::string blocked_reason;

    bool done() const noexcept { return finished || failed; }
};

// Network state of one page session, built from its events. Match on requestId, never on
// event order: responseReceived and the *ExtraInfo events arrive in no fixed order.
class page_tracker {
public:
    void apply(const cdp_event& event);

    const tracked_request* find(const std::string& request_id) const;

    // First request seen at or after `since` (an order value) whose method is `method` and whose
    // URL contains `url_part`, or nullptr.
    const tracked_request* find_after(std::size_t since,
                                      std::string_view method,
                                      std::string_view url_part) const;

    std::size_t next_order() const noexcept { return next_order_; }

    // True once Page.domContentEventFired arrived for the newest document request.
    bool dom_content_loaded() const noexcept { return dom_content_loaded_; }

    // Images, fonts, stylesheets and media that finished loading (not blocked).
    int static_loaded() const noexcept { return static_loaded_; }
    // Images, fonts, stylesheets and media that failed (blocked by the client or otherwise).
    int static_failed() const noexcept { return static_failed_; }

private:
    std::map<std::string, tracked_request> requests_;
    std::size_t next_order_ = 0;
    int static_loaded_ = 0;
    int static_failed_ = 0;
    bool dom_content_loaded_ = false;
};

bool is_static_resource_type(std::string_view resource_type);

// Value of a header in a CDP headers object, matching the name case-insensitively (HTTP/1.1
// keeps the server's spelling, HTTP/2 lower-cases it). Empty when the header is absent.
std::string header_value(const boost::json::object& headers, std::string_view lower_case_name);

}  // namespace eventcrawl::crawler::detail
