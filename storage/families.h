// RocksDB's side of the store, shared by the store, its copies and repair: the
// column families, the options every handle opens them with, and how RocksDB's
// statuses become relate's. Internal to storage/.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relate/status.h"

namespace relate::storage {

enum Family {
  kDefault = 0,
  kCatalog,
  kRecords,
  kVectors,
  kKeys,
  kChanges,
  kModels,
  kModelData,
  kFields,
  kPostings,
  kFamilies
};
extern const char* const kFamilyNames[kFamilies];

// Families a database written before them lacks: a read-only open treats them as empty.
inline bool IsNewerFamily(int f) { return f == kFields || f == kPostings; }

// Families whose large values live in RocksDB's blob files.
inline bool KeepsBlobs(int f) { return f == kVectors || f == kModelData; }

// relate's Status for a RocksDB one; `what` says what was being done.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

// The options of family `f`, its tables' blocks cached in `cache`.
rocksdb::ColumnFamilyOptions FamilyOptions(int family,
                                           const std::shared_ptr<rocksdb::Cache>& cache);

// One descriptor per family, in Family order.
std::vector<rocksdb::ColumnFamilyDescriptor> FamilyDescriptors(
    const std::shared_ptr<rocksdb::Cache>& cache);

// The options every handle on a store opens with (creating nothing). The
// write-ahead log is replayed strictly: a torn last record (a crash during its
// write, never acknowledged) is dropped, any other damage fails the open with
// Corruption instead of silently dropping the records after it; and a log the
// MANIFEST names but that is gone fails it too. Repair opens more leniently.
rocksdb::DBOptions StoreDbOptions();

// Where, in a store's directory, a writer's open keeps the table and blob
// files that its MANIFEST does not name: lost/unnamed-<unix ms>/.
inline constexpr const char* kLostDir = "lost";
inline constexpr const char* kUnnamedPrefix = "unnamed-";

// A writer's open deletes the table and blob files the MANIFEST does not name.
// Most are left by a crash during a flush or compaction, but with a MANIFEST
// that lost its last edits (cut short at a record's end) they are the newest
// data, gone without a word. An OpenGuard made before the open links every
// table and blob file aside; Keep(), after it, keeps the links of those the
// open deleted in lost/unnamed-<ms>/ (repair puts them back) and drops the rest.
// Files that background work deletes once the open has scheduled it (the
// inputs of a compaction, say) were named by the MANIFEST: the guard's
// listener() tells them apart, and they are not kept.
class OpenGuard {
 public:
  explicit OpenGuard(std::filesystem::path store);
  ~OpenGuard();
  OpenGuard(const OpenGuard&) = delete;
  OpenGuard& operator=(const OpenGuard&) = delete;
  // For the open's DBOptions::listeners: notes the inputs of compactions and
  // the files deleted after OpenReturned().
  std::shared_ptr<rocksdb::EventListener> listener() const;
  // Called when DB::Open has returned.
  void OpenReturned();
  // The number of files the open deleted (kept in *where), or 0.
  size_t Keep(std::string* where);

 private:
  class Listener;
  std::filesystem::path store_, links_;
  std::vector<std::string> linked_;
  std::shared_ptr<Listener> listener_;
};

}  // namespace relate::storage
