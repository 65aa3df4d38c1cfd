#include "storage/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "storage/codec.h"
#include "storage/families.h"
#include "storage/keys.h"
#include "storage/store_internal.h"

namespace relate::storage {
namespace {

// Below this many ids a multi-get runs on the calling thread alone.
constexpr size_t kParallelGetThreshold = 256;

// Runs fn(begin, end) over [0, n) in chunks; large batches run on the OpenMP
// team that FAISS has just used (its threads are awake, and a thread of our own
// would compete with them for the cores).
void ForChunks(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (n < kParallelGetThreshold) {
    fn(0, n);
    return;
  }
  const int64_t chunks = 2;
#pragma omp parallel for schedule(static) num_threads(2)
  for (int64_t c = 0; c < chunks; ++c) {
    fn(n * static_cast<size_t>(c) / chunks, n * static_cast<size_t>(c + 1) / chunks);
  }
}

}  // namespace

Store::Store(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Store::~Store() = default;

bool Store::read_only() const { return rep_->read_only; }

size_t Store::UnnamedFilesKept(std::string* where) const {
  *where = rep_->unnamed_dir;
  return rep_->unnamed_kept;
}

namespace {

// What a read-only open depends on: CURRENT and the size of the MANIFEST it names.
struct ManifestMark {
  std::string current;
  uintmax_t manifest_bytes = 0;
  bool operator==(const ManifestMark&) const = default;
};

std::optional<ManifestMark> ReadManifestMark(const std::filesystem::path& store) {
  std::ifstream in(store / "CURRENT", std::ios::binary);
  ManifestMark mark;
  if (!in || !std::getline(in, mark.current) || mark.current.empty()) return std::nullopt;
  std::error_code ec;
  mark.manifest_bytes = std::filesystem::file_size(store / mark.current, ec);
  if (ec) return std::nullopt;
  return mark;
}

// A read-only open reads CURRENT, the MANIFEST it names, then the logs on disk.
// A writer that flushes in between (its own open replays and flushes the log it
// finds) deletes a log that the MANIFEST as read still needs, and the open then
// succeeds on a view without what that log held: a database that has records,
// seen as empty. A writer appends to the MANIFEST (or starts a new one) before it
// deletes a log, so an open during which neither CURRENT nor its MANIFEST changed
// saw a whole view; any other is closed and tried again.
rocksdb::Status OpenReadOnlyWhole(const rocksdb::Options& options,
                                  const std::filesystem::path& path,
                                  const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors,
                                  std::vector<rocksdb::ColumnFamilyHandle*>* handles,
                                  rocksdb::DB** db) {
  constexpr int kAttempts = 200;
  for (int attempt = 1;; ++attempt) {
    const std::optional<ManifestMark> before = ReadManifestMark(path);
    rocksdb::Status s =
        rocksdb::DB::OpenForReadOnly(options, path.string(), descriptors, handles, db);
    // No CURRENT or MANIFEST to watch (a damaged store): the open's own answer stands.
    if (!before) return s;
    if (ReadManifestMark(path) == before) return s;
    if (s.ok()) {
      for (auto* h : *handles) (*db)->DestroyColumnFamilyHandle(h);
      handles->clear();
      delete *db;
      *db = nullptr;
    }
    if (attempt == kAttempts) {
      return rocksdb::Status::Busy("the database's writer changed its storage during each of " +
                                   std::to_string(kAttempts) +
                                   " attempts to open it read-only; try again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt, 20)));
  }
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path,
                                           const StoreOptions& store_options) {
  rocksdb::DBOptions options = StoreDbOptions();
  options.create_if_missing = store_options.create;
  options.create_missing_column_families = !store_options.read_only;
  auto cache = rocksdb::NewLRUCache(store_options.block_cache_bytes);
  // A read-only open cannot create families: one a database written before them
  // lacks is left out (and reads as empty). A writer's open creates it.
  std::vector<bool> present(kFamilies, true);
  if (store_options.read_only) {
    std::vector<std::string> names;
    if (rocksdb::DB::ListColumnFamilies(options, path.string(), &names).ok()) {
      for (int f = 0; f < kFamilies; ++f) {
        present[f] = !IsNewerFamily(f) ||
                     std::find(names.begin(), names.end(), kFamilyNames[f]) != names.end();
      }
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::vector<int> opened;  // the family of each descriptor
  for (int f = 0; f < kFamilies; ++f) {
    if (!present[f]) continue;
    descriptors.emplace_back(kFamilyNames[f], FamilyOptions(f, cache));
    opened.push_back(f);
  }
  auto rep = std::make_unique<Rep>();
  rep->read_only = store_options.read_only;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::optional<OpenGuard> guard;
  if (!store_options.read_only) {
    guard.emplace(path);
    options.listeners.push_back(guard->listener());
  }
  try {
    if (store_options.read_only) {
      s = OpenReadOnlyWhole(rocksdb::Options(options, {}), path, descriptors, &handles, &db);
    } else {
      s = rocksdb::DB::Open(options, path.string(), descriptors, &handles, &db);
    }
  } catch (const std::exception& e) {
    return Status::IOError("opening storage " + path.string() + ": " + e.what());
  }
  if (guard) {
    guard->OpenReturned();
    rep->unnamed_kept = guard->Keep(&rep->unnamed_dir);
  }
  if (!s.ok()) return FromRocks(s, "opening storage " + path.string());
  rep->db.reset(db);
  rep->handles.assign(kFamilies, nullptr);
  for (size_t i = 0; i < handles.size(); ++i) rep->handles[opened[i]] = handles[i];
  return std::unique_ptr<Store>(new Store(std::move(rep)));
}

Result<std::vector<CollectionMeta>> Store::LoadCatalog() const {
  std::vector<CollectionMeta> out;
  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cf(kCatalog)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    CollectionMeta meta;
    RELATE_RETURN_IF_ERROR(
        DecodeCollection(std::string_view(it->value().data(), it->value().size()), &meta)
            .WithContext("catalog"));
    out.push_back(std::move(meta));
  }
  RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "reading catalog"));
  return out;
}

Result<uint32_t> Store::NextCollectionId() const {
  std::string v;
  rocksdb::Status s =
      rep_->db->Get(rocksdb::ReadOptions(), rep_->cf(kDefault), kNextCollectionId, &v);
  if (s.IsNotFound()) return 1u;
  RELATE_RETURN_IF_ERROR(FromRocks(s, "reading next collection id"));
  if (v.size() != 8)
    return Status::Corruption("next collection id has " + std::to_string(v.size()) + " bytes");
  return static_cast<uint32_t>(ReadLittleEndian64(v.data()));
}

Result<std::vector<ModelMeta>> Store::LoadModels() const {
  std::vector<ModelMeta> out;
  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cf(kModels)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ModelMeta meta;
    RELATE_RETURN_IF_ERROR(
        DecodeModel(std::string_view(it->value().data(), it->value().size()), &meta));
    out.push_back(std::move(meta));
  }
  RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "reading the model catalog"));
  return out;
}

Result<uint32_t> Store::NextModelId() const {
  std::string v;
  rocksdb::Status s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cf(kDefault), kNextModelId, &v);
  if (s.IsNotFound()) return 1u;
  RELATE_RETURN_IF_ERROR(FromRocks(s, "reading next model id"));
  if (v.size() != 8)
    return Status::Corruption("next model id has " + std::to_string(v.size()) + " bytes");
  return static_cast<uint32_t>(ReadLittleEndian64(v.data()));
}

Status Store::ScanModelPart(
    uint32_t model, char part,
    const std::function<Status(uint32_t chunk, std::string_view bytes)>& fn) const {
  std::string begin = CollectionPrefix(model);
  begin.push_back(part);
  std::string end = CollectionPrefix(model);
  end.push_back(static_cast<char>(part + 1));
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kModelData)));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    if (it->key().size() != 9) return Status::Corruption("model data key has a bad size");
    const uint32_t chunk = ReadBigEndian32(it->key().data() + 5);
    RELATE_RETURN_IF_ERROR(fn(chunk, std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "reading model data");
}

Status Store::Rep::DeleteIdsExcept(int f, std::span<const uint32_t> keep, const std::string& what,
                                   rocksdb::WriteBatch* wb) const {
  std::unique_ptr<rocksdb::Iterator> it = NewIterator(rocksdb::ReadOptions(), f);
  for (it->SeekToFirst(); it->Valid();) {
    if (it->key().size() < 4) return Status::Corruption("a " + what + " key has a bad size");
    const uint32_t id = ReadBigEndian32(it->key().data());
    if (id == UINT32_MAX) break;  // never allocated (see CollectionEnd)
    if (std::find(keep.begin(), keep.end(), id) == keep.end()) {
      RELATE_RETURN_IF_ERROR(FromRocks(
          wb->DeleteRange(cf(f), CollectionPrefix(id), CollectionEnd(id)), "building write batch"));
    }
    it->Seek(CollectionEnd(id));
  }
  return FromRocks(it->status(), "scanning " + what);
}

Status Store::DeleteModelDataExcept(std::span<const uint32_t> models) {
  if (rep_->read_only) return Status::OK();
  rocksdb::WriteBatch wb;
  RELATE_RETURN_IF_ERROR(rep_->DeleteIdsExcept(kModelData, models, "model data", &wb));
  if (wb.Count() == 0) return Status::OK();
  return FromRocks(rep_->db->Write(rocksdb::WriteOptions(), &wb), "removing unfinished model data");
}

Result<std::vector<std::optional<KeyEntry>>> Store::LookupKeys(
    uint32_t collection, std::span<const std::string_view> keys) const {
  std::vector<std::string> encoded;
  encoded.reserve(keys.size());
  for (auto k : keys) encoded.push_back(UserKey(collection, k));
  std::vector<rocksdb::Slice> slices(encoded.begin(), encoded.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  rep_->db->MultiGet(rocksdb::ReadOptions(), rep_->cf(kKeys), slices.size(), slices.data(),
                     values.data(), statuses.data());
  std::vector<std::optional<KeyEntry>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    RELATE_RETURN_IF_ERROR(FromRocks(statuses[i], "looking up key " + std::string(keys[i])));
    if (values[i].size() != 16) {
      return Status::Corruption("key entry of " + std::string(keys[i]) + " has " +
                                std::to_string(values[i].size()) + " bytes, expected 16");
    }
    out[i] =
        KeyEntry{ReadLittleEndian64(values[i].data()), ReadLittleEndian64(values[i].data() + 8)};
  }
  return out;
}

Result<std::vector<std::optional<StoredRecord>>> Store::GetRecords(uint32_t collection,
                                                                   std::span<const uint64_t> ids,
                                                                   bool with_vector) const {
  std::vector<std::string> encoded;
  encoded.reserve(ids.size());
  for (auto id : ids) encoded.push_back(RecordKey(collection, id));
  std::vector<rocksdb::Slice> slices(encoded.begin(), encoded.end());
  std::vector<rocksdb::PinnableSlice> values(ids.size());
  std::vector<rocksdb::Status> statuses(ids.size());
  std::vector<rocksdb::PinnableSlice> vectors(with_vector ? ids.size() : 0);
  std::vector<rocksdb::Status> vector_statuses(vectors.size());
  std::vector<std::optional<StoredRecord>> out(ids.size());
  std::vector<Status> errors(ids.size());
  rocksdb::DB* db = rep_->db.get();
  ForChunks(ids.size(), [&](size_t begin, size_t end) {
    const size_t n = end - begin;
    db->MultiGet(rocksdb::ReadOptions(), rep_->cf(kRecords), n, slices.data() + begin,
                 values.data() + begin, statuses.data() + begin);
    if (with_vector) {
      db->MultiGet(rocksdb::ReadOptions(), rep_->cf(kVectors), n, slices.data() + begin,
                   vectors.data() + begin, vector_statuses.data() + begin);
    }
    for (size_t i = begin; i < end; ++i) {
      if (statuses[i].IsNotFound()) continue;
      auto where = [&] { return "record id " + std::to_string(ids[i]); };
      if (!statuses[i].ok()) {
        errors[i] = FromRocks(statuses[i], "reading " + where());
        continue;
      }
      out[i].emplace();
      errors[i] = DecodeRecord(std::string_view(values[i].data(), values[i].size()), &*out[i]);
      if (!errors[i].ok()) {
        errors[i] = errors[i].WithContext(where());
        continue;
      }
      if (!with_vector) continue;
      if (!vector_statuses[i].ok()) {
        errors[i] = vector_statuses[i].IsNotFound()
                        ? Status::Corruption(where() + " has no vector")
                        : FromRocks(vector_statuses[i], "reading vector of " + where());
        continue;
      }
      errors[i] =
          DecodeVector(std::string_view(vectors[i].data(), vectors[i].size()), &out[i]->vector);
      if (!errors[i].ok()) errors[i] = errors[i].WithContext(where());
    }
  });
  for (const auto& e : errors) RELATE_RETURN_IF_ERROR(e);
  return out;
}

Status Store::ScanRecords(uint32_t collection, bool with_vector,
                          const std::function<Status(StoredRecord&&)>& fn,
                          const StoreSnapshot* at) const {
  const std::string end = CollectionEnd(collection);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  if (at != nullptr) ro.snapshot = at->rep_->snapshot;
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kRecords)));
  std::unique_ptr<rocksdb::Iterator> vit;
  if (with_vector) {
    vit.reset(rep_->db->NewIterator(ro, rep_->cf(kVectors)));
    vit->Seek(CollectionPrefix(collection));
  }
  for (it->Seek(CollectionPrefix(collection)); it->Valid(); it->Next()) {
    StoredRecord r;
    RELATE_RETURN_IF_ERROR(
        DecodeRecord(std::string_view(it->value().data(), it->value().size()), &r));
    if (with_vector) {
      // Both families hold the same keys, so the iterators move in step.
      if (!vit->Valid() || vit->key() != it->key()) {
        RELATE_RETURN_IF_ERROR(FromRocks(vit->status(), "scanning vectors"));
        return Status::Corruption("record " + r.key + " (id " + std::to_string(r.id) +
                                  ") has no vector");
      }
      if (Status s =
              DecodeVector(std::string_view(vit->value().data(), vit->value().size()), &r.vector);
          !s.ok()) {
        return s.WithContext("record " + r.key);
      }
      vit->Next();
    }
    RELATE_RETURN_IF_ERROR(fn(std::move(r)));
  }
  return FromRocks(it->status(), "scanning records");
}

StoreSnapshot::StoreSnapshot(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

StoreSnapshot::~StoreSnapshot() { rep_->db->ReleaseSnapshot(rep_->snapshot); }

std::unique_ptr<StoreSnapshot> Store::TakeSnapshot() const {
  auto rep = std::make_unique<StoreSnapshot::Rep>();
  rep->db = rep_->db.get();
  rep->snapshot = rep_->db->GetSnapshot();
  return std::unique_ptr<StoreSnapshot>(new StoreSnapshot(std::move(rep)));
}

Status Store::ScanVectors(uint32_t collection,
                          const std::function<Status(uint64_t id, std::span<const float>)>& fn,
                          const StoreSnapshot* at) const {
  const std::string end = CollectionEnd(collection);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  if (at != nullptr) ro.snapshot = at->rep_->snapshot;
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kVectors)));
  std::vector<float> vector;
  for (it->Seek(CollectionPrefix(collection)); it->Valid(); it->Next()) {
    if (it->key().size() != 12) return Status::Corruption("vector key has a bad size");
    const uint64_t id = ReadBigEndian64(it->key().data() + 4);
    if (Status s = DecodeVector(std::string_view(it->value().data(), it->value().size()), &vector);
        !s.ok()) {
      return s.WithContext("vector of record id " + std::to_string(id));
    }
    RELATE_RETURN_IF_ERROR(fn(id, vector));
  }
  return FromRocks(it->status(), "scanning vectors");
}

Status Store::ScanChanges(uint32_t collection, uint64_t after,
                          const std::function<Status(uint64_t, uint64_t)>& fn) const {
  const std::string end = CollectionEnd(collection);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kChanges)));
  for (it->Seek(ChangeKey(collection, after + 1)); it->Valid(); it->Next()) {
    if (it->key().size() != 12 || it->value().size() != 8) {
      return Status::Corruption("change log entry of collection " + std::to_string(collection) +
                                " has a bad size");
    }
    RELATE_RETURN_IF_ERROR(
        fn(ReadBigEndian64(it->key().data() + 4), ReadLittleEndian64(it->value().data())));
  }
  return FromRocks(it->status(), "scanning change log");
}

Status Store::ScanPostings(
    uint32_t collection, std::string_view term,
    const std::function<bool(uint64_t id, uint32_t count, uint32_t length)>& fn,
    const StoreSnapshot* at) const {
  RangeIterator ri(PostingPrefix(collection, term), PostingEnd(collection, term),
                   at != nullptr ? at->rep_->snapshot : nullptr);
  ri.it = rep_->NewIterator(ri.ro, kPostings);
  for (ri.it->Seek(ri.begin); ri.it->Valid(); ri.it->Next()) {
    const rocksdb::Slice key = ri.it->key();
    uint32_t count = 0, length = 0;
    if (key.size() != ri.begin.size() + 8 ||
        !DecodePostingValue(ri.it->value().ToStringView(), &count, &length)) {
      return Status::Corruption("a posting of term \"" + std::string(term) +
                                "\" of collection id " + std::to_string(collection) +
                                " does not decode");
    }
    if (!fn(ReadBigEndian64(key.data() + ri.begin.size()), count, length)) return Status::OK();
  }
  return FromRocks(ri.it->status(), "scanning postings of \"" + std::string(term) + "\"");
}

Status Store::Write(Batch& batch, bool sync) {
  if (rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  assert(batch.rep_->handles == &rep_->handles && "batch made for another store");
  RELATE_RETURN_IF_ERROR(batch.rep_->status);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(rep_->db->Write(wo, &batch.rep_->wb), "writing");
}

Status Store::TruncateChanges(uint32_t collection, uint64_t up_to) {
  if (rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  return FromRocks(
      rep_->db->DeleteRange(rocksdb::WriteOptions(), rep_->cf(kChanges), ChangeKey(collection, 0),
                            ChangeKey(collection, up_to + 1)),
      "truncating change log");
}

// Reliability: catching up, copies, checksums, repair.

Status Store::CopyTo(const std::filesystem::path& dir) const {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    return Status::AlreadyExists(dir.string() + " exists; a copy goes into a new directory");
  }
  if (!rep_->read_only) {
    rocksdb::Checkpoint* raw = nullptr;
    RELATE_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(rep_->db.get(), &raw),
                                     "preparing a checkpoint of storage"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    return FromRocks(checkpoint->CreateCheckpoint(dir.string()),
                     "writing a checkpoint of storage to " + dir.string());
  }
  // A read-only instance cannot make a checkpoint: copy its entries. Iterators
  // made together see every family as of the same moment.
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::vector<rocksdb::ColumnFamilyHandle*> present;
  for (auto* h : rep_->handles) {
    if (h != nullptr) present.push_back(h);
  }
  std::vector<rocksdb::Iterator*> raw_iterators;
  RELATE_RETURN_IF_ERROR(
      FromRocks(rep_->db->NewIterators(ro, present, &raw_iterators), "reading storage"));
  // One per family; empty for a family this database lacks (the copy has it).
  std::vector<std::unique_ptr<rocksdb::Iterator>> iterators;
  for (size_t f = 0, i = 0; f < rep_->handles.size(); ++f) {
    iterators.emplace_back(rep_->handles[f] != nullptr ? raw_iterators[i++]
                                                       : rocksdb::NewEmptyIterator());
  }
  rocksdb::DBOptions options = StoreDbOptions();
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  const auto descriptors = FamilyDescriptors(rocksdb::NewLRUCache(8 << 20));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  RELATE_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &raw_db),
                "creating storage in " + dir.string()));
  std::unique_ptr<rocksdb::DB> copy(raw_db);
  Status status;
  for (int f = 0; f < kFamilies && status.ok(); ++f) {
    rocksdb::WriteBatch wb;
    auto flush = [&] {
      status = FromRocks(copy->Write(rocksdb::WriteOptions(), &wb), "writing " + dir.string());
      wb.Clear();
    };
    rocksdb::Iterator* it = iterators[f].get();
    for (it->SeekToFirst(); it->Valid() && status.ok(); it->Next()) {
      status = FromRocks(wb.Put(handles[f], it->key(), it->value()), "building write batch");
      if (wb.GetDataSize() > (8 << 20)) flush();
    }
    if (status.ok()) status = FromRocks(it->status(), "reading storage");
    if (status.ok() && wb.Count() > 0) flush();
  }
  if (status.ok()) {
    rocksdb::FlushOptions fo;
    status = FromRocks(copy->Flush(fo, handles), "flushing " + dir.string());
  }
  if (status.ok()) status = FromRocks(copy->SyncWAL(), "syncing " + dir.string());
  for (auto* h : handles) copy->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  Status closed = FromRocks(copy->Close(), "closing " + dir.string());
  return status.ok() ? closed : status;
}

Status Store::VerifyChecksums() const {
  return FromRocks(rep_->db->VerifyChecksum(), "checking the checksums of storage");
}

Status Store::CompactAll() {
  if (rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (int f = 0; f < kFamilies; ++f) {
    RELATE_RETURN_IF_ERROR(FromRocks(rep_->db->CompactRange(options, rep_->cf(f), nullptr, nullptr),
                                     std::string("compacting ") + kFamilyNames[f]));
  }
  return Status::OK();
}

// Export / import.

Status Store::ScanModelData(
    uint32_t model, const StoreSnapshot* at,
    const std::function<Status(char part, uint32_t chunk, std::string_view bytes)>& fn) const {
  const std::string end = CollectionEnd(model);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
  if (at != nullptr) ro.snapshot = at->rep_->snapshot;
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kModelData)));
  for (it->Seek(CollectionPrefix(model)); it->Valid(); it->Next()) {
    if (it->key().size() != 9) return Status::Corruption("model data key has a bad size");
    const uint32_t chunk = ReadBigEndian32(it->key().data() + 5);
    RELATE_RETURN_IF_ERROR(
        fn(it->key()[4], chunk, std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "reading model data");
}

Status Store::DeleteData(std::span<const uint32_t> collections, std::span<const uint32_t> models) {
  if (rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  rocksdb::WriteBatch wb;
  for (uint32_t id : collections) {
    for (int f : kCollectionFamilies) {
      RELATE_RETURN_IF_ERROR(
          FromRocks(wb.DeleteRange(rep_->cf(f), CollectionPrefix(id), CollectionEnd(id)),
                    "building write batch"));
    }
  }
  for (uint32_t id : models) {
    RELATE_RETURN_IF_ERROR(
        FromRocks(wb.DeleteRange(rep_->cf(kModelData), CollectionPrefix(id), CollectionEnd(id)),
                  "building write batch"));
  }
  if (wb.Count() == 0) return Status::OK();
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(rep_->db->Write(wo, &wb), "removing data of an unfinished import");
}

Status Store::DeleteCollectionDataExcept(std::span<const uint32_t> collections) {
  if (rep_->read_only) return Status::OK();
  rocksdb::WriteBatch wb;
  for (int f : kCollectionFamilies) {
    RELATE_RETURN_IF_ERROR(rep_->DeleteIdsExcept(f, collections, "collection data", &wb));
  }
  if (wb.Count() == 0) return Status::OK();
  return FromRocks(rep_->db->Write(rocksdb::WriteOptions(), &wb),
                   "removing data of an unfinished import");
}

}  // namespace relate::storage
