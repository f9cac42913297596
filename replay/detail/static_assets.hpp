#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eventcrawl::replay::detail {

// One file the site serves under /static/, built in memory.
struct static_file {
    std::string content_type;
    std::string body;
    std::string etag;  // quoted, as the ETag header carries it
};

// The stylesheet, font, logo and event images of the listing pages. Every byte is a pure
// function of the code, so two servers send the same files.
struct static_assets {
    static_file stylesheet;           // /static/css/discover.css, about 30 KB of CSS
    static_file font;                 // /static/fonts/benton-sans.woff2, 28 KB of opaque bytes
    static_file logo;                 // /static/images/logo.png, a 110x40 PNG
    std::vector<static_file> images;  // pool the event images are drawn from
};

// Builds the assets. Takes a few milliseconds, so the server does it once at start.
static_assets build_static_assets();

// Returns the file served for `path`, or nullptr when the site has no such file. Event images
// live at /static/images/events/<event id>.png; the id picks one image of the pool.
const static_file* find_static_file(const static_assets& assets, std::string_view path);

// Path of the image a listing card of event `event_id` shows.
std::string event_image_path(std::string_view event_id);

// Encodes an RGB image (3 bytes a pixel, rows top to bottom) as a PNG file. The zlib stream
// uses stored blocks, so the file is about as large as the pixels.
std::string encode_png(int width, int height, const std::vector<std::uint8_t>& rgb);

// Value of the Cache-Control header of every static file.
inline constexpr std::string_view static_cache_control = "public, max-age=31536000, immutable";

}  // namespace eventcrawl::replay::detail
