#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "replay/corpus.hpp"
#include "replay/detail/static_assets.hpp"
#include "replay/faults.hpp"
#include "replay/server.hpp"

namespace eventcrawl::replay::detail {

// Pages served to one city, counted by endpoint.
struct city_counters {
    std::uint64_t listing = 0;
    std::uint64_t search = 0;
};

// Counters reported by GET /__replay/stats. Requests to /__replay/ itself are not counted.
struct server_counters {
    std::uint64_t listing = 0;
    std::uint64_t search = 0;
    std::uint64_t static_files = 0;
    std::uint64_t other = 0;
    std::map<std::string, city_counters> pages_by_city;
    int in_flight = 0;
    int max_in_flight = 0;
    std::set<std::string> csrf_tokens;
};

// One open connection, so stop() can close it while it waits for a request.
struct connection_entry {
    boost::beast::tcp_stream* stream = nullptr;
    bool busy = false;
};

// Everything the server's coroutines share. Only touched on the io_context's thread.
struct server_state {
    server_state(boost::asio::io_context& io, corpus data, server_options settings)
        : io(io),
          acceptor(io),
          corpus(std::move(data)),
          options(std::move(settings)),
          fault_seed(options.fault_seed.value_or(std::random_device{}())),
          assets(build_static_assets()) {}

    boost::asio::io_context& io;
    boost::asio::ip::tcp::acceptor acceptor;
    replay::corpus corpus;
    server_options options;
    server_counters counters;
    // How often each fault rule fired: key is (rule source, rule index). The source is the
    // city slug for faults.yaml rules and "--fault:" plus the city slug for --fault rules.
    std::map<std::pair<std::string, std::size_t>, int> fault_fired;
    // Faults fired by kind, for /__replay/stats.
    std::map<fault_kind, std::uint64_t> faults_by_kind;
    // Attempts of each request, keyed by request_identity::key().
    std::map<std::string, std::uint64_t> attempts;
    // Seed of the fault and jitter draws: options.fault_seed, or a random one.
    std::uint64_t fault_seed;
    static_assets assets;
    std::map<std::uint64_t, connection_entry> connections;
    std::uint64_t next_connection_id = 0;
    bool stopping = false;
    std::mt19937_64 random{std::random_device{}()};
};

}  // namespace eventcrawl::replay::detail
