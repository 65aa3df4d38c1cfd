#include "storage/blob_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "storage/rocks_format.h"
#include "util/mutex.h"

namespace relate::storage {
namespace fs = std::filesystem;
namespace {

// The blob file format (RocksDB db/blob/blob_log_format.h, version 1): a
// 30-byte header, records of a 32-byte header (key size, value size,
// expiration, masked CRC of those 24 bytes, masked CRC of key and value) then
// key and value, and a 32-byte footer.
constexpr uint32_t kBlobMagic = 2395959;
constexpr uint64_t kBlobHeaderSize = 30;
constexpr uint64_t kBlobRecordHeaderSize = 32;

Status ReadAt(int fd, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) return Status::IOError(std::strerror(errno));
    if (r == 0) return Status::Corruption("the file ends before the record does");
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

}  // namespace

std::string BlobFileName(uint64_t number) {
  char name[32];
  std::snprintf(name, sizeof name, "%06llu.blob", static_cast<unsigned long long>(number));
  return name;
}

BlobFiles::~BlobFiles() {
  for (auto& [number, fds] : fds_) {
    for (int fd : fds) ::close(fd);
  }
}

bool BlobFiles::IsBlobIndex(std::string_view value) {
  Index index;
  return Decode(value, &index) && index.type != 0 && !Files(index.number).empty();
}

Result<std::string> BlobFiles::Resolve(std::string_view user_key, std::string_view value) {
  Index index;
  if (!Decode(value, &index)) return Status::Corruption("bad blob index");
  if (index.type == 0) return std::string(index.inline_value);
  const std::string name = BlobFileName(index.number);
  if (index.compression != 0) return Status::Corruption("blob " + name + " is compressed");
  if (index.offset < user_key.size() + kBlobRecordHeaderSize + kBlobHeaderSize) {
    return Status::Corruption("bad blob offset");
  }
  const std::vector<int> fds = Files(index.number);
  if (fds.empty()) return Status::NotFound("blob file " + name + " is missing");
  Status first;
  for (int fd : fds) {
    auto got = ReadRecord(fd, name, user_key, index);
    if (got) return got;
    if (first.ok()) first = got.error();
  }
  return first;
}

bool BlobFiles::Decode(std::string_view value, Index* out) {
  const char* p = value.data();
  const char* end = p + value.size();
  if (p == end) return false;
  out->type = static_cast<uint8_t>(*p++);
  uint64_t expiration = 0;
  if (out->type == 0) {
    if (!Varint64(&p, end, &expiration)) return false;
    out->inline_value = std::string_view(p, static_cast<size_t>(end - p));
    return true;
  }
  if (out->type == 2 && !Varint64(&p, end, &expiration)) return false;
  if ((out->type != 1 && out->type != 2) || !Varint64(&p, end, &out->number) ||
      !Varint64(&p, end, &out->offset) || !Varint64(&p, end, &out->size) || p + 1 != end) {
    return false;
  }
  out->compression = static_cast<uint8_t>(*p);
  return true;
}

std::vector<int> BlobFiles::Files(uint64_t number) {
  util::MutexLock lock(&mu_);
  auto it = fds_.find(number);
  if (it == fds_.end()) {
    std::vector<int> fds;
    for (const auto& dir : dirs_) {
      const int fd = ::open((dir / BlobFileName(number)).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) fds.push_back(fd);
    }
    it = fds_.emplace(number, std::move(fds)).first;
  }
  return it->second;
}

Result<std::string> BlobFiles::ReadRecord(int fd, const std::string& name,
                                          std::string_view user_key, const Index& index) {
  const uint64_t record = index.offset - user_key.size() - kBlobRecordHeaderSize;
  std::string header;
  if (Status s = ReadAt(fd, record, kBlobRecordHeaderSize, &header); !s.ok()) {
    return Status::Corruption(name + ": " + std::string(s.message()));
  }
  if (Unmask(Fixed32(header.data() + 24)) != Crc32c(header.data(), 24)) {
    return Status::Corruption(name + ": a record header fails its checksum");
  }
  if (Fixed64(header.data()) != user_key.size() || Fixed64(header.data() + 8) != index.size) {
    return Status::Corruption(name + ": the record is not the one the table points at");
  }
  std::string body;
  if (Status s = ReadAt(fd, record + kBlobRecordHeaderSize, user_key.size() + index.size, &body);
      !s.ok()) {
    return Status::Corruption(name + ": " + std::string(s.message()));
  }
  if (Unmask(Fixed32(header.data() + 28)) != Crc32c(body.data(), body.size())) {
    return Status::Corruption(name + ": a record fails its checksum");
  }
  if (std::string_view(body).substr(0, user_key.size()) != user_key) {
    return Status::Corruption(name + ": the record belongs to another key");
  }
  return body.substr(user_key.size());
}

Status ScanBlobFile(const fs::path& path, const BlobRecordFn& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path.string());
  const std::string name = path.filename().string();
  std::string header(kBlobHeaderSize, '\0');
  if (!in.read(header.data(), kBlobHeaderSize) || Fixed32(header.data()) != kBlobMagic) {
    return Status::Corruption(name + ": not a blob file (bad header)");
  }
  const uint32_t family = Fixed32(header.data() + 8);
  std::error_code ec;
  const uint64_t file_size = fs::file_size(path, ec);
  uint64_t at = kBlobHeaderSize;
  std::string record(kBlobRecordHeaderSize, '\0'), body;
  Status first;
  auto note = [&](const std::string& what) {
    if (first.ok())
      first = Status::Corruption(name + ": the record at byte " + std::to_string(at) + " " + what);
  };
  // Records up to the footer (32 bytes, starting with the magic number).
  while (at + kBlobRecordHeaderSize <= file_size) {
    if (!in.read(record.data(), kBlobRecordHeaderSize)) break;
    if (at + kBlobRecordHeaderSize == file_size && Fixed32(record.data()) == kBlobMagic) {
      return first;  // the footer
    }
    if (Unmask(Fixed32(record.data() + 24)) != Crc32c(record.data(), 24)) {
      note("fails its header checksum");
      return first;
    }
    const uint64_t key_size = Fixed64(record.data());
    const uint64_t n = key_size + Fixed64(record.data() + 8);
    if (key_size > n || n > file_size - at - kBlobRecordHeaderSize) {
      note("runs past the end of the file");
      return first;
    }
    body.resize(n);
    if (!in.read(body.data(), static_cast<std::streamsize>(n))) break;
    if (Unmask(Fixed32(record.data() + 28)) != Crc32c(body.data(), body.size())) {
      note("fails its checksum");
    } else if (fn) {
      const std::string_view whole(body);
      fn(family, whole.substr(0, key_size), whole.substr(key_size));
    }
    at += kBlobRecordHeaderSize + n;
  }
  if (at == file_size) return first;  // no footer yet: a file a crash left open
  if (first.ok()) first = Status::Corruption(name + ": cut short at byte " + std::to_string(at));
  return first;
}

Status VerifyBlobFile(const fs::path& path) { return ScanBlobFile(path, {}); }

}  // namespace relate::storage
