#include "app/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

#include "app/clock.hpp"

namespace eventcrawl::app {
namespace {

const std::vector<std::string> module_loggers = {"app", "config", "crawler", "pipeline", "db"};

void append_json_string(std::string_view text, spdlog::memory_buf_t& out) {
    out.push_back('"');
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out.append(std::string_view("\\\""));
                break;
            case '\\':
                out.append(std::string_view("\\\\"));
                break;
            case '\n':
                out.append(std::string_view("\\n"));
                break;
            case '\r':
                out.append(std::string_view("\\r"));
                break;
            case '\t':
                out.append(std::string_view("\\t"));
                break;
            default:
                if (byte < 0x20) {
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", byte);
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

// One JSON object per line, for log collectors.
class json_formatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override {
        const auto whole = std::chrono::floor<std::chrono::seconds>(message.time);
        const auto millis =
            std::chrono::duration_cast<std::chrono::milliseconds>(message.time - whole).count();
        auto stamp = format_utc_iso(whole);
        stamp.pop_back();  // the trailing 'Z' goes after the milliseconds
        fmt::format_to(std::back_inserter(out), "{{\"ts\":\"{}.{:03}Z\",\"level\":", stamp, millis);
        const auto level_name = spdlog::level::to_string_view(message.level);
        append_json_string(std::string_view(level_name.data(), level_name.size()), out);
        out.append(std::string_view(",\"logger\":"));
        append_json_string(std::string_view(message.logger_name.data(), message.logger_name.size()),
                           out);
        out.append(std::string_view(",\"msg\":"));
        append_json_string(std::string_view(message.payload.data(), message.payload.size()), out);
        out.append(std::string_view("}\n"));
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<json_formatter>();
    }
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
    const auto parsed_level = spdlog::level::from_str(level);
    if (parsed_level == spdlog::level::off && level != "off") {
        throw std::invalid_argument("invalid --log-level '" + level +
                                    "': expected trace, debug, info, warn, error, critical or off");
    }
    if (format != "text" && format != "json") {
        throw std::invalid_argument("invalid --log-format '" + format + "': expected text or json");
    }

    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    if (format == "json") {
        sink->set_formatter(std::make_unique<json_formatter>());
    } else {
        sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
            "%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%n] %v", spdlog::pattern_time_type::utc));
    }
    for (const auto& name : module_loggers) {
        spdlog::drop(name);
        auto logger = std::make_shared<spdlog::logger>(name, sink);
        logger->set_level(parsed_level);
        spdlog::register_logger(logger);
    }
    spdlog::set_level(parsed_level);
    spdlog::set_default_logger(spdlog::get("app"));
}

}  // namespace eventcrawl::app
