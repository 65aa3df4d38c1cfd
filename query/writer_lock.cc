#include "query/writer_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "query/db_paths.h"

namespace relate::query {
namespace {

// The pid the holder wrote into the lock file, or 0 if it is not there (yet).
long ReadHolder(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  char* end = nullptr;
  const long pid = std::strtol(buf, &end, 10);
  return end != buf && pid > 0 ? pid : 0;
}

}  // namespace

Result<std::unique_ptr<WriterLock>> WriterLock::Acquire(const std::filesystem::path& dir) {
  const std::filesystem::path path = paths::WriterLock(dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IOError("opening " + path.string() + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      ::close(fd);
      return Status::IOError("locking " + path.string() + ": " + std::strerror(err));
    }
    // The holder writes its pid right after taking the lock: give it a moment.
    long pid = ReadHolder(fd);
    for (int i = 0; pid == 0 && i < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      pid = ReadHolder(fd);
    }
    ::close(fd);
    std::string who = pid == 0 ? "another process"
                      : pid == static_cast<long>(::getpid())
                          ? "this process (pid " + std::to_string(pid) + ", another handle)"
                          : "pid " + std::to_string(pid);
    return Status::Busy("database " + dir.string() + " is in use by " + who +
                        ", which has it open for writing; open it read-only to query it "
                        "meanwhile, or wait until that process ends");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int err = errno;
    ::close(fd);
    return Status::IOError("writing " + path.string() + ": " + std::strerror(err));
  }
  return std::unique_ptr<WriterLock>(new WriterLock(fd));
}

WriterLock::~WriterLock() { ::close(fd_); }

}  // namespace relate::query
