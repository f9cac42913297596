// libFuzzer entry point for the transform stage: every input goes through transform_page under
// each page_source, through read_page_facts, and through extract_server_data. The only
// exception any of them may throw is pipeline::transform_error; anything else aborts, so
// libFuzzer records the input as a crash. Under each page_source the input also runs through
// the streaming path and the DOM path apart: when the streaming path returns output, the DOM
// path must return the same output field for field, or the input is a crash too.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "pipeline/detail/transform_paths.hpp"
#include "pipeline/raw_page.hpp"
#include "pipeline/transform.hpp"
#include "tests/pipeline/output_diff.hpp"

namespace {

using eventcrawl::pipeline::page_facts;
using eventcrawl::pipeline::page_source;
using eventcrawl::pipeline::raw_page;
using eventcrawl::pipeline::transform_error;
using eventcrawl::pipeline::transform_output;

[[noreturn]] void abort_on_unexpected(std::string_view call, std::string_view message) {
    std::fprintf(stderr,
                 "%.*s threw an exception other than transform_error: %.*s\n",
                 static_cast<int>(call.size()),
                 call.data(),
                 static_cast<int>(message.size()),
                 message.data());
    std::abort();
}

// Runs `call` and lets only transform_error pass.
template <typename Call>
void expect_only_transform_error(std::string_view name, Call&& call) {
    try {
        call();
    } catch (const transform_error&) {
        // Expected for malformed input.
    } catch (const std::exception& error) {
        abort_on_unexpected(name, error.what());
    } catch (...) {
        abort_on_unexpected(name, "an exception not derived from std::exception");
    }
}

[[noreturn]] void abort_on_difference(std::string_view source, std::string_view problem) {
    std::fprintf(stderr,
                 "streaming and DOM paths disagree on a %.*s page: %.*s\n",
                 static_cast<int>(source.size()),
                 source.data(),
                 static_cast<int>(problem.size()),
                 problem.data());
    std::abort();
}

// Runs both facts readers on `page`, with the same rule as compare_paths.
void compare_facts(const raw_page& page) {
    std::optional<page_facts> streamed;
    try {
        streamed = eventcrawl::pipeline::detail::stream_page_facts(page);
    } catch (const std::exception& error) {
        abort_on_unexpected("stream_page_facts", error.what());
    }
    if (!streamed) {
        return;
    }
    page_facts dom;
    try {
        dom = eventcrawl::pipeline::detail::dom_page_facts(page);
    } catch (const transform_error& error) {
        abort_on_difference(to_string(page.source),
                            std::string("the DOM facts reader threw: ") + error.what());
    }
    const std::string difference =
        eventcrawl::pipeline::testing::describe_difference(*streamed, dom);
    if (!difference.empty()) {
        abort_on_difference(to_string(page.source), difference);
    }
}

// Runs both transform paths on `page` and aborts when the streaming path returns output that
// differs from the DOM path's, or returns output for a page on which the DOM path throws.
void compare_paths(const raw_page& page) {
    compare_facts(page);
    std::optional<transform_output> streamed;
    try {
        streamed = eventcrawl::pipeline::detail::stream_transform_page(page);
    } catch (const std::exception& error) {
        abort_on_unexpected("stream_transform_page", error.what());
    }
    if (!streamed) {
        return;
    }
    transform_output dom;
    try {
        dom = eventcrawl::pipeline::detail::dom_transform_page(page);
    } catch (const transform_error& error) {
        abort_on_difference(to_string(page.source),
                            std::string("the DOM path threw: ") + error.what());
    }
    const std::string difference =
        eventcrawl::pipeline::testing::describe_difference(*streamed, dom);
    if (!difference.empty()) {
        abort_on_difference(to_string(page.source), difference);
    }
}

raw_page make_page(page_source source, std::string body) {
    raw_page page;
    page.city_slug = "fuzz--city";
    page.page_number = 1;
    page.url = "http://127.0.0.1/d/fuzz--city/all-events/?page=1";
    page.http_status = 200;
    page.content_type =
        source == page_source::listing_html ? "text/html; charset=utf-8" : "application/json";
    page.source = source;
    page.body = std::move(body);
    return page;
}

}  // namespace

// Silences the pipeline's per-event warnings, which would otherwise dominate the run time.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);

    for (const auto source :
         {page_source::listing_html, page_source::search_xhr, page_source::file}) {
        const raw_page page = make_page(source, body);
        expect_only_transform_error("transform_page",
                                    [&] { (void)eventcrawl::pipeline::transform_page(page); });
        expect_only_transform_error("read_page_facts",
                                    [&] { (void)eventcrawl::pipeline::read_page_facts(page); });
        compare_paths(page);
    }
    expect_only_transform_error("extract_server_data",
                                [&] { (void)eventcrawl::pipeline::extract_server_data(body); });
    return 0;
}
