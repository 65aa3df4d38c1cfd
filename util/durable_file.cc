#include "util/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace relate::util {
namespace fs = std::filesystem;
namespace {

constexpr size_t kChunkBytes = 1 << 20;

// NotFound for a missing file or directory, IOError for the rest.
Status Errno(const fs::path& path, const std::string& what, int err) {
  const std::string m = path.string() + ": " + what + ": " + std::strerror(err);
  return err == ENOENT ? Status::NotFound(m) : Status::IOError(m);
}

fs::path DirectoryOf(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

// rename(2), then syncs of the directories involved; *renamed says whether the
// name moved (it has, even when a sync after it failed).
Status Move(const fs::path& from, const fs::path& to, bool* renamed) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    return Errno(to, "cannot rename " + from.string() + " to it", err);
  }
  *renamed = true;
  ++Durability().renames;
  const fs::path to_dir = DirectoryOf(to);
  RELATE_RETURN_IF_ERROR(SyncDirectory(to_dir));
  const fs::path from_dir = DirectoryOf(from);
  std::error_code ec;
  if (fs::equivalent(from_dir, to_dir, ec)) return Status::OK();
  return SyncDirectory(from_dir);
}

}  // namespace

DurabilityCounters& Durability() {
  static DurabilityCounters counters;
  return counters;
}

DurableFileWriter::DurableFileWriter(fs::path path) : path_(std::move(path)) {}

DurableFileWriter::~DurableFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty() && !committed_) ::unlink(tmp_.c_str());
}

Status DurableFileWriter::Open() {
  static std::atomic<uint64_t> counter{0};
  const std::string name =
      "." + path_.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-";
  for (;;) {
    tmp_ = DirectoryOf(path_) / (name + std::to_string(counter.fetch_add(1)));
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ >= 0) break;
    const int err = errno;
    if (err != EEXIST) {
      tmp_.clear();
      return Errno(path_, "cannot create a temporary file beside it", err);
    }
  }
  return Status::OK();
}

Status DurableFileWriter::Append(std::string_view bytes) {
  if (fd_ < 0) return Status::FailedPrecondition(path_.string() + ": not open for writing");
  buf_.append(bytes);
  return buf_.size() >= kChunkBytes ? Flush() : Status::OK();
}

Status DurableFileWriter::Flush() {
  size_t done = 0;
  while (done < buf_.size()) {
    const ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(path_, "write failed", errno);
    }
    done += static_cast<size_t>(n);
  }
  buf_.clear();
  return Status::OK();
}

Status DurableFileWriter::Commit() {
  if (fd_ < 0) return Status::FailedPrecondition(path_.string() + ": not open for writing");
  RELATE_RETURN_IF_ERROR(Flush());
  if (::fsync(fd_) != 0) return Errno(path_, "fsync failed", errno);
  ++Durability().file_syncs;
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return Errno(path_, "close failed", errno);
  return Move(tmp_, path_, &committed_);
}

DurableOstream::DurableOstream(DurableFileWriter* writer) : std::ostream(nullptr) {
  buf_.writer = writer;
  rdbuf(&buf_);
}

std::streamsize DurableOstream::Buf::xsputn(const char* s, std::streamsize n) {
  if (!status.ok()) return 0;
  status = writer->Append(std::string_view(s, static_cast<size_t>(n)));
  return status.ok() ? n : 0;
}

DurableOstream::Buf::int_type DurableOstream::Buf::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  const char ch = traits_type::to_char_type(c);
  return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
}

Status WriteFileDurably(const fs::path& path, std::string_view bytes) {
  DurableFileWriter writer(path);
  RELATE_RETURN_IF_ERROR(writer.Open());
  RELATE_RETURN_IF_ERROR(writer.Append(bytes));
  return writer.Commit();
}

Status MoveDurably(const fs::path& from, const fs::path& to) {
  bool renamed = false;
  return Move(from, to, &renamed);
}

Status SyncPath(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(path, "cannot open it to sync it", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Errno(path, "fsync failed", err);
  return Status::OK();
}

Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(dir, "cannot open the directory to sync it", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Errno(dir, "directory fsync failed", err);
  ++Durability().directory_syncs;
  return Status::OK();
}

}  // namespace relate::util
