// Measures the transform and load stages on raw pages held in memory: JSON parsing alone
// (the ceilings: into a DOM, and a token stream read by a handler that does nothing),
// transform_page alone, and transform plus a batched upsert into SQLite and, when a DSN is given,
// PostgreSQL. Each load stage runs once on one thread and once with transform and load on two
// threads. Prints one Markdown row per stage, or JSON with --json.

#include <fmt/format.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "db/batch_writer.hpp"
#include "db/store.hpp"
#include "pipeline/raw_page.hpp"
#include "pipeline/transform.hpp"
#include "replay/corpus.hpp"
#include "replay/detail/listing_page.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using eventcrawl::pipeline::page_source;
using eventcrawl::pipeline::raw_page;
using steady = std::chrono::steady_clock;

struct options {
    std::vector<std::string> corpus_dirs;
    std::vector<std::string> fixture_dirs;
    std::uint64_t min_events = 200'000;
    std::size_t batch_rows = 5000;  // eventcrawl crawl --batch-rows default
    std::string sqlite_dir;
    std::string postgres_dsn;
    std::string second_postgres_dsn;  // an empty database for the pipelined PostgreSQL stage
    int postgres_connections = 1;     // eventcrawl crawl --db-load-connections
    std::vector<std::string> stages;  // empty: every stage that the options allow
    bool json_output = false;
};

// One page of the input, with the JSON text that stage (a) parses: the body itself, or the
// window.__SERVER_DATA__ text of a listing page, extracted before any timing starts.
struct input_page {
    raw_page page;
    std::string json_text;
    std::size_t events = 0;
};

struct input_set {
    std::vector<input_page> pages;
    std::uint64_t events = 0;          // events that transform_page returns, per pass
    std::uint64_t distinct_ids = 0;    // distinct event ids per pass
    std::uint64_t body_bytes = 0;      // bytes of all bodies, per pass
    std::uint64_t rejected_files = 0;  // fixture files that transform_page rejects
};

struct stage_result {
    std::string stage;
    std::uint64_t passes = 0;
    std::uint64_t events = 0;
    std::uint64_t bytes = 0;
    double seconds = 0;      // wall-clock time
    double cpu_seconds = 0;  // user and system time of this process
    std::optional<std::uint64_t> rows_loaded;

    double events_per_second() const { return seconds > 0 ? events / seconds : 0; }
    double events_per_cpu_second() const { return cpu_seconds > 0 ? events / cpu_seconds : 0; }
    double megabytes_per_second() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

std::string read_file(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        throw std::runtime_error(
            fmt::format("failed to read '{}'; check the path and its permissions", path.string()));
    }
    return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

// Renders a replay corpus the way a crawl captures it: page 1 as listing HTML, later pages
// as search XHR bodies.
void add_corpus_pages(input_set& input, const fs::path& directory) {
    const eventcrawl::replay::corpus corpus = eventcrawl::replay::load_corpus(directory);
    const std::string csrf_token(32, 'a');
    const json::object request_echo;
    for (const eventcrawl::replay::city& city : corpus.cities) {
        const int pages = eventcrawl::replay::data_page_count(city);
        for (int number = 1; number <= pages; ++number) {
            input_page input_page;
            input_page.page.city_slug = city.slug;
            input_page.page.page_number = number;
            input_page.page.http_status = 200;
            if (number == 1) {
                input_page.page.source = page_source::listing_html;
                input_page.page.content_type = "text/html";
                input_page.page.body = eventcrawl::replay::detail::render_listing_page(
                    city, number, csrf_token, eventcrawl::replay::detail::blob_form::normal);
            } else {
                input_page.page.source = page_source::search_xhr;
                input_page.page.content_type = "application/json";
                input_page.page.body =
                    eventcrawl::replay::search_response_body(city, number, request_echo);
            }
            input.pages.push_back(std::move(input_page));
        }
    }
}

void add_fixture_pages(input_set& input, const fs::path& directory) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(directory)) {
        const auto extension = entry.path().extension();
        if (entry.is_regular_file() && (extension == ".json" || extension == ".html")) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
        input_page input_page;
        input_page.page.source = page_source::file;
        input_page.page.url = file.string();
        input_page.page.body = read_file(file);
        input.pages.push_back(std::move(input_page));
    }
}

// Transforms every page once, outside any timing: drops fixture files that hold no events,
// counts events and ids, and extracts the JSON text that stage (a) parses.
void prepare_input(input_set& input) {
    std::vector<input_page> pages_with_events;
    std::unordered_set<std::string> ids;
    for (input_page& page : input.pages) {
        eventcrawl::pipeline::transform_output output;
        try {
            output = eventcrawl::pipeline::transform_page(page.page);
        } catch (const eventcrawl::pipeline::transform_error& error) {
            if (page.page.source != page_source::file) {
                throw;
            }
            ++input.rejected_files;
            continue;
        }
        const std::size_t first = page.page.body.find_first_not_of(" \t\r\n");
        const bool html = first != std::string::npos && page.page.body[first] == '<';
        page.json_text =
            html ? eventcrawl::pipeline::extract_server_data(page.page.body) : page.page.body;
        page.events = output.events.size();
        input.events += page.events;
        input.body_bytes += page.page.body.size();
        for (const auto& event : output.events) {
            ids.insert(event.id);
        }
        pages_with_events.push_back(std::move(page));
    }
    input.pages = std::move(pages_with_events);
    input.distinct_ids = ids.size();
}

std::uint64_t passes_for(const input_set& input, std::uint64_t min_events) {
    return std::max<std::uint64_t>(1, (min_events + input.events - 1) / input.events);
}

// Start of a measurement: wall-clock and CPU time, because on a shared machine the wall-clock
// rate depends on how busy the other processes keep the cores.
struct stopwatch {
    steady::time_point wall = steady::now();
    double cpu = cpu_seconds_now();

    static double cpu_seconds_now() {
        rusage usage{};
        ::getrusage(RUSAGE_SELF, &usage);
        const auto seconds = [](const timeval& time) {
            return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
        };
        return seconds(usage.ru_utime) + seconds(usage.ru_stime);
    }

    void stop(stage_result& result) const {
        result.seconds = std::chrono::duration<double>(steady::now() - wall).count();
        result.cpu_seconds = cpu_seconds_now() - cpu;
    }
};

// Parses every page's JSON text and drops the tree. With `monotonic` set, each page's tree
// lives in a boost::json::monotonic_resource sized from its text, as transform_page does,
// so that ceiling leaves out per-node malloc and free.
stage_result measure_parse(const input_set& input, std::uint64_t passes, bool monotonic) {
    json::parse_options parse_options;
    parse_options.max_depth = 512;
    stage_result result;
    result.stage = monotonic ? "parse only (boost::json::parse, monotonic_resource)"
                             : "parse only (boost::json::parse)";
    result.passes = passes;
    std::uint64_t values = 0;
    const stopwatch watch;
    for (std::uint64_t pass = 0; pass < passes; ++pass) {
        for (const input_page& page : input.pages) {
            json::storage_ptr storage;
            if (monotonic) {
                storage =
                    json::make_shared_resource<json::monotonic_resource>(page.json_text.size() * 2);
            }
            const json::value root = json::parse(page.json_text, storage, parse_options);
            values += root.is_object() || root.is_array() ? 1 : 0;
        }
    }
    watch.stop(result);
    if (values != passes * input.pages.size()) {
        throw std::runtime_error("a page did not parse to an object or array");
    }
    result.events = passes * input.events;
    result.bytes = passes * input.body_bytes;
    return result;
}

// A basic_parser handler that accepts every token and keeps nothing: the cost of tokenizing,
// validating and unescaping alone, which is the ceiling of a transform that reads the token
// stream without building a tree.
struct null_handler {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t, json::error_code&) { return true; }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t, json::error_code&) { return true; }
    bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_key(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
    bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
    bool on_double(double, json::string_view, json::error_code&) { return true; }
    bool on_bool(bool, json::error_code&) { return true; }
    bool on_null(json::error_code&) { return true; }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

// Runs every page's JSON text through basic_parser with a handler that does nothing.
stage_result measure_stream_parse(const input_set& input, std::uint64_t passes) {
    json::parse_options parse_options;
    parse_options.max_depth = 512;
    json::basic_parser<null_handler> parser(parse_options);
    stage_result result;
    result.stage = "parse only (boost::json::basic_parser, handler that does nothing)";
    result.passes = passes;
    std::uint64_t parsed = 0;
    const stopwatch watch;
    for (std::uint64_t pass = 0; pass < passes; ++pass) {
        for (const input_page& page : input.pages) {
            parser.reset();
            json::error_code error;
            parser.write_some(false, page.json_text.data(), page.json_text.size(), error);
            parsed += !error && parser.done() ? 1 : 0;
        }
    }
    watch.stop(result);
    if (parsed != passes * input.pages.size()) {
        throw std::runtime_error("a page did not parse with basic_parser");
    }
    result.events = passes * input.events;
    result.bytes = passes * input.body_bytes;
    return result;
}

stage_result measure_transform(const input_set& input, std::uint64_t passes) {
    stage_result result;
    result.stage = "transform_page";
    result.passes = passes;
    const stopwatch watch;
    for (std::uint64_t pass = 0; pass < passes; ++pass) {
        for (const input_page& page : input.pages) {
            result.events += eventcrawl::pipeline::transform_page(page.page).events.size();
        }
    }
    watch.stop(result);
    result.bytes = passes * input.body_bytes;
    if (result.events != passes * input.events) {
        throw std::runtime_error(fmt::format("transform_page returned {} events, expected {}",
                                             result.events,
                                             passes * input.events));
    }
    return result;
}

// A queue of transformed pages between the transform thread and the load thread, bounded by
// the number of events in it. A page is let in while the queue has fewer than `max_events`
// events, so an empty queue takes any page. An empty optional marks the end of the input.
class page_queue {
public:
    explicit page_queue(std::size_t max_events) : max_events_{max_events} {}

    void push(std::optional<std::vector<eventcrawl::pipeline::event_record>> events) {
        std::unique_lock lock{mutex_};
        not_full_.wait(lock, [this] { return queued_events_ < max_events_; });
        queued_events_ += events ? events->size() : 0;
        pages_.push_back(std::move(events));
        not_empty_.notify_one();
    }

    std::optional<std::vector<eventcrawl::pipeline::event_record>> pop() {
        std::unique_lock lock{mutex_};
        not_empty_.wait(lock, [this] { return !pages_.empty(); });
        auto events = std::move(pages_.front());
        pages_.pop_front();
        queued_events_ -= events ? events->size() : 0;
        not_full_.notify_one();
        return events;
    }

private:
    std::size_t max_events_;
    std::size_t queued_events_ = 0;
    std::mutex mutex_;
    std::condition_variable not_full_;
    std::condition_variable not_empty_;
    std::deque<std::optional<std::vector<eventcrawl::pipeline::event_record>>> pages_;
};

// Transforms every page of every pass in order. Each pass after the first appends "-p<pass>"
// to the ids, so that every pass inserts new rows instead of updating the rows of the first
// pass. `consume` receives the events of one page.
template <typename Consume>
void transform_passes(const input_set& input, std::uint64_t passes, Consume&& consume) {
    for (std::uint64_t pass = 0; pass < passes; ++pass) {
        const std::string suffix = pass == 0 ? std::string() : fmt::format("-p{}", pass);
        for (const input_page& page : input.pages) {
            auto output = eventcrawl::pipeline::transform_page(page.page);
            for (auto& event : output.events) {
                event.id += suffix;
            }
            consume(std::move(output.events));
        }
    }
}

// Transforms every page and loads its events through a batch_writer, as the crawl does. With
// `pipelined` set, a second thread transforms while this thread loads. The queue between them
// holds up to two batches of events, so the transform can fill the next batch while the store
// writes the current one. A queue of 64 pages (1,280 events) held less than one batch of the
// default size and kept the two threads mostly taking turns.
stage_result measure_load(const input_set& input,
                          std::uint64_t passes,
                          const std::string& stage,
                          const std::string& dsn,
                          std::size_t batch_rows,
                          bool pipelined,
                          int load_connections = 1) {
    auto store = eventcrawl::db::open_store(dsn);
    store->set_load_connections(load_connections);
    const std::int64_t rows_before = store->count_events();
    eventcrawl::db::batch_writer writer(*store, batch_rows, std::chrono::hours(1));
    stage_result result;
    result.stage = stage;
    result.passes = passes;
    const auto load = [&](std::vector<eventcrawl::pipeline::event_record> events) {
        result.events += events.size();
        for (auto& event : events) {
            writer.add(std::move(event));
        }
    };

    const stopwatch watch;
    if (pipelined) {
        page_queue queue{2 * batch_rows};
        std::exception_ptr transform_failure;
        std::thread transformer{[&] {
            pthread_setname_np(pthread_self(), "transform");
            try {
                transform_passes(
                    input, passes, [&](auto events) { queue.push(std::move(events)); });
            } catch (...) {
                transform_failure = std::current_exception();
            }
            queue.push(std::nullopt);
        }};
        // The loop drains the queue even after a load failure, so that the transformer never
        // blocks on a full queue and the join returns.
        std::exception_ptr load_failure;
        while (auto events = queue.pop()) {
            if (load_failure) {
                continue;
            }
            try {
                load(std::move(*events));
            } catch (...) {
                load_failure = std::current_exception();
            }
        }
        transformer.join();
        if (transform_failure) {
            std::rethrow_exception(transform_failure);
        }
        if (load_failure) {
            std::rethrow_exception(load_failure);
        }
    } else {
        transform_passes(input, passes, load);
    }
    writer.flush();
    watch.stop(result);
    result.bytes = passes * input.body_bytes;

    const std::int64_t rows_added = store->count_events() - rows_before;
    result.rows_loaded = static_cast<std::uint64_t>(rows_added);
    const std::uint64_t expected_rows = passes * input.distinct_ids;
    if (result.events != passes * input.events || result.rows_loaded != expected_rows) {
        throw std::runtime_error(fmt::format(
            "{}: transformed {} events ({} expected) and the store gained {} rows ({} expected); "
            "give a store without these ids, such as a new SQLite file or an empty PostgreSQL "
            "database",
            stage,
            result.events,
            passes * input.events,
            rows_added,
            expected_rows));
    }
    return result;
}

std::string command_line(int argc, char** argv) {
    std::string text;
    for (int i = 0; i < argc; ++i) {
        text += i == 0 ? "" : " ";
        text += argv[i];
    }
    return text;
}

void print_markdown(const std::vector<stage_result>& results,
                    const input_set& input,
                    const std::string& command) {
    // The ceiling is the faster of the two DOM parse-only stages, as before the basic_parser row
    // was added. That row shows how far a transform that reads the token stream could go.
    double ceiling = 0;
    for (const stage_result& result : results) {
        if (result.stage.starts_with("parse only (boost::json::parse")) {
            ceiling = std::max(ceiling, result.events_per_cpu_second());
        }
    }
    const bool has_ceiling = ceiling > 0;
    fmt::print("`{}`\n\n", command);
    fmt::print("Input: {} pages, {} events and {:.1f} MB per pass",
               input.pages.size(),
               input.events,
               input.body_bytes / 1e6);
    if (input.rejected_files > 0) {
        fmt::print(" ({} fixture files without events skipped)", input.rejected_files);
    }
    fmt::print(".\n\n");
    fmt::print(
        "| stage | passes | events | rows loaded | seconds | CPU seconds | events/s | "
        "events/CPU-s | MB/s | of parse ceiling (CPU) |\n");
    fmt::print("|---|---|---|---|---|---|---|---|---|---|\n");
    for (const stage_result& result : results) {
        fmt::print("| {} | {} | {} | {} | {:.2f} | {:.2f} | {:.0f} | {:.0f} | {:.1f} | {} |\n",
                   result.stage,
                   result.passes,
                   result.events,
                   result.rows_loaded ? fmt::format("{}", *result.rows_loaded) : "-",
                   result.seconds,
                   result.cpu_seconds,
                   result.events_per_second(),
                   result.events_per_cpu_second(),
                   result.megabytes_per_second(),
                   has_ceiling
                       ? fmt::format("{:.0f}%", 100.0 * result.events_per_cpu_second() / ceiling)
                       : std::string("-"));
    }
}

void print_json(const std::vector<stage_result>& results,
                const input_set& input,
                const std::string& command) {
    json::array stages;
    for (const stage_result& result : results) {
        json::object row;
        row["stage"] = result.stage;
        row["passes"] = result.passes;
        row["events"] = result.events;
        row["rows_loaded"] = result.rows_loaded ? json::value(*result.rows_loaded) : nullptr;
        row["seconds"] = result.seconds;
        row["cpu_seconds"] = result.cpu_seconds;
        row["events_per_cpu_second"] = result.events_per_cpu_second();
        row["events_per_second"] = result.events_per_second();
        row["megabytes_per_second"] = result.megabytes_per_second();
        stages.push_back(std::move(row));
    }
    json::object document;
    document["command"] = command;
    document["pages"] = input.pages.size();
    document["events_per_pass"] = input.events;
    document["bytes_per_pass"] = input.body_bytes;
    document["stages"] = std::move(stages);
    std::cout << json::serialize(document) << '\n';
}

// Loads into a throwaway SQLite file, removed afterwards even when the stage fails.
void run_sqlite_stage(std::vector<stage_result>& results,
                      const input_set& input,
                      std::uint64_t passes,
                      const options& options,
                      bool pipelined) {
    const fs::path folder = options.sqlite_dir.empty()
                                ? fs::temp_directory_path() / "transform_load"
                                : fs::path(options.sqlite_dir);
    fs::create_directories(folder);
    const fs::path file = folder / fmt::format("bench-{}.db", ::getpid());
    const auto remove_files = [&file] {
        for (const char* suffix : {"", "-wal", "-shm"}) {
            fs::remove(file.string() + suffix);
        }
    };
    try {
        results.push_back(measure_load(
            input,
            passes,
            pipelined ? "transform + SQLite upsert, 2 threads" : "transform + SQLite upsert",
            "sqlite:" + file.string(),
            options.batch_rows,
            pipelined));
    } catch (...) {
        remove_files();
        throw;
    }
    remove_files();
}

int run(const options& options, const std::string& command) {
    input_set input;
    for (const std::string& directory : options.corpus_dirs) {
        add_corpus_pages(input, directory);
    }
    for (const std::string& directory : options.fixture_dirs) {
        add_fixture_pages(input, directory);
    }
    prepare_input(input);
    if (input.events == 0) {
        std::cerr << "error: the input holds no events; pass --corpus or --fixtures with a "
                     "folder of pages\n";
        return 1;
    }

    const auto stage_selected = [&options](std::string_view stage) {
        return options.stages.empty() ||
               std::find(options.stages.begin(), options.stages.end(), stage) !=
                   options.stages.end();
    };
    const std::uint64_t passes = passes_for(input, options.min_events);
    std::vector<stage_result> results;
    if (stage_selected("parse")) {
        results.push_back(measure_parse(input, passes, false));
        results.push_back(measure_parse(input, passes, true));
        results.push_back(measure_stream_parse(input, passes));
    }
    if (stage_selected("transform")) {
        results.push_back(measure_transform(input, passes));
    }
    if (stage_selected("sqlite")) {
        run_sqlite_stage(results, input, passes, options, false);
        run_sqlite_stage(results, input, passes, options, true);
    }
    // The pipelined PostgreSQL stage loads the same ids again as updates, which the row check
    // rejects, so it needs a second empty database.
    const std::string connections =
        options.postgres_connections == 1
            ? std::string{}
            : fmt::format(", {} connections", options.postgres_connections);
    if (stage_selected("postgres") && !options.postgres_dsn.empty()) {
        results.push_back(measure_load(input,
                                       passes,
                                       "transform + PostgreSQL upsert" + connections,
                                       options.postgres_dsn,
                                       options.batch_rows,
                                       false,
                                       options.postgres_connections));
    }
    if (stage_selected("postgres") && !options.second_postgres_dsn.empty()) {
        results.push_back(measure_load(input,
                                       passes,
                                       "transform + PostgreSQL upsert, 2 threads" + connections,
                                       options.second_postgres_dsn,
                                       options.batch_rows,
                                       true,
                                       options.postgres_connections));
    }

    if (options.json_output) {
        print_json(results, input, command);
    } else {
        print_markdown(results, input, command);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Measure transform and load throughput on raw pages held in memory"};
    options options;
    app.add_option("--corpus", options.corpus_dirs, "Replay corpus folder (--write-corpus output)")
        ->check(CLI::ExistingDirectory);
    app.add_option("--fixtures", options.fixture_dirs, "Folder of recorded .json/.html payloads")
        ->check(CLI::ExistingDirectory);
    app.add_option("--min-events", options.min_events, "Minimum events per measurement")
        ->capture_default_str();
    app.add_option("--batch-rows", options.batch_rows, "Rows per upsert transaction")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--sqlite-dir", options.sqlite_dir, "Folder for the throwaway SQLite file");
    app.add_option("--pg", options.postgres_dsn, "PostgreSQL DSN of an empty database");
    app.add_option("--pg-pipelined",
                   options.second_postgres_dsn,
                   "PostgreSQL DSN of a second empty database, for the 2-thread stage");
    app.add_option("--pg-connections",
                   options.postgres_connections,
                   "Connections that load each PostgreSQL batch (eventcrawl crawl "
                   "--db-load-connections)")
        ->capture_default_str()
        ->check(CLI::Range(1, 8));
    app.add_option("--stages", options.stages, "Stages to run (default: all)")
        ->delimiter(',')
        ->check(CLI::IsMember({"parse", "transform", "sqlite", "postgres"}));
    app.add_flag("--json", options.json_output, "Print one JSON document instead of Markdown");
    CLI11_PARSE(app, argc, argv);

    // Per-page logs, and the warnings about fixture events with odd fields, would dominate
    // the measurement.
    spdlog::set_level(spdlog::level::err);
    try {
        return run(options, command_line(argc, argv));
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << '\n';
        return 1;
    }
}
