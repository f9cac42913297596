#include "crawler/browser_pool.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <stdexcept>

#include "crawler/detail/logger.hpp"

namespace eventcrawl::crawler {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct browser_pool::slot {
    std::string attach_url;  // empty for a launched browser
    std::unique_ptr<browser_process> process;
    std::shared_ptr<cdp_connection> connection;
    int active_cities = 0;
    int pages_served = 0;
    bool busy = false;                          // being opened or closed by a coroutine
    std::deque<idle_page_target> idle_targets;  // parked by finished cities, oldest first
};

// browser_lease

browser_lease::browser_lease(browser_lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), index_(std::exchange(other.index_, -1)) {}

browser_lease& browser_lease::operator=(browser_lease&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = std::exchange(other.pool_, nullptr);
        index_ = std::exchange(other.index_, -1);
    }
    return *this;
}

browser_lease::~browser_lease() {
    release();
}

void browser_lease::release() {
    if (pool_ != nullptr && index_ >= 0) {
        auto& slot = *pool_->slots_.at(index_);
        slot.active_cities = std::max(0, slot.active_cities - 1);
    }
    pool_ = nullptr;
    index_ = -1;
}

cdp_connection& browser_lease::connection() const {
    return *shared_connection();
}

std::shared_ptr<cdp_connection> browser_lease::shared_connection() const {
    if (pool_ == nullptr) {
        throw std::logic_error("browser_lease is empty");
    }
    auto connection = pool_->slots_.at(index_)->connection;
    if (!connection) {
        throw cdp_error(cdp_failure::connection_closed,
                        fmt::format("browser {} has no open connection", index_));
    }
    return connection;
}

pid_t browser_lease::browser_pid() const {
    return pool_ == nullptr ? -1 : pool_->browser_pid(index_);
}

void browser_lease::count_page() {
    if (pool_ != nullptr) {
        ++pool_->slots_.at(index_)->pages_served;
    }
}

std::optional<idle_page_target> browser_lease::take_idle_target() {
    if (pool_ == nullptr) {
        return std::nullopt;
    }
    auto& slot = *pool_->slots_.at(index_);
    if (slot.idle_targets.empty()) {
        return std::nullopt;
    }
    auto target = std::move(slot.idle_targets.front());
    slot.idle_targets.pop_front();
    ++pool_->counters_.targets_reused;
    return target;
}

void browser_lease::park_target(idle_page_target target) {
    if (pool_ == nullptr) {
        throw std::logic_error("browser_lease is empty; a target can only be parked on a lease");
    }
    pool_->slots_.at(index_)->idle_targets.push_back(std::move(target));
    ++pool_->counters_.targets_parked;
}

// browser_pool

browser_pool::browser_pool(asio::any_io_executor executor, browser_pool_options options)
    : executor_(std::move(executor)), options_(std::move(options)) {}

browser_pool::~browser_pool() {
    // Last resort when shutdown() was not awaited (an exception unwound past it).
    for (auto& slot : slots_) {
        if (slot->process) {
            slot->process->terminate();
        }
    }
}

asio::awaitable<std::unique_ptr<browser_pool>> browser_pool::start(asio::any_io_executor executor,
                                                                   browser_pool_options options) {
    std::unique_ptr<browser_pool> pool(new browser_pool(executor, std::move(options)));
    for (const auto& url : pool->options_.browser_urls) {
        auto attached = std::make_unique<slot>();
        attached->attach_url = url;
        pool->slots_.push_back(std::move(attached));
    }
    if (pool->options_.browser_urls.empty()) {
        for (int i = 0; i < std::max(1, pool->options_.browsers); ++i) {
            pool->slots_.push_back(std::make_unique<slot>());
        }
    }

    detail::logger()->info("browser pool starting browsers={}", pool->slots_.size());
    std::exception_ptr failure;
    try {
        for (int i = 0; i < static_cast<int>(pool->slots_.size()); ++i) {
            co_await pool->open_slot(i);
        }
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        co_await pool->shutdown();
        std::rethrow_exception(failure);
    }
    detail::logger()->info("browser pool started browsers={}", pool->slots_.size());
    co_return pool;
}

asio::awaitable<void> browser_pool::open_slot(int index) {
    auto& slot = *slots_.at(index);
    slot.pages_served = 0;
    if (slot.attach_url.empty()) {
        browser_launch_options launch;
        launch.chromium_path = options_.chromium_path;
        launch.launch_timeout = options_.launch_timeout;
        slot.process = co_await browser_process::launch(executor_, launch);
        ++counters_.launched;
        cdp_connection_options connection_options;
        connection_options.connect_timeout = options_.launch_timeout;
        slot.connection = co_await cdp_connection::connect(
            executor_, slot.process->websocket_url(), connection_options);
    } else {
        auto url = co_await resolve_browser_url(executor_, slot.attach_url, options_.call_timeout);
        cdp_connection_options connection_options;
        connection_options.connect_timeout = options_.call_timeout;
        slot.connection = co_await cdp_connection::connect(executor_, url, connection_options);
    }
}

asio::awaitable<void> browser_pool::close_slot(int index) {
    auto& slot = *slots_.at(index);
    // Closing the browser (or, for an attached one, the socket: contexts are created with
    // disposeOnDetach) also closes every parked target.
    slot.idle_targets.clear();
    auto connection = std::move(slot.connection);
    if (slot.process) {
        // A launched browser runs on a throwaway profile that terminate() deletes, so nothing is
        // lost by killing it. In a 60-city crawl log, the pool stopped in 158 ms with
        // Browser.close first and in 57-74 ms without it.
        slot.process->terminate();
        slot.process.reset();
    }
    if (connection) {
        // close() marks the end of the socket as expected, also when the kill ended it, and
        // waits for the reader to finish before the connection is destroyed.
        co_await connection->close(options_.close_timeout);
    }
}

bool browser_pool::is_dead(int index) {
    auto& slot = *slots_.at(index);
    if (!slot.connection || !slot.connection->is_open()) {
        return true;
    }
    return slot.process && slot.process->has_exited();
}

pid_t browser_pool::browser_pid(int index) const {
    const auto& slot = *slots_.at(index);
    return slot.process ? slot.process->pid() : -1;
}

std::filesystem::path browser_pool::browser_temp_dir(int index) const {
    const auto& slot = *slots_.at(index);
    return slot.process ? slot.process->temp_dir() : std::filesystem::path();
}

asio::awaitable<browser_lease> browser_pool::lease() {
    const auto deadline = std::chrono::steady_clock::now() + options_.launch_timeout;
    asio::steady_timer timer(executor_);
    for (;;) {
        if (shut_down_) {
            throw std::runtime_error("browser pool is shut down; no browser can be leased");
        }

        // Replace dead browsers and recycle worn-out idle ones before choosing.
        for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
            auto& slot = *slots_[i];
            if (slot.busy) {
                continue;
            }
            const bool dead = is_dead(i);
            const bool worn_out = !dead && slot.process && options_.pages_per_browser > 0 &&
                                  slot.pages_served >= options_.pages_per_browser &&
                                  slot.active_cities == 0;
            if (!dead && !worn_out) {
                continue;
            }
            slot.busy = true;
            if (dead) {
                ++counters_.crashed;
                detail::logger()->warn("browser dead, replacing index={}", i);
            } else {
                ++counters_.recycled;
                detail::logger()->info("browser recycling index={} pages={}", i, slot.pages_served);
            }
            std::exception_ptr failure;
            try {
                co_await close_slot(i);
                co_await open_slot(i);
            } catch (...) {
                failure = std::current_exception();
            }
            slot.busy = false;
            if (failure) {
                detail::logger()->error("browser replacement failed index={}", i);
                std::rethrow_exception(failure);
            }
        }

        int chosen = -1;
        for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
            const auto& slot = *slots_[i];
            if (slot.busy || is_dead(i)) {
                continue;
            }
            if (chosen < 0 || slot.active_cities < slots_[chosen]->active_cities) {
                chosen = i;
            }
        }
        if (chosen >= 0) {
            ++slots_[chosen]->active_cities;
            co_return browser_lease(this, chosen);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error(fmt::format(
                "no live browser within {} ms: all {} browsers are dead or being replaced",
                options_.launch_timeout.count(),
                slots_.size()));
        }
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<void> browser_pool::shutdown() {
    if (shut_down_) {
        co_return;
    }
    shut_down_ = true;
    detail::logger()->info("browser pool stopping browsers={}", slots_.size());
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
        co_await close_slot(i);
    }
    detail::logger()->info("browser pool stopped launched={} recycled={} crashed={}",
                           counters_.launched,
                           counters_.recycled,
                           counters_.crashed);
}

asio::awaitable<std::string> resolve_browser_url(asio::any_io_executor executor,
                                                 std::string url,
                                                 std::chrono::milliseconds timeout) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) {
        throw std::runtime_error(fmt::format(
            "invalid browser URL '{}': expected ws://host:port/devtools/browser/<id> or "
            "http://host:port",
            url));
    }
    if (parsed->scheme() == "ws") {
        co_return url;
    }
    if (parsed->scheme() != "http" || !parsed->has_port()) {
        throw std::runtime_error(fmt::format(
            "invalid browser URL '{}': expected ws://host:port/devtools/browser/<id> or "
            "http://host:port",
            url));
    }
    std::string host(parsed->host());
    std::string port(parsed->port());

    asio::ip::tcp::resolver resolver(executor);
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve(host, port, use_tuple);
    boost::system::error_code error = resolve_error;
    if (!error) {
        auto [connect_error, endpoint] = co_await stream.async_connect(endpoints, use_tuple);
        error = connect_error;
    }
    http::request<http::empty_body> request(http::verb::get, "/json/version", 11);
    request.set(http::field::host, fmt::format("{}:{}", host, port));
    if (!error) {
        auto [write_error, written] = co_await http::async_write(stream, request, use_tuple);
        error = write_error;
    }
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    if (!error) {
        auto [read_error, read] = co_await http::async_read(stream, buffer, response, use_tuple);
        error = read_error;
    }
    if (error) {
        throw std::runtime_error(fmt::format(
            "GET {}/json/version failed within {} ms: {}", url, timeout.count(), error.message()));
    }

    boost::system::error_code parse_error;
    auto document = json::parse(response.body(), parse_error);
    const json::value* advertised = nullptr;
    if (!parse_error && document.is_object()) {
        advertised = document.as_object().if_contains("webSocketDebuggerUrl");
    }
    if (advertised == nullptr || !advertised->is_string()) {
        throw std::runtime_error(fmt::format(
            "GET {}/json/version returned status {} without a webSocketDebuggerUrl string",
            url,
            response.result_int()));
    }
    // Chrome advertises its own bind address; keep its path but use the host:port we reached.
    // parse_uri returns a view, so the text it parses must outlive it.
    const std::string advertised_url(advertised->get_string());
    auto ws_url = boost::urls::parse_uri(advertised_url);
    if (!ws_url) {
        throw std::runtime_error(
            fmt::format("GET {}/json/version returned an invalid webSocketDebuggerUrl '{}'",
                        url,
                        advertised_url));
    }
    co_return fmt::format("ws://{}:{}{}", host, port, std::string(ws_url->encoded_path()));
}

}  // namespace eventcrawl::crawler
