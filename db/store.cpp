#include "db/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "db/postgres_store.hpp"
#include "db/sqlite_store.hpp"

namespace eventcrawl::db {
namespace {

constexpr std::string_view masked = "***";

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), text.begin(), [](char left, char right) {
               return std::tolower(static_cast<unsigned char>(left)) ==
                      std::tolower(static_cast<unsigned char>(right));
           });
}

bool is_space(char character) {
    return std::isspace(static_cast<unsigned char>(character)) != 0;
}

// Masks the password of the user-info part: "scheme://user:secret@host" keeps "user".
void mask_url_password(std::string& dsn) {
    const std::size_t scheme_end = dsn.find("://");
    if (scheme_end == std::string::npos) {
        return;
    }
    const std::size_t authority_begin = scheme_end + 3;
    std::size_t authority_end = dsn.find_first_of("/?#", authority_begin);
    if (authority_end == std::string::npos) {
        authority_end = dsn.size();
    }
    // A password may contain '@' when not percent-encoded, so the host starts after the last one.
    const std::size_t at = dsn.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
    if (at == std::string::npos || at < authority_begin) {
        return;
    }
    const std::size_t colon = dsn.find(':', authority_begin);
    if (colon == std::string::npos || colon > at) {
        return;
    }
    dsn.replace(colon + 1, at - colon - 1, masked);
}

// Masks every "password=VALUE" pair: libpq key=value settings (spaces around '=' allowed,
// single-quoted values with backslash escapes) and URL query parameters.
void mask_password_settings(std::string& dsn) {
    constexpr std::string_view key = "password";
    std::size_t search_from = 0;
    while (search_from < dsn.size()) {
        std::size_t key_begin = std::string::npos;
        for (std::size_t i = search_from; i + key.size() <= dsn.size(); ++i) {
            const bool at_boundary =
                i == 0 || is_space(dsn[i - 1]) || dsn[i - 1] == '?' || dsn[i - 1] == '&';
            if (at_boundary && starts_with_ignoring_case(std::string_view{dsn}.substr(i), key)) {
                key_begin = i;
                break;
            }
        }
        if (key_begin == std::string::npos) {
            return;
        }

        std::size_t cursor = key_begin + key.size();
        while (cursor < dsn.size() && is_space(dsn[cursor])) {
            ++cursor;
        }
        if (cursor >= dsn.size() || dsn[cursor] != '=') {
            search_from = key_begin + key.size();
            continue;
        }
        ++cursor;
        while (cursor < dsn.size() && is_space(dsn[cursor])) {
            ++cursor;
        }

        const std::size_t value_begin = cursor;
        if (cursor < dsn.size() && dsn[cursor] == '\'') {
            ++cursor;
            while (cursor < dsn.size() && dsn[cursor] != '\'') {
                cursor += dsn[cursor] == '\\' ? 2 : 1;
            }
            cursor = std::min(cursor + 1, dsn.size());
        } else {
            while (cursor < dsn.size() && !is_space(dsn[cursor]) && dsn[cursor] != '&' &&
                   dsn[cursor] != '#') {
                ++cursor;
            }
        }
        dsn.replace(value_begin, cursor - value_begin, masked);
        search_from = value_begin + masked.size();
    }
}

}  // namespace

std::string mask_dsn(std::string_view dsn) {
    std::string result{dsn};
    mask_url_password(result);
    mask_password_settings(result);
    return result;
}

void store::set_load_connections(int connections) {
    if (connections != 1) {
        throw store_error{fmt::format(
            "this database writes through one connection, so {} load connections cannot be "
            "used; give 1, or use PostgreSQL",
            connections)};
    }
}

bool is_postgres_dsn(std::string_view dsn) {
    return starts_with_ignoring_case(dsn, "postgresql://") ||
           starts_with_ignoring_case(dsn, "postgres://");
}

std::unique_ptr<store> open_store(std::string_view dsn) {
    constexpr std::string_view sqlite_scheme = "sqlite:";
    if (starts_with_ignoring_case(dsn, sqlite_scheme)) {
        std::string_view path = dsn.substr(sqlite_scheme.size());
        // "sqlite:///abs/file.db" is the URL spelling of "sqlite:/abs/file.db".
        if (path.starts_with("//")) {
            path.remove_prefix(2);
        }
        return std::make_unique<sqlite_store>(std::string{path});
    }
    if (is_postgres_dsn(dsn)) {
        return std::make_unique<postgres_store>(std::string{dsn});
    }
    throw store_error{fmt::format(
        "unsupported DSN '{}': expected sqlite:PATH, postgresql://... or postgres://...",
        mask_dsn(dsn))};
}

}  // namespace eventcrawl::db
