#include "app/crawl_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "app/clock.hpp"
#include "app/crawl_report.hpp"
#include "app/crawl_run.hpp"
#include "app/page_pipeline.hpp"
#include "config/city_list.hpp"
#include "db/store.hpp"

namespace eventcrawl::app {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

// Counts every captured page's HTTP status. Both sinks share one instance.
struct capture_counters {
    std::map<int, std::int64_t> status_codes;
    std::int64_t pages = 0;
};

// Async mode: pages and finished cities wait in the bounded channel for the pipeline thread.
class channel_sink final : public run_sink {
public:
    channel_sink(page_pipeline::channel_type& channel, capture_counters& counters)
        : channel_(channel), counters_(counters) {}

    asio::awaitable<void> deliver(pipeline::raw_page page) override {
        ++counters_.status_codes[page.http_status];
        ++counters_.pages;
        pipeline_item item;
        item.page = std::move(page);
        co_await send(std::move(item));
    }

    asio::awaitable<void> finish_city(city_line line) override {
        pipeline_item item;
        item.city_finished = std::move(line);
        co_await send(std::move(item));
    }

private:
    asio::awaitable<void> send(pipeline_item item) {
        auto [error] = co_await channel_.async_send(
            boost::system::error_code{}, std::move(item), asio::as_tuple(asio::use_awaitable));
        if (error) {
            throw std::runtime_error("the pipeline stopped accepting pages: " + error.message());
        }
    }

    page_pipeline::channel_type& channel_;
    capture_counters& counters_;
};

// Sync mode: each page is transformed and written before the crawler moves on.
class inline_sink final : public run_sink {
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

    asio::awaitable<void> finish_city(city_line line) override {
        processor_.finish_city(line);
        co_return;
    }

private:
    page_processor& processor_;
    capture_counters& counters_;
};

std::vector<crawl_target> select_targets(const crawl_options& options,
                                         const std::set<std::string>& done) {
    const auto cities = config::load_city_list(options.cities_file);
    std::vector<const config::city*> chosen;
    if (options.city_slugs.empty()) {
        for (const auto& city : cities) {
            chosen.push_back(&city);
        }
    } else {
        std::set<std::string> seen;
        for (const auto& slug : options.city_slugs) {
            if (seen.insert(slug).second) {
                chosen.push_back(&config::find_city(cities, slug));
            }
        }
    }
    std::string base = options.base_url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    std::vector<crawl_target> targets;
    for (const auto* city : chosen) {
        if (done.count(city->slug) != 0) {
            continue;
        }
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

// Fails unless something accepts a TCP connection at an explicit --base-url, so that a typo
// in the port ends the command before a run is recorded. The live default is not probed.
void probe_base_url(const std::string& base_url) {
    if (base_url.empty()) {
        return;
    }
    boost::system::result<boost::urls::url_view> parsed = boost::urls::parse_uri(base_url);
    if (!parsed || parsed->host().empty()) {
        throw std::invalid_argument("invalid --base-url '" + base_url +
                                    "': expected http://host[:port] or https://host[:port]");
    }
    const std::string host = parsed->host();
    std::string port = parsed->port();
    if (port.empty()) {
        port = parsed->scheme() == "https" ? "443" : "80";
    }
    asio::io_context io;
    boost::beast::tcp_stream stream(io);
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code failure;
    resolver.async_resolve(
        host,
        port,
        [&](boost::system::error_code error, asio::ip::tcp::resolver::results_type results) {
            if (error) {
                failure = error;
                return;
            }
            stream.expires_after(std::chrono::seconds(5));
            stream.async_connect(results, [&](boost::system::error_code connect_error, auto) {
                failure = connect_error;
            });
        });
    io.run_for(std::chrono::seconds(10));
    if (!io.stopped()) {
        failure = asio::error::timed_out;
    }
    if (failure) {
        throw std::invalid_argument(
            fmt::format("nothing answers at --base-url '{}' ({}); start the site there or pass "
                        "the address it listens on",
                        base_url,
                        failure.message()));
    }
}

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
                                   run_sink& sink,
                                   bool& finished,
                                   std::exception_ptr& failure) {
    try {
        co_await run.run(sink);
    } catch (...) {
        failure = std::current_exception();
    }
    finished = true;
}

// A city finished in an earlier attempt of a resumed run, shown again in the report.
city_line line_from_result(const db::city_result& result) {
    city_line line;
    line.slug = result.city_slug;
    line.status = result.status;
    line.pages_captured = result.pages;
    line.events = result.events;
    line.started_at = result.started_at;
    line.finished_at = result.finished_at;
    line.resumed_from_earlier = true;
    return line;
}

void write_summary_json(const std::string& path,
                        std::int64_t run_id,
                        const db::run_summary& summary,
                        const std::vector<city_line>& lines,
                        const run_totals& totals) {
    json::object root;
    root["run_id"] = run_id;
    root["status"] = summary.status;
    root["cities_ok"] = summary.cities_ok;
    root["cities_failed"] = summary.cities_failed;
    root["pages"] = summary.pages;
    root["events"] = summary.events;
    root["errors"] = summary.errors;
    root["elapsed_ms"] = totals.elapsed.count();
    if (totals.rows_in_database) {
        root["rows_in_database"] = *totals.rows_in_database;
    } else {
        root["rows_in_database"] = nullptr;
    }
    json::array cities;
    for (const auto& line : lines) {
        json::object city;
        city["slug"] = line.slug;
        city["status"] = line.status;
        city["pages"] = line.pages_captured;
        city["events"] = line.events;
        city["errors"] = line.problems.size();
        add_kind_counts(city, line);
        if (!line.problems.empty()) {
            city["last_error"] = line.problems.back().message;
        }
        cities.push_back(std::move(city));
    }
    add_kind_counts(root, lines);
    root["cities"] = std::move(cities);
    std::ofstream out(path, std::ios::trunc);
    out << json::serialize(root) << '\n';
    if (!out) {
        spdlog::get("app")->error("cannot write the run summary to {}", path);
    }
}

// Joins a multi-line message into one line, because libpq ends a connection error with a newline
// and a tab-indented hint that would split the final error line of a crawl.
std::string single_line(std::string_view message) {
    std::string line;
    bool in_break = false;
    for (const char character : message) {
        if (character == '\n' || character == '\r' || (in_break && character == '\t')) {
            in_break = true;
            continue;
        }
        if (in_break && !line.empty() && line.back() != ' ') {
            line.push_back(' ');
        }
        in_break = false;
        line.push_back(character);
    }
    return line;
}

}  // namespace

std::chrono::sys_days parse_split_from(const std::string& text) {
    const auto invalid = [&] {
        return std::invalid_argument(
            fmt::format("--split-from '{}' is not a valid date; expected YYYY-MM-DD, such as "
                        "2024-01-31",
                        text));
    };
    if (text.size() != 10 || text[4] != '-' || text[7] != '-') {
        throw invalid();
    }
    const auto number = [&](std::size_t offset, std::size_t length) {
        int value = 0;
        const char* first = text.data() + offset;
        const char* last = first + length;
        const auto [end, error] = std::from_chars(first, last, value);
        if (error != std::errc() || end != last) {
            throw invalid();
        }
        return value;
    };
    const auto year = number(0, 4);
    const auto month = static_cast<unsigned>(number(5, 2));
    const auto day = static_cast<unsigned>(number(8, 2));
    const std::chrono::year_month_day date{
        std::chrono::year(year), std::chrono::month(month), std::chrono::day(day)};
    if (!date.ok()) {
        throw invalid();
    }
    return std::chrono::sys_days(date);
}

std::string options_to_json(const crawl_options& options) {
    json::object object;
    // Absolute, so that a resume from another working directory finds the same list.
    std::error_code ignored;
    const auto cities_file = std::filesystem::absolute(options.cities_file, ignored);
    object["cities_file"] = cities_file.empty() ? options.cities_file : cities_file.string();
    json::array slugs;
    for (const auto& slug : options.city_slugs) {
        slugs.emplace_back(slug);
    }
    object["city_slugs"] = std::move(slugs);
    object["base_url"] = options.base_url;
    object["mode"] = options.mode;
    object["max_pages"] = options.max_pages;
    object["split_horizon_days"] = options.split_horizon_days;
    object["split_from"] = options.split_from;
    object["paging"] = options.paging;
    object["rate_per_host"] = options.rate_per_host;
    object["page_timeout_s"] = options.page_timeout.count();
    return json::serialize(object);
}

crawl_options options_from_json(const std::string& text, crawl_options base) {
    boost::system::error_code error;
    const auto value = json::parse(text, error);
    if (error || !value.is_object()) {
        throw std::invalid_argument("stored run options are not a JSON object: " + text);
    }
    const auto& object = value.get_object();
    const auto read_string = [&](const char* key, std::string& target) {
        if (const auto* field = object.if_contains(key); field != nullptr && field->is_string()) {
            target = std::string(field->get_string());
        }
    };
    read_string("cities_file", base.cities_file);
    if (!base.base_url_explicit) {
        read_string("base_url", base.base_url);
    }
    read_string("mode", base.mode);
    read_string("split_from", base.split_from);
    read_string("paging", base.paging);
    base.city_slugs.clear();
    if (const auto* slugs = object.if_contains("city_slugs");
        slugs != nullptr && slugs->is_array()) {
        for (const auto& slug : slugs->get_array()) {
            if (slug.is_string()) {
                base.city_slugs.emplace_back(slug.get_string());
            }
        }
    }
    if (const auto* pages = object.if_contains("max_pages");
        pages != nullptr && pages->is_int64()) {
        base.max_pages = static_cast<int>(pages->get_int64());
    }
    if (const auto* horizon = object.if_contains("split_horizon_days");
        horizon != nullptr && horizon->is_int64()) {
        base.split_horizon_days = static_cast<int>(horizon->get_int64());
    }
    if (const auto* rate = object.if_contains("rate_per_host");
        rate != nullptr && rate->is_number()) {
        base.rate_per_host = rate->to_number<double>();
    }
    if (const auto* timeout = object.if_contains("page_timeout_s");
        timeout != nullptr && timeout->is_int64()) {
        base.page_timeout = std::chrono::seconds(timeout->get_int64());
    }
    return base;
}

int run_crawl(const crawl_options& requested) {
    auto log = spdlog::get("app");

    crawl_options options = requested;
    std::vector<crawl_target> targets;
    std::vector<city_line> earlier_lines;
    std::unique_ptr<db::store> store;
    // Held until run_crawl returns, so that no other eventcrawl process crawls or resumes this
    // run meanwhile.
    std::unique_ptr<db::run_claim> claim;
    std::int64_t run_id = 0;
    try {
        // A new run checks its whole input before it opens the store, so that a bad city list
        // or base URL writes nothing. A resumed run reads its options from the store first.
        if (options.db_load_connections != 1 && !db::is_postgres_dsn(options.db_dsn)) {
            throw std::invalid_argument(fmt::format(
                "--db-load-connections {} needs a PostgreSQL --db; {} writes through one "
                "connection, so give 1",
                options.db_load_connections,
                db::mask_dsn(options.db_dsn)));
        }
        if (options.resume_run_id == 0) {
            validate_base_url(options.base_url);
            targets = select_targets(options, {});
            probe_base_url(options.base_url);
        }
        store = db::open_store(options.db_dsn);
        store->set_load_connections(options.db_load_connections);
        std::set<std::string> done;
        if (options.resume_run_id != 0) {
            const auto run = store->find_run(options.resume_run_id);
            if (!run) {
                throw std::invalid_argument(
                    fmt::format("run {} not found in {}; `eventcrawl runs` lists the runs",
                                options.resume_run_id,
                                db::mask_dsn(options.db_dsn)));
            }
            claim = store->claim_run(run->id);
            if (run->status == "ok") {
                fmt::print("run {} already finished ok; nothing to resume\n", run->id);
                return exit_ok;
            }
            options = options_from_json(run->options_json, options);
            for (const auto& result : store->city_results(options.resume_run_id)) {
                if (result.status == "ok") {
                    done.insert(result.city_slug);
                    earlier_lines.push_back(line_from_result(result));
                }
            }
            log->info("resuming run_id={} previous_status={} cities_done={}",
                      run->id,
                      run->status,
                      done.size());
            validate_base_url(options.base_url);
            targets = select_targets(options, done);
            probe_base_url(options.base_url);
        }
    } catch (const std::exception& error) {
        log->debug("crawl cannot start: {}", error.what());
        fmt::print(stderr, "error: {}\n", error.what());
        return exit_could_not_start;
    }
    if (targets.empty() && earlier_lines.empty()) {
        fmt::print(stderr, "error: no cities to crawl in {}\n", options.cities_file);
        return exit_could_not_start;
    }

    if (options.resume_run_id != 0) {
        run_id = options.resume_run_id;
        store->reopen_run(run_id);
    } else {
        db::run_start start;
        start.mode = options.mode;
        start.command = options.command_line;
        start.options_json = options_to_json(options);
        run_id = store->begin_run(start);
        try {
            claim = store->claim_run(run_id);
        } catch (const std::exception& error) {
            // The run is recorded already, so it is closed as failed instead of left running.
            db::run_summary summary;
            summary.status = "failed";
            try {
                store->finish_run(run_id, summary);
            } catch (const std::exception& finish_error) {
                log->warn("run {} stays running: {}", run_id, finish_error.what());
            }
            const std::string hint =
                options.db_load_connections == 1
                    ? std::string{}
                    : fmt::format(
                          " (this crawl keeps {} connections to the server open: {} "
                          "load connections and the run claim)",
                          options.db_load_connections + 1,
                          options.db_load_connections);
            fmt::print(stderr, "error: {}{}\n", error.what(), hint);
            return exit_could_not_start;
        }
    }
    log->info("run started run_id={} cities={}", run_id, targets.size());
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
    std::unique_ptr<run_sink> sink;
    if (options.mode == "sync") {
        sync_processor = std::make_unique<page_processor>(
            *store, run_id, options.batch_rows, options.batch_max_age);
        sink = std::make_unique<inline_sink>(*sync_processor, counters);
    } else {
        async_pipeline = std::make_unique<page_pipeline>(
            *store, run_id, options.queue_capacity, options.batch_rows, options.batch_max_age);
        sink = std::make_unique<channel_sink>(async_pipeline->channel(), counters);
    }

    if (options.resume_run_id != 0 && !targets.empty()) {
        // Pages an earlier attempt archived are transformed again instead of crawled again;
        // each unfinished city continues after its last archived page.
        page_processor& processor =
            async_pipeline ? async_pipeline->processor_before_start() : *sync_processor;
        try {
            const auto archived = store->load_pages(run_id);
            for (auto& target : targets) {
                const auto restored = processor.restore_city(target.slug, archived);
                target.first_page = restored.last_page + 1;
                target.archived_end_reason = restored.end_reason;
                if (target.first_page > 1 && restored.end_reason.empty()) {
                    log->info("city={} resuming at page={}", target.slug, target.first_page);
                }
            }
        } catch (const std::exception& error) {
            log->error("cannot restore archived pages of run {}: {}", run_id, error.what());
            fmt::print(stderr, "error: {}\n", error.what());
            return exit_could_not_start;
        }
        run.set_targets(targets);
    }
    if (async_pipeline) {
        async_pipeline->start([&io, &run](const std::string& message) {
            asio::post(io, [&run, message] { run.request_stop("database failed: " + message); });
        });
    }

    if (!targets.empty()) {
        asio::co_spawn(io, run_and_flag(run, *sink, finished, failure), asio::detached);
        if (options.progress && isatty(STDERR_FILENO) != 0) {
            asio::co_spawn(
                io, show_progress(run, targets.size(), counters, finished), asio::detached);
        }
        while (!finished) {
            io.run_one();
        }
    }
    signals.cancel();
    io.run();

    std::string database_failure;
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

    std::vector<city_line> lines = earlier_lines;
    for (const auto& line : run.lines()) {
        const auto tally = processor->tallies().find(line.slug);
        lines.push_back(
            merge_city(line, tally == processor->tallies().end() ? nullptr : &tally->second));
    }

    run_totals totals;
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
    const bool all_failed = summary.cities_ok == 0 && summary.cities_failed > 0;
    // A stop request wins over the failures it caused: the run is resumable either way, and
    // "interrupted" records why it ended.
    if (failure || !database_failure.empty()) {
        summary.status = "failed";
    } else if (run.interrupted()) {
        summary.status = "interrupted";
    } else if (all_failed) {
        summary.status = "failed";
    } else {
        summary.status = summary.cities_failed > 0 ? "partial" : "ok";
    }
    // After a failed write the count stays unknown, not 0: a batch split over several load
    // connections may have stored some of its shares, and a count against a server that went
    // away would wait out the reconnect attempts again.
    if (database_failure.empty()) {
        try {
            store->finish_run(run_id, summary);
            totals.rows_in_database = store->count_events();
        } catch (const std::exception& error) {
            database_failure = error.what();
        }
    }

    print_report(lines, totals);
    if (!options.summary_json_path.empty()) {
        write_summary_json(options.summary_json_path, run_id, summary, lines, totals);
    }
    log->info("run finished run_id={} status={} cities_ok={} cities_failed={} events={}",
              run_id,
              summary.status,
              summary.cities_ok,
              summary.cities_failed,
              summary.events);
    if (!database_failure.empty()) {
        fmt::print(stderr,
                   "error: database {}: {}; finish the run later with --resume {}\n",
                   db::mask_dsn(options.db_dsn),
                   single_line(database_failure),
                   run_id);
        return exit_some_cities_failed;
    }
    if (failure) {
        return exit_could_not_start;
    }
    if (summary.status != "ok") {
        fmt::print(stderr,
                   "run {} ended {}; `eventcrawl crawl --resume {}` retries the cities "
                   "that did not finish\n",
                   run_id,
                   summary.status,
                   run_id);
    }
    return summary.status == "ok" ? exit_ok : exit_some_cities_failed;
}

}  // namespace eventcrawl::app
