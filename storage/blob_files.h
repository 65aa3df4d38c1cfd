// Blob files read without RocksDB, whose RepairDB (7.8) knows nothing of them:
// each record checked by its own checksums (the format is RocksDB's
// db/blob/blob_log_format.h, version 1), values found by the blob indexes that
// tables keep, and a compaction filter that copies those values back into a
// store (repair.cc).
#pragma once

#include <rocksdb/compaction_filter.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "relate/status.h"
#include "util/mutex.h"

namespace relate::storage {

// The name of blob file `number` ("000123.blob").
std::string BlobFileName(uint64_t number);

// Reads the blob file at `path`: calls fn(column family id, key, value) for
// every whole record, skipping one whose key or value fails its checksum (its
// length is still known) and stopping at a record header that fails its own.
// Returns the first problem, or OK for a whole file; fn may be empty.
using BlobRecordFn = std::function<void(uint32_t, std::string_view, std::string_view)>;
Status ScanBlobFile(const std::filesystem::path& path, const BlobRecordFn& fn);
// OK for a blob file whose every record passes its checksums.
Status VerifyBlobFile(const std::filesystem::path& path);

// Reads values out of blob files by the blob indexes that point at them, each
// record checked against its checksums and the key it belongs to. Thread-safe.
class BlobFiles {
 public:
  // Blob files looked for in each of `dirs` (a number may be in several: the
  // record that passes its checks is the one).
  explicit BlobFiles(std::vector<std::filesystem::path> dirs) : dirs_(std::move(dirs)) {}
  ~BlobFiles();
  BlobFiles(const BlobFiles&) = delete;
  BlobFiles& operator=(const BlobFiles&) = delete;

  // True if `value` decodes as a blob index naming a blob file of these
  // directories (a value a table keeps inline seldom does, and never both).
  bool IsBlobIndex(std::string_view value);
  // The value `index` names for `user_key`, or Corruption / NotFound saying why not.
  Result<std::string> Resolve(std::string_view user_key, std::string_view value);

 private:
  struct Index {
    uint8_t type = 0;
    uint64_t number = 0, offset = 0, size = 0;
    uint8_t compression = 0;
    std::string_view inline_value;
  };

  static bool Decode(std::string_view value, Index* out);
  std::vector<int> Files(uint64_t number);
  static Result<std::string> ReadRecord(int fd, const std::string& name, std::string_view user_key,
                                        const Index& index);

  std::vector<std::filesystem::path> dirs_;
  util::Mutex mu_;
  std::map<uint64_t, std::vector<int>> fds_ RELATE_GUARDED_BY(mu_);
};

// Copies each value that a table of a blob family points at out of the
// blob files (set aside) back into the store, during a full compaction. With
// IsStackedBlobDbInternalCompactionFilter, RocksDB hands over the blob index
// itself, with the internal key (user key + 8 bytes); a changed value is
// written as a plain one, which the compaction's blob builder then puts into a
// new blob file. A value that cannot be read is removed (its record then lacks
// its vector, or its model a part, and CheckConsistency reports it).
class BlobResolver : public rocksdb::CompactionFilter {
 public:
  explicit BlobResolver(BlobFiles* files) : files_(files) {}
  const char* Name() const override { return "relate.BlobResolver"; }
  bool IsStackedBlobDbInternalCompactionFilter() const override { return true; }
  Decision FilterV2(int /*level*/, const rocksdb::Slice& key, ValueType type,
                    const rocksdb::Slice& value, std::string* new_value,
                    std::string* /*skip_until*/) const override {
    if (type != ValueType::kBlobIndex) return Decision::kKeep;
    if (key.size() < 8) return Decision::kKeep;
    auto got = files_->Resolve(std::string_view(key.data(), key.size() - 8),
                               std::string_view(value.data(), value.size()));
    util::MutexLock lock(&mu_);
    if (got) {
      *new_value = std::move(*got);
      ++resolved_;
      return Decision::kChangeValue;
    }
    ++lost_;
    if (problems_.size() < 20) problems_.insert(std::string(got.error().message()));
    return Decision::kRemove;
  }
  uint64_t resolved() const {
    util::MutexLock lock(&mu_);
    return resolved_;
  }
  uint64_t lost() const {
    util::MutexLock lock(&mu_);
    return lost_;
  }
  std::set<std::string> problems() const {
    util::MutexLock lock(&mu_);
    return problems_;
  }

 private:
  BlobFiles* files_;
  mutable util::Mutex mu_;
  mutable uint64_t resolved_ RELATE_GUARDED_BY(mu_) = 0;
  mutable uint64_t lost_ RELATE_GUARDED_BY(mu_) = 0;
  mutable std::set<std::string> problems_ RELATE_GUARDED_BY(mu_);
};

}  // namespace relate::storage
