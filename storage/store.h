// The RocksDB layer: the only code that includes rocksdb/ or *.pb.h.
//
// Column families, chosen for how each is read:
//   catalog  collection name -> Collection proto            (read whole at open)
//   records  coll(4 BE) + id(8 BE) -> Record proto, no vector (point reads by id, scans)
//   vectors  coll(4 BE) + id(8 BE) -> float32 LE values      (scans, point reads; blob files)
//   keys     coll(4 BE) + user key -> id(8 LE) + version(8 LE) (point reads by key)
//   changes  coll(4 BE) + seq(8 BE) -> id(8 LE)              (scanned after a checkpoint)
//   fields   coll(4 BE) + field + tag + value + id(8 BE) -> "" (range scans of one field; keys.h)
//   postings coll(4 BE) + term + id(8 BE) -> varint count, varint length (scans of one term)
//   default  "next_collection_id" -> u32 LE
// Invariants: every keys entry points at a records entry with the same key and
// vice versa; every records entry has a vectors entry under the same key; every record write or
// delete has a changes entry with a higher sequence number than the collection's index checkpoint,
// in the same batch. Every fields entry and posting belongs to a record; a record has one fields
// entry per value of each filterable field of its collection, and (with a keyword index) one
// posting per distinct term of its text, written and removed in the record's batch.
// A database written before the fields and postings families existed opens
// read-only as if they were empty; a writer's open creates them.
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
  // Keyword index statistics (BM25): records whose text has at least one indexed
  // term, and the number of terms of those texts.
  uint64_t text_docs = 0;
  uint64_t text_terms = 0;
};

// A distinct term of a record's text and how many times it occurs there.
struct TermCount {
  std::string term;
  uint32_t count = 0;
};

// One end of a FieldRange.
struct FieldBound {
  MetadataValue value;
  bool inclusive = true;
};

// Values of a field to scan: [lower, upper] with open or closed ends; either may
// be absent (unbounded on that side); both absent: every value of any type (the
// field exists). A bound is an int64, double, string or bool, and a range visits
// the values of its bounds' type only, with integers and doubles one ordered
// space: a numeric range visits both kinds, compared by exact mathematical value
// (9007199254740993 > 9007199254740992.0). NaN values are visited only when both
// bounds are absent.
struct FieldRange {
  std::optional<FieldBound> lower, upper;
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
  uint64_t records = 0;         // records that are whole (decode, have a vector of the right size)
  uint64_t bad_records = 0;     // records that do not decode or lack a good vector
  uint64_t duplicate_keys = 0;  // records whose key another (newer) record has
  uint64_t dangling_keys = 0;   // key entries that point at no whole record with that key
  uint64_t missing_keys = 0;    // whole records without their key entry
  uint64_t orphan_vectors = 0;  // vectors of no record
  uint64_t orphan_entries = 0;  // entries of collection ids the catalog does not have
  uint64_t recounted = 0;       // collections whose catalog counters were wrong
  // Secondary-index entries (fields CF) and keyword postings (postings CF).
  uint64_t dangling_entries = 0;   // field entries of ids with no whole record
  uint64_t extra_entries = 0;      // field entries of a record that lacks that value, or bad keys
  uint64_t missing_entries = 0;    // field entries a record's filterable fields need but lacked
  uint64_t dangling_postings = 0;  // postings of ids with no whole record
  uint64_t extra_postings = 0;     // postings of a record for terms its text lacks, or bad ones
  uint64_t missing_postings = 0;   // postings a record's text needs that were absent or wrong
  std::vector<std::string> problems;  // one line per finding, naming collection and key or id
  bool clean() const { return problems.empty(); }
};

// What Store::Repair did.
struct StoreRepairReport {
  bool rebuilt = false;   // false: the store was whole and nothing was changed
  std::string set_aside;  // the directory holding the files as they were (when rebuilt)
  std::vector<std::string> damaged_files;  // files found damaged or missing, with what was wrong
  std::vector<std::string> actions;        // what was done, a line each
  uint64_t values_lost = 0;  // values whose blob was missing or damaged (their records go too)
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
  // Removes the catalog entry and every record, key, change, field entry and
  // posting of the collection.
  void DeleteCollection(const CollectionMeta& meta);
  void PutNextCollectionId(uint32_t next);
  // Adds (or rewrites) one version of a model; versions are kept side by side.
  void PutModel(const ModelMeta& meta);
  // Removes the catalog entry of this version of the model and every part of it.
  void DeleteModel(const ModelMeta& meta);
  void PutNextModelId(uint32_t next);
  // Chunk `chunk` of part `part` (a letter naming what it holds) of the model's data.
  void PutModelChunk(uint32_t model, char part, uint32_t chunk, std::string_view bytes);
  // Secondary-index entries for record `id`: one per value of each field in
  // `fields` that `metadata` has (a list of strings gives one entry per
  // distinct string; other values one entry). Fields not in `metadata` are skipped.
  void PutFieldEntries(uint32_t collection, uint64_t id, std::span<const std::string> fields,
                       const Metadata& metadata);
  // Removes the entries PutFieldEntries wrote for the same arguments.
  void DeleteFieldEntries(uint32_t collection, uint64_t id, std::span<const std::string> fields,
                          const Metadata& metadata);
  // Keyword postings of record `id`: for each term, (id, count, length) where
  // `length` is the number of terms of the record's text in all.
  void PutPostings(uint32_t collection, uint64_t id, std::span<const TermCount> terms,
                   uint32_t length);
  // Removes the postings of record `id` for these terms (counts are not looked at).
  void DeletePostings(uint32_t collection, uint64_t id, std::span<const TermCount> terms);
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
  // The table and blob files of the store that its MANIFEST did not name, which
  // this (writer's) open kept in *where instead of deleting them (families.h:
  // OpenGuard); 0 if there were none.
  size_t UnnamedFilesKept(std::string* where) const;

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

  // Secondary indexes and keyword postings.
  // Calls fn(id) for each entry of `field` whose value lies in `range`, in value
  // order (ids ascending within one value; an integer and an equal double are
  // one value), as of `at` if given. A record is reported once per matching
  // value (a list field may report an id more than once). Stops when fn returns
  // false. InvalidArgument for a list or NaN bound, or bounds of two types (other
  // than integer and double); Corruption for an entry that does not decode.
  Status ScanField(uint32_t collection, std::string_view field, const FieldRange& range,
                   const std::function<bool(uint64_t id)>& fn,
                   const StoreSnapshot* at = nullptr) const;
  // Number of entries ScanField would report, counting at most `limit` (returns
  // `limit` if there are more) and decoding no values. For the planner's
  // estimates. InvalidArgument as ScanField.
  Result<uint64_t> CountField(uint32_t collection, std::string_view field, const FieldRange& range,
                              uint64_t limit) const;
  // Calls fn(id, count, length) for each posting of `term`, ids ascending, as of
  // `at` if given; stops when fn returns false. Corruption for a posting that does
  // not decode.
  Status ScanPostings(uint32_t collection, std::string_view term,
                      const std::function<bool(uint64_t id, uint32_t count, uint32_t length)>& fn,
                      const StoreSnapshot* at = nullptr) const;

  // Reliability: catching up, copies, checksums, repair.
  // A consistent copy of the whole store as of one moment in `dir` (which must
  // not exist): a RocksDB checkpoint (hard links where the file system allows)
  // for a writer's store, a copy of every entry for a read-only one. Writes may
  // go on meanwhile.
  Status CopyTo(const std::filesystem::path& dir) const;
  // Reads every table file and checks its block checksums. Corruption names the file.
  Status VerifyChecksums() const;
  // Tells the terms of a record's text (StoredRecord without its vector) and
  // sets *length to their number in all, as the writer computed them for
  // Batch::PutPostings.
  using TermsOf = std::function<std::vector<TermCount>(uint32_t collection, const StoredRecord&,
                                                       uint32_t* length)>;
  // Checks the invariants at the top of this file for every collection; with
  // `fix`, removes what breaks them (records without a vector or that do not
  // decode, keys, vectors, field entries and postings of no record, field
  // entries of values a record does not have, data of collections the catalog
  // does not have), writes the missing key and field entries and recounts the
  // catalog. Storage has no tokenizer: postings are checked against the records'
  // text (each has exactly the postings `*terms` gives, and the catalog's
  // text_docs/text_terms add up: text_docs counts the records with at least one
  // term, text_terms adds up their lengths; with `fix` they are rewritten and
  // recounted) only when `terms` is given, and for collections with a keyword
  // index; without it only postings of no record, postings that do not decode,
  // and postings in a collection without a keyword index are found. Reads every record: memory
  // grows with the number of records, not of entries. Needs a writer's store for `fix`, and no
  // other writer meanwhile.
  Result<ConsistencyReport> CheckConsistency(bool fix, const TermsOf* terms = nullptr);
  // Rewrites every table file of every family (a full compaction), so no file
  // of before is left: damage in blocks that repair keeps but reads never touch
  // goes too. Needs a writer's store.
  Status CompactAll();
  // Repairs the (closed) store at `path` at the level of its files (storage/repair.cc):
  // a store that opens strictly and whose every table and blob file passes its
  // checksums is left as it is (`rebuilt` false). Otherwise each damaged or
  // missing piece is rebuilt from what survives, every original file first set
  // aside in `path`/lost/repair-<time>/: CURRENT from the newest MANIFEST, the
  // write-ahead logs replayed around their damaged records, the MANIFEST from
  // the table files (RocksDB's repair) with every value kept in a blob file
  // copied back out of it. Opening works afterwards, and CheckConsistency(true)
  // restores the invariants (records whose parts did not survive are removed there).
  static Result<StoreRepairReport> Repair(const std::filesystem::path& path);

  // Export / import.
  // Calls `fn(part, chunk, bytes)` for every chunk of the model's data, in
  // (part, chunk) order, as of `at` if given.
  Status ScanModelData(
      uint32_t model, const StoreSnapshot* at,
      const std::function<Status(char part, uint32_t chunk, std::string_view bytes)>& fn) const;
  // Removes, in one write, the records, vectors, keys, changes, field entries and
  // postings of these collection ids and the data of these model ids; no catalog entry. For data
  // an import wrote under ids it had not yet made visible.
  Status DeleteData(std::span<const uint32_t> collections, std::span<const uint32_t> models);
  // Removes the records, vectors, keys, changes, field entries and postings of
  // every collection id not in `collections` (data an import left when its process died). The
  // caller makes sure no one writes meanwhile.
  Status DeleteCollectionDataExcept(std::span<const uint32_t> collections);

 private:
  friend class Batch;
  struct Rep;
  explicit Store(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace relate::storage
