#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <optional>

#include "replay/detail/server_state.hpp"

namespace eventcrawl::replay::detail {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// Action the connection takes after a handled request.
struct reply {
    http_response response;
    bool drop_connection = false;        // close the socket without writing the response
    bool reset_connection = false;       // reset the connection without writing the response
    std::chrono::milliseconds delay{0};  // wait before writing, on top of options.delay
    // Write the header and half the body, then wait this long (or until the client closes)
    // and close the connection.
    std::optional<std::chrono::milliseconds> stall;
};

// True for the /__replay/ control endpoints, which are neither delayed nor counted.
bool is_control_request(const http_request& request);

// Routes one request and builds its reply, updating the counters in `state`.
reply handle_request(server_state& state, const http_request& request);

}  // namespace eventcrawl::replay::detail
