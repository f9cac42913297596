#pragma once

#include <cstdint>
#include <filesystem>

#include "replay/corpus.hpp"

namespace eventcrawl::replay {

struct synthetic_options {
    int cities = 1;
    int pages = 1;
    std::uint64_t seed = 1;
};

// Events per generated page.
inline constexpr int synthetic_page_size = 20;

// Generates a corpus of `cities` cities with `pages` full pages each. The same options always
// give the same corpus. The variations each event index receives are listed in
// replay/README.md. Throws std::invalid_argument when cities or pages is below 1.
corpus generate_corpus(const synthetic_options& options);

// Writes a corpus in the folder layout load_corpus reads: cities.yaml, then per city
// results.json or search-page-<N>.json. Fault rules are not written.
// Throws corpus_error when a file cannot be written.
void write_corpus(const corpus& corpus, const std::filesystem::path& directory);

}  // namespace eventcrawl::replay
