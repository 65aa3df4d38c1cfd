// The writer's lock on a database directory.
#pragma once

#include <filesystem>
#include <memory>

#include "relate/status.h"

namespace relate::query {

// An exclusive flock(2) on <dir>/WRITER, held for the life of the object, with
// the holder's pid written inside so that a second writer can be told who has
// the database. The kernel drops the lock when the process dies (kill -9
// included), so a crash never leaves a database locked.
//
// Thread-safety: an object is used by one thread; two objects (two handles in
// one process) exclude each other like two processes do.
class WriterLock {
 public:
  // Takes the lock. Busy ("database D is in use by pid N") if another process
  // or handle holds it; IOError if the lock file cannot be opened.
  static Result<std::unique_ptr<WriterLock>> Acquire(const std::filesystem::path& dir);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace relate::query
