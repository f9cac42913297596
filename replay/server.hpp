#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "replay/corpus.hpp"
#include "replay/faults.hpp"

namespace eventcrawl::replay {

namespace detail {
struct server_state;
}

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0 picks a free port
    // Delay added before every response except the /__replay/ control endpoints.
    std::chrono::milliseconds delay{0};
    // Extra delay drawn per response, uniform from 0 to this (not /__replay/).
    std::chrono::milliseconds jitter{0};
    // Rules for every city, matched after each city's faults.yaml rules.
    std::vector<fault_rule> faults;
    // Seed of the probability and jitter draws; a random seed when absent.
    std::optional<std::uint64_t> fault_seed;
    // Largest number of results a query serves; no cap when absent.
    std::optional<int> result_cap;
};

// HTTP server that replaces Eventbrite's listing pages and search API in tests. All its work
// runs on the io_context given to the constructor, so run that context on one thread.
class server {
public:
    server(boost::asio::io_context& io, corpus corpus, server_options options);
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server();

    // Binds, listens and starts accepting. Returns the bound endpoint (with the real port
    // when options.port is 0). Throws boost::system::system_error when the bind fails.
    boost::asio::ip::tcp::endpoint start();

    // Stops gracefully: closes the listening socket, lets requests in progress finish and
    // closes idle connections, so io_context::run returns. Safe to call from any thread.
    void stop();

private:
    std::shared_ptr<detail::server_state> state_;
};

}  // namespace eventcrawl::replay
