// The one way relate writes a file it must not lose or leave half-written:
// the bytes go to a temporary file beside the target, which is synced, renamed
// over the target, and then the directory is synced, so after a crash or a
// power cut the target is the old file or the new one, whole. Every error says
// which file and what failed, the same way for every writer.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <string_view>

#include "relate/status.h"

namespace relate::util {

// Writes one file whole or not at all. Open(), Append()..., Commit(): until
// Commit() succeeds the target is untouched; a writer destroyed before that
// removes its temporary file. Not thread-safe.
class DurableFileWriter {
 public:
  explicit DurableFileWriter(std::filesystem::path path);
  ~DurableFileWriter();
  DurableFileWriter(const DurableFileWriter&) = delete;
  DurableFileWriter& operator=(const DurableFileWriter&) = delete;

  // Creates the temporary file (".<name>.tmp-<pid>-<n>" beside the target).
  // NotFound if the target's directory does not exist, IOError if the file
  // cannot be created there; both name the target.
  Status Open();
  // Buffers `bytes`, writing them out in large chunks. IOError on a failed write.
  Status Append(std::string_view bytes);
  // Writes what is buffered, syncs the file, renames it over the target and
  // syncs the directory. IOError naming the file and the step that failed;
  // the target is the old file then (or, if only the directory sync failed,
  // already the new one, which a crash may still undo).
  Status Commit();

  const std::filesystem::path& path() const { return path_; }

 private:
  Status Flush();

  std::filesystem::path path_;
  std::filesystem::path tmp_;
  int fd_ = -1;
  bool committed_ = false;
  std::string buf_;
};

// A std::ostream over a DurableFileWriter, for code that writes to a stream:
// the stream goes bad at the first failed write, and status() says why. The
// writer still needs its Commit() (after a flush of this stream).
class DurableOstream : public std::ostream {
 public:
  explicit DurableOstream(DurableFileWriter* writer);
  // OK, or the first failed Append.
  const Status& status() const { return buf_.status; }

 private:
  struct Buf : std::streambuf {
    DurableFileWriter* writer = nullptr;
    Status status;
    std::streamsize xsputn(const char* s, std::streamsize n) override;
    int_type overflow(int_type c) override;
  };
  Buf buf_;
};

// Writes `bytes` as the whole of `path`, as a DurableFileWriter does.
Status WriteFileDurably(const std::filesystem::path& path, std::string_view bytes);

// Syncs the directory `dir` (so the names created, renamed or removed in it
// last). IOError naming it.
Status SyncDirectory(const std::filesystem::path& dir);

// Syncs the file or directory `path` (its bytes, or the names in it). IOError
// naming it.
Status SyncPath(const std::filesystem::path& path);

// Gives `from` (a file or a directory) the name `to`, replacing a file or an
// empty directory there, and syncs the directory `to` is in (and `from`'s, if
// another), so the move survives a crash. Every rename relate does goes
// through here: a file put in place whole (DurableFileWriter::Commit), a
// directory built beside its target (backup, restore), a damaged file moved
// aside. NotFound if `from` is missing, IOError naming both paths otherwise.
Status MoveDurably(const std::filesystem::path& from, const std::filesystem::path& to);

// Counts of what the durable writes above did, for tests that check the
// contract (every commit syncs its file and its directory).
struct DurabilityCounters {
  std::atomic<uint64_t> file_syncs{0};
  std::atomic<uint64_t> renames{0};
  std::atomic<uint64_t> directory_syncs{0};
};
DurabilityCounters& Durability();

}  // namespace relate::util
