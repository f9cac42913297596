// Streaming fast path of transform_page. One basic_parser handler follows the token stream of a
// search response or of window.__SERVER_DATA__, keeps a small stack of the objects the mapping
// reads, skips every other subtree, and fills event records as their fields go by. Whatever
// the DOM path would warn about or reject makes the handler stop the parse, and the caller
// falls back to the DOM path.

#include <array>
#include <boost/json/array.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/string.hpp>
#include <boost/system/errc.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pipeline/detail/json_scan.hpp"
#include "pipeline/detail/money.hpp"
#include "pipeline/detail/stream_keys.hpp"
#include "pipeline/detail/time_convert.hpp"
#include "pipeline/detail/transform_paths.hpp"

namespace eventcrawl::pipeline::detail {

namespace json = boost::json;
using stream::field;
using stream::key_table;
using stream::keys_of;
using stream::scope;

namespace {

constexpr std::string_view server_data_name = "window.__SERVER_DATA__";

// One price object {currency, value, major_value} of ticket_availability.
struct price_reading {
    bool present = false;
    std::optional<std::int64_t> value;
    std::string currency;  // empty when absent, null or "", which the DOM path treats alike
    bool has_major_value = false;
    std::string major_value;

    void clear() {
        present = false;
        value.reset();
        currency.clear();
        has_major_value = false;
        major_value.clear();
    }
};

// Reads a whole number the way json_reader::int_at does: integers, and doubles without a
// fraction inside the int64 range.
std::optional<std::int64_t> whole_number(double number) {
    if (std::isfinite(number) && std::trunc(number) == number && number > -9.2e18 &&
        number < 9.2e18) {
        return static_cast<std::int64_t>(number);
    }
    return std::nullopt;
}

std::optional<std::int64_t> whole_number(std::uint64_t number) {
    if (number <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(number);
    }
    return std::nullopt;
}

class stream_handler {
public:
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    // Prepares for a new document whose top level is `root`. With `facts_only` set, the events
    // are counted and skipped, as read_page_facts does.
    void start(scope root, bool facts_only) {
        root_ = root;
        facts_only_ = facts_only;
        depth_ = 0;
        skip_depth_ = 0;
        pending_ = field::none;
        string_open_ = false;
        target_ = nullptr;
        key_buffer_.clear();
        output_ = transform_output{};
        for (page_facts& facts : pagination_) {
            facts = page_facts{};
        }
        root_has_events_ = false;
        root_has_results_ = false;
        data_has_events_ = false;
        events_have_results_ = false;
        has_place_id_ = false;
        root_is_array_ = false;
        root_has_batch_events_ = false;
        has_status_code_ = false;
        has_error_ = false;
        has_request_marker_ = false;
        has_event_search_ = false;
        result_count_ = 0;
    }

    // Returns the output once the document is complete, or nothing when the page's shape is
    // not one the fast path maps.
    std::optional<transform_output> finish() {
        std::size_t level = 0;
        if (root_ == scope::file_root) {
            if (!file_root_is_event_data()) {
                return std::nullopt;
            }
            if (root_is_array_) {
                // A bare array of events: every item is an event, and there is no pagination.
                return take_output(0);
            }
            if (root_has_batch_events_) {
                // A batch response: {pagination, events[]}.
                return root_has_results_ ? std::nullopt : take_output(0);
            }
        }
        if (root_ == scope::search_root || root_ == scope::file_root) {
            if (root_has_events_) {
                if (root_has_results_ || !events_have_results_) {
                    return std::nullopt;
                }
                level = 1;
            } else if (!root_has_results_) {
                return std::nullopt;
            }
        } else {
            // Without search_data.events the DOM path reads buckets (city-browse pages),
            // which the fast path leaves to it.
            if (!data_has_events_ || !events_have_results_) {
                return std::nullopt;
            }
            // A challenge page keeps the template but drops placeId and the events.
            if (!has_place_id_ && result_count_ == 0) {
                return std::nullopt;
            }
            level = 1;
        }
        return take_output(level);
    }

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }

    bool on_object_begin(json::error_code& ec) { return open_container(true, ec); }
    bool on_array_begin(json::error_code& ec) { return open_container(false, ec); }
    bool on_object_end(std::size_t, json::error_code& ec) { return close_container(ec); }
    bool on_array_end(std::size_t, json::error_code& ec) { return close_container(ec); }

    bool on_key_part(json::string_view text, std::size_t, json::error_code&) {
        if (skip_depth_ == 0) {
            key_buffer_.append(text.data(), text.size());
        }
        return true;
    }

    bool on_key(json::string_view text, std::size_t, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        std::string_view key(text.data(), text.size());
        if (!key_buffer_.empty()) {
            key_buffer_.append(text.data(), text.size());
            key = key_buffer_;
        }
        const bool accepted = select_field(key, ec);
        key_buffer_.clear();
        return accepted;
    }

    bool on_string_part(json::string_view text, std::size_t, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!string_open_) {
            if (!begin_string(ec)) {
                return false;
            }
            string_open_ = true;
        }
        if (target_ != nullptr) {
            target_->append(text.data(), text.size());
        }
        return true;
    }

    bool on_string(json::string_view text, std::size_t, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!string_open_ && !begin_string(ec)) {
            return false;
        }
        string_open_ = false;
        if (target_ != nullptr) {
            target_->append(text.data(), text.size());
        }
        return finish_string(ec);
    }

    bool on_number_part(json::string_view, json::error_code&) { return true; }

    bool on_int64(std::int64_t number, json::string_view, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!in_object()) {
            return read_array_scalar(ec);
        }
        switch (pending_) {
            case field::event_id:
                event_.id = std::to_string(number);
                has_id_ = true;
                return true;
            case field::series_id:
                event_.series_id = std::to_string(number);
                return true;
            default:
                return read_number(number, static_cast<double>(number), ec);
        }
    }

    bool on_uint64(std::uint64_t number, json::string_view, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!in_object()) {
            return read_array_scalar(ec);
        }
        switch (pending_) {
            case field::event_id:
                event_.id = std::to_string(number);
                has_id_ = true;
                return true;
            case field::series_id:
                event_.series_id = std::to_string(number);
                return true;
            default:
                return read_number(whole_number(number), static_cast<double>(number), ec);
        }
    }

    bool on_double(double number, json::string_view, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!in_object()) {
            return read_array_scalar(ec);
        }
        return read_number(whole_number(number), number, ec);
    }

    bool on_bool(bool value, json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!in_object()) {
            return read_array_scalar(ec);
        }
        if (is_presence_only(pending_)) {
            return true;
        }
        switch (pending_) {
            case field::has_more_items:
                current_pagination().has_more_items = value;
                return true;
            case field::is_online_event:
                is_online_event_ = value;
                return true;
            case field::online_event:
                online_event_ = value;
                return true;
            case field::is_cancelled:
                event_.is_cancelled = value;
                return true;
            case field::is_free:
                event_.is_free = value;
                return true;
            default:
                return decline(ec);
        }
    }

    bool on_null(json::error_code& ec) {
        if (skip_depth_ > 0) {
            return true;
        }
        if (!in_object()) {
            return read_array_scalar(ec);
        }
        switch (pending_) {
            // The DOM path reads these with if_contains or requires an array, so null fails.
            case field::root_events:
            case field::root_results:
            case field::events_results:
                return decline(ec);
            // An event without a name or an id gets a warning.
            case field::event_id:
            case field::event_name:
                return decline(ec);
            default:
                // Every other read treats null as absent.
                return true;
        }
    }

    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    struct frame {
        scope kind = scope::event;
        std::uint8_t slot = 0;   // pagination level, or 0/1 for the minimum/maximum price
        std::uint32_t seen = 0;  // bit i: key i of keys_of(kind) was already read here
    };

    static constexpr std::size_t max_frames = 12;

    static bool decline(json::error_code& ec) {
        ec = boost::system::errc::make_error_code(boost::system::errc::operation_canceled);
        return false;
    }

    bool push(scope kind, std::uint8_t slot, json::error_code& ec) {
        if (depth_ == max_frames) {
            return decline(ec);
        }
        frames_[depth_] = frame{kind, slot, 0};
        ++depth_;
        return true;
    }

    frame& top() { return frames_[depth_ - 1]; }

    // True when the next value is a member of an object, false at the top level or in an array.
    bool in_object() const {
        if (depth_ == 0) {
            return false;
        }
        const scope kind = frames_[depth_ - 1].kind;
        return kind != scope::results && kind != scope::tags;
    }

    std::optional<transform_output> take_output(std::size_t level) {
        if (!facts_only_) {
            expected_events_ = result_count_;
        }
        output_.facts = pagination_[level];
        output_.facts.result_count = result_count_;
        return std::move(output_);
    }

    // False when the DOM path would reject a recorded file as a document without events. The
    // request rule is wider than the DOM path's (any event_search without an events key).
    bool file_root_is_event_data() const {
        const bool error_response = has_status_code_ && has_error_;
        const bool request = has_request_marker_ ||
                             (has_event_search_ && !root_has_events_ && !root_has_batch_events_);
        return !error_response && !request;
    }

    // True for keys whose presence matters and whose value is never read.
    static bool is_presence_only(field id) {
        switch (id) {
            case field::none:
            case field::place_id:
            case field::destination_marker:
            case field::event_type:
            case field::status_code_marker:
            case field::error_marker:
            case field::request_marker:
            case field::event_search_marker:
                return true;
            default:
                return false;
        }
    }

    // Handles a scalar element of an array: a results item, which only read_page_facts
    // accepts (it counts items without mapping them), or a tag, which is never a number,
    // boolean or null.
    bool read_array_scalar(json::error_code& ec) {
        if (depth_ > 0 && top().kind == scope::results && facts_only_) {
            ++result_count_;
            return true;
        }
        return decline(ec);
    }

    page_facts& current_pagination() { return pagination_[top().slot]; }
    price_reading& current_price() { return prices_[top().slot]; }

    bool select_field(std::string_view key, json::error_code& ec) {
        frame& current = top();
        const key_table& keys = keys_of(current.kind);
        const int index = keys.find(key);
        if (index < 0) {
            pending_ = field::none;
            return true;
        }
        const std::uint32_t bit = std::uint32_t{1} << index;
        // With a repeated key the DOM keeps only one of the values, so leave it to the DOM.
        if ((current.seen & bit) != 0) {
            return decline(ec);
        }
        current.seen |= bit;
        pending_ = keys.id_at(index);
        switch (pending_) {
            case field::json_ld_marker:
                return decline(ec);
            case field::place_id:
                has_place_id_ = true;
                return true;
            case field::status_code_marker:
                has_status_code_ = true;
                return true;
            case field::error_marker:
                has_error_ = true;
                return true;
            case field::event_search_marker:
                has_event_search_ = true;
                return true;
            case field::request_marker:
                // In an event this marks a search request, which the DOM path may reject.
                if (current.kind == scope::event) {
                    return decline(ec);
                }
                has_request_marker_ = true;
                return true;
            case field::destination_marker:
            case field::start_date:
                // detect_event_form counts the key whatever its value, null included.
                is_destination_ = true;
                return true;
            default:
                return true;
        }
    }

    bool open_container(bool is_object, json::error_code& ec) {
        if (skip_depth_ > 0) {
            ++skip_depth_;
            return true;
        }
        if (depth_ == 0) {
            if (is_object) {
                return push(root_, 0, ec);
            }
            // read_page_facts counts the items of a bare array without looking into them, so
            // only the full transform can tell a list of events from a list of requests.
            if (root_ != scope::file_root || facts_only_) {
                return decline(ec);
            }
            root_is_array_ = true;
            return push(scope::results, 0, ec);
        }
        const scope parent = top().kind;
        if (parent == scope::results) {
            if (facts_only_) {
                ++result_count_;
                ++skip_depth_;
                return true;
            }
            if (!is_object) {
                return decline(ec);
            }
            if (result_count_ == 0) {
                // The previous page's count is the best guess of this page's.
                output_.events.reserve(expected_events_);
            }
            ++result_count_;
            begin_event();
            return push(scope::event, 0, ec);
        }
        if (parent == scope::tags) {
            return is_object ? push(scope::tag_object, 0, ec) : decline(ec);
        }
        if (is_presence_only(pending_)) {
            ++skip_depth_;
            return true;
        }
        if (!is_object) {
            switch (pending_) {
                case field::root_events:
                    if (root_ != scope::file_root) {
                        return decline(ec);
                    }
                    root_has_batch_events_ = true;
                    return push(scope::results, 0, ec);
                case field::root_results:
                    root_has_results_ = true;
                    return push(scope::results, 0, ec);
                case field::events_results:
                    events_have_results_ = true;
                    return push(scope::results, 1, ec);
                case field::tags:
                    return push(scope::tags, 0, ec);
                default:
                    return decline(ec);
            }
        }
        switch (pending_) {
            case field::root_events:
                root_has_events_ = true;
                return push(scope::events_object, 1, ec);
            case field::root_pagination:
                return push(scope::pagination, 0, ec);
            case field::search_data:
                return push(scope::search_data, 0, ec);
            case field::data_events:
                data_has_events_ = true;
                return push(scope::events_object, 1, ec);
            case field::events_pagination:
                return push(scope::pagination, 1, ec);
            case field::ticket_availability:
                return push(scope::ticket_availability, 0, ec);
            case field::minimum_price:
                prices_[0].present = true;
                return push(scope::price, 0, ec);
            case field::maximum_price:
                prices_[1].present = true;
                return push(scope::price, 1, ec);
            case field::primary_venue:
                return push(scope::venue, 0, ec);
            case field::venue_address:
                has_address_ = true;
                return push(scope::address, 0, ec);
            case field::primary_organizer:
                return push(scope::organizer, 0, ec);
            case field::image:
                return push(scope::image, 0, ec);
            case field::image_original:
                return push(scope::image_original, 0, ec);
            default:
                return decline(ec);
        }
    }

    bool close_container(json::error_code& ec) {
        if (skip_depth_ > 0) {
            --skip_depth_;
            return true;
        }
        const scope kind = top().kind;
        --depth_;
        if (kind == scope::event) {
            return finish_event(ec);
        }
        return true;
    }

    void begin_event() {
        event_ = event_record{};
        has_id_ = false;
        has_name_ = false;
        is_destination_ = false;
        has_address_ = false;
        is_online_event_.reset();
        online_event_.reset();
        for (price_reading& price : prices_) {
            price.clear();
        }
        start_date_.clear();
        start_time_.clear();
        end_date_.clear();
        end_time_.clear();
        has_start_date_ = false;
        has_start_time_ = false;
        has_end_date_ = false;
        has_end_time_ = false;
        line_1_.clear();
        line_2_.clear();
        original_url_.clear();
    }

    // Picks where the string value of the pending field goes; nullptr skips it.
    bool begin_string(json::error_code& ec) {
        target_ = nullptr;
        if (depth_ == 0) {
            return decline(ec);
        }
        if (top().kind == scope::tags) {
            target_ = &event_.tags.emplace_back();
            return true;
        }
        if (top().kind == scope::results) {
            return read_array_scalar(ec);
        }
        if (pending_ != field::event_type && is_presence_only(pending_)) {
            return true;
        }
        switch (pending_) {
            case field::event_type:
                scratch_.clear();
                target_ = &scratch_;
                return true;
            case field::continuation:
                target_ = &current_pagination().continuation.emplace();
                return true;
            case field::event_id:
                has_id_ = true;
                target_ = &event_.id;
                return true;
            case field::event_name:
                has_name_ = true;
                target_ = &event_.name;
                return true;
            case field::summary:
                target_ = &event_.summary.emplace();
                return true;
            case field::url:
                target_ = &event_.url.emplace();
                return true;
            case field::timezone:
                target_ = &event_.timezone.emplace();
                return true;
            case field::start_date:
                has_start_date_ = true;
                target_ = &start_date_;
                return true;
            case field::start_time:
                has_start_time_ = true;
                target_ = &start_time_;
                return true;
            case field::end_date:
                has_end_date_ = true;
                target_ = &end_date_;
                return true;
            case field::end_time:
                has_end_time_ = true;
                target_ = &end_time_;
                return true;
            case field::series_id:
                target_ = &event_.series_id.emplace();
                return true;
            case field::currency:
                target_ = &current_price().currency;
                return true;
            case field::major_value:
                current_price().has_major_value = true;
                target_ = &current_price().major_value;
                return true;
            case field::venue_name:
                target_ = &event_.venue_name.emplace();
                return true;
            case field::address_display:
                target_ = &event_.address.emplace();
                return true;
            case field::address_line_1:
                target_ = &line_1_;
                return true;
            case field::address_line_2:
                target_ = &line_2_;
                return true;
            case field::address_city:
                target_ = &event_.city.emplace();
                return true;
            case field::address_region:
                target_ = &event_.region.emplace();
                return true;
            case field::address_country:
                target_ = &event_.country.emplace();
                return true;
            case field::latitude:
            case field::longitude:
                scratch_.clear();
                target_ = &scratch_;
                return true;
            case field::organizer_name:
                target_ = &event_.organizer_name.emplace();
                return true;
            case field::image_url:
                target_ = &event_.image_url.emplace();
                return true;
            case field::original_url:
                target_ = &original_url_;
                return true;
            case field::tag_text:
                target_ = &event_.tags.emplace_back();
                return true;
            default:
                return decline(ec);
        }
    }

    // Applies what the DOM path does to a string once it is complete.
    bool finish_string(json::error_code& ec) {
        if (top().kind == scope::tags) {
            drop_repeated_tag();
            return true;
        }
        switch (pending_) {
            case field::event_type:
                if (scratch_ == "destination_event") {
                    is_destination_ = true;
                }
                return true;
            case field::event_id:
                // An empty id is treated as missing, which gets a warning.
                return event_.id.empty() ? decline(ec) : true;
            case field::url: {
                // Drops the query string and fragment, as strip_query does.
                const std::size_t cut = event_.url->find_first_of("?#");
                if (cut != std::string::npos) {
                    event_.url->resize(cut);
                }
                return true;
            }
            case field::timezone:
                reset_if_empty(event_.timezone);
                return true;
            case field::venue_name:
                reset_if_empty(event_.venue_name);
                return true;
            case field::address_display:
                reset_if_empty(event_.address);
                return true;
            case field::address_city:
                reset_if_empty(event_.city);
                return true;
            case field::address_region:
                reset_if_empty(event_.region);
                return true;
            case field::address_country:
                reset_if_empty(event_.country);
                return true;
            case field::organizer_name:
                reset_if_empty(event_.organizer_name);
                return true;
            case field::image_url:
                reset_if_empty(event_.image_url);
                return true;
            case field::latitude:
                return read_coordinate_text(event_.latitude, 90.0, ec);
            case field::longitude:
                return read_coordinate_text(event_.longitude, 180.0, ec);
            case field::tag_text:
                drop_repeated_tag();
                return true;
            default:
                return true;
        }
    }

    static void reset_if_empty(std::optional<std::string>& text) {
        if (text && text->empty()) {
            text.reset();
        }
    }

    // Removes the tag just read when it is empty or already listed, as add_tag does.
    void drop_repeated_tag() {
        std::vector<std::string>& tags = event_.tags;
        const std::string& added = tags.back();
        bool repeated = added.empty();
        for (std::size_t i = 0; !repeated && i + 1 < tags.size(); ++i) {
            repeated = tags[i] == added;
        }
        if (repeated) {
            tags.pop_back();
        }
    }

    bool read_coordinate_text(std::optional<double>& out, double limit, json::error_code& ec) {
        if (scratch_.empty()) {
            return true;
        }
        double number = 0;
        const char* end = scratch_.data() + scratch_.size();
        const auto [parsed_end, error] = std::from_chars(scratch_.data(), end, number);
        if (error != std::errc{} || parsed_end != end) {
            return decline(ec);
        }
        return set_coordinate(out, number, limit, ec);
    }

    static bool set_coordinate(std::optional<double>& out,
                               double number,
                               double limit,
                               json::error_code& ec) {
        if (!std::isfinite(number) || std::abs(number) > limit) {
            return decline(ec);
        }
        out = number;
        return true;
    }

    // Handles a number of the pending field: `whole` is its value as int_at reads it (nothing
    // when int_at would reject it) and `real` its value as a double.
    bool read_number(std::optional<std::int64_t> whole, double real, json::error_code& ec) {
        if (is_presence_only(pending_)) {
            return true;
        }
        switch (pending_) {
            case field::latitude:
                return set_coordinate(event_.latitude, real, 90.0, ec);
            case field::longitude:
                return set_coordinate(event_.longitude, real, 180.0, ec);
            case field::price_value:
                if (!whole) {
                    return decline(ec);
                }
                current_price().value = whole;
                return true;
            case field::object_count:
                if (!whole) {
                    return decline(ec);
                }
                current_pagination().object_count = whole;
                return true;
            case field::page_count:
                return read_count(whole, current_pagination().page_count, ec);
            case field::page_number:
                return read_count(whole, current_pagination().page_number, ec);
            case field::page_size:
                return read_count(whole, current_pagination().page_size, ec);
            default:
                return decline(ec);
        }
    }

    static bool read_count(std::optional<std::int64_t> whole,
                           std::optional<int>& out,
                           json::error_code& ec) {
        if (!whole || *whole < 0 || *whole > std::numeric_limits<int>::max()) {
            return decline(ec);
        }
        out = static_cast<int>(*whole);
        return true;
    }

    // Joins a date and a time as read_date_time does; a lone part or a malformed one gets a
    // warning there, so it declines here.
    static bool join_date_time(bool has_day,
                               const std::string& day,
                               bool has_time,
                               const std::string& time_of_day,
                               std::optional<std::string>& out) {
        if (!has_day && !has_time) {
            return true;
        }
        if (!has_day || !has_time) {
            return false;
        }
        out = join_local_iso(day, time_of_day);
        return out.has_value();
    }

    const date::time_zone* zone_named(const std::string& name) {
        if (zone_ == nullptr || name != zone_name_) {
            zone_ = find_zone(name);
            zone_name_ = name;
        }
        return zone_;
    }

    // Sets the UTC times as set_times does; an unknown zone gets a warning there.
    bool set_utc_times() {
        if (!event_.timezone || (!event_.start_local && !event_.end_local)) {
            return true;
        }
        const date::time_zone* zone = zone_named(*event_.timezone);
        if (zone == nullptr) {
            return false;
        }
        if (event_.start_local) {
            if (const auto local = parse_local_iso(*event_.start_local)) {
                event_.start_utc = format_utc(local_to_utc(*zone, *local));
            }
        }
        if (event_.end_local) {
            if (const auto local = parse_local_iso(*event_.end_local)) {
                event_.end_utc = format_utc(local_to_utc(*zone, *local));
            }
        }
        return true;
    }

    // Converts one price as read_price does; an amount without a currency, or one that is
    // not a decimal for it, gets a warning there.
    static bool price_minor(const price_reading& price, std::optional<std::int64_t>& out) {
        out = price.value;
        if (!price.present || price.value || !price.has_major_value) {
            return true;
        }
        if (price.currency.empty()) {
            return false;
        }
        out = decimal_to_minor(price.major_value, currency_exponent(price.currency));
        return out.has_value();
    }

    bool set_prices() {
        std::optional<std::int64_t> low;
        std::optional<std::int64_t> high;
        if (!price_minor(prices_[0], low) || !price_minor(prices_[1], high)) {
            return false;
        }
        // Prices in two currencies get a warning.
        if (low && high && prices_[0].currency != prices_[1].currency) {
            return false;
        }
        event_.price_min_minor = low;
        event_.price_max_minor = high;
        const price_reading* source = low ? &prices_[0] : (high ? &prices_[1] : nullptr);
        if (source != nullptr && !source->currency.empty()) {
            event_.currency = source->currency;
        }
        return true;
    }

    void set_address_lines() {
        if (!has_address_ || event_.address) {
            return;
        }
        if (!line_1_.empty() && !line_2_.empty()) {
            event_.address = line_1_ + ", " + line_2_;
        } else if (!line_1_.empty()) {
            event_.address = line_1_;
        } else if (!line_2_.empty()) {
            event_.address = line_2_;
        }
    }

    // Completes the event as map_destination_event does and appends it to the output.
    bool finish_event(json::error_code& ec) {
        // Other event forms and events without an id or a name go to the DOM path.
        if (!is_destination_ || !has_id_ || !has_name_) {
            return decline(ec);
        }
        if (!join_date_time(
                has_start_date_, start_date_, has_start_time_, start_time_, event_.start_local) ||
            !join_date_time(has_end_date_, end_date_, has_end_time_, end_time_, event_.end_local) ||
            !set_utc_times()) {
            return decline(ec);
        }
        event_.is_online = is_online_event_ ? *is_online_event_ : online_event_.value_or(false);
        if (!set_prices()) {
            return decline(ec);
        }
        set_address_lines();
        if (!event_.image_url && !original_url_.empty()) {
            event_.image_url = original_url_;
        }
        output_.events.push_back(std::move(event_));
        return true;
    }

    scope root_ = scope::search_root;
    bool facts_only_ = false;
    std::array<frame, max_frames> frames_{};
    std::size_t depth_ = 0;
    std::size_t skip_depth_ = 0;  // nesting inside a skipped value
    field pending_ = field::none;
    bool string_open_ = false;
    std::string* target_ = nullptr;
    std::string key_buffer_;
    std::string scratch_;

    transform_output output_;
    // Pagination of the top level of a search body (0) and of an `events` object (1).
    std::array<page_facts, 2> pagination_{};
    bool root_has_events_ = false;
    bool root_has_results_ = false;
    bool data_has_events_ = false;
    bool events_have_results_ = false;
    bool has_place_id_ = false;
    bool root_is_array_ = false;
    bool root_has_batch_events_ = false;
    bool has_status_code_ = false;
    bool has_error_ = false;
    bool has_request_marker_ = false;
    bool has_event_search_ = false;
    std::size_t result_count_ = 0;
    std::size_t expected_events_ = 0;  // events of the previous page

    // The event being read.
    event_record event_;
    bool has_id_ = false;
    bool has_name_ = false;
    bool is_destination_ = false;
    bool has_address_ = false;
    std::optional<bool> is_online_event_;
    std::optional<bool> online_event_;
    std::array<price_reading, 2> prices_{};
    std::string start_date_;
    std::string start_time_;
    std::string end_date_;
    std::string end_time_;
    bool has_start_date_ = false;
    bool has_start_time_ = false;
    bool has_end_date_ = false;
    bool has_end_time_ = false;
    std::string line_1_;
    std::string line_2_;
    std::string original_url_;

    // The zone of the previous event, because a page's events mostly share one.
    const date::time_zone* zone_ = nullptr;
    std::string zone_name_;
};

using stream_parser = json::basic_parser<stream_handler>;

bool looks_like_html(std::string_view body) {
    const std::size_t first = body.find_first_not_of(" \t\r\n\f\v");
    return first != std::string_view::npos && body[first] == '<';
}

json::parse_options parser_options() {
    json::parse_options options;
    // The same limit as the DOM path, which __SERVER_DATA__ needs.
    options.max_depth = 512;
    return options;
}

// Parses the JSON value at the start of `text` and returns the output, or nothing when the
// parse fails or the handler declines. `whole_text` requires the value to end the text, as a
// search body must, while a listing page goes on after the value.
std::optional<transform_output> run_parser(std::string_view text,
                                           scope root,
                                           bool whole_text,
                                           bool facts_only) {
    // One parser per thread keeps its buffers from page to page.
    thread_local stream_parser parser(parser_options());
    parser.reset();
    parser.handler().start(root, facts_only);
    json::error_code error;
    const std::size_t consumed = parser.write_some(false, text.data(), text.size(), error);
    if (error || !parser.done() || (whole_text && consumed != text.size())) {
        return std::nullopt;
    }
    return parser.handler().finish();
}

// Runs the streaming path on a search body or a listing page; see stream_transform_page.
std::optional<transform_output> stream_page(const raw_page& page, bool facts_only) {
    const std::string_view body = page.body;
    switch (page.source) {
        case page_source::search_xhr:
            return run_parser(body, scope::search_root, true, facts_only);
        case page_source::listing_html: {
            // The DOM path reports a bot wall for these statuses when the data is missing.
            if (page.http_status == 403 || page.http_status == 429) {
                return std::nullopt;
            }
            const object_assignment assignment = find_object_assignment(body, server_data_name);
            if (assignment.status != assignment_status::found) {
                return std::nullopt;
            }
            // A value that parses completely ends where scan_json_value would end it, because
            // valid JSON has no '<' and no unbalanced bracket outside strings.
            return run_parser(
                body.substr(assignment.value_begin), scope::server_root, false, facts_only);
        }
        case page_source::file: {
            if (!looks_like_html(body)) {
                return run_parser(body, scope::file_root, true, facts_only);
            }
            // Saved listing pages; the DOM path's check for event-card HTML applies only to
            // pages without the assignment.
            const object_assignment assignment = find_object_assignment(body, server_data_name);
            if (assignment.status != assignment_status::found) {
                return std::nullopt;
            }
            return run_parser(
                body.substr(assignment.value_begin), scope::server_root, false, facts_only);
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<transform_output> stream_transform_page(const raw_page& page) {
    return stream_page(page, false);
}

std::optional<page_facts> stream_page_facts(const raw_page& page) {
    std::optional<transform_output> output = stream_page(page, true);
    if (!output) {
        return std::nullopt;
    }
    return output->facts;
}

}  // namespace eventcrawl::pipeline::detail
