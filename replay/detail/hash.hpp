#pragma once

#include <cstdint>
#include <string_view>

namespace eventcrawl::replay::detail {

// 64-bit FNV-1a: a stable hash of a text, equal on every platform and standard library.
inline std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t hash = 14695981039346656037ULL;
    for (const char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

}  // namespace eventcrawl::replay::detail
