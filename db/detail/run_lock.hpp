#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "db/store.hpp"

namespace eventcrawl::db::detail {

// Describes this process as "pid 345 on host crawler-1", for run_claimed_error messages.
std::string process_description();

// Returns the run_claimed_error for a run that `holder` has claimed. An empty holder is reported
// as unknown.
run_claimed_error claimed_error(std::int64_t run_id,
                                const std::string& holder,
                                const std::string& location);

// Claims a run by an exclusive flock(2) on `lock_path`, which records the holder's pid and host.
// The kernel drops the lock when the process dies. The destructor removes the file and then
// drops the lock. A file left by a dead process is locked again and reused.
std::unique_ptr<run_claim> lock_run_file(std::int64_t run_id, const std::string& lock_path);

// A claim that nothing else can contest, for an in-memory database.
std::unique_ptr<run_claim> unshared_run_claim(std::int64_t run_id);

}  // namespace eventcrawl::db::detail
