#include "db/detail/run_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "db/detail/logger.hpp"

namespace eventcrawl::db::detail {
namespace {

class file_run_claim final : public run_claim {
public:
    file_run_claim(std::int64_t run_id, std::string path, int descriptor)
        : run_id_{run_id}, path_{std::move(path)}, descriptor_{descriptor} {}

    ~file_run_claim() override {
        // The file goes before the lock, so a process that opened the old file just before finds
        // it unlinked after its flock (see lock_run_file) and opens the path again.
        ::unlink(path_.c_str());
        ::close(descriptor_);
        logger()->debug("Released run claim run_id={} lock_file={}", run_id_, path_);
    }

    file_run_claim(const file_run_claim&) = delete;
    file_run_claim& operator=(const file_run_claim&) = delete;

    std::int64_t run_id() const override { return run_id_; }

private:
    std::int64_t run_id_;
    std::string path_;
    int descriptor_;
};

class unshared_claim final : public run_claim {
public:
    explicit unshared_claim(std::int64_t run_id) : run_id_{run_id} {}
    std::int64_t run_id() const override { return run_id_; }

private:
    std::int64_t run_id_;
};

std::string read_holder(int descriptor) {
    std::array<char, 256> buffer{};
    const ssize_t size = ::pread(descriptor, buffer.data(), buffer.size() - 1, 0);
    if (size <= 0) {
        return {};
    }
    std::string text{buffer.data(), static_cast<std::size_t>(size)};
    while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) {
        text.pop_back();
    }
    return text;
}

// Whether `descriptor` is still the file at `path`, and not a file that another process
// unlinked after this one opened it.
bool is_current_file(int descriptor, const std::string& path) {
    struct stat opened{};
    struct stat named{};
    if (::fstat(descriptor, &opened) != 0 || ::stat(path.c_str(), &named) != 0) {
        return false;
    }
    return opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

}  // namespace

std::string process_description() {
    std::array<char, 256> host{};
    if (::gethostname(host.data(), host.size() - 1) != 0) {
        host[0] = '\0';
    }
    return fmt::format("pid {} on host {}", ::getpid(), host.data()[0] != '\0' ? host.data() : "?");
}

run_claimed_error claimed_error(std::int64_t run_id,
                                const std::string& holder,
                                const std::string& location) {
    return run_claimed_error{fmt::format(
        "run {} in '{}' is being written by another eventcrawl process ({}); wait for it to end "
        "or pass a different run",
        run_id,
        location,
        holder.empty() ? std::string{"holder unknown"} : holder)};
}

std::unique_ptr<run_claim> lock_run_file(std::int64_t run_id, const std::string& lock_path) {
    // A lock file that a releasing claim unlinks between open and flock is opened again. Each
    // retry needs another claim and release in that gap, so 10 attempts are plenty.
    constexpr int max_attempts = 10;
    for (int attempt = 0; attempt < max_attempts; ++attempt) {
        const int descriptor = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (descriptor < 0) {
            throw store_error{fmt::format(
                "cannot create run lock file '{}' for run {}: {}; make the database's folder "
                "writable",
                lock_path,
                run_id,
                std::strerror(errno))};
        }
        if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) {
            const int error = errno;
            const std::string holder = read_holder(descriptor);
            ::close(descriptor);
            if (error == EWOULDBLOCK) {
                throw claimed_error(run_id, holder, lock_path);
            }
            throw store_error{fmt::format("flock of run lock file '{}' for run {} failed: {}",
                                          lock_path,
                                          run_id,
                                          std::strerror(error))};
        }
        if (!is_current_file(descriptor, lock_path)) {
            ::close(descriptor);
            continue;
        }

        const std::string holder = process_description() + "\n";
        if (::ftruncate(descriptor, 0) != 0 ||
            ::pwrite(descriptor, holder.data(), holder.size(), 0) !=
                static_cast<ssize_t>(holder.size())) {
            // The lock works without the text; only the error message of a rival loses detail.
            logger()->warn("Cannot write holder to run lock file path={} error=\"{}\"",
                           lock_path,
                           std::strerror(errno));
        }
        logger()->debug("Claimed run run_id={} lock_file={}", run_id, lock_path);
        return std::make_unique<file_run_claim>(run_id, lock_path, descriptor);
    }
    throw store_error{fmt::format(
        "run lock file '{}' for run {} was replaced {} times while this process locked it; "
        "another process claims and releases the run in a loop",
        lock_path,
        run_id,
        max_attempts)};
}

std::unique_ptr<run_claim> unshared_run_claim(std::int64_t run_id) {
    return std::make_unique<unshared_claim>(run_id);
}

}  // namespace eventcrawl::db::detail
