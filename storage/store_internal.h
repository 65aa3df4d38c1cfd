// What storage's files share and nothing outside storage/ sees: the insides of
// Store, Batch and StoreSnapshot (store.h declares them), and range iterators.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "storage/families.h"
#include "storage/store.h"

namespace relate::storage {

inline constexpr const char* kNextCollectionId = "next_collection_id";
inline constexpr const char* kNextModelId = "next_model_id";

// Families that hold per-collection data under CollectionPrefix keys.
inline constexpr int kCollectionFamilies[] = {kRecords, kVectors, kKeys,
                                              kChanges, kFields,  kPostings};

// An iterator over a family, empty for a family the database lacks (a null handle).
inline std::unique_ptr<rocksdb::Iterator> NewFamilyIterator(rocksdb::DB* db,
                                                            rocksdb::ColumnFamilyHandle* family,
                                                            const rocksdb::ReadOptions& ro) {
  if (family == nullptr) return std::unique_ptr<rocksdb::Iterator>(rocksdb::NewEmptyIterator());
  return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro, family));
}

struct Batch::Rep {
  rocksdb::WriteBatch wb;
  const std::vector<rocksdb::ColumnFamilyHandle*>* handles = nullptr;
  Status status;  // the first failure to add to `wb`, reported by Store::Write

  void Check(const rocksdb::Status& s) {
    if (!s.ok() && status.ok()) status = FromRocks(s, "building write batch");
  }
  // False (and a failure for Store::Write) when the store lacks the family: a
  // read-only store of a database older than it, which Write refuses anyway.
  bool Has(int f) {
    if ((*handles)[f] != nullptr) return true;
    if (status.ok()) {
      status = Status::FailedPrecondition(std::string("the database has no ") + kFamilyNames[f] +
                                          " column family (opened read-only)");
    }
    return false;
  }
  void Put(int f, const rocksdb::Slice& k, const rocksdb::Slice& v) {
    if (Has(f)) Check(wb.Put((*handles)[f], k, v));
  }
  void Delete(int f, const rocksdb::Slice& k) {
    if (Has(f)) Check(wb.Delete((*handles)[f], k));
  }
  void DeleteRange(int f, const rocksdb::Slice& b, const rocksdb::Slice& e) {
    if (Has(f)) Check(wb.DeleteRange((*handles)[f], b, e));
  }
};

struct Store::Rep {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  bool read_only = false;
  // Table and blob files this open would have deleted, and where they are kept.
  size_t unnamed_kept = 0;
  std::string unnamed_dir;

  // Null for a family a read-only store's database lacks (IsNewerFamily).
  rocksdb::ColumnFamilyHandle* cf(int f) const { return handles[f]; }

  // An iterator over the family, empty if the database lacks it.
  std::unique_ptr<rocksdb::Iterator> NewIterator(const rocksdb::ReadOptions& ro, int f) const {
    return NewFamilyIterator(db.get(), handles[f], ro);
  }

  // Adds to `wb` a range delete of each run of family `f` whose id (a key's
  // first 4 bytes, big-endian) is not in `keep`: data left by an import that
  // did not finish. `what` names the data in errors. store.cc.
  Status DeleteIdsExcept(int f, std::span<const uint32_t> keep, const std::string& what,
                         rocksdb::WriteBatch* wb) const;

  ~Rep() {
    // A close during a compaction aborts it and leaves its partial outputs,
    // files the MANIFEST does not name, for the next open to delete; OpenGuard
    // cannot tell those from the newest data of a MANIFEST that lost its last
    // edits, and keeps them (in lost/unnamed-*). Letting the running jobs end
    // first leaves none behind after a clean close.
    if (db && !read_only) db->PauseBackgroundWork().PermitUncheckedError();
    for (auto* h : handles) {
      if (db && h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    if (db) db->Close().PermitUncheckedError();
  }
};

struct StoreSnapshot::Rep {
  rocksdb::DB* db;
  const rocksdb::Snapshot* snapshot;
};

// An iterator over keys [begin, end) of a family; the range is held here so the
// iterator's upper bound outlives it.
struct RangeIterator {
  std::string begin, end;
  rocksdb::Slice upper;
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it;

  RangeIterator(const RangeIterator&) = delete;
  RangeIterator& operator=(const RangeIterator&) = delete;
  RangeIterator(std::string b, std::string e, const rocksdb::Snapshot* snapshot)
      : begin(std::move(b)), end(std::move(e)), upper(end) {
    ro.iterate_upper_bound = &upper;
    ro.snapshot = snapshot;
  }
};

}  // namespace relate::storage
