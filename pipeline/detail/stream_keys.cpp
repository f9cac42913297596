#include "pipeline/detail/stream_keys.hpp"

namespace eventcrawl::pipeline::detail::stream {

namespace {

const key_table search_root_keys{
    {"events", field::root_events},
    {"results", field::root_results},
    {"pagination", field::root_pagination},
};
const key_table file_root_keys{
    {"events", field::root_events},
    {"results", field::root_results},
    {"pagination", field::root_pagination},
    {"status_code", field::status_code_marker},
    {"error", field::error_marker},
    {"body", field::request_marker},
    {"event_search", field::event_search_marker},
};
const key_table server_root_keys{
    {"search_data", field::search_data},
    {"placeId", field::place_id},
};
const key_table search_data_keys{{"events", field::data_events}};
const key_table events_object_keys{
    {"results", field::events_results},
    {"pagination", field::events_pagination},
};
const key_table pagination_keys{
    {"object_count", field::object_count},
    {"page_count", field::page_count},
    {"page_number", field::page_number},
    {"page_size", field::page_size},
    {"continuation", field::continuation},
    {"has_more_items", field::has_more_items},
};
const key_table event_keys{
    {"_type", field::event_type},
    {"@type", field::json_ld_marker},
    {"@context", field::json_ld_marker},
    {"eventbrite_event_id", field::destination_marker},
    {"primary_venue_id", field::destination_marker},
    // An event that also looks like a search request could make a recorded array a list of
    // requests, which the DOM path rejects.
    {"event_search", field::request_marker},
    {"body", field::request_marker},
    {"id", field::event_id},
    {"name", field::event_name},
    {"summary", field::summary},
    {"url", field::url},
    {"timezone", field::timezone},
    {"start_date", field::start_date},
    {"start_time", field::start_time},
    {"end_date", field::end_date},
    {"end_time", field::end_time},
    {"is_online_event", field::is_online_event},
    {"online_event", field::online_event},
    {"is_cancelled", field::is_cancelled},
    {"ticket_availability", field::ticket_availability},
    {"primary_venue", field::primary_venue},
    {"primary_organizer", field::primary_organizer},
    {"series_id", field::series_id},
    {"image", field::image},
    {"tags", field::tags},
};
const key_table ticket_availability_keys{
    {"is_free", field::is_free},
    {"minimum_ticket_price", field::minimum_price},
    {"maximum_ticket_price", field::maximum_price},
};
const key_table price_keys{
    {"currency", field::currency},
    {"value", field::price_value},
    {"major_value", field::major_value},
};
const key_table venue_keys{
    {"name", field::venue_name},
    {"address", field::venue_address},
};
const key_table address_keys{
    {"localized_address_display", field::address_display},
    {"address_1", field::address_line_1},
    {"address_2", field::address_line_2},
    {"city", field::address_city},
    {"region", field::address_region},
    {"country", field::address_country},
    {"latitude", field::latitude},
    {"longitude", field::longitude},
};
const key_table organizer_keys{{"name", field::organizer_name}};
const key_table image_keys{
    {"url", field::image_url},
    {"original", field::image_original},
};
const key_table image_original_keys{{"url", field::original_url}};
const key_table tag_object_keys{{"tag", field::tag_text}};
const key_table no_keys{};

}  // namespace

const key_table& keys_of(scope kind) {
    switch (kind) {
        case scope::search_root:
            return search_root_keys;
        case scope::file_root:
            return file_root_keys;
        case scope::server_root:
            return server_root_keys;
        case scope::search_data:
            return search_data_keys;
        case scope::events_object:
            return events_object_keys;
        case scope::pagination:
            return pagination_keys;
        case scope::event:
            return event_keys;
        case scope::ticket_availability:
            return ticket_availability_keys;
        case scope::price:
            return price_keys;
        case scope::venue:
            return venue_keys;
        case scope::address:
            return address_keys;
        case scope::organizer:
            return organizer_keys;
        case scope::image:
            return image_keys;
        case scope::image_original:
            return image_original_keys;
        case scope::tag_object:
            return tag_object_keys;
        case scope::results:
        case scope::tags:
            break;
    }
    return no_keys;
}

}  // namespace eventcrawl::pipeline::detail::stream
