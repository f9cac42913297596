#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace eventcrawl::replay {

// Endpoint a fault rule applies to. `any` means listing or search for faults.yaml rules, and
// listing, search or static for --fault rules.
enum class fault_endpoint { listing, search, any, static_file };

// Change a fault rule makes to the matching response.
enum class fault_kind {
    status,                 // given status with an HTML "Whoops!" body
    html_instead_of_json,   // 200 text/html interstitial
    no_place_id,            // listing blob without placeId and search_data
    truncated_server_data,  // listing blob cut mid-object
    truncated_body,         // search JSON cut in half
    delay,                  // extra delay before the normal response
    drop_connection,        // close the socket without a response
    blocked,                // 403 with a web application firewall's HTML block page
    stall,                  // headers and part of the body, then silence until delay_ms
    reset,                  // TCP reset: SO_LINGER 0, then close
    empty_results,          // listing or search with no results but the real object_count
    capped_pages,           // page_count below the data's page count; later pages empty
};

// One fault rule, from a city's faults.yaml or from a --fault flag.
struct fault_rule {
    std::optional<int> page;  // any page when absent
    fault_endpoint endpoint = fault_endpoint::any;
    fault_kind kind = fault_kind::status;
    std::optional<int> times;  // fires on every match when absent; counted per city
    int status = 503;
    std::optional<int> retry_after_seconds;
    int delay_ms = 0;
    // Chance from 0 to 1 that a matching request fires the rule.
    double probability = 1.0;
    // City slug the rule is limited to (--fault only: a faults.yaml rule has its folder's).
    std::optional<std::string> city;
    // capped_pages: the page count to announce; half the data's pages when absent.
    std::optional<int> page_count;
};

// Raised for an invalid --fault value. The message is one line that names the flag, the
// invalid part and the valid choices.
class fault_flag_error : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Parses the text of a faults.yaml file: a YAML sequence of rules. Throws corpus_error naming
// `file_name`, the line and the field when a rule is invalid.
std::vector<fault_rule> parse_faults_yaml(const std::string& text, const std::string& file_name);

// Parses one --fault value: `KIND[,key=value...]` with the keys endpoint, city, page,
// probability, times, status, retry_after, delay_ms and page_count. Throws fault_flag_error.
fault_rule parse_fault_flag(std::string_view text);

std::string_view to_string(fault_kind kind);
std::string_view to_string(fault_endpoint endpoint);

// Every fault kind, in declaration order.
const std::vector<fault_kind>& all_fault_kinds();

}  // namespace eventcrawl::replay
