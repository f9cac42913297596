#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/event_record.hpp"
#include "pipeline/raw_page.hpp"

namespace eventcrawl::pipeline {

// Reason a body could not be turned into events.
enum class transform_failure {
    invalid_json,         // not parseable as JSON (includes truncated bodies)
    wrong_shape,          // JSON, but not any known Eventbrite shape, or a field of the wrong type
    missing_server_data,  // HTML without window.__SERVER_DATA__
    incomplete_server_data,  // window.__SERVER_DATA__ present but cut off
    bot_wall,                // an interstitial or challenge page where data was expected
    no_event_data,           // a recorded file that is a known non-event document: a search
                             // request body, an API error response, or saved event-card HTML
};

// A body that could not be transformed. what() names the source (file, or city and page),
// the field path where the problem was found, and what was expected there.
class transform_error : public std::runtime_error {
  public:
    transform_error(transform_failure failure, std::string message)
        : std::runtime_error(std::move(message)), failure_(failure) {}

    transform_failure failure() const noexcept { return failure_; }

  private:
    transform_failure failure_;
};

// Events and pagination facts read from one body.
struct transform_output {
    std::vector<event_record> events;
    page_facts facts;
    std::vector<std::string> warnings;  // one line per skipped event, naming its id and field
};

// Maps one captured body (any shape listed in the README's data section) to event records.
// Throws transform_error; never returns partial data from a truncated body.
transform_output transform_page(const raw_page& page);

// Returns the JSON text of window.__SERVER_DATA__ inside a listing page's HTML.
// Throws transform_error with missing_server_data or incomplete_server_data.
std::string extract_server_data(std::string_view html);

// Reads only the pagination facts of a body (cheaper than transform_page).
// Throws transform_error like transform_page.
page_facts read_page_facts(const raw_page& page);

}  // namespace eventcrawl::pipeline
