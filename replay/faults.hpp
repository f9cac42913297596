#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventcrawl::replay {

// Endpoint a fault rule applies to.
enum class fault_endpoint { listing, search, any };

// Change a fault rule makes to the matching response.
enum class fault_kind {
    status,                 // given status with an HTML "Whoops!" body
    html_instead_of_json,   // 200 text/html interstitial
    no_place_id,            // listing blob without placeId and search_data
    truncated_server_data,  // listing blob cut mid-object
    truncated_body,         // search JSON cut in half
    delay,                  // extra delay before the normal response
    drop_connection,        // close the socket without a response
};

// One rule of a city's faults.yaml.
struct fault_rule {
    std::optional<int> page;  // any page when absent
    fault_endpoint endpoint = fault_endpoint::any;
    fault_kind kind = fault_kind::status;
    std::optional<int> times;  // fires on every match when absent
    int status = 503;
    std::optional<int> retry_after_seconds;
    int delay_ms = 0;
};

// Parses the text of a faults.yaml file: a YAML sequence of rules. Throws corpus_error naming
// `file_name`, the line and the field when a rule is invalid.
std::vector<fault_rule> parse_faults_yaml(const std::string& text, const std::string& file_name);

std::string_view to_string(fault_kind kind);

}  // namespace eventcrawl::replay
