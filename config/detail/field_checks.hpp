#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventcrawl::config::detail {

// Reason a field value was rejected: what the field must contain and how to fix the value.
struct field_problem {
    std::string expected;
    std::string fix;
};

std::optional<field_problem> check_slug(std::string_view slug);
std::optional<field_problem> check_name(std::string_view name);
std::optional<field_problem> check_country(std::string_view country);
std::optional<field_problem> check_domain(std::string_view domain);
std::optional<field_problem> check_place_id(std::string_view place_id);
std::optional<field_problem> check_timezone(std::string_view zone);

// Parses a YAML plain scalar as a finite decimal number ("40.7128", "-74", "+1e2").
std::optional<double> parse_number(std::string_view text);

// Returns the Levenshtein distance over bytes. With case_sensitive=false, ASCII letters
// compare without regard to case.
std::size_t edit_distance(std::string_view a, std::string_view b, bool case_sensitive = true);

// Returns up to max_count candidates closest to target by edit distance, nearest first (ties in
// candidate order). Candidates farther than max_distance are skipped.
std::vector<std::string> closest_matches(const std::vector<std::string>& candidates,
                                         std::string_view target,
                                         std::size_t max_count,
                                         std::size_t max_distance,
                                         bool case_sensitive = true);

}  // namespace eventcrawl::config::detail
