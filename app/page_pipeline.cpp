#include "app/page_pipeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/clock.hpp"
#include "crawler/city_task.hpp"
#include "pipeline/transform.hpp"

namespace eventcrawl::app {
namespace {

namespace asio = boost::asio;

constexpr int write_attempts = 4;
constexpr std::chrono::milliseconds first_retry_delay{500};

db::archived_page to_archived(const pipeline::raw_page& page) {
    db::archived_page archived;
    archived.city_slug = page.city_slug;
    archived.page_number = page.page_number;
    archived.query = page.query;
    archived.url = page.url;
    archived.http_status = page.http_status;
    archived.content_type = page.content_type;
    archived.source = std::string(pipeline::to_string(page.source));
    archived.body = page.body;
    archived.captured_at = format_utc_iso(page.captured_at);
    return archived;
}

}  // namespace

pipeline::raw_page from_archived(const db::archived_page& archived) {
    pipeline::raw_page page;
    page.city_slug = archived.city_slug;
    page.page_number = archived.page_number;
    page.query = archived.query;
    page.url = archived.url;
    page.http_status = archived.http_status;
    page.content_type = archived.content_type;
    page.source =
        pipeline::parse_page_source(archived.source).value_or(pipeline::page_source::file);
    page.body = archived.body;
    return page;
}

city_line merge_city(const city_line& crawled, const city_tally* tally) {
    city_line merged = crawled;
    if (tally == nullptr) {
        return merged;
    }
    merged.events = tally->events;
    merged.pages_captured += tally->restored_pages;
    merged.problems.insert(merged.problems.end(), tally->problems.begin(), tally->problems.end());
    if (!tally->problems.empty() && merged.status == "ok") {
        merged.status = "failed";
    }
    return merged;
}

db::city_result to_city_result(const city_line& line) {
    db::city_result result;
    result.city_slug = line.slug;
    result.status = line.status;
    result.pages = line.pages_captured;
    result.events = line.events;
    result.errors = static_cast<int>(line.problems.size());
    if (!line.problems.empty()) {
        result.last_error = line.problems.back().message;
    }
    result.started_at = line.started_at;
    result.finished_at = line.finished_at;
    return result;
}

page_processor::page_processor(db::store& store,
                               std::int64_t run_id,
                               std::size_t batch_rows,
                               std::chrono::milliseconds max_age)
    : store_(store), run_id_(run_id), writer_(store, batch_rows, max_age) {}

void page_processor::process(const pipeline::raw_page& page) {
    auto& tally = tallies_[page.city_slug];
    pending_archive_[page.city_slug].push_back(to_archived(page));

    pipeline::transform_output output;
    try {
        output = pipeline::transform_page(page);
    } catch (const pipeline::transform_error& error) {
        spdlog::get("app")->warn(
            "city={} page={} transform failed: {}", page.city_slug, page.page_number, error.what());
        page_problem problem;
        problem.page = page.page_number;
        problem.phase = "transform";
        problem.http_status = page.http_status;
        problem.message = error.what();
        problem.kind = std::string(failure_kind(error.failure()));
        tally.problems.push_back(std::move(problem));
        return;
    }
    for (const auto& warning : output.warnings) {
        spdlog::get("app")->debug("city={} page={} {}", page.city_slug, page.page_number, warning);
    }

    tally.pages += 1;
    tally.events += static_cast<std::int64_t>(output.events.size());
    events_accepted_ += static_cast<std::int64_t>(output.events.size());

    // Every event is buffered even when a write fails part-way, so a retried flush loses none.
    std::exception_ptr write_failure;
    for (auto& event : output.events) {
        try {
            writer_.add(std::move(event));
        } catch (const std::exception&) {
            if (!write_failure) {
                write_failure = std::current_exception();
            }
        }
    }
    if (write_failure) {
        std::rethrow_exception(write_failure);
    }
}

void page_processor::finish_city(const city_line& crawled) {
    writer_.flush();
    archive_pending();

    const auto tally = tallies_.find(crawled.slug);
    const auto line = merge_city(crawled, tally == tallies_.end() ? nullptr : &tally->second);
    store_.commit_city(run_id_, to_city_result(line), {}, {}, utc_now_iso());
    ++cities_recorded_;
}

page_processor::restored_city page_processor::restore_city(
    const std::string& city_slug, const std::vector<db::archived_page>& pages) {
    // A city split into date windows numbers its pages per window, so no single page to
    // continue from exists: it is crawled again from the start, and its archived pages are
    // replaced as they are captured again.
    const bool split_into_windows =
        std::any_of(pages.begin(), pages.end(), [&](const db::archived_page& archived) {
            return archived.city_slug == city_slug && !archived.query.empty();
        });
    if (split_into_windows) {
        return {};
    }
    restored_city restored;
    for (const auto& archived : pages) {
        if (archived.city_slug != city_slug) {
            continue;
        }
        const pipeline::raw_page page = from_archived(archived);
        auto& tally = tallies_[city_slug];
        try {
            const auto output = pipeline::transform_page(page);
            for (auto event : output.events) {
                writer_.add(std::move(event));
            }
            tally.pages += 1;
            tally.restored_pages += 1;
            tally.events += static_cast<std::int64_t>(output.events.size());
            // A capped first page is followed by date windows, so it does not end the city.
            if (archived.page_number > restored.last_page) {
                restored.end_reason =
                    crawler::is_capped(output.facts)
                        ? std::string{}
                        : crawler::listing_end_reason(archived.page_number, output.facts);
            }
        } catch (const pipeline::transform_error& error) {
            if (archived.page_number > restored.last_page) {
                restored.end_reason.clear();
            }
            page_problem problem;
            problem.page = page.page_number;
            problem.phase = "transform";
            problem.http_status = page.http_status;
            problem.message = error.what();
            problem.kind = std::string(failure_kind(error.failure()));
            tally.problems.push_back(std::move(problem));
        }
        if (archived.page_number > restored.last_page) {
            restored.last_page = archived.page_number;
        }
    }
    writer_.flush();
    return restored;
}

void page_processor::flush_if_due() {
    if (writer_.flush_if_due(std::chrono::steady_clock::now())) {
        archive_pending();
    }
}

void page_processor::flush() {
    writer_.flush();
    archive_pending();
}

// Archives the pages whose events are written, so that a run killed mid-city can be resumed
// from the page after the last archived one. Pages stay pending when the write fails.
void page_processor::archive_pending() {
    for (auto entry = pending_archive_.begin(); entry != pending_archive_.end();) {
        if (!entry->second.empty()) {
            store_.archive_pages(run_id_, entry->second);
        }
        entry = pending_archive_.erase(entry);
    }
}

page_pipeline::page_pipeline(db::store& store,
                             std::int64_t run_id,
                             std::size_t queue_capacity,
                             std::size_t batch_rows,
                             std::chrono::milliseconds max_age)
    : channel_(io_, queue_capacity),
      processor_(store, run_id, batch_rows, max_age),
      max_age_(max_age) {}

page_pipeline::~page_pipeline() {
    if (thread_.joinable()) {
        channel_.close();
        thread_.join();
    }
}

void page_pipeline::start(std::function<void(const std::string&)> on_fatal) {
    on_fatal_ = std::move(on_fatal);
    asio::co_spawn(io_, receive_loop(), asio::detached);
    asio::co_spawn(io_, flush_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
}

void page_pipeline::finish() {
    if (!thread_.joinable()) {
        return;
    }
    // The receive loop drains the channel on its own thread, so a full channel frees a slot
    // soon. The end item then follows every page already sent.
    for (;;) {
        pipeline_item last;
        last.end_of_stream = true;
        if (channel_.try_send(boost::system::error_code{}, std::move(last))) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    thread_.join();
}

asio::awaitable<void> page_pipeline::receive_loop() {
    auto log = spdlog::get("app");
    log->info("pipeline started batch_max_age_ms={}", max_age_.count());
    bool closed = false;
    while (!closed) {
        auto [error, item] = co_await channel_.async_receive(asio::as_tuple(asio::use_awaitable));
        closed = static_cast<bool>(error) || item.end_of_stream;
        co_await handle(std::move(item), closed);
    }
    receiving_done_ = true;
    flush_timer_.cancel();
    log->info("pipeline stopped events={} cities={} batches={} items_not_written={}",
              processor_.events_accepted(),
              processor_.cities_recorded(),
              processor_.writer().stats().batches,
              items_lost_);
}

// Processes one item (or, once the channel is closed, writes what is left), retrying a failed
// database write with exponential backoff before giving up on the database.
asio::awaitable<void> page_pipeline::handle(pipeline_item item, bool closed) {
    auto log = spdlog::get("app");
    if (!fatal_error_.empty()) {
        items_lost_ += closed ? 0 : 1;
        co_return;
    }
    asio::steady_timer retry_timer(io_);
    bool page_processed = false;
    for (int attempt = 1;; ++attempt) {
        std::string failure;
        bool unavailable = false;
        try {
            if (!closed && !item.city_finished && !page_processed) {
                page_processed = true;
                processor_.process(item.page);
            } else if (item.city_finished) {
                processor_.finish_city(*item.city_finished);
            } else {
                processor_.flush();
            }
        } catch (const db::store_unavailable& write_error) {
            // The store already spent its reconnect attempts on this write.
            failure = write_error.what();
            unavailable = true;
        } catch (const std::exception& write_error) {
            failure = write_error.what();
        }
        if (failure.empty()) {
            co_return;
        }
        if (attempt >= write_attempts || unavailable) {
            fatal_error_ = failure;
            items_lost_ += closed ? 0 : 1;
            log->error("database write failed attempts={}, giving up: {}", attempt, failure);
            if (on_fatal_) {
                on_fatal_(fatal_error_);
            }
            co_return;
        }
        const auto delay = first_retry_delay * (1 << (attempt - 1));
        log->warn(
            "database write failed attempt={} retry_in_ms={}: {}", attempt, delay.count(), failure);
        retry_timer.expires_after(delay);
        co_await retry_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

asio::awaitable<void> page_pipeline::flush_loop() {
    const auto period = std::max(std::chrono::milliseconds(10), max_age_ / 2);
    while (!receiving_done_) {
        flush_timer_.expires_after(period);
        co_await flush_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (receiving_done_ || !fatal_error_.empty()) {
            continue;
        }
        try {
            processor_.flush_if_due();
        } catch (const std::exception& error) {
            // The receive loop retries this batch with the next item or at the end.
            spdlog::get("app")->warn("timed database write failed: {}", error.what());
        }
    }
}

}  // namespace eventcrawl::app
