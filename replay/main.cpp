// eventbrite-replay: serves a recorded or generated corpus of Eventbrite listing pages and
// search responses on a local port.

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "replay/corpus.hpp"
#include "replay/detail/logger.hpp"
#include "replay/faults.hpp"
#include "replay/server.hpp"
#include "replay/synthetic.hpp"

namespace {

namespace asio = boost::asio;
namespace replay = eventcrawl::replay;

struct command_line {
    std::string corpus_directory;
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    int delay_ms = 0;
    int synthetic_cities = 0;
    int pages = 1;
    std::uint64_t seed = 1;
    std::string write_corpus_directory;
    std::vector<std::string> faults;
    std::optional<std::uint64_t> fault_seed;
    int jitter_ms = 0;
    std::optional<int> result_cap;
};

void configure(CLI::App& app, command_line& options) {
    auto* corpus = app.add_option("--corpus",
                                  options.corpus_directory,
                                  "Corpus folder holding cities.yaml and one folder per city");
    app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
    app.add_option("--port", options.port, "TCP port to listen on; 0 picks a free port")
        ->capture_default_str();
    app.add_option("--delay-ms",
                   options.delay_ms,
                   "Delay in milliseconds added before every response (not /__replay/)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    auto* synthetic =
        app.add_option("--synthetic-cities",
                       options.synthetic_cities,
                       "Serve a generated corpus with this many cities instead of --corpus")
            ->check(CLI::PositiveNumber);
    app.add_option("--pages", options.pages, "Pages of 20 events per generated city")
        ->check(CLI::PositiveNumber)
        ->needs(synthetic)
        ->capture_default_str();
    app.add_option(
           "--seed", options.seed, "Seed of the generated corpus; equal seeds give equal bytes")
        ->needs(synthetic)
        ->capture_default_str();
    app.add_option("--write-corpus",
                   options.write_corpus_directory,
                   "Write the generated corpus to this folder in the corpus layout and exit")
        ->needs(synthetic);
    corpus->excludes(synthetic);
    app.add_option("--jitter-ms",
                   options.jitter_ms,
                   "Largest extra delay in milliseconds drawn per response, uniform from 0 "
                   "(seeded by --fault-seed)")
        ->check(CLI::Range(0, 3600000))
        ->capture_default_str();
    app.add_option("--fault",
                   options.faults,
                   "Fault rule for every city: KIND[,key=value...] with keys endpoint, city, "
                   "page, probability, times, status, retry_after, delay_ms, page_count "
                   "(repeatable)");
    app.add_option("--fault-seed",
                   options.fault_seed,
                   "Seed of the fault probability and jitter draws; random when absent");
    app.add_option("--result-cap",
                   options.result_cap,
                   "Largest number of results one query serves; page_count shrinks to "
                   "CAP / page_size while object_count keeps the true count")
        ->check(CLI::Range(1, 100000000));
}

int run(const command_line& options,
        const std::vector<replay::fault_rule>& fault_rules,
        const std::shared_ptr<spdlog::logger>& logger) {
    replay::corpus corpus;
    if (options.synthetic_cities > 0) {
        corpus = replay::generate_corpus(
            replay::synthetic_options{options.synthetic_cities, options.pages, options.seed});
        if (!options.write_corpus_directory.empty()) {
            replay::write_corpus(corpus, options.write_corpus_directory);
            logger->info("Wrote corpus directory={} cities={} pages={} seed={}",
                         options.write_corpus_directory,
                         options.synthetic_cities,
                         options.pages,
                         options.seed);
            return 0;
        }
    } else if (!options.corpus_directory.empty()) {
        corpus = replay::load_corpus(options.corpus_directory);
    } else {
        std::cerr << "error: no corpus given; pass --corpus DIR or --synthetic-cities N\n";
        return 1;
    }

    asio::io_context io;
    replay::server_options settings;
    settings.host = options.host;
    settings.port = options.port;
    settings.delay = std::chrono::milliseconds(options.delay_ms);
    settings.jitter = std::chrono::milliseconds(options.jitter_ms);
    settings.fault_seed = options.fault_seed;
    settings.result_cap = options.result_cap;
    settings.faults = fault_rules;
    replay::server server(io, std::move(corpus), settings);
    const auto endpoint = server.start();
    std::cout << "listening on http://" << endpoint.address().to_string() << ':' << endpoint.port()
              << std::endl;

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&server, &logger](const boost::system::error_code& error, int signal) {
        if (!error) {
            logger->info("Stopping signal={}", signal);
            server.stop();
        }
    });
    io.run();
    logger->info("Stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const auto logger = eventcrawl::replay::detail::logger();

    CLI::App app{"Local stand-in for Eventbrite's listing pages and search API"};
    command_line options;
    configure(app, options);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& help) {
        return app.exit(help);
    } catch (const CLI::ParseError& error) {
        // One line, like the other errors: CLI11's own output adds a second line.
        std::cerr << "error: " << error.what() << "; run with --help for the options\n";
        return 1;
    }

    std::vector<replay::fault_rule> fault_rules;
    try {
        for (const std::string& text : options.faults) {
            fault_rules.push_back(replay::parse_fault_flag(text));
        }
    } catch (const replay::fault_flag_error& error) {
        std::cerr << "error: " << error.what() << '\n';
        return 1;
    }

    try {
        return run(options, fault_rules, logger);
    } catch (const replay::corpus_error& error) {
        std::cerr << "error: " << error.what() << '\n';
    } catch (const boost::system::system_error& error) {
        std::cerr << "error: cannot listen on " << options.host << ':' << options.port << ": "
                  << error.code().message() << '\n';
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << '\n';
    }
    return 1;
}
