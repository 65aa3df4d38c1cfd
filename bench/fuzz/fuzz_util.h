// Helpers shared by the fuzz targets: a file that holds the fuzz input for readers
// that take a path, and a check that stops the run on a broken invariant.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace relate::fuzz {

// Aborts with `what` when `ok` is false, so libFuzzer saves the input as a crash.
inline void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

// Prints `what` to stderr when RELATE_FUZZ_VERBOSE is set: to see why a seed is refused
// (run a target on one file: ./fuzz_glove seed).
inline void Verbose(std::string_view what) {
  static const bool verbose = std::getenv("RELATE_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%.*s\n", static_cast<int>(what.size()), what.data());
}

// A file in memory (memfd) that the readers open by path (/proc/self/fd/N): no disk
// writes, and fstat says it is a regular file as a real one would be. One per process.
class MemoryFile {
 public:
  MemoryFile() {
    fd_ = ::memfd_create("relate-fuzz", MFD_CLOEXEC);
    Check(fd_ >= 0, "memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the file's contents with `size` bytes at `data` and returns its path.
  const std::filesystem::path& Hold(const uint8_t* data, size_t size) {
    Check(::ftruncate(fd_, 0) == 0, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      Check(n > 0, "pwrite failed");
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

// A directory for files a target writes: $RELATE_FUZZ_SCRATCH (run.sh makes one and
// removes it), else a fresh one in /dev/shm (memory) or the temporary directory,
// removed at a normal exit.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    if (const char* given = std::getenv("RELATE_FUZZ_SCRATCH"); given != nullptr && *given) {
      std::filesystem::create_directories(given);
      return std::filesystem::path(given);
    }
    std::string tmpl = "/dev/shm/relate-fuzz-XXXXXX";
    if (!std::filesystem::is_directory("/dev/shm")) {
      tmpl = (std::filesystem::temp_directory_path() / "relate-fuzz-XXXXXX").string();
    }
    Check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    static std::string to_remove;
    to_remove = tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

}  // namespace relate::fuzz
