#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>

#include "app/crawl_command.hpp"
#include "app/dotenv.hpp"
#include "app/import_command.hpp"
#include "app/logging.hpp"
#include "app/store_commands.hpp"

namespace {

std::string join_arguments(int argc, char** argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) {
        if (i > 0) {
            line += ' ';
        }
        line += argv[i];
    }
    return line;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace eventcrawl::app;

    CLI::App cli{
        "eventcrawl: crawls Eventbrite discovery pages of many cities with headless Chromium\n"
        "and loads the events into SQLite or PostgreSQL.\n\n"
        "Exit codes: 0 = every city (or file) succeeded, 2 = some cities (or files) failed,\n"
        "1 = the run could not start (bad options, configuration or database)."};
    cli.require_subcommand(1);
    cli.set_version_flag("--version", "eventcrawl 0.1.0");

    std::string log_level = "info";
    std::string log_format = "text";
    cli.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
        ->envname("EVENTCRAWL_LOG_LEVEL")
        ->capture_default_str();
    cli.add_option("--log-format", log_format, "text or json (one object per line), to stderr")
        ->envname("EVENTCRAWL_LOG_FORMAT")
        ->capture_default_str();

    crawl_options crawl;
    auto* crawl_cmd = cli.add_subcommand("crawl", "Crawl the discovery pages of the listed cities");
    crawl_cmd->footer(
        "Exit codes: 0 = every city succeeded, 2 = some cities failed or the run was\n"
        "interrupted (the report lists why), 1 = the run could not start.");
    crawl_cmd->add_option("--cities", crawl.cities_file, "City list (YAML)")
        ->envname("EVENTCRAWL_CITIES")
        ->capture_default_str();
    crawl_cmd->add_option("--city", crawl.city_slugs, "Crawl only this city slug (repeatable)");
    crawl_cmd
        ->add_option("--base-url",
                     crawl.base_url,
                     "Origin that replaces every city's domain, e.g. http://127.0.0.1:8080 "
                     "(default: the live site of each city)")
        ->envname("EVENTCRAWL_BASE_URL");
    crawl_cmd->add_option("--db", crawl.db_dsn, "sqlite:PATH or postgresql://user@host/db")
        ->envname("EVENTCRAWL_DB")
        ->capture_default_str();
    crawl_cmd->add_option("--mode", crawl.mode, "async, or sync (one city and page at a time)")
        ->check(CLI::IsMember({"async", "sync"}))
        ->capture_default_str();
    crawl_cmd->add_option("--concurrency", crawl.concurrency, "City sessions in flight at once")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    crawl_cmd->add_option("--browsers", crawl.browsers, "Chromium processes to launch")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    crawl_cmd->add_option("--browser-url",
                          crawl.browser_urls,
                          "Attach to a running browser instead of launching: ws://host:port/"
                          "devtools/browser/ID or http://host:port (repeatable)");
    crawl_cmd
        ->add_option("--chromium",
                     crawl.chromium_path,
                     "Chromium binary to launch (default: "
                     "/usr/lib/chromium/chromium-headless-shell when it is installed, else "
                     "/usr/lib/chromium/chromium)")
        ->envname("EVENTCRAWL_CHROMIUM");
    crawl_cmd
        ->add_option("--pages-per-browser",
                     crawl.pages_per_browser,
                     "Restart a browser after it served this many pages (0 = never)")
        ->check(CLI::Range(0, std::numeric_limits<int>::max()))
        ->capture_default_str();
    crawl_cmd->add_flag("--fresh-context-per-city",
                        crawl.fresh_context_per_city,
                        "Open a new browser context and page target for every city (default: "
                        "a finished city's target is reused by the next city on its browser, "
                        "after clearing cookies and storage)");
    crawl_cmd
        ->add_option("--paging",
                     crawl.paging,
                     "How pages 2..N are requested: click (the listing's next button) or fetch "
                     "(the same search request sent from the open listing, without rendering)")
        ->check(CLI::IsMember({"click", "fetch"}))
        ->capture_default_str();
    crawl_cmd->add_option("--max-pages", crawl.max_pages, "Pages per city at most (0 = no limit)")
        ->check(CLI::Range(0, std::numeric_limits<int>::max()))
        ->capture_default_str();
    crawl_cmd
        ->add_option("--rate-per-host",
                     crawl.rate_per_host,
                     "Page requests per second to one host, shared by all cities (0 = unlimited)")
        ->check(CLI::Range(0.0, 1000.0))
        ->capture_default_str();
    crawl_cmd
        ->add_option("--split-horizon-days",
                     crawl.split_horizon_days,
                     "Days from today that a capped listing is split over by date (0 = no split)")
        ->check(CLI::Range(0, 3660))
        ->capture_default_str();
    crawl_cmd->add_option("--split-from",
                          crawl.split_from,
                          "First day (YYYY-MM-DD) of the date range a capped listing is split "
                          "over (default: the earlier of today and the earliest event start on "
                          "the capped page)");
    crawl_cmd
        ->add_option("--queue-capacity",
                     crawl.queue_capacity,
                     "Raw pages buffered between crawler and transform")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    crawl_cmd->add_option("--batch-rows", crawl.batch_rows, "Rows per database transaction")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    crawl_cmd
        ->add_option("--db-load-connections",
                     crawl.db_load_connections,
                     "PostgreSQL connections that load each batch in parallel, split by event id")
        ->check(CLI::Range(1, 8))
        ->capture_default_str();
    int batch_max_age_ms = static_cast<int>(crawl.batch_max_age.count());
    crawl_cmd
        ->add_option("--batch-max-age-ms",
                     batch_max_age_ms,
                     "Write a partial batch once its oldest row is this old (milliseconds)")
        ->check(CLI::Range(1, 3600000))
        ->capture_default_str();
    int page_timeout_s = static_cast<int>(crawl.page_timeout.count());
    crawl_cmd->add_option("--page-timeout", page_timeout_s, "Seconds allowed per page")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    bool no_progress = false;
    crawl_cmd->add_flag("--no-progress", no_progress, "No progress line on a terminal");
    crawl_cmd
        ->add_option("--resume",
                     crawl.resume_run_id,
                     "Finish run ID: crawl only its cities without an ok result, with its "
                     "stored options")
        ->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()));
    crawl_cmd->add_option("--summary-json",
                          crawl.summary_json_path,
                          "Also write the run summary as JSON to this file");

    import_options import;
    auto* import_cmd = cli.add_subcommand(
        "import", "Transform and load recorded payload files (search responses, lists, pages)");
    import_cmd->add_option("--db", import.db_dsn, "sqlite:PATH or postgresql://user@host/db")
        ->envname("EVENTCRAWL_DB")
        ->required();
    import_cmd->add_option("files", import.files, "Payload files (JSON or saved HTML)")
        ->required()
        ->check(CLI::ExistingFile);

    std::string runs_db;
    int runs_limit = 20;
    auto* runs_cmd =
        cli.add_subcommand("runs", "List the newest runs with their counts and status");
    runs_cmd->add_option("--db", runs_db, "sqlite:PATH or postgresql://user@host/db")
        ->envname("EVENTCRAWL_DB")
        ->required();
    runs_cmd->add_option("--limit", runs_limit, "Runs to list")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();

    export_options export_settings;
    auto* export_cmd = cli.add_subcommand("export", "Write the stored events as CSV or JSON lines");
    export_cmd->add_option("--db", export_settings.db_dsn, "sqlite:PATH or postgresql://...")
        ->envname("EVENTCRAWL_DB")
        ->required();
    export_cmd->add_option("--format", export_settings.format, "csv or jsonl")
        ->check(CLI::IsMember({"csv", "jsonl"}))
        ->capture_default_str();
    export_cmd->add_option(
        "--since", export_settings.since, "Only events starting at or after this UTC date or time");
    export_cmd->add_option("--city", export_settings.city, "Only events in this city (venue city)");
    export_cmd->add_option("--output", export_settings.output, "File to write (default: stdout)");

    std::string retransform_db;
    std::int64_t retransform_run = 0;
    auto* retransform_cmd = cli.add_subcommand(
        "retransform", "Transform a run's archived pages again and update the events");
    retransform_cmd->add_option("--db", retransform_db, "sqlite:PATH or postgresql://...")
        ->envname("EVENTCRAWL_DB")
        ->required();
    retransform_cmd->add_option("--run", retransform_run, "Run ID (see `eventcrawl runs`)")
        ->required()
        ->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()));

    // Settings from a .env file in the working directory fill in what the environment lacks.
    try {
        const char* env_file = std::getenv("EVENTCRAWL_ENV_FILE");
        if (env_file != nullptr && !std::filesystem::is_regular_file(env_file)) {
            throw std::runtime_error(std::string("EVENTCRAWL_ENV_FILE names '") + env_file +
                                     "', which is not a readable file");
        }
        load_dotenv(env_file != nullptr ? env_file : ".env");
    } catch (const std::exception& error) {
        fmt::print(stderr, "error: {}\n", error.what());
        return exit_could_not_start;
    }

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        const int code = cli.exit(error);
        return code == 0 ? 0 : exit_could_not_start;
    }

    if (*crawl_cmd && !crawl.split_from.empty()) {
        try {
            parse_split_from(crawl.split_from);
        } catch (const std::invalid_argument& error) {
            fmt::print(stderr, "error: {}\n", error.what());
            return exit_could_not_start;
        }
    }

    try {
        setup_logging(log_level, log_format);
    } catch (const std::exception& error) {
        fmt::print(stderr, "error: {}\n", error.what());
        return exit_could_not_start;
    }

    try {
        if (*import_cmd) {
            import.command_line = join_arguments(argc, argv);
            return run_import(import);
        }
        if (*runs_cmd) {
            return run_list_runs(runs_db, runs_limit);
        }
        if (*export_cmd) {
            return run_export(export_settings);
        }
        if (*retransform_cmd) {
            return run_retransform(retransform_db, retransform_run);
        }
        crawl.base_url_explicit = crawl_cmd->count("--base-url") > 0;
        crawl.batch_max_age = std::chrono::milliseconds(batch_max_age_ms);
        crawl.page_timeout = std::chrono::seconds(page_timeout_s);
        crawl.progress = !no_progress;
        crawl.command_line = join_arguments(argc, argv);
        return run_crawl(crawl);
    } catch (const std::exception& error) {
        spdlog::get("app")->critical("run aborted: {}", error.what());
        fmt::print(stderr, "error: {}\n", error.what());
        return exit_could_not_start;
    }
}
