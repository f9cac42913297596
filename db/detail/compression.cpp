#include "db/detail/compression.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <limits>

#include "db/store.hpp"

namespace eventcrawl::db::detail {

std::string zlib_compress(std::string_view data) {
    if (data.size() > std::numeric_limits<uLong>::max()) {
        throw store_error{fmt::format("cannot compress a body of {} bytes: zlib takes at most {}",
                                      data.size(),
                                      std::numeric_limits<uLong>::max())};
    }
    uLongf compressed_size = compressBound(static_cast<uLong>(data.size()));
    std::string compressed(compressed_size, '\0');
    const int rc = compress2(reinterpret_cast<Bytef*>(compressed.data()),
                             &compressed_size,
                             reinterpret_cast<const Bytef*>(data.data()),
                             static_cast<uLong>(data.size()),
                             6);
    if (rc != Z_OK) {
        throw store_error{fmt::format(
            "zlib compression of a body of {} bytes failed with code {}", data.size(), rc)};
    }
    compressed.resize(compressed_size);
    return compressed;
}

std::string zlib_decompress(std::string_view compressed,
                            std::size_t original_size,
                            std::string_view what) {
    std::string data(original_size, '\0');
    uLongf data_size = static_cast<uLongf>(original_size);
    // uncompress() needs a non-null output pointer even for an empty body.
    char empty_output = '\0';
    Bytef* output = original_size == 0 ? reinterpret_cast<Bytef*>(&empty_output)
                                       : reinterpret_cast<Bytef*>(data.data());
    const int rc = uncompress(output,
                              &data_size,
                              reinterpret_cast<const Bytef*>(compressed.data()),
                              static_cast<uLong>(compressed.size()));
    if (rc != Z_OK || data_size != original_size) {
        throw store_error{fmt::format(
            "archived body of {} is corrupt: zlib returned code {} after {} of {} expected bytes; "
            "archive the page again",
            what,
            rc,
            data_size,
            original_size)};
    }
    return data;
}

}  // namespace eventcrawl::db::detail
