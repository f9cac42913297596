#include "crawler/detail/page_tracker.hpp"

#include <algorithm>
#include <cctype>

#include "crawler/detail/logger.hpp"

namespace eventcrawl::crawler::detail {

namespace json = boost::json;

namespace {

std::string string_at(const json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    if (value == nullptr || !value->is_string()) {
        return {};
    }
    return std::string(value->get_string());
}

const json::object* object_at(const json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    return value != nullptr && value->is_object() ? &value->get_object() : nullptr;
}

}  // namespace

std::string header_value(const json::object& headers, std::string_view lower_case_name) {
    for (const auto& [name, value] : headers) {
        if (!value.is_string() || name.size() != lower_case_name.size()) {
            continue;
        }
        const bool equal = std::equal(
            name.begin(), name.end(), lower_case_name.begin(), [](char left, char right) {
                return std::tolower(static_cast<unsigned char>(left)) == right;
            });
        if (equal) {
            return std::string(value.get_string());
        }
    }
    return {};
}

bool is_static_resource_type(std::string_view resource_type) {
    return resource_type == "Image" || resource_type == "Font" || resource_type == "Stylesheet" ||
           resource_type == "Media";
}

void page_tracker::apply(const cdp_event& event) {
    if (event.method == "Page.domContentEventFired") {
        dom_content_loaded_ = true;
        return;
    }
    const auto& params = event.params;
    const auto request_id = string_at(params, "requestId");
    if (request_id.empty()) {
        return;
    }

    if (event.method == "Network.requestWillBeSent") {
        auto [entry, inserted] = requests_.try_emplace(request_id);
        auto& request = entry->second;
        if (inserted) {
            request.order = next_order_++;
            request.request_id = request_id;
        }
        // A redirect reuses the requestId; the newest URL and response win.
        request.resource_type = string_at(params, "type");
        if (const auto* details = object_at(params, "request")) {
            request.url = string_at(*details, "url");
            request.method = string_at(*details, "method");
            request.post_data = string_at(*details, "postData");
        }
        request.finished = false;
        request.failed = false;
        if (request.resource_type == "Document") {
            dom_content_loaded_ = false;
        }
        logger()->trace("request seen type={} method={} url={}",
                        request.resource_type,
                        request.method,
                        request.url);
        return;
    }

    auto found = requests_.find(request_id);
    if (found == requests_.end()) {
        return;
    }
    auto& request = found->second;
    if (event.method == "Network.responseReceived") {
        if (const auto* response = object_at(params, "response")) {
            if (const auto* status = response->if_contains("status"); status != nullptr) {
                if (status->is_int64()) {
                    request.status = static_cast<int>(status->get_int64());
                } else if (status->is_double()) {
                    request.status = static_cast<int>(status->get_double());
                }
            }
            request.mime_type = string_at(*response, "mimeType");
            request.retry_after.clear();
            if (const auto* headers = object_at(*response, "headers")) {
                request.retry_after = header_value(*headers, "retry-after");
            }
        }
        if (auto type = string_at(params, "type"); !type.empty()) {
            request.resource_type = type;
        }
    } else if (event.method == "Network.loadingFinished") {
        request.finished = true;
        if (is_static_resource_type(request.resource_type)) {
            ++static_loaded_;
            logger()->debug(
                "static resource loaded type={} url={}", request.resource_type, request.url);
        }
    } else if (event.method == "Network.loadingFailed") {
        request.failed = true;
        request.error_text = string_at(params, "errorText");
        request.blocked_reason = string_at(params, "blockedReason");
        if (auto type = string_at(params, "type"); !type.empty()) {
            request.resource_type = type;
        }
        if (is_static_resource_type(request.resource_type)) {
            ++static_failed_;
        }
    }
}

const tracked_request* page_tracker::find(const std::string& request_id) const {
    auto found = requests_.find(request_id);
    return found == requests_.end() ? nullptr : &found->second;
}

const tracked_request* page_tracker::find_after(std::size_t since,
                                                std::string_view method,
                                                std::string_view url_part) const {
    const tracked_request* first = nullptr;
    for (const auto& [id, request] : requests_) {
        if (request.order < since || request.method != method ||
            request.url.find(url_part) == std::string::npos) {
            continue;
        }
        if (first == nullptr || request.order < first->order) {
            first = &request;
        }
    }
    return first;
}

}  // namespace eventcrawl::crawler::detail
