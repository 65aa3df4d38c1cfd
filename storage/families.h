// RocksDB's side of the store, shared by the store, its copies and repair: the
// column families, the options every handle opens them with, and how RocksDB's
// statuses become relate's. Internal to storage/.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <memory>
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

}  // namespace relate::storage
