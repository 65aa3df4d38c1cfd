#include "storage/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cassert>
#include <cstring>

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
  if (s.IsCorruption()) return Status::Corruption(m);
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
    uint32_t id = 0;
    for (int i = 0; i < 4; ++i) id = (id << 8) | static_cast<unsigned char>(it->key()[i]);
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

Status Store::ScanRecords(uint32_t collection, bool with_vector,
                          const std::function<Status(StoredRecord&&)>& fn) const {
  const std::string end = CollectionEnd(collection);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  ro.fill_cache = false;
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

struct StoreSnapshot::Rep {
  rocksdb::DB* db;
  const rocksdb::Snapshot* snapshot;
};

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

}  // namespace relate::storage
