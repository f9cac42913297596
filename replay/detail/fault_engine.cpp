#include "replay/detail/fault_engine.hpp"

#include <fmt/format.h>

#include "replay/detail/hash.hpp"
#include "replay/detail/logger.hpp"

namespace eventcrawl::replay::detail {

namespace {

// Tag of the --fault rules in fault_fired keys; no city slug contains a colon.
constexpr std::string_view flag_rule_source = "--fault:";

// splitmix64 finalizer: spreads every input bit over the output.
std::uint64_t mix(std::uint64_t value) {
    value += 0x9E3779B97F4A7C15ULL;
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
    return value ^ (value >> 31);
}

std::uint64_t request_hash(std::uint64_t seed,
                           const request_identity& request,
                           std::uint64_t attempt) {
    std::uint64_t hash = mix(seed);
    hash = mix(hash ^ static_cast<std::uint64_t>(request.endpoint));
    hash = mix(hash ^ fnv1a(request.city));
    hash = mix(hash ^ static_cast<std::uint64_t>(request.page));
    hash = mix(hash ^ fnv1a(request.path));
    return mix(hash ^ attempt);
}

bool kind_applies(fault_kind kind, fault_endpoint endpoint) {
    switch (kind) {
        case fault_kind::no_place_id:
        case fault_kind::truncated_server_data:
            return endpoint == fault_endpoint::listing;
        case fault_kind::truncated_body:
            return endpoint == fault_endpoint::search;
        case fault_kind::empty_results:
        case fault_kind::capped_pages:
            return endpoint == fault_endpoint::listing || endpoint == fault_endpoint::search;
        default:
            return true;
    }
}

bool endpoint_matches(const fault_rule& rule, const request_identity& request) {
    if (request.endpoint == fault_endpoint::any) {
        // Requests the site does not route (404s) are never faulted.
        return false;
    }
    return rule.endpoint == fault_endpoint::any || rule.endpoint == request.endpoint;
}

// Applies the rules of one source to the request, updating `match`.
void match_rules(server_state& state,
                 const std::vector<fault_rule>& rules,
                 const std::string& source,
                 const request_identity& request,
                 std::uint64_t attempt,
                 fault_match& match) {
    for (std::size_t index = 0; index < rules.size(); ++index) {
        const fault_rule& rule = rules[index];
        if (!endpoint_matches(rule, request) || !kind_applies(rule.kind, request.endpoint)) {
            continue;
        }
        if ((rule.page && *rule.page != request.page) ||
            (rule.city && *rule.city != request.city)) {
            continue;
        }
        if (rule.kind != fault_kind::delay && match.action != nullptr) {
            continue;
        }
        int& fired = state.fault_fired[{source, index}];
        if (rule.times && fired >= *rule.times) {
            continue;
        }
        if (!roll_fires(state.fault_seed, source, index, request, attempt, rule.probability)) {
            continue;
        }
        ++fired;
        ++state.faults_by_kind[rule.kind];
        logger()->info("Fault fired city={} endpoint={} page={} kind={} attempt={} count={}",
                       request.city.empty() ? "-" : request.city,
                       to_string(request.endpoint),
                       request.page,
                       to_string(rule.kind),
                       attempt,
                       fired);
        if (rule.kind != fault_kind::stall) {
            // A stall rule's delay_ms is the length of the stall, not a delay before it.
            match.delay += std::chrono::milliseconds(rule.delay_ms);
        }
        if (rule.kind != fault_kind::delay) {
            match.action = &rule;
        }
    }
}

}  // namespace

std::string request_identity::key() const {
    return fmt::format("{}|{}|{}|{}", to_string(endpoint), city, page, path);
}

std::uint64_t count_attempt(server_state& state, const request_identity& request) {
    return ++state.attempts[request.key()];
}

bool roll_fires(std::uint64_t seed,
                std::string_view rule_source,
                std::size_t rule_index,
                const request_identity& request,
                std::uint64_t attempt,
                double probability) {
    if (probability >= 1.0) {
        return true;
    }
    if (probability <= 0.0) {
        return false;
    }
    std::uint64_t hash = request_hash(seed, request, attempt);
    hash = mix(hash ^ fnv1a(rule_source));
    hash = mix(hash ^ rule_index);
    // The top 53 bits as a double in [0, 1).
    const double sample = static_cast<double>(hash >> 11) * 0x1.0p-53;
    return sample < probability;
}

fault_match match_faults(server_state& state,
                         const city* city,
                         const request_identity& request,
                         std::uint64_t attempt) {
    fault_match match;
    if (city != nullptr) {
        match_rules(state, city->faults, city->slug, request, attempt, match);
    }
    const std::string flag_source = std::string(flag_rule_source) + request.city;
    match_rules(state, state.options.faults, flag_source, request, attempt, match);
    return match;
}

std::chrono::milliseconds jitter_for(const server_state& state,
                                     const request_identity& request,
                                     std::uint64_t attempt) {
    const auto range = state.options.jitter.count();
    if (range <= 0) {
        return std::chrono::milliseconds(0);
    }
    const std::uint64_t hash =
        mix(request_hash(state.fault_seed, request, attempt) ^ fnv1a("jitter"));
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(hash % static_cast<std::uint64_t>(range + 1)));
}

}  // namespace eventcrawl::replay::detail
