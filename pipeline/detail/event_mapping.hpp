#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string_view>

#include "pipeline/detail/json_reader.hpp"
#include "pipeline/event_record.hpp"

namespace eventcrawl::pipeline::detail {

// The per-event JSON forms that Eventbrite serves.
enum class event_form {
    destination_event,  // search, batch, autocomplete and city-browse items
    v3_event,           // documented GET /api/v3/events/{id}/ object
    json_ld,            // schema.org Event item from an event page
    unknown,
};

// Recognises the form of one event object by its keys.
event_form detect_event_form(const boost::json::object& item);

// Maps one event object at `path` (for messages) to a record. Returns nothing, after adding
// a warning, for an event without id. Throws transform_error (wrong_shape) when a field has
// the wrong JSON type or the object is no known event form.
std::optional<event_record> map_event(const boost::json::value& item,
                                      std::string_view path,
                                      const json_reader& reader);

}  // namespace eventcrawl::pipeline::detail
