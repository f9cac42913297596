#pragma once

// Keys that the streaming transform reads, per kind of object, with the lookup table that maps a
// key to its field.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace eventcrawl::pipeline::detail::stream {

// Objects and arrays whose members the handler reads. Every other value is skipped.
enum class scope : std::uint8_t {
    search_root,  // top level of a search XHR body
    file_root,    // top level of a recorded JSON file
    server_root,  // top level of window.__SERVER_DATA__
    search_data,
    events_object,  // {pagination, results}
    pagination,
    results,  // array of events
    event,
    ticket_availability,
    price,
    venue,
    address,
    organizer,
    image,
    image_original,
    tags,  // array of strings or {tag} objects
    tag_object,
};

// One member that the mapping reads, named by the object it sits in and its key.
enum class field : std::uint8_t {
    none,
    root_events,
    root_results,
    root_pagination,
    // Keys that make the DOM path read a recorded file as a document without events: an
    // API error response (status_code and error) or a search request (event_search, body).
    status_code_marker,
    error_marker,
    request_marker,
    event_search_marker,
    search_data,
    place_id,
    data_events,
    events_results,
    events_pagination,
    object_count,
    page_count,
    page_number,
    page_size,
    continuation,
    has_more_items,
    event_type,
    json_ld_marker,
    destination_marker,
    event_id,
    event_name,
    summary,
    url,
    timezone,
    start_date,
    start_time,
    end_date,
    end_time,
    is_online_event,
    online_event,
    is_cancelled,
    ticket_availability,
    primary_venue,
    primary_organizer,
    series_id,
    image,
    tags,
    is_free,
    minimum_price,
    maximum_price,
    currency,
    price_value,
    major_value,
    venue_name,
    venue_address,
    address_display,
    address_line_1,
    address_line_2,
    address_city,
    address_region,
    address_country,
    latitude,
    longitude,
    organizer_name,
    image_url,
    image_original,
    original_url,
    tag_text,
};

struct key_entry {
    std::string_view key;
    field id;
};

// The keys read in one kind of object, with a small open-addressing hash index, because most
// keys of an event are not read and each miss should cost one or two probes.
class key_table {
public:
    static constexpr std::size_t max_keys = 32;

    key_table(std::initializer_list<key_entry> entries) {
        for (const key_entry& entry : entries) {
            std::size_t bucket = hash(head_of(entry.key), entry.key.size());
            while (buckets_[bucket] != 0) {
                bucket = (bucket + 1) % bucket_count;
            }
            entries_[count_] = entry;
            heads_[count_] = head_of(entry.key);
            ++count_;
            buckets_[bucket] = static_cast<std::uint8_t>(count_);
        }
    }

    // Returns the index of `key` in the table, or -1 when the mapping does not read it.
    int find(std::string_view key) const {
        const std::uint64_t head = head_of(key);
        std::size_t bucket = hash(head, key.size());
        while (true) {
            const std::uint8_t slot = buckets_[bucket];
            if (slot == 0) {
                return -1;
            }
            // Most probes end at the first 8 bytes, without a call to memcmp.
            const std::size_t index = slot - 1U;
            const std::string_view candidate = entries_[index].key;
            if (heads_[index] == head && candidate.size() == key.size() &&
                (key.size() <= 8 ||
                 std::memcmp(candidate.data() + 8, key.data() + 8, key.size() - 8) == 0)) {
                return static_cast<int>(index);
            }
            bucket = (bucket + 1) % bucket_count;
        }
    }

    field id_at(int index) const { return entries_[static_cast<std::size_t>(index)].id; }

private:
    static constexpr std::size_t bucket_count = 128;

    // The first 8 bytes of a key, zero-padded, as one integer.
    static std::uint64_t head_of(std::string_view key) {
        std::uint64_t head = 0;
        if (key.size() >= 8) {
            std::memcpy(&head, key.data(), 8);
            return head;
        }
        for (std::size_t i = 0; i < key.size(); ++i) {
            head |= static_cast<std::uint64_t>(static_cast<unsigned char>(key[i])) << (8 * i);
        }
        return head;
    }

    // Hashes the head and the length by multiplication. The top 7 bits pick the bucket.
    static std::size_t hash(std::uint64_t head, std::size_t length) {
        return static_cast<std::size_t>(((head ^ length) * 0x9E3779B97F4A7C15ULL) >> 57);
    }

    std::array<key_entry, max_keys> entries_{};
    std::array<std::uint64_t, max_keys> heads_{};
    std::array<std::uint8_t, bucket_count> buckets_{};
    std::size_t count_ = 0;
};

// Returns the keys read in objects of `kind`; arrays have none.
const key_table& keys_of(scope kind);

}  // namespace eventcrawl::pipeline::detail::stream
