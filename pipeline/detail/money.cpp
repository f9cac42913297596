#include "pipeline/detail/money.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace eventcrawl::pipeline::detail {

namespace {

// Active ISO 4217 codes whose minor unit is not 2.
// NOTE: recorded Eventbrite prices confirm the exponent only for USD, GBP, EUR, CAD, AUD and SGD.
constexpr std::array<std::string_view, 17> zero_decimal_codes = {"BIF",
                                                                 "CLP",
                                                                 "DJF",
                                                                 "GNF",
                                                                 "ISK",
                                                                 "JPY",
                                                                 "KMF",
                                                                 "KRW",
                                                                 "PYG",
                                                                 "RWF",
                                                                 "UGX",
                                                                 "UYI",
                                                                 "VND",
                                                                 "VUV",
                                                                 "XAF",
                                                                 "XOF",
                                                                 "XPF"};
constexpr std::array<std::string_view, 7> three_decimal_codes = {
    "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
constexpr std::array<std::string_view, 2> four_decimal_codes = {"CLF", "UYW"};

template <typename Codes>
bool contains(const Codes& codes, std::string_view code) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

int currency_exponent(std::string_view currency) {
    if (contains(zero_decimal_codes, currency)) {
        return 0;
    }
    if (contains(three_decimal_codes, currency)) {
        return 3;
    }
    if (contains(four_decimal_codes, currency)) {
        return 4;
    }
    return 2;
}

std::optional<std::int64_t> decimal_to_minor(std::string_view text, int exponent) {
    bool negative = false;
    if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
        negative = text.front() == '-';
        text.remove_prefix(1);
    }
    const std::size_t point = text.find('.');
    const std::string_view whole = text.substr(0, point);
    const std::string_view fraction =
        point == std::string_view::npos ? std::string_view{} : text.substr(point + 1);
    if (whole.empty() || !std::all_of(whole.begin(), whole.end(), is_digit) ||
        !std::all_of(fraction.begin(), fraction.end(), is_digit) ||
        (point != std::string_view::npos && fraction.empty())) {
        return std::nullopt;
    }

    constexpr std::int64_t max_value = std::numeric_limits<std::int64_t>::max();
    std::int64_t minor = 0;
    auto append_digit = [&minor](char digit) {
        if (minor > (max_value - (digit - '0')) / 10) {
            return false;
        }
        minor = minor * 10 + (digit - '0');
        return true;
    };

    for (char digit : whole) {
        if (!append_digit(digit)) {
            return std::nullopt;
        }
    }
    for (int i = 0; i < exponent; ++i) {
        const char digit = static_cast<std::size_t>(i) < fraction.size() ? fraction[i] : '0';
        if (!append_digit(digit)) {
            return std::nullopt;
        }
    }
    // Digits past the currency's precision must be zero: "1500.00" is fine for JPY,
    // "12.345" is not a USD amount.
    for (std::size_t i = static_cast<std::size_t>(exponent); i < fraction.size(); ++i) {
        if (fraction[i] != '0') {
            return std::nullopt;
        }
    }
    return negative ? -minor : minor;
}

}  // namespace eventcrawl::pipeline::detail
