// Measures wall time per listing page for in-page paging (next-button click, search XHR) and
// for full reloads (?page=N), and for the two ways of blocking static resources, on a generated
// replay corpus. Not a test: prints one line per mode.
//
// Usage: crawler_paging_bench [pages=20] [rounds=3]

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "crawler/browser_pool.hpp"
#include "crawler/city_task.hpp"
#include "tests/crawler/replay_process.hpp"

namespace asio = boost::asio;
using namespace eventcrawl::crawler;

namespace {

class counting_sink : public page_sink {
public:
    asio::awaitable<void> deliver(eventcrawl::pipeline::raw_page page) override {
        bytes += page.body.size();
        co_return;
    }
    std::size_t bytes = 0;
};

struct bench_run {
    std::string origin;
    std::string slug;
    int rounds = 3;
    std::vector<double> ms_per_page[4];
    int pages[4] = {0, 0, 0, 0};
};

asio::awaitable<void> measure(bench_run* run) {
    auto executor = co_await asio::this_coro::executor;
    browser_pool_options pool_options;
    auto pool = co_await browser_pool::start(executor, pool_options);
    counting_sink sink;
    for (int round = 0; round < run->rounds; ++round) {
        for (int mode = 0; mode < 4; ++mode) {
            city_task_options options;
            options.in_page_paging = mode % 2 == 0;
            options.blocking =
                mode < 2 ? resource_blocking::blocked_urls : resource_blocking::fetch;
            const auto started = std::chrono::steady_clock::now();
            city_spec city;
            city.slug = run->slug;
            city.origin = run->origin;
            auto report = co_await run_city_task(*pool, std::move(city), options, sink);
            const std::chrono::duration<double, std::milli> elapsed =
                std::chrono::steady_clock::now() - started;
            run->pages[mode] = report.pages_captured;
            run->ms_per_page[mode].push_back(elapsed.count() / std::max(1, report.pages_captured));
        }
    }
    co_await pool->shutdown();
}

}  // namespace

int main(int argc, char** argv) {
    const int pages = argc > 1 ? std::atoi(argv[1]) : 20;
    bench_run run;
    run.rounds = argc > 2 ? std::atoi(argv[2]) : 3;

    testing::temp_folder corpus;
    {
        const std::string command =
            fmt::format("{} --synthetic-cities 1 --pages {} --write-corpus {} >/dev/null 2>&1",
                        EVENTCRAWL_REPLAY_BINARY,
                        pages,
                        corpus.path().string());
        if (std::system(command.c_str()) != 0) {
            std::fprintf(stderr, "writing the synthetic corpus failed: %s\n", command.c_str());
            return 1;
        }
    }
    std::ifstream yaml(corpus.path() / "cities.yaml");
    for (std::string line; std::getline(yaml, line);) {
        if (auto at = line.find("- slug: "); at != std::string::npos) {
            run.slug = line.substr(at + 8);
            break;
        }
    }
    std::vector<std::string> arguments = {"--corpus", corpus.path().string()};
    testing::replay_process replay(EVENTCRAWL_REPLAY_BINARY, arguments);
    run.origin = replay.origin();

    asio::io_context io;
    asio::co_spawn(io, measure(&run), [](std::exception_ptr error) {
        if (error) {
            std::rethrow_exception(error);
        }
    });
    io.run();

    const char* names[4] = {"in-page paging, blocked_urls",
                            "full reload, blocked_urls",
                            "in-page paging, fetch",
                            "full reload, fetch"};
    for (int mode = 0; mode < 4; ++mode) {
        std::printf("%-30s pages=%d ms_per_page:", names[mode], run.pages[mode]);
        for (double value : run.ms_per_page[mode]) {
            std::printf(" %.1f", value);
        }
        std::printf("\n");
    }
    return 0;
}
