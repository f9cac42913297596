#include "db/detail/wal_checkpointer.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <utility>

#include "db/detail/logger.hpp"
#include "db/store.hpp"

namespace eventcrawl::db::detail {
namespace {

// Runs a PASSIVE checkpoint of the main database, which copies the frames that no reader still
// needs and does not wait for locks. Returns the SQLite result code and logs the frame counts.
int passive_checkpoint(sqlite3* connection, std::string_view path, std::string_view by) {
    int log_frames = 0;
    int copied_frames = 0;
    const int rc = sqlite3_wal_checkpoint_v2(
        connection, "main", SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied_frames);
    if (rc == SQLITE_OK) {
        logger()->debug("Checkpointed path={} by={} log_frames={} copied_frames={}",
                        path,
                        by,
                        log_frames,
                        copied_frames);
    } else if ((rc & 0xff) == SQLITE_BUSY) {
        // Another checkpoint is running, so the frames stay for the next one.
        logger()->debug("Checkpoint skipped path={} by={} reason=busy", path, by);
    } else {
        logger()->warn("{}; the write-ahead log keeps the frames until the next checkpoint",
                       sqlite_error_message(connection, path, "checkpoint"));
    }
    return rc;
}

}  // namespace

wal_checkpointer::wal_checkpointer(sqlite3* writer,
                                   std::string path,
                                   int frames_to_start,
                                   int frames_to_block)
    : writer_{writer},
      path_{std::move(path)},
      frames_to_start_{frames_to_start},
      frames_to_block_{frames_to_block} {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    connection_.reset(raw);
    if (rc != SQLITE_OK) {
        throw store_error{sqlite_error_message(raw, path_, "open of the checkpoint connection")};
    }
    // With synchronous = NORMAL, a checkpoint syncs the log before it copies and the database
    // after, as on the writer's connection.
    sqlite_exec(connection_.get(), path_, "PRAGMA synchronous = NORMAL", "PRAGMA synchronous");

    thread_ = std::thread([this] { run(); });
    // The hook replaces the writer's wal_autocheckpoint.
    sqlite3_wal_hook(writer_, &wal_checkpointer::on_commit, this);
}

wal_checkpointer::~wal_checkpointer() {
    sqlite3_wal_hook(writer_, nullptr, nullptr);
    {
        const std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    const counts done = completed();
    logger()->debug("Stopped checkpoint thread path={} checkpoints_on_thread={} by_writer={}",
                    path_,
                    done.on_thread,
                    done.by_writer);
}

wal_checkpointer::counts wal_checkpointer::completed() const {
    const std::lock_guard lock{mutex_};
    return completed_;
}

// Runs on the writer's thread after each commit, with the number of frames in the log.
int wal_checkpointer::on_commit(void* self,
                                sqlite3* connection,
                                const char* /*schema*/,
                                int frames) {
    auto& checkpointer = *static_cast<wal_checkpointer*>(self);
    if (frames >= checkpointer.frames_to_block_) {
        if (passive_checkpoint(connection, checkpointer.path_, "writer") == SQLITE_OK) {
            const std::lock_guard lock{checkpointer.mutex_};
            ++checkpointer.completed_.by_writer;
        }
    } else if (frames >= checkpointer.frames_to_start_) {
        {
            const std::lock_guard lock{checkpointer.mutex_};
            checkpointer.requested_ = true;
        }
        checkpointer.wake_.notify_one();
    }
    // The commit has happened whatever this returns. An error code would only make the
    // statement that committed report a failure.
    return SQLITE_OK;
}

void wal_checkpointer::run() {
    // The name shows in top -H and perf; Linux allows 15 characters.
    pthread_setname_np(pthread_self(), "db-checkpoint");
    std::unique_lock lock{mutex_};
    while (true) {
        wake_.wait(lock, [this] { return requested_ || stopping_; });
        if (stopping_) {
            return;
        }
        requested_ = false;
        lock.unlock();
        const int rc = passive_checkpoint(connection_.get(), path_, "thread");
        lock.lock();
        if (rc == SQLITE_OK) {
            ++completed_.on_thread;
        }
    }
}

}  // namespace eventcrawl::db::detail
