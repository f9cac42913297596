#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "app/crawl_command.hpp"
#include "app/crawl_report.hpp"
#include "crawler/browser_pool.hpp"
#include "crawler/page_sink.hpp"
#include "crawler/rate_limiter.hpp"

namespace eventcrawl::app {

// Destination of captured pages and finished cities: the pipeline thread or the inline
// processor.
class run_sink : public crawler::page_sink {
public:
    virtual boost::asio::awaitable<void> finish_city(city_line line) = 0;
};

struct crawl_target {
    std::string slug;
    std::string origin;
    int first_page = 1;  // later than 1 when a resumed run already has the earlier pages
    // The reason ("page_count reached", ...) that the archive of a resumed run already contains
    // the listing's last page. The city is then recorded without a request. Empty while pages
    // follow.
    std::string archived_end_reason;
};

// The crawl's state on the event-loop thread: a fixed number of worker coroutines take cities
// from a queue, each crawling one city at a time through the browser pool.
class crawl_run {
public:
    crawl_run(const crawl_options& options, std::vector<crawl_target> targets);

    // Replaces the targets before run() starts (a resumed run sets each city's first page).
    void set_targets(std::vector<crawl_target> targets);

    // Starts the browser pool, crawls every target and closes the pool.
    boost::asio::awaitable<void> run(run_sink& sink);

    // Starts no new city and cancels the running ones. After options.shutdown_grace (or at a
    // second request) run() closes the browsers, which ends every city still running.
    void request_stop(const std::string& reason);

    const std::vector<city_line>& lines() const { return lines_; }
    bool interrupted() const { return interrupted_; }
    std::size_t cities_done() const { return lines_.size(); }

private:
    boost::asio::awaitable<void> worker(std::reference_wrapper<run_sink> sink);
    boost::asio::awaitable<city_line> crawl_city(crawl_target target, run_sink& sink);

    const crawl_options& options_;
    std::vector<crawl_target> targets_;
    std::deque<crawl_target> pending_;
    std::vector<city_line> lines_;
    std::list<boost::asio::cancellation_signal> cancel_signals_;
    std::unique_ptr<crawler::browser_pool> pool_;
    std::shared_ptr<crawler::rate_limiter> limiter_;  // shared by every city of the run
    int active_workers_ = 0;
    bool stop_requested_ = false;
    bool interrupted_ = false;
    bool forced_ = false;
    std::chrono::steady_clock::time_point force_at_{};
};

}  // namespace eventcrawl::app
