#include "storage/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "storage/codec.h"
#include "storage/keys.h"

namespace relate::storage {
namespace {

constexpr const char* kNextCollectionId = "next_collection_id";
constexpr const char* kNextModelId = "next_model_id";

enum Family {
  kDefault = 0,
  kCatalog,
  kRecords,
  kVectors,
  kKeys,
  kChanges,
  kModels,
  kModelData,
  kFamilies
};
const char* const kFamilyNames[kFamilies] = {rocksdb::kDefaultColumnFamilyName.c_str(),
                                             "catalog",
                                             "records",
                                             "vectors",
                                             "keys",
                                             "changes",
                                             "models",
                                             "model_data"};

// Versions of one model sort together, oldest first. Keys of different
// (name, version) pairs differ: their length fixes the name's length.
std::string ModelKey(std::string_view name, uint64_t version) {
  std::string key(name);
  key.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(version >> shift));
  return key;
}

std::string ModelChunkKey(uint32_t model, char part, uint32_t chunk) {
  std::string k = CollectionPrefix(model);
  k.push_back(part);
  AppendBigEndian32(&k, chunk);
  return k;
}

// Below this many ids a multi-get runs on the calling thread alone.
constexpr size_t kParallelGetThreshold = 256;

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string m = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) {
    return Status::Corruption(m +
                              " (the database's storage is damaged: `relate repair` recovers what "
                              "it still holds; or restore a backup)");
  }
  if (s.IsNotFound()) return Status::NotFound(m);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(m);
  // RocksDB reports its LOCK file held by another process or handle as an IO error.
  if (s.IsIOError() && (s.ToString().find("lock") != std::string::npos ||
                        s.ToString().find("LOCK") != std::string::npos)) {
    return Status::Busy(std::string(what) + ": the database is in use by another process (" +
                        s.ToString() + ")");
  }
  return Status::IOError(m);
}

rocksdb::ColumnFamilyOptions FamilyOptions(int family,
                                           const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (family == kVectors || family == kModelData) {
    // Float vectors do not compress, and kept in blob files they are not rewritten
    // by every compaction of the LSM tree.
    o.compression = rocksdb::kNoCompression;
    o.write_buffer_size = 128 << 20;
    o.max_write_buffer_number = 3;
    o.enable_blob_files = true;
    o.min_blob_size = 256;
    o.blob_file_size = 256 << 20;
  } else if (family == kRecords) {
    o.write_buffer_size = 64 << 20;
  }
  return o;
}

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

struct Batch::Rep {
  rocksdb::WriteBatch wb;
  const std::vector<rocksdb::ColumnFamilyHandle*>* handles = nullptr;
  Status status;  // the first failure to add to `wb`, reported by Store::Write

  void Check(const rocksdb::Status& s) {
    if (!s.ok() && status.ok()) status = FromRocks(s, "building write batch");
  }
  void Put(int f, const rocksdb::Slice& k, const rocksdb::Slice& v) {
    Check(wb.Put((*handles)[f], k, v));
  }
  void Delete(int f, const rocksdb::Slice& k) { Check(wb.Delete((*handles)[f], k)); }
  void DeleteRange(int f, const rocksdb::Slice& b, const rocksdb::Slice& e) {
    Check(wb.DeleteRange((*handles)[f], b, e));
  }
};

Batch::~Batch() = default;

void Batch::PutCollection(const CollectionMeta& meta) {
  rep_->Put(kCatalog, meta.spec.name, EncodeCollection(meta));
}

void Batch::DeleteCollection(const CollectionMeta& meta) {
  rep_->Delete(kCatalog, meta.spec.name);
  for (int f : {kRecords, kVectors, kKeys, kChanges}) {
    rep_->DeleteRange(f, CollectionPrefix(meta.id), CollectionEnd(meta.id));
  }
}

void Batch::PutNextCollectionId(uint32_t next) {
  std::string v;
  AppendLittleEndian64(&v, next);
  rep_->Put(kDefault, kNextCollectionId, v);
}

void Batch::PutRecord(uint32_t collection, uint64_t id, uint64_t version, const Record& record) {
  const std::string key = RecordKey(collection, id);
  rep_->Put(kRecords, key, EncodeRecord(id, version, record));
  rep_->Put(kVectors, key,
            rocksdb::Slice(reinterpret_cast<const char*>(record.vector.data()),
                           record.vector.size() * sizeof(float)));
  std::string entry;
  AppendLittleEndian64(&entry, id);
  AppendLittleEndian64(&entry, version);
  rep_->Put(kKeys, UserKey(collection, record.key), entry);
}

void Batch::DeleteRecord(uint32_t collection, uint64_t id, std::string_view key) {
  const std::string k = RecordKey(collection, id);
  rep_->Delete(kRecords, k);
  rep_->Delete(kVectors, k);
  rep_->Delete(kKeys, UserKey(collection, key));
}

void Batch::PutChange(uint32_t collection, uint64_t seq, uint64_t id) {
  std::string v;
  AppendLittleEndian64(&v, id);
  rep_->Put(kChanges, ChangeKey(collection, seq), v);
}

void Batch::PutModel(const ModelMeta& meta) {
  rep_->Put(kModels, ModelKey(meta.info.name, meta.info.version), EncodeModel(meta));
}

void Batch::DeleteModel(const ModelMeta& meta) {
  rep_->Delete(kModels, ModelKey(meta.info.name, meta.info.version));
  rep_->DeleteRange(kModelData, CollectionPrefix(meta.id), CollectionEnd(meta.id));
}

void Batch::PutNextModelId(uint32_t next) {
  std::string v;
  AppendLittleEndian64(&v, next);
  rep_->Put(kDefault, kNextModelId, v);
}

void Batch::PutModelChunk(uint32_t model, char part, uint32_t chunk, std::string_view bytes) {
  rep_->Put(kModelData, ModelChunkKey(model, part, chunk),
            rocksdb::Slice(bytes.data(), bytes.size()));
}

size_t Batch::ByteSize() const { return rep_->wb.GetDataSize(); }

struct Store::Rep {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  bool read_only = false;

  rocksdb::ColumnFamilyHandle* cf(int f) const { return handles[f]; }

  ~Rep() {
    for (auto* h : handles) {
      if (db) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    if (db) db->Close().PermitUncheckedError();
  }
};

Batch::Batch(const Store& store) : rep_(std::make_unique<Rep>()) {
  rep_->handles = &store.rep_->handles;
}

Store::Store(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Store::~Store() = default;

bool Store::read_only() const { return rep_->read_only; }

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& path,
                                           const StoreOptions& store_options) {
  rocksdb::DBOptions options;
  options.create_if_missing = store_options.create;
  options.create_missing_column_families = !store_options.read_only;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 3;
  options.max_total_wal_size = 512 << 20;
  auto cache = rocksdb::NewLRUCache(store_options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int f = 0; f < kFamilies; ++f) {
    descriptors.emplace_back(kFamilyNames[f], FamilyOptions(f, cache));
  }
  auto rep = std::make_unique<Rep>();
  rep->read_only = store_options.read_only;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  try {
    s = store_options.read_only
            ? rocksdb::DB::OpenForReadOnly(rocksdb::Options(options, {}), path.string(),
                                           descriptors, &rep->handles, &db)
            : rocksdb::DB::Open(options, path.string(), descriptors, &rep->handles, &db);
  } catch (const std::exception& e) {
    return Status::IOError("opening storage " + path.string() + ": " + e.what());
  }
  if (!s.ok()) return FromRocks(s, "opening storage " + path.string());
  rep->db.reset(db);
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
    uint32_t chunk = 0;
    for (int i = 5; i < 9; ++i) chunk = (chunk << 8) | static_cast<unsigned char>(it->key()[i]);
    RELATE_RETURN_IF_ERROR(fn(chunk, std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "reading model data");
}

Status Store::DeleteModelDataExcept(std::span<const uint32_t> models) {
  if (rep_->read_only) return Status::OK();
  std::unique_ptr<rocksdb::Iterator> it(
      rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cf(kModelData)));
  rocksdb::WriteBatch wb;
  for (it->SeekToFirst(); it->Valid();) {
    if (it->key().size() < 4) return Status::Corruption("model data key has a bad size");
    const uint32_t id = ReadBigEndian32(it->key().data());
    if (std::find(models.begin(), models.end(), id) == models.end()) {
      RELATE_RETURN_IF_ERROR(
          FromRocks(wb.DeleteRange(rep_->cf(kModelData), CollectionPrefix(id), CollectionEnd(id)),
                    "building write batch"));
    }
    it->Seek(CollectionEnd(id));
  }
  RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning model data"));
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

struct StoreSnapshot::Rep {
  rocksdb::DB* db;
  const rocksdb::Snapshot* snapshot;
};

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
  std::vector<rocksdb::Iterator*> raw_iterators;
  RELATE_RETURN_IF_ERROR(
      FromRocks(rep_->db->NewIterators(ro, rep_->handles, &raw_iterators), "reading storage"));
  std::vector<std::unique_ptr<rocksdb::Iterator>> iterators(raw_iterators.begin(),
                                                            raw_iterators.end());
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  auto cache = rocksdb::NewLRUCache(8 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int f = 0; f < kFamilies; ++f) {
    descriptors.emplace_back(kFamilyNames[f], FamilyOptions(f, cache));
  }
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

Status Store::Repair(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    return Status::NotFound("no storage at " + path.string());
  }
  rocksdb::DBOptions options;
  auto cache = rocksdb::NewLRUCache(8 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int f = 0; f < kFamilies; ++f) {
    descriptors.emplace_back(kFamilyNames[f], FamilyOptions(f, cache));
  }
  return FromRocks(rocksdb::RepairDB(path.string(), options, descriptors),
                   "repairing storage " + path.string());
}

Result<ConsistencyReport> Store::CheckConsistency(bool fix) {
  if (fix && rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  ConsistencyReport report;
  RELATE_ASSIGN_OR_RETURN(auto catalog, LoadCatalog());
  rocksdb::WriteBatch wb;
  Status status;
  auto flush = [&]() -> Status {
    if (!fix || wb.Count() == 0) return Status::OK();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status s = FromRocks(rep_->db->Write(wo, &wb), "writing repairs");
    wb.Clear();
    return s;
  };
  auto remove = [&](int family, const rocksdb::Slice& key) -> Status {
    if (!fix) return Status::OK();
    RELATE_RETURN_IF_ERROR(FromRocks(wb.Delete(rep_->cf(family), key), "building write batch"));
    return wb.GetDataSize() > (4 << 20) ? flush() : Status::OK();
  };
  auto problem = [&](std::string line) {
    if (report.problems.size() < 1000) report.problems.push_back(std::move(line));
  };
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;

  std::vector<uint32_t> known;
  for (auto& meta : catalog) {
    known.push_back(meta.id);
    const std::string name = "collection \"" + meta.spec.name + "\"";
    const std::string begin = CollectionPrefix(meta.id), end = CollectionEnd(meta.id);
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    // 1. Whole records: decode, and have a vector of the collection's dimension.
    struct Whole {
      std::string key;
      uint64_t version;
    };
    std::unordered_map<uint64_t, Whole> whole;
    uint64_t max_id = 0;
    {
      std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kRecords)));
      std::string vbytes;
      std::vector<float> vector;
      for (it->Seek(begin); it->Valid(); it->Next()) {
        StoredRecord r;
        const uint64_t id = it->key().size() == 12 ? ReadBigEndian64(it->key().data() + 4) : 0;
        Status why = id == 0 ? Status::Corruption("its key has a bad size")
                             : DecodeRecord(std::string_view(it->value().data(), it->value().size()), &r);
        if (why.ok()) {
          rocksdb::Status vs = rep_->db->Get(ro, rep_->cf(kVectors), it->key(), &vbytes);
          if (vs.IsNotFound()) {
            why = Status::Corruption("it has no vector");
          } else if (!vs.ok()) {
            why = FromRocks(vs, "reading its vector");
          } else if (Status d = DecodeVector(vbytes, &vector); !d.ok()) {
            why = d;
          } else if (vector.size() != meta.spec.dimension) {
            why = Status::Corruption("its vector has " + std::to_string(vector.size()) +
                                     " values, expected " + std::to_string(meta.spec.dimension));
          }
        }
        if (!why.ok()) {
          ++report.bad_records;
          problem(name + ": record id " + std::to_string(id) +
                  (r.key.empty() ? "" : " (key \"" + r.key + "\")") + " is lost: " +
                  std::string(why.message()));
          RELATE_RETURN_IF_ERROR(remove(kRecords, it->key()));
          RELATE_RETURN_IF_ERROR(remove(kVectors, it->key()));
          continue;
        }
        whole.emplace(id, Whole{r.key, r.version});
        max_id = std::max(max_id, id);
      }
      RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning records of " + name));
    }
    // 2. Key entries: each points at a whole record with its key; one record per key.
    std::unordered_map<uint64_t, bool> keyed;  // whole records with a key entry
    {
      std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kKeys)));
      for (it->Seek(begin); it->Valid(); it->Next()) {
        const std::string user_key(it->key().data() + 4, it->key().size() - 4);
        auto w = it->value().size() == 16 ? whole.find(ReadLittleEndian64(it->value().data()))
                                          : whole.end();
        if (w == whole.end() || w->second.key != user_key) {
          ++report.dangling_keys;
          problem(name + ": key \"" + user_key + "\" points at no record with that key");
          RELATE_RETURN_IF_ERROR(remove(kKeys, it->key()));
          continue;
        }
        keyed[w->first] = true;
      }
      RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning keys of " + name));
    }
    // Whole records without a key entry: the newest record of each key gets it,
    // older ones with the same key go.
    std::unordered_map<std::string, uint64_t> owner;  // key -> id of the record that keeps it
    for (const auto& [id, w] : whole) {
      if (keyed.count(id)) owner[w.key] = id;
    }
    std::vector<uint64_t> unkeyed;
    for (const auto& [id, w] : whole) {
      if (!keyed.count(id)) unkeyed.push_back(id);
    }
    std::sort(unkeyed.begin(), unkeyed.end());
    for (uint64_t id : unkeyed) {
      const Whole& w = whole[id];
      auto o = owner.find(w.key);
      if (o != owner.end() && (keyed.count(o->second) || whole[o->second].version > w.version)) {
        ++report.duplicate_keys;
        problem(name + ": record id " + std::to_string(id) + " (key \"" + w.key +
                "\") is an older copy of record id " + std::to_string(o->second));
        RELATE_RETURN_IF_ERROR(remove(kRecords, RecordKey(meta.id, id)));
        RELATE_RETURN_IF_ERROR(remove(kVectors, RecordKey(meta.id, id)));
        continue;
      }
      if (o != owner.end()) {  // an unkeyed older copy lost to this one
        ++report.duplicate_keys;
        problem(name + ": record id " + std::to_string(o->second) + " (key \"" + w.key +
                "\") is an older copy of record id " + std::to_string(id));
        RELATE_RETURN_IF_ERROR(remove(kRecords, RecordKey(meta.id, o->second)));
        RELATE_RETURN_IF_ERROR(remove(kVectors, RecordKey(meta.id, o->second)));
      }
      owner[w.key] = id;
    }
    for (const auto& [key, id] : owner) {
      if (keyed.count(id)) continue;
      ++report.missing_keys;
      problem(name + ": record id " + std::to_string(id) + " (key \"" + key +
              "\") had no key entry");
      if (fix) {
        std::string value;
        AppendLittleEndian64(&value, id);
        AppendLittleEndian64(&value, whole[id].version);
        RELATE_RETURN_IF_ERROR(FromRocks(wb.Put(rep_->cf(kKeys), UserKey(meta.id, key), value),
                                         "building write batch"));
      }
    }
    // 3. Vectors of no whole record.
    {
      std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kVectors)));
      for (it->Seek(begin); it->Valid(); it->Next()) {
        const uint64_t id = it->key().size() == 12 ? ReadBigEndian64(it->key().data() + 4) : 0;
        if (whole.count(id)) continue;  // kept, or removed above with its record
        ++report.orphan_vectors;
        problem(name + ": vector of record id " + std::to_string(id) + " belongs to no record");
        RELATE_RETURN_IF_ERROR(remove(kVectors, it->key()));
      }
      RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning vectors of " + name));
    }
    // 4. Counters: count, the next id, the newest change.
    uint64_t last_change = meta.last_change;
    {
      std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(kChanges)));
      it->SeekForPrev(ChangeKey(meta.id, UINT64_MAX));
      if (it->Valid() && it->key().size() == 12 && it->key().starts_with(begin)) {
        last_change = std::max(last_change, ReadBigEndian64(it->key().data() + 4));
      }
      RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "reading the change log of " + name));
    }
    CollectionMeta fixed = meta;
    fixed.count = owner.size();
    fixed.next_record_id = std::max(meta.next_record_id, max_id + 1);
    fixed.last_change = last_change;
    report.records += owner.size();
    if (fixed.count != meta.count || fixed.next_record_id != meta.next_record_id ||
        fixed.last_change != meta.last_change) {
      ++report.recounted;
      problem(name + ": catalog said " + std::to_string(meta.count) + " records, " +
              std::to_string(fixed.count) + " are whole");
      if (fix) {
        RELATE_RETURN_IF_ERROR(FromRocks(
            wb.Put(rep_->cf(kCatalog), meta.spec.name, EncodeCollection(fixed)), "building write batch"));
      }
    }
    RELATE_RETURN_IF_ERROR(flush());
  }
  ro.iterate_upper_bound = nullptr;
  // 5. Entries of collection ids the catalog does not have.
  for (int family : {kRecords, kVectors, kKeys, kChanges}) {
    std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(ro, rep_->cf(family)));
    for (it->SeekToFirst(); it->Valid();) {
      if (it->key().size() < 4) {
        ++report.orphan_entries;
        problem(std::string("an entry of ") + kFamilyNames[family] + " has a bad key");
        RELATE_RETURN_IF_ERROR(remove(family, it->key()));
        it->Next();
        continue;
      }
      const uint32_t id = ReadBigEndian32(it->key().data());
      if (std::find(known.begin(), known.end(), id) != known.end()) {
        it->Seek(CollectionEnd(id));
        continue;
      }
      uint64_t n = 0;
      const std::string end = CollectionEnd(id);
      for (; it->Valid() && it->key().compare(end) < 0; it->Next()) ++n;
      report.orphan_entries += n;
      problem(std::to_string(n) + " entries of " + kFamilyNames[family] + " belong to collection id " +
              std::to_string(id) + ", which the catalog does not have");
      if (fix) {
        RELATE_RETURN_IF_ERROR(FromRocks(
            wb.DeleteRange(rep_->cf(family), CollectionPrefix(id), end), "building write batch"));
      }
    }
    RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning storage"));
  }
  RELATE_RETURN_IF_ERROR(flush());
  return report;
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
    uint32_t chunk = 0;
    for (int i = 5; i < 9; ++i) chunk = (chunk << 8) | static_cast<unsigned char>(it->key()[i]);
    RELATE_RETURN_IF_ERROR(
        fn(it->key()[4], chunk, std::string_view(it->value().data(), it->value().size())));
  }
  return FromRocks(it->status(), "reading model data");
}

Status Store::DeleteData(std::span<const uint32_t> collections, std::span<const uint32_t> models) {
  if (rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  rocksdb::WriteBatch wb;
  for (uint32_t id : collections) {
    for (int f : {kRecords, kVectors, kKeys, kChanges}) {
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
  for (int f : {kRecords, kVectors, kKeys, kChanges}) {
    std::unique_ptr<rocksdb::Iterator> it(
        rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cf(f)));
    for (it->SeekToFirst(); it->Valid();) {
      if (it->key().size() < 4) return Status::Corruption("a record key has a bad size");
      const uint32_t id = ReadBigEndian32(it->key().data());
      if (id == UINT32_MAX) break;  // never allocated (see CollectionEnd)
      if (std::find(collections.begin(), collections.end(), id) == collections.end()) {
        RELATE_RETURN_IF_ERROR(
            FromRocks(wb.DeleteRange(rep_->cf(f), CollectionPrefix(id), CollectionEnd(id)),
                      "building write batch"));
      }
      it->Seek(CollectionEnd(id));
    }
    RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning collection data"));
  }
  if (wb.Count() == 0) return Status::OK();
  return FromRocks(rep_->db->Write(rocksdb::WriteOptions(), &wb),
                   "removing data of an unfinished import");
}

}  // namespace relate::storage
