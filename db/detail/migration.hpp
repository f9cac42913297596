#pragma once

#include <span>
#include <string_view>

namespace eventcrawl::db::detail {

// One step of a schema: `sql` is applied in one transaction together with the schema_version
// row for `version`. Versions start at 1 and increase by 1 in the list order.
struct migration {
    int version;
    std::string_view description;
    std::string_view sql;
};

// The migrations of the SQLite schema, oldest first.
std::span<const migration> sqlite_migrations();

// The migrations of the PostgreSQL schema, oldest first.
std::span<const migration> postgres_migrations();

}  // namespace eventcrawl::db::detail
