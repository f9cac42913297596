#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eventcrawl::db::detail {

// Compresses `data` with zlib (deflate in a zlib wrapper, level 6). Throws store_error when
// zlib fails, which only happens when memory runs out.
std::string zlib_compress(std::string_view data);

// Decompresses a zlib_compress result whose original length is `original_size`. Throws
// store_error naming `what` when the data is corrupt or does not inflate to exactly
// original_size bytes.
std::string zlib_decompress(std::string_view compressed,
                            std::size_t original_size,
                            std::string_view what);

}  // namespace eventcrawl::db::detail
