#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/raw_page.hpp"

namespace eventcrawl::crawler {

// Receives every page a city task captures. The async crawl sends pages into a bounded
// channel, and deliver() waits while the channel is full. The sync crawl transforms and
// stores each page before deliver() returns.
class page_sink {
public:
    virtual ~page_sink() = default;
    virtual boost::asio::awaitable<void> deliver(pipeline::raw_page page) = 0;
};

}  // namespace eventcrawl::crawler
