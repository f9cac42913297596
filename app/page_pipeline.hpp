#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/crawl_report.hpp"
#include "db/batch_writer.hpp"
#include "db/store.hpp"
#include "pipeline/raw_page.hpp"

namespace eventcrawl::app {

// Counts and problems of one city, as the transform and write stages saw them.
struct city_tally {
    int pages = 0;
    int restored_pages = 0;  // pages re-read from an earlier attempt of a resumed run
    std::int64_t events = 0;
    std::vector<page_problem> problems;
};

// One message from the crawl to the pipeline: a captured page, or the end of a city.
// Default-constructible because Asio channels build an empty value on close.
struct pipeline_item {
    pipeline::raw_page page;
    std::optional<city_line> city_finished;
    bool end_of_stream = false;  // the last item: write what is left and stop
};

// Transforms raw pages, writes their events in batches, keeps each page in the run's archive
// and records each finished city. Single-threaded: the async crawl runs it on the pipeline
// thread, the sync crawl and retransform call it inline.
class page_processor {
public:
    page_processor(db::store& store,
                   std::int64_t run_id,
                   std::size_t batch_rows,
                   std::chrono::milliseconds max_age);

    // Transforms the page and buffers its events; a page that cannot be transformed is
    // recorded as a problem of its city. Throws when a batch cannot be written.
    void process(const pipeline::raw_page& page);

    // Writes what is buffered, then the city's archived pages and its result in one
    // transaction, so a city is never recorded as done before its events are stored.
    // Throws when the database write fails; the city can be finished again afterwards.
    void finish_city(const city_line& crawled);

    void flush_if_due();
    void flush();

    // The result of restore_city for one city: the highest page number read (0 if none), and
    // whether that page is the last of the listing, so that the city needs no further page.
    struct restored_city {
        int last_page = 0;
        std::string end_reason;  // empty while pages follow
    };

    // Re-reads pages archived by an earlier attempt of the run (a resumed city), writes their
    // events and counts them for the city.
    restored_city restore_city(const std::string& city_slug,
                               const std::vector<db::archived_page>& pages);

    const std::map<std::string, city_tally>& tallies() const { return tallies_; }
    const db::batch_writer& writer() const { return writer_; }
    std::int64_t events_accepted() const { return events_accepted_.load(); }
    std::int64_t cities_recorded() const { return cities_recorded_.load(); }

private:
    void archive_pending();

    db::store& store_;
    std::int64_t run_id_;
    db::batch_writer writer_;
    std::map<std::string, city_tally> tallies_;
    std::map<std::string, std::vector<db::archived_page>> pending_archive_;
    std::atomic<std::int64_t> events_accepted_{0};
    std::atomic<std::int64_t> cities_recorded_{0};
};

// Merges the crawler's view of a city with what the transform stage saw of it.
city_line merge_city(const city_line& crawled, const city_tally* tally);

// A page read back from a run's archive, as the crawler delivered it (without capture time).
pipeline::raw_page from_archived(const db::archived_page& archived);

// Converts a report line into the database's city result.
db::city_result to_city_result(const city_line& line);

// The async crawl's transform and write stages on a thread of their own, fed through a
// bounded channel. While cities are crawled, every database call runs on this thread, not on
// the thread that carries CDP traffic.
class page_pipeline {
public:
    using channel_type = boost::asio::experimental::concurrent_channel<void(
        boost::system::error_code, pipeline_item)>;

    page_pipeline(db::store& store,
                  std::int64_t run_id,
                  std::size_t queue_capacity,
                  std::size_t batch_rows,
                  std::chrono::milliseconds max_age);
    ~page_pipeline();

    channel_type& channel() { return channel_; }

    // Starts the thread. on_fatal runs on that thread when the database fails for good.
    void start(std::function<void(const std::string&)> on_fatal);

    // Sends the end-of-stream item once the producers are done, waits until the thread has
    // written every item before it, and joins the thread. The channel is not closed for this,
    // because closing an Asio channel discards the items still buffered in it.
    void finish();

    const page_processor& processor() const { return processor_; }

    // For setting up a resumed run before start(); the processor belongs to the thread after.
    page_processor& processor_before_start() { return processor_; }

    std::int64_t items_lost() const { return items_lost_; }
    const std::string& fatal_error() const { return fatal_error_; }

private:
    boost::asio::awaitable<void> receive_loop();
    boost::asio::awaitable<void> flush_loop();
    boost::asio::awaitable<void> handle(pipeline_item item, bool closed);

    boost::asio::io_context io_;
    channel_type channel_;
    page_processor processor_;
    std::chrono::milliseconds max_age_;
    std::function<void(const std::string&)> on_fatal_;
    std::string fatal_error_;
    std::int64_t items_lost_ = 0;
    bool receiving_done_ = false;
    // The flush loop's timer; the receive loop cancels it when it ends, so that the pipeline
    // stops without waiting out the timer's period.
    boost::asio::steady_timer flush_timer_{io_};
    std::thread thread_;
};

}  // namespace eventcrawl::app
