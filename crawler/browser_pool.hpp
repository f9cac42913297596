#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crawler/browser_process.hpp"
#include "crawler/cdp_connection.hpp"

namespace eventcrawl::crawler {

struct browser_pool_options {
    int browsers = 1;                       // Chromium processes to launch
    std::vector<std::string> browser_urls;  // existing browsers: ws://.../devtools/browser/<id>
                                            // or http://host:port (read via /json/version)
    std::string chromium_path = default_chromium_path();
    int pages_per_browser = 0;  // recycle a launched browser after this many pages; 0 = never
    std::chrono::milliseconds launch_timeout{20000};
    std::chrono::milliseconds call_timeout{10000};
    std::chrono::milliseconds close_timeout{5000};  // closing a browser's CDP socket
};

struct browser_pool_counters {
    int launched = 0;        // Chromium processes started, including replacements
    int recycled = 0;        // browsers closed and relaunched after pages_per_browser pages
    int crashed = 0;         // browsers found dead (socket closed or process exited) and replaced
    int targets_parked = 0;  // page targets kept open after a city for the next city
    int targets_reused = 0;  // parked page targets taken by a later city
};

// A page target kept open between cities on one browser: its browser context, the target and
// the flat session attached to it, with the session's domains and resource blocking still set.
// The page still shows the last document of the city that parked it.
struct idle_page_target {
    std::string context_id;
    std::string target_id;
    std::string session_id;
    std::string origin;  // origin of the last document, whose storage the next user clears
};

class browser_pool;

// A browser lent to one city task. Returning it (destruction) frees its slot.
class browser_lease {
public:
    browser_lease() = default;
    browser_lease(browser_lease&& other) noexcept;
    browser_lease& operator=(browser_lease&& other) noexcept;
    browser_lease(const browser_lease&) = delete;
    browser_lease& operator=(const browser_lease&) = delete;
    ~browser_lease();

    cdp_connection& connection() const;
    std::shared_ptr<cdp_connection> shared_connection() const;
    int browser_index() const noexcept { return index_; }
    // Main process id of a launched browser, -1 for an attached one.
    pid_t browser_pid() const;

    // Counts one page served, for recycling.
    void count_page();

    // Takes the page target parked on this browser longest ago, if any. The caller owns it from
    // then on: it registers the session again, and closes the target if it cannot use it.
    std::optional<idle_page_target> take_idle_target();

    // Parks an open page target of this browser for a later city. The caller must have
    // unregistered its session first. A parked target is dropped with its browser when the
    // browser is closed, recycled or replaced.
    void park_target(idle_page_target target);

private:
    friend class browser_pool;
    browser_lease(browser_pool* pool, int index) : pool_(pool), index_(index) {}
    void release();

    browser_pool* pool_ = nullptr;
    int index_ = -1;
};

// K browsers (launched or attached) shared by city tasks; a city leases the least-loaded one.
// A browser found dead when leasing is replaced; a launched browser that served
// pages_per_browser pages is closed and relaunched once no city uses it.
// Use from one thread (the crawl's io_context).
class browser_pool {
public:
    // Launches or attaches every browser; throws std::runtime_error or cdp_error naming the
    // browser that failed (any browser already started is shut down first).
    static boost::asio::awaitable<std::unique_ptr<browser_pool>> start(
        boost::asio::any_io_executor executor, browser_pool_options options);

    ~browser_pool();
    browser_pool(const browser_pool&) = delete;
    browser_pool& operator=(const browser_pool&) = delete;

    // Leases the least-loaded live browser, replacing dead or worn-out ones first.
    // Throws std::runtime_error after shutdown() or when no browser can be brought back.
    boost::asio::awaitable<browser_lease> lease();

    // Closes every browser (Browser.close, bounded wait, then SIGKILL of the process group),
    // reaps the processes and removes their temp profiles. Safe to call twice.
    boost::asio::awaitable<void> shutdown();

    browser_pool_counters counters() const noexcept { return counters_; }
    const browser_pool_options& options() const noexcept { return options_; }
    std::size_t size() const noexcept { return slots_.size(); }

    // Main process id of launched browser `index`, or -1 (for tests and reports).
    pid_t browser_pid(int index) const;

    // Temp dir (profile, HOME, TMPDIR) of launched browser `index`, or "" for an attached one.
    std::filesystem::path browser_temp_dir(int index) const;

private:
    friend class browser_lease;
    struct slot;

    browser_pool(boost::asio::any_io_executor executor, browser_pool_options options);

    boost::asio::awaitable<void> open_slot(int index);
    boost::asio::awaitable<void> close_slot(int index);
    bool is_dead(int index);

    boost::asio::any_io_executor executor_;
    browser_pool_options options_;
    std::vector<std::unique_ptr<slot>> slots_;
    browser_pool_counters counters_;
    bool shut_down_ = false;
};

// Resolves http://host:port to the browser's WebSocket URL through GET /json/version, with the
// advertised host:port replaced by the given one. ws:// URLs are returned unchanged.
boost::asio::awaitable<std::string> resolve_browser_url(boost::asio::any_io_executor executor,
                                                        std::string url,
                                                        std::chrono::milliseconds timeout);

}  // namespace eventcrawl::crawler
