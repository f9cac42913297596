#pragma once

#include <optional>

#include "pipeline/transform.hpp"

namespace eventcrawl::pipeline::detail {

// Maps any body through a boost::json DOM. This is the reference path: it reads every shape
// and produces every error and warning that transform_page documents. It logs nothing.
transform_output dom_transform_page(const raw_page& page);

// Maps a search response ({events: {pagination, results}} or {pagination, results}), a batch
// response ({pagination, events[]}), a bare array of events, or the window.__SERVER_DATA__ of
// an all-events listing page, straight from the token stream of boost::json::basic_parser,
// without building a DOM. Returns nothing (declines) for any other shape, and for every body
// on which dom_transform_page would throw or add a warning. When it returns output, that
// output equals dom_transform_page's. It also declines some bodies that the DOM path maps
// without a warning. These are repeated keys among those the mapping reads, a JSON type the
// mapping does not expect in a field it reads, events other than destination_event,
// object-valued names, city-browse pages (buckets), and bodies with both a top-level `events`
// and `results`.
// Batch responses and bare arrays are read only from recorded files, as the DOM path does.
// It logs nothing.
std::optional<transform_output> stream_transform_page(const raw_page& page);

// Reads only the pagination facts through the DOM, as read_page_facts did before the streaming
// path. It is the reference for stream_page_facts.
page_facts dom_page_facts(const raw_page& page);

// Reads only the pagination facts of the bodies stream_transform_page reads, counting the
// result items without mapping them. Returns nothing where dom_page_facts would throw, for the
// shapes that stream_transform_page leaves to the DOM path, and for bare arrays of events.
// Otherwise it returns what dom_page_facts returns.
std::optional<page_facts> stream_page_facts(const raw_page& page);

}  // namespace eventcrawl::pipeline::detail
