#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace eventcrawl::pipeline::detail {

// Returns the number of minor-unit decimals of an ISO 4217 currency code. It is 0 for JPY,
// KRW, VND and the other zero-decimal currencies, 3 for BHD, KWD and the other three-decimal
// ones, 4 for CLF and UYW, and 2 for every other code.
int currency_exponent(std::string_view currency);

// Converts a decimal string such as "3405.80" to minor units at `exponent` decimals
// (340580). Returns nothing for text that is not a plain decimal number, for digits beyond
// `exponent` that are not zero, and for values that overflow int64.
std::optional<std::int64_t> decimal_to_minor(std::string_view text, int exponent);

}  // namespace eventcrawl::pipeline::detail
