// The RocksDB layer: the only code that includes rocksdb/ or *.pb.h.
//
// Column families, chosen for how each is read:
//   catalog  collection name -> Collection proto            (read whole at open)
//   records  coll(4 BE) + id(8 BE) -> Record proto, no vector (point reads by id, scans)
//   vectors  coll(4 BE) + id(8 BE) -> float32 LE values      (scans, point reads; blob files)
//   keys     coll(4 BE) + user key -> id(8 LE) + version(8 LE) (point reads by key)
//   changes  coll(4 BE) + seq(8 BE) -> id(8 LE)              (scanned after a checkpoint)
//   default  "next_collection_id" -> u32 LE
// Invariants: every keys entry points at a records entry with the same key and
// vice versa; every records entry has a vectors entry under the same key; every record write or
// delete has a changes entry with a higher sequence number than the collection's index checkpoint,
// in the same batch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relate/status.h"
#include "relate/types.h"

namespace relate::storage {

// A collection as the catalog keeps it.
struct CollectionMeta {
  CollectionSpec spec;
  uint32_t id = 0;
  int64_t created_unix_ms = 0;
  uint64_t count = 0;
  uint64_t next_record_id = 1;
  uint64_t last_change = 0;
  uint64_t model_version = 0;
  std::vector<float> sif_component;
  SearchKnobs knobs;  // default search knobs
  double tuned_recall = 0, tuned_target = 0;
  int64_t tuned_unix_ms = 0;
};

// An embedding model as the catalog keeps it (its data is in model parts): what
// the public API tells about it, plus what only storage needs.
struct ModelMeta {
  uint32_t id = 0;
  ModelInfo info;
  bool legacy_fasttext = false;  // a fastText file older than the magic number
  uint64_t labels = 0;           // fastText labels stored with the model
};

// Where a user key points.
struct KeyEntry {
  uint64_t id = 0;
  uint64_t version = 0;
};

// What Store::CheckConsistency found (and with `fix`, removed or rewrote).
struct ConsistencyReport {
  uint64_t records = 0;           // records that are whole (decode, have a vector of the right size)
  uint64_t bad_records = 0;       // records that do not decode or lack a good vector
  uint64_t duplicate_keys = 0;    // records whose key another (newer) record has
  uint64_t dangling_keys = 0;     // key entries that point at no whole record with that key
  uint64_t missing_keys = 0;      // whole records without their key entry
  uint64_t orphan_vectors = 0;    // vectors of no record
  uint64_t orphan_entries = 0;    // entries of collection ids the catalog does not have
  uint64_t recounted = 0;         // collections whose catalog counters were wrong
  std::vector<std::string> problems;  // one line per finding, naming collection and key or id
  bool clean() const { return problems.empty(); }
};

class Store;

// A consistent view of the store as of the moment it was taken, for scans that
// must not see later writes. Holds RocksDB's snapshot until destroyed.
class StoreSnapshot {
 public:
  ~StoreSnapshot();
  StoreSnapshot(const StoreSnapshot&) = delete;
  StoreSnapshot& operator=(const StoreSnapshot&) = delete;

 private:
  friend class Store;
  struct Rep;
  explicit StoreSnapshot(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Writes gathered to be committed atomically by Store::Write. Not thread-safe.
class Batch {
 public:
  // A batch for `store`, which must outlive it.
  explicit Batch(const Store& store);
  ~Batch();
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void PutCollection(const CollectionMeta& meta);
  // Removes the catalog entry and every record, key and change of the collection.
  void DeleteCollection(const CollectionMeta& meta);
  void PutNextCollectionId(uint32_t next);
  // Adds (or rewrites) one version of a model; versions are kept side by side.
  void PutModel(const ModelMeta& meta);
  // Removes the catalog entry of this version of the model and every part of it.
  void DeleteModel(const ModelMeta& meta);
  void PutNextModelId(uint32_t next);
  // Chunk `chunk` of part `part` (a letter naming what it holds) of the model's data.
  void PutModelChunk(uint32_t model, char part, uint32_t chunk, std::string_view bytes);
  // Writes the record, its vector and its key entry.
  void PutRecord(uint32_t collection, uint64_t id, uint64_t version, const Record& record);
  // Removes the record, its vector and its key entry.
  void DeleteRecord(uint32_t collection, uint64_t id, std::string_view key);
  // Appends change `seq` of the collection: record `id` was written or deleted.
  void PutChange(uint32_t collection, uint64_t seq, uint64_t id);
  // Bytes of data gathered so far.
  size_t ByteSize() const;

 private:
  friend class Store;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

struct StoreOptions {
  bool create = false;
  bool read_only = false;
  // RocksDB block cache shared by the column families.
  size_t block_cache_bytes = 128 << 20;
};

// Thread-safety: all const methods may run concurrently with each other and with
// Write/TruncateChanges (RocksDB gives each read a consistent view).
class Store {
 public:
  // Opens (or with `create`, creates) the RocksDB database in `path`.
  // Busy if another process holds its lock.
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& path,
                                             const StoreOptions& options);
  ~Store();

  bool read_only() const;

  Result<std::vector<CollectionMeta>> LoadCatalog() const;
  Result<uint32_t> NextCollectionId() const;

  // Every version of every model, by name and then version.
  Result<std::vector<ModelMeta>> LoadModels() const;
  Result<uint32_t> NextModelId() const;
  // Calls `fn(chunk, bytes)` for each chunk of the part, in chunk order.
  Status ScanModelPart(
      uint32_t model, char part,
      const std::function<Status(uint32_t chunk, std::string_view bytes)>& fn) const;
  // Removes model data whose model is not in the catalog (an import that did not finish).
  Status DeleteModelDataExcept(std::span<const uint32_t> models);

  // One entry per key, nullopt for keys that are not stored.
  Result<std::vector<std::optional<KeyEntry>>> LookupKeys(
      uint32_t collection, std::span<const std::string_view> keys) const;
  // One entry per id, nullopt for ids that are not stored. Without `with_vector`
  // the returned records have empty vectors.
  Result<std::vector<std::optional<StoredRecord>>> GetRecords(uint32_t collection,
                                                              std::span<const uint64_t> ids,
                                                              bool with_vector) const;
  // Calls `fn` for every record of the collection in id order, as of `at` if
  // given; stops at the first non-OK status it returns and returns that.
  // Without `with_vector` the records have empty vectors; with it, Corruption
  // for a record without a vector.
  Status ScanRecords(uint32_t collection, bool with_vector,
                     const std::function<Status(StoredRecord&&)>& fn,
                     const StoreSnapshot* at = nullptr) const;
  // Calls `fn(id, vector)` for every vector of the collection in id order, as
  // of `at` if given.
  Status ScanVectors(uint32_t collection,
                     const std::function<Status(uint64_t id, std::span<const float>)>& fn,
                     const StoreSnapshot* at = nullptr) const;
  // A snapshot for ScanVectors; it must not outlive the store.
  std::unique_ptr<StoreSnapshot> TakeSnapshot() const;
  // Calls `fn(seq, id)` for every change of the collection with seq > after, in order.
  Status ScanChanges(uint32_t collection, uint64_t after,
                     const std::function<Status(uint64_t seq, uint64_t id)>& fn) const;

  // Commits the batch atomically. FailedPrecondition when read-only.
  Status Write(Batch& batch, bool sync);
  // Forgets the collection's changes with seq <= up_to (an index checkpoint holds them).
  Status TruncateChanges(uint32_t collection, uint64_t up_to);

  // Reliability: catching up, copies, checksums, repair.
  // A consistent copy of the whole store as of one moment in `dir` (which must
  // not exist): a RocksDB checkpoint (hard links where the file system allows)
  // for a writer's store, a copy of every entry for a read-only one. Writes may
  // go on meanwhile.
  Status CopyTo(const std::filesystem::path& dir) const;
  // Reads every table file and checks its block checksums. Corruption names the file.
  Status VerifyChecksums() const;
  // Checks the invariants at the top of this file for every collection; with
  // `fix`, removes what breaks them (records without a vector or that do not
  // decode, keys and vectors of no record, data of collections the catalog
  // does not have), writes the missing key entries and recounts the catalog.
  // Needs a writer's store for `fix`, and no other writer meanwhile.
  Result<ConsistencyReport> CheckConsistency(bool fix);
  // Rewrites every table file of every family (a full compaction), so no file
  // of before is left: damage in blocks that repair keeps but reads never touch
  // goes too. Needs a writer's store.
  Status CompactAll();
  // RocksDB's repair of the (closed) store at `path`: rebuilds its manifest from
  // the table files and logs it can read; it moves the ones it cannot to
  // `path`/lost. Then opening works, and CheckConsistency(true) restores the invariants.
  static Status Repair(const std::filesystem::path& path);

  // Export / import.
  // Calls `fn(part, chunk, bytes)` for every chunk of the model's data, in
  // (part, chunk) order, as of `at` if given.
  Status ScanModelData(
      uint32_t model, const StoreSnapshot* at,
      const std::function<Status(char part, uint32_t chunk, std::string_view bytes)>& fn) const;
  // Removes, in one write, the records, vectors, keys and changes of these
  // collection ids and the data of these model ids; no catalog entry. For data
  // an import wrote under ids it had not yet made visible.
  Status DeleteData(std::span<const uint32_t> collections, std::span<const uint32_t> models);
  // Removes the records, vectors, keys and changes of every collection id not
  // in `collections` (data an import left when its process died). The caller
  // makes sure no one writes meanwhile.
  Status DeleteCollectionDataExcept(std::span<const uint32_t> collections);

 private:
  friend class Batch;
  struct Rep;
  explicit Store(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace relate::storage
