#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "db/detail/sqlite_util.hpp"

namespace eventcrawl::db::detail {

// Copies the write-ahead log of one SQLite file back into the database on a thread of its own,
// so that the connection that writes batches does not stop for checkpoints and their fsync.
//
// Each commit of the writer reports the size of the log through sqlite3_wal_hook. From
// `frames_to_start` frames on, a commit wakes the thread, which runs a PASSIVE checkpoint on a
// connection of its own while the writer goes on with the next batch. SQLite starts the log
// from the beginning again at the first write after a checkpoint that copied every frame. When
// a commit leaves `frames_to_block` frames or more (the thread fell behind, or a reader keeps an
// old snapshot), the writer runs a PASSIVE checkpoint itself, as wal_autocheckpoint would.
//
// Replaces the writer's wal_autocheckpoint. A checkpoint only copies committed pages, so a
// failed or skipped one loses nothing: the frames stay in the log until the next one.
class wal_checkpointer {
public:
    // Opens a second connection to `path`, which must already be in WAL mode, and installs the
    // commit hook on `writer`. `writer` must outlive this object. Throws store_error when the
    // connection cannot be opened.
    wal_checkpointer(sqlite3* writer, std::string path, int frames_to_start, int frames_to_block);

    // Removes the hook, then stops and joins the thread. Close this before the writer, so that
    // the writer, as the last connection, checkpoints the whole log and deletes it.
    ~wal_checkpointer();

    wal_checkpointer(const wal_checkpointer&) = delete;
    wal_checkpointer& operator=(const wal_checkpointer&) = delete;

    // Checkpoints completed so far, on the thread and by the writer. For tests and logs.
    struct counts {
        std::int64_t on_thread = 0;
        std::int64_t by_writer = 0;
    };
    counts completed() const;

private:
    static int on_commit(void* self, sqlite3* connection, const char* schema, int frames);
    void run();

    sqlite3* writer_;
    std::string path_;
    sqlite_connection connection_;
    int frames_to_start_;
    int frames_to_block_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool requested_ = false;
    bool stopping_ = false;
    counts completed_;

    // Last, so that the thread starts after every member it reads is ready.
    std::thread thread_;
};

}  // namespace eventcrawl::db::detail
