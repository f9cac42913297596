#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "replay/corpus.hpp"
#include "replay/detail/server_state.hpp"
#include "replay/faults.hpp"

namespace eventcrawl::replay::detail {

// Identity of a request for fault matching, attempt counting and jitter.
struct request_identity {
    fault_endpoint endpoint = fault_endpoint::any;  // listing, search, static_file; any: other
    std::string city;                               // slug; empty for static and other requests
    int page = 0;                                   // 0 for static and other requests
    std::string path;                               // static and other requests only

    // Key of the attempt counter: equal for repeats of the same request.
    std::string key() const;
};

// Result of matching the fault rules against one request.
struct fault_match {
    std::chrono::milliseconds delay{0};  // sum of the matching delay rules
    const fault_rule* action = nullptr;  // the first matching rule that is not a delay
};

// Counts one more attempt of `request` and returns its number, starting at 1.
std::uint64_t count_attempt(server_state& state, const request_identity& request);

// Matches the city's faults.yaml rules, then the --fault rules, against attempt `attempt` of
// `request`, and counts what fires. `city` is nullptr for static and other requests.
fault_match match_faults(server_state& state,
                         const city* city,
                         const request_identity& request,
                         std::uint64_t attempt);

// Extra latency of attempt `attempt` of `request`: uniform in 0..options.jitter, a pure
// function of the seed, the request and the attempt.
std::chrono::milliseconds jitter_for(const server_state& state,
                                     const request_identity& request,
                                     std::uint64_t attempt);

// True when a rule with probability `probability` fires for these inputs. A pure function:
// equal inputs always give the same result.
bool roll_fires(std::uint64_t seed,
                std::string_view rule_source,
                std::size_t rule_index,
                const request_identity& request,
                std::uint64_t attempt,
                double probability);

}  // namespace eventcrawl::replay::detail
