#include "app/import_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "app/clock.hpp"
#include "db/store.hpp"
#include "pipeline/transform.hpp"

namespace eventcrawl::app {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open '" + path + "': check that the file exists");
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (!in && !in.eof()) {
        throw std::runtime_error("cannot read '" + path + "'");
    }
    return content.str();
}

// transform_error messages start with the file name already; other errors get it added.
std::string describe_failure(const std::string& path, const std::exception& error) {
    const std::string message = error.what();
    return message.rfind(path, 0) == 0 ? message : path + ": " + message;
}

}  // namespace

int run_import(const import_options& options) {
    auto log = spdlog::get("app");
    std::unique_ptr<db::store> store;
    try {
        store = db::open_store(options.db_dsn);
    } catch (const std::exception& error) {
        log->error("cannot open database: {}", error.what());
        fmt::print(stderr, "error: {}\n", error.what());
        return 1;
    }

    db::run_start start;
    start.mode = "import";
    start.command = options.command_line;
    const auto run_id = store->begin_run(start);
    log->info("import starting run_id={} files={}", run_id, options.files.size());

    db::run_summary summary;
    int files_loaded = 0;
    int files_failed = 0;
    int files_skipped = 0;
    std::set<std::string> seen_paths;
    for (const auto& path : options.files) {
        if (!seen_paths.insert(std::filesystem::weakly_canonical(path).string()).second) {
            fmt::print("skipped {}: given twice\n", path);
            continue;
        }
        try {
            pipeline::raw_page page;
            page.source = pipeline::page_source::file;
            page.url = path;
            page.body = read_file(path);
            page.captured_at = std::chrono::system_clock::now();
            const auto output = pipeline::transform_page(page);
            for (const auto& warning : output.warnings) {
                log->warn("file={} {}", path, warning);
            }
            // One transaction per file, so that a file loads in whole or not at all.
            store->upsert_events(output.events, utc_now_iso());
            summary.events += static_cast<std::int64_t>(output.events.size());
            summary.pages += 1;
            ++files_loaded;
            fmt::print("loaded {}: {} events, {} warnings\n",
                       path,
                       output.events.size(),
                       output.warnings.size());
        } catch (const pipeline::transform_error& error) {
            if (error.failure() != pipeline::transform_failure::no_event_data) {
                ++files_failed;
                summary.errors += 1;
                log->error("import failed: {}", error.what());
                fmt::print("failed {}\n", describe_failure(path, error));
                continue;
            }
            ++files_skipped;
            log->info("skipped {}", error.what());
            fmt::print("skipped {}\n", describe_failure(path, error));
        } catch (const std::exception& error) {
            ++files_failed;
            summary.errors += 1;
            log->error("file={} import failed: {}", path, error.what());
            fmt::print("failed {}\n", describe_failure(path, error));
        }
    }

    summary.status = files_failed == 0 ? "ok" : (files_loaded == 0 ? "failed" : "partial");
    store->finish_run(run_id, summary);
    const auto rows = store->count_events();
    fmt::print(
        "files: {} loaded, {} skipped (no event data), {} failed; events: {}; rows in "
        "database: {}\n",
        files_loaded,
        files_skipped,
        files_failed,
        summary.events,
        rows);
    log->info("import finished run_id={} status={} events={} rows={}",
              run_id,
              summary.status,
              summary.events,
              rows);
    return files_failed == 0 ? 0 : 2;
}

}  // namespace eventcrawl::app
