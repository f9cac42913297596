#include "app/crawl_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <list>

#include "app/clock.hpp"
#include "app/crawl_report.hpp"
#include "app/page_pipeline.hpp"
#include "config/city_list.hpp"
#include "crawler/browser_pool.hpp"
#include "crawler/city_task.hpp"
#include "crawler/page_sink.hpp"
#include "db/store.hpp"

namespace eventcrawl::app {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

// Counts every captured page's HTTP status; shared by both sinks.
struct capture_counters {
    std::map<int, std::int64_t> status_codes;
    std::int64_t pages = 0;
};

// Async mode: pages wait in the bounded channel for the pipeline thread.
class channel_sink final : public crawler::page_sink {
  public:
    channel_sink(page_pipeline::channel_type& channel, capture_counters& counters)
        : channel_(channel), counters_(counters) {}

    asio::awaitable<void> deliver(pipeline::raw_page page) override {
        ++counters_.status_codes[page.http_status];
        ++counters_.pages;
        auto [error] = co_await channel_.async_send(
            boost::system::error_code{}, std::move(page), asio::as_tuple(asio::use_awaitable));
        if (error) {
            throw std::runtime_error("the pipeline stopped accepting pages: " + error.message());
        }
    }

  private:
    page_pipeline::channel_type& channel_;
    capture_counters& counters_;
};

// Sync mode: each page is transformed and written before the crawler moves on.
class inline_sink final : public crawler::page_sink {
  public:
    inline_sink(page_processor& processor, capture_counters& counters)
        : processor_(processor), counters_(counters) {}

    asio::awaitable<void> deliver(pipeline::raw_page page) override {
        ++counters_.status_codes[page.http_status];
        ++counters_.pages;
        processor_.process(page);
        processor_.flush();
        co_return;
    }

  private:
    page_processor& processor_;
    capture_counters& counters_;
};

struct crawl_target {
    std::string slug;
    std::string origin;
};

std::vector<crawl_target> select_targets(const crawl_options& options) {
    const auto cities = config::load_city_list(options.cities_file);
    std::vector<const config::city*> chosen;
    if (options.city_slugs.empty()) {
        for (const auto& city : cities) {
            chosen.push_back(&city);
        }
    } else {
        for (const auto& slug : options.city_slugs) {
            chosen.push_back(&config::find_city(cities, slug));
        }
    }
    std::string base = options.base_url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    std::vector<crawl_target> targets;
    for (const auto* city : chosen) {
        crawl_target target;
        target.slug = city->slug;
        target.origin = base.empty() ? config::origin_for(*city) : base;
        targets.push_back(std::move(target));
    }
    return targets;
}

void validate_base_url(const std::string& base_url) {
    if (base_url.empty()) {
        return;
    }
    if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0) {
        throw std::invalid_argument("invalid --base-url '" + base_url +
                                    "': expected http://host[:port] or https://host[:port]");
    }
}

// The crawl's state on the event-loop thread.
class crawl_run {
  public:
    crawl_run(const crawl_options& options, std::vector<crawl_target> targets)
        : options_(options),
          targets_(std::move(targets)),
          pending_(targets_.begin(), targets_.end()) {}

    std::vector<city_line>& lines() { return lines_; }
    bool interrupted() const { return interrupted_; }

    asio::awaitable<void> run(crawler::page_sink& sink) {
        auto executor = co_await asio::this_coro::executor;
        auto log = spdlog::get("app");

        crawler::browser_pool_options pool_options;
        pool_options.browsers = options_.browsers;
        pool_options.browser_urls = options_.browser_urls;
        pool_options.chromium_path = options_.chromium_path;
        pool_options.pages_per_browser = options_.pages_per_browser;
        pool_ = co_await crawler::browser_pool::start(executor, pool_options);

        const int workers =
            options_.mode == "sync"
                ? 1
                : std::min<int>(options_.concurrency, static_cast<int>(targets_.size()));
        log->info("crawl starting cities={} mode={} concurrency={} browsers={}",
                  targets_.size(),
                  options_.mode,
                  workers,
                  options_.browser_urls.empty() ? options_.browsers
                                                : static_cast<int>(options_.browser_urls.size()));

        active_workers_ = workers;
        for (int i = 0; i < workers; ++i) {
            auto& signal = cancel_signals_.emplace_back();
            asio::co_spawn(executor,
                           worker(std::ref(sink)),
                           asio::bind_cancellation_slot(signal.slot(), asio::detached));
        }

        asio::steady_timer wait_timer(executor);
        while (active_workers_ > 0) {
            wait_timer.expires_after(std::chrono::milliseconds(50));
            co_await wait_timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (stop_requested_ && !forced_ && steady::now() >= force_at_) {
                forced_ = true;
                log->warn("stopping: grace period over, closing browsers");
                co_await pool_->shutdown();
            }
        }
        if (!forced_) {
            co_await pool_->shutdown();
        }
        log->info("crawl stopped cities_done={} interrupted={}", lines_.size(), interrupted_);
    }

    // First stage of a shutdown: start no new city and cancel the running ones; after the
    // grace period run() closes the browsers.
    void request_stop(const std::string& reason) {
        if (stop_requested_) {
            force_at_ = steady::now();
            return;
        }
        stop_requested_ = true;
        interrupted_ = true;
        force_at_ = steady::now() + options_.shutdown_grace;
        spdlog::get("app")->warn("stopping: {}; cities not started: {}", reason, pending_.size());
        for (auto& signal : cancel_signals_) {
            signal.emit(asio::cancellation_type::terminal);
        }
    }

    std::size_t cities_done() const { return lines_.size(); }

  private:
    asio::awaitable<void> worker(std::reference_wrapper<crawler::page_sink> sink) {
        while (!stop_requested_ && !pending_.empty()) {
            auto target = pending_.front();
            pending_.pop_front();
            lines_.push_back(co_await crawl_city(target, sink.get()));
        }
        --active_workers_;
    }

    asio::awaitable<city_line> crawl_city(crawl_target target, crawler::page_sink& sink) {
        crawler::city_spec spec;
        spec.slug = target.slug;
        spec.origin = target.origin;
        crawler::city_task_options task_options;
        task_options.max_pages = options_.max_pages;
        task_options.page_timeout = options_.page_timeout;

        city_line line;
        line.slug = target.slug;
        line.started_at = utc_now_iso();
        const auto started = steady::now();
        try {
            auto report = co_await crawler::run_city_task(*pool_, spec, task_options, sink);
            line.status = report.status;
            line.pages_captured = report.pages_captured;
            for (const auto& failure : report.failures) {
                page_problem problem;
                problem.page = failure.page;
                problem.phase = failure.phase;
                problem.http_status = failure.http_status;
                problem.message = failure.message;
                line.problems.push_back(std::move(problem));
            }
        } catch (const std::exception& error) {
            line.status = stop_requested_ ? "interrupted" : "failed";
            page_problem problem;
            problem.phase = "city";
            problem.message = error.what();
            line.problems.push_back(std::move(problem));
            spdlog::get("app")->warn("city={} failed: {}", target.slug, error.what());
        }
        line.finished_at = utc_now_iso();
        line.elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
        co_return line;
    }

    const crawl_options& options_;
    std::vector<crawl_target> targets_;
    std::deque<crawl_target> pending_;
    std::vector<city_line> lines_;
    std::list<asio::cancellation_signal> cancel_signals_;
    std::unique_ptr<crawler::browser_pool> pool_;
    int active_workers_ = 0;
    bool stop_requested_ = false;
    bool interrupted_ = false;
    bool forced_ = false;
    steady::time_point force_at_{};
};

asio::awaitable<void> show_progress(const crawl_run& run,
                                    std::size_t city_count,
                                    const capture_counters& counters,
                                    const bool& finished) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!finished) {
        fmt::print(stderr,
                   "\r[eventcrawl] cities {}/{} done, pages captured {}   ",
                   run.cities_done(),
                   city_count,
                   counters.pages);
        timer.expires_after(std::chrono::seconds(1));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    fmt::print(stderr, "\n");
}

asio::awaitable<void> run_and_flag(crawl_run& run,
                                   crawler::page_sink& sink,
                                   bool& finished,
                                   std::exception_ptr& failure) {
    try {
        co_await run.run(sink);
    } catch (...) {
        failure = std::current_exception();
    }
    finished = true;
}

// Merges the crawler's view of each city with what the transform stage saw of it.
void merge_tallies(std::vector<city_line>& lines,
                   const std::map<std::string, city_tally>& tallies) {
    for (auto& line : lines) {
        const auto found = tallies.find(line.slug);
        if (found == tallies.end()) {
            continue;
        }
        line.events = found->second.events;
        for (const auto& problem : found->second.problems) {
            line.problems.push_back(problem);
        }
        if (!found->second.problems.empty() && line.status == "ok") {
            line.status = "failed";
        }
    }
}

}  // namespace

int run_crawl(const crawl_options& options) {
    auto log = spdlog::get("app");

    std::vector<crawl_target> targets;
    std::unique_ptr<db::store> store;
    try {
        validate_base_url(options.base_url);
        targets = select_targets(options);
        store = db::open_store(options.db_dsn);
    } catch (const std::exception& error) {
        log->error("crawl cannot start: {}", error.what());
        fmt::print(stderr, "error: {}\n", error.what());
        return exit_could_not_start;
    }
    if (targets.empty()) {
        fmt::print(stderr, "error: no cities to crawl in {}\n", options.cities_file);
        return exit_could_not_start;
    }

    db::run_start start;
    start.mode = options.mode;
    start.command = options.command_line;
    const auto run_id = store->begin_run(start);
    const auto started = steady::now();

    asio::io_context io;
    crawl_run run(options, targets);
    capture_counters counters;
    bool finished = false;
    std::exception_ptr failure;

    asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& error, int number) {
            if (error) {
                return;
            }
            run.request_stop(number == SIGINT ? "SIGINT received" : "SIGTERM received");
            signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);

    std::unique_ptr<page_pipeline> async_pipeline;
    std::unique_ptr<page_processor> sync_processor;
    std::unique_ptr<crawler::page_sink> sink;
    if (options.mode == "sync") {
        sync_processor =
            std::make_unique<page_processor>(*store, options.batch_rows, options.batch_max_age);
        sink = std::make_unique<inline_sink>(*sync_processor, counters);
    } else {
        async_pipeline = std::make_unique<page_pipeline>(
            *store, options.queue_capacity, options.batch_rows, options.batch_max_age);
        sink = std::make_unique<channel_sink>(async_pipeline->channel(), counters);
        async_pipeline->start([&io, &run](const std::string& message) {
            asio::post(io, [&run, message] { run.request_stop("database failed: " + message); });
        });
    }

    asio::co_spawn(io, run_and_flag(run, *sink, finished, failure), asio::detached);
    if (options.progress && isatty(STDERR_FILENO) != 0) {
        asio::co_spawn(io, show_progress(run, targets.size(), counters, finished), asio::detached);
    }
    while (!finished) {
        io.run_one();
    }
    signals.cancel();
    io.run();

    std::string database_failure;
    run_totals totals;
    const page_processor* processor = nullptr;
    if (async_pipeline) {
        async_pipeline->finish();
        database_failure = async_pipeline->fatal_error();
        processor = &async_pipeline->processor();
    } else {
        try {
            sync_processor->flush();
        } catch (const std::exception& error) {
            database_failure = error.what();
        }
        processor = sync_processor.get();
    }

    auto& lines = run.lines();
    merge_tallies(lines, processor->tallies());
    totals.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    totals.status_codes = counters.status_codes;
    totals.interrupted = run.interrupted();
    totals.batches = static_cast<std::int64_t>(processor->writer().stats().batches);
    totals.max_batch_rows = processor->writer().stats().max_batch_rows;

    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& error) {
            log->error("crawl failed: {}", error.what());
            fmt::print(stderr, "error: {}\n", error.what());
        }
    }

    db::run_summary summary;
    for (const auto& line : lines) {
        (line.status == "ok" ? summary.cities_ok : summary.cities_failed) += 1;
        summary.pages += line.pages_captured;
        summary.events += line.events;
        summary.errors += static_cast<std::int64_t>(line.problems.size());
    }
    summary.status = failure || !database_failure.empty() ? "failed"
                     : run.interrupted()                  ? "interrupted"
                     : summary.cities_failed > 0          ? "partial"
                                                          : "ok";
    if (database_failure.empty()) {
        try {
            for (const auto& line : lines) {
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
                store->record_city(run_id, result);
            }
            store->finish_run(run_id, summary);
            totals.rows_in_database = store->count_events();
        } catch (const std::exception& error) {
            database_failure = error.what();
        }
    }

    print_report(lines, totals);
    log->info("run finished run_id={} status={} cities_ok={} cities_failed={} events={}",
              run_id,
              summary.status,
              summary.cities_ok,
              summary.cities_failed,
              summary.events);
    if (!database_failure.empty()) {
        fmt::print(stderr, "error: database: {}\n", database_failure);
        return exit_some_cities_failed;
    }
    if (failure) {
        return exit_could_not_start;
    }
    return summary.cities_failed > 0 || run.interrupted() ? exit_some_cities_failed : exit_ok;
}

}  // namespace eventcrawl::app
