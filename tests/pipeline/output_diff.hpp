#pragma once

#include <string>

#include "pipeline/transform.hpp"

namespace eventcrawl::pipeline::testing {

// Compares two transform outputs field by field: events, page facts and warnings. Returns an
// empty string when they are equal, otherwise the first differing field with both values.
std::string describe_difference(const transform_output& left, const transform_output& right);

// Compares two sets of page facts the same way.
std::string describe_difference(const page_facts& left, const page_facts& right);

}  // namespace eventcrawl::pipeline::testing
