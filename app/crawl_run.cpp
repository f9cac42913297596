#include "app/crawl_run.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/clock.hpp"
#include "crawler/city_task.hpp"

namespace eventcrawl::app {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

}  // namespace

crawl_run::crawl_run(const crawl_options& options, std::vector<crawl_target> targets)
    : options_(options), targets_(std::move(targets)), pending_(targets_.begin(), targets_.end()) {}

void crawl_run::set_targets(std::vector<crawl_target> targets) {
    targets_ = std::move(targets);
    pending_.assign(targets_.begin(), targets_.end());
}

asio::awaitable<void> crawl_run::run(run_sink& sink) {
    auto executor = co_await asio::this_coro::executor;
    auto log = spdlog::get("app");

    crawler::browser_pool_options pool_options;
    pool_options.browsers = options_.browsers;
    pool_options.browser_urls = options_.browser_urls;
    if (!options_.chromium_path.empty()) {
        pool_options.chromium_path = options_.chromium_path;
    }
    pool_options.pages_per_browser = options_.pages_per_browser;
    pool_ = co_await crawler::browser_pool::start(executor, pool_options);
    crawler::rate_limiter_options rate_options;
    rate_options.requests_per_second = options_.rate_per_host;
    limiter_ = std::make_shared<crawler::rate_limiter>(rate_options);

    const int workers = options_.mode == "sync" ? 1
                                                : std::min<int>(options_.concurrency,
                                                                static_cast<int>(targets_.size()));
    log->info("crawl starting cities={} mode={} concurrency={} browsers={}",
              targets_.size(),
              options_.mode,
              workers,
              pool_->size());

    active_workers_ = workers;
    for (int i = 0; i < workers; ++i) {
        auto& signal = cancel_signals_.emplace_back();
        asio::co_spawn(executor,
                       worker(std::ref(sink)),
                       asio::bind_cancellation_slot(signal.slot(), asio::detached));
    }

    // Waits for the workers. Once a stop request's grace period is over, closing the browsers
    // makes every remaining city fail fast.
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

void crawl_run::request_stop(const std::string& reason) {
    if (stop_requested_) {
        force_at_ = steady::now();
        return;
    }
    stop_requested_ = true;
    interrupted_ = true;
    force_at_ = steady::now() + options_.shutdown_grace;
    spdlog::get("app")->warn("stopping: {}, cities not started={}", reason, pending_.size());
    for (auto& signal : cancel_signals_) {
        signal.emit(asio::cancellation_type::terminal);
    }
}

asio::awaitable<void> crawl_run::worker(std::reference_wrapper<run_sink> sink) {
    // A stop request cancels the operation in flight. Later steps must still run (closing the
    // city's browser context, recording the city), so cancellation does not make them throw.
    co_await asio::this_coro::throw_if_cancelled(false);
    while (!stop_requested_ && !pending_.empty()) {
        auto target = pending_.front();
        pending_.pop_front();
        auto line = co_await crawl_city(target, sink.get());
        lines_.push_back(line);
        try {
            co_await sink.get().finish_city(std::move(line));
        } catch (const std::exception& error) {
            spdlog::get("app")->error(
                "city={} result not recorded: {}", lines_.back().slug, error.what());
        }
    }
    --active_workers_;
}

namespace {

page_problem to_problem(const crawler::page_failure& failure) {
    page_problem problem;
    problem.page = failure.page;
    problem.phase = failure.phase;
    problem.http_status = failure.http_status;
    problem.message = failure.message;
    if (failure.http_status == 0 && !failure.network_error.empty()) {
        problem.kind = std::string(failure_kind_names::network);
    }
    return problem;
}

}  // namespace

asio::awaitable<city_line> crawl_run::crawl_city(crawl_target target, run_sink& sink) {
    if (!target.archived_end_reason.empty()) {
        spdlog::get("app")->info("city={} complete in the archive at page={} reason=\"{}\"",
                                 target.slug,
                                 target.first_page - 1,
                                 target.archived_end_reason);
        city_line line;
        line.slug = target.slug;
        line.status = "ok";
        line.started_at = utc_now_iso();
        line.finished_at = line.started_at;
        co_return line;
    }

    crawler::city_spec spec;
    spec.slug = target.slug;
    spec.origin = target.origin;
    crawler::city_task_options task_options;
    task_options.max_pages = options_.max_pages;
    task_options.page_timeout = options_.page_timeout;
    task_options.first_page = target.first_page;
    task_options.split_horizon_days = options_.split_horizon_days;
    if (!options_.split_from.empty()) {
        task_options.split_from = parse_split_from(options_.split_from);
    }
    task_options.limiter = limiter_;
    task_options.fresh_context_per_city = options_.fresh_context_per_city;
    task_options.paging =
        options_.paging == "fetch" ? crawler::paging_method::fetch : crawler::paging_method::click;

    city_line line;
    line.slug = target.slug;
    line.started_at = utc_now_iso();
    const auto started = steady::now();
    try {
        auto report = co_await crawler::run_city_task(*pool_, spec, task_options, sink);
        line.status = stop_requested_ && report.status != "ok" ? "interrupted" : report.status;
        line.pages_captured = report.pages_captured;
        line.retries = report.retries;
        if (report.split) {
            line.date_windows =
                static_cast<int>(std::count_if(report.windows.begin(),
                                               report.windows.end(),
                                               [](const crawler::listing_window& window) {
                                                   return !window.query.empty() && !window.split;
                                               }));
        }
        for (const auto& retried : report.retried) {
            ++line.retries_by_kind[failure_kind(to_problem(retried))];
        }
        for (const auto& failure : report.failures) {
            page_problem problem = to_problem(failure);
            // A stop request cancels the CDP wait in flight, which the crawler reports as a
            // timeout or a failed connect; the report names the real cause.
            if (stop_requested_ && (failure.phase == "timeout" || failure.phase == "connect")) {
                problem.phase = "interrupted";
                problem.message = "stopped on request: " + failure.message;
            }
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
    line.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    co_return line;
}

}  // namespace eventcrawl::app
