#include "storage/store.h"

#include <rocksdb/slice_transform.h>
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
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "storage/codec.h"
#include "storage/families.h"
#include "storage/keys.h"

namespace relate::storage {
namespace {

constexpr const char* kNextCollectionId = "next_collection_id";
constexpr const char* kNextModelId = "next_model_id";


// Families that hold per-collection data under CollectionPrefix keys.
constexpr int kCollectionFamilies[] = {kRecords, kVectors, kKeys, kChanges, kFields, kPostings};

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

// The fields CF keys of record `id`'s values of `fields`, sorted, without duplicates.
std::vector<std::string> FieldEntryKeys(uint32_t collection, uint64_t id,
                                        std::span<const std::string> fields,
                                        const Metadata& metadata) {
  std::vector<std::string> keys;
  for (const auto& field : fields) {
    auto it = metadata.find(field);
    if (it == metadata.end()) continue;
    if (const auto* list = std::get_if<std::vector<std::string>>(&it->second)) {
      for (const auto& value : *list) keys.push_back(FieldEntryKey(collection, field, value, id));
    } else {
      keys.push_back(FieldEntryKey(collection, field, it->second, id));
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::string PostingValue(uint32_t count, uint32_t length) {
  std::string v;
  AppendVarint(&v, count);
  AppendVarint(&v, length);
  return v;
}

// False if `value` is not two varints that fit in 32 bits.
bool DecodePostingValue(const rocksdb::Slice& value, uint32_t* count, uint32_t* length) {
  const char* p = value.data();
  const char* end = p + value.size();
  uint64_t c = 0, l = 0;
  if (!ReadVarint(&p, end, &c) || !ReadVarint(&p, end, &l) || p != end) return false;
  if (c > UINT32_MAX || l > UINT32_MAX) return false;
  *count = static_cast<uint32_t>(c);
  *length = static_cast<uint32_t>(l);
  return true;
}

// The end of an escaped, terminated string that starts at `pos` of `key` (the
// offset after its terminator), or 0 if it is not one.
size_t EscapedEnd(const rocksdb::Slice& key, size_t pos) {
  while (pos + 1 < key.size()) {
    if (key[pos] != '\0') {
      ++pos;
    } else if (key[pos + 1] == '\xff') {
      pos += 2;
    } else {
      return key[pos + 1] == '\x01' ? pos + 2 : 0;
    }
  }
  return 0;
}

// The id of a fields CF key whose field ends before `value_pos` (its tag), or
// false if the key does not decode.
bool FieldEntryId(const rocksdb::Slice& key, size_t value_pos, uint64_t* id) {
  if (key.size() <= value_pos) return false;
  size_t end = 0;
  switch (key[value_pos]) {
    case kFieldBoolTag:
      end = value_pos + 2;
      if (end <= key.size() && static_cast<unsigned char>(key[value_pos + 1]) > 1) return false;
      break;
    case kFieldIntTag:
    case kFieldDoubleTag:
      end = value_pos + 9;
      break;
    case kFieldStringTag:
      end = EscapedEnd(key, value_pos + 1);
      if (end == 0) return false;
      break;
    default:
      return false;
  }
  if (key.size() != end + 8) return false;
  *id = ReadBigEndian64(key.data() + end);
  return true;
}

// The id of any fields CF key of a collection, or false if it does not decode.
bool AnyFieldEntryId(const rocksdb::Slice& key, uint64_t* id) {
  const size_t value_pos = key.size() > 4 ? EscapedEnd(key, 4) : 0;
  return value_pos != 0 && FieldEntryId(key, value_pos, id);
}

// The id of a postings CF key, or false if it does not decode.
bool PostingId(const rocksdb::Slice& key, uint64_t* id) {
  const size_t end = key.size() > 4 ? EscapedEnd(key, 4) : 0;
  if (end == 0 || key.size() != end + 8) return false;
  *id = ReadBigEndian64(key.data() + end);
  return true;
}

// The sign of i - d, exactly, for a d that is not NaN.
int CompareIntDouble(int64_t i, double d) {
  constexpr double kTwo63 = 9223372036854775808.0;
  if (d >= kTwo63) return -1;
  if (d < -kTwo63) return 1;
  const double t = std::trunc(d);  // in [-2^63, 2^63): an int64 exactly
  const auto ti = static_cast<int64_t>(t);
  if (i != ti) return i < ti ? -1 : 1;
  const double frac = d - t;  // exact
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

// The keys of one value type of a field to scan: [begin, end).
struct SubRange {
  char tag;
  std::string begin, end;
};

// Just past every key of the value whose encoding `value_key` ends with: those
// keys are `value_key` + id (8 bytes), and the encodings are prefix-free.
std::string PastValue(std::string value_key) {
  value_key.append(8, '\xff');
  value_key.push_back('\0');
  return value_key;
}

// The sub-ranges of keys a FieldRange covers, in key order (those of an
// integer and a double tag are merged by value when scanned). InvalidArgument
// for a bad bound.
Status PlanFieldRange(uint32_t collection, std::string_view field, const FieldRange& range,
                      std::vector<SubRange>* out) {
  out->clear();
  const std::string prefix = FieldPrefix(collection, field);
  auto whole = [&](char tag) {
    std::string end = prefix;
    end.push_back(static_cast<char>(tag + 1));
    return SubRange{tag, prefix + tag, std::move(end)};
  };
  enum Kind { kBool, kNumber, kString };
  auto kind_of = [&](const FieldBound& b, Kind* kind) -> Status {
    if (std::holds_alternative<std::vector<std::string>>(b.value)) {
      return Status::InvalidArgument("range of field \"" + std::string(field) +
                                     "\": a bound cannot be a list");
    }
    if (const auto* d = std::get_if<double>(&b.value); d != nullptr && std::isnan(*d)) {
      return Status::InvalidArgument("range of field \"" + std::string(field) +
                                     "\": a bound cannot be NaN");
    }
    *kind = std::holds_alternative<bool>(b.value)          ? kBool
            : std::holds_alternative<std::string>(b.value) ? kString
                                                           : kNumber;
    return Status::OK();
  };
  if (!range.lower && !range.upper) {
    out->push_back(whole(kFieldBoolTag));
    out->push_back(whole(kFieldIntTag));
    out->push_back(whole(kFieldDoubleTag));
    out->push_back(whole(kFieldStringTag));
    return Status::OK();
  }
  Kind kind = kNumber, other = kNumber;
  if (range.lower) RELATE_RETURN_IF_ERROR(kind_of(*range.lower, &kind));
  if (range.upper) RELATE_RETURN_IF_ERROR(kind_of(*range.upper, &other));
  if (range.lower && range.upper && kind != other) {
    return Status::InvalidArgument("range of field \"" + std::string(field) +
                                   "\": its bounds are of different types");
  }
  if (!range.lower) kind = other;
  // A bound that is a value of the sub-range's own type: its keys start at
  // `value_key`.
  auto lower_key = [](const std::string& value_key, bool inclusive) {
    return inclusive ? value_key : PastValue(value_key);
  };
  auto upper_key = [](const std::string& value_key, bool inclusive) {
    return inclusive ? PastValue(value_key) : value_key;
  };
  auto value_key = [&](const MetadataValue& v) {
    std::string k = prefix;
    AppendFieldValue(&k, v);
    return k;
  };
  if (kind != kNumber) {
    SubRange r = whole(kind == kBool ? kFieldBoolTag : kFieldStringTag);
    if (range.lower) r.begin = lower_key(value_key(range.lower->value), range.lower->inclusive);
    if (range.upper) r.end = upper_key(value_key(range.upper->value), range.upper->inclusive);
    if (r.begin < r.end) out->push_back(std::move(r));
    return Status::OK();
  }
  constexpr double kTwo63 = 9223372036854775808.0;
  // Integers: a double bound becomes the nearest integer inside the range.
  {
    SubRange r = whole(kFieldIntTag);
    bool empty = false;
    if (range.lower) {
      if (const auto* i = std::get_if<int64_t>(&range.lower->value)) {
        r.begin = lower_key(value_key(*i), range.lower->inclusive);
      } else {
        const double d = std::get<double>(range.lower->value);
        if (d >= kTwo63) {
          empty = true;
        } else if (d >= -kTwo63) {
          const double c = std::ceil(d);
          r.begin = lower_key(value_key(static_cast<int64_t>(c)), c != d || range.lower->inclusive);
        }
      }
    }
    if (range.upper) {
      if (const auto* i = std::get_if<int64_t>(&range.upper->value)) {
        r.end = upper_key(value_key(*i), range.upper->inclusive);
      } else {
        const double d = std::get<double>(range.upper->value);
        if (d < -kTwo63) {
          empty = true;
        } else if (d < kTwo63) {
          const double f = std::floor(d);
          r.end = upper_key(value_key(static_cast<int64_t>(f)), f != d || range.upper->inclusive);
        }
      }
    }
    if (!empty && r.begin < r.end) out->push_back(std::move(r));
  }
  // Doubles: an integer bound becomes its nearest double, and the end is open or
  // closed by which side of the integer that double lies; NaN (after +inf) is out.
  {
    SubRange r = whole(kFieldDoubleTag);
    r.end = PastValue(value_key(std::numeric_limits<double>::infinity()));
    if (range.lower) {
      if (const auto* i = std::get_if<int64_t>(&range.lower->value)) {
        const auto d = static_cast<double>(*i);
        const int cmp = CompareIntDouble(*i, d);
        r.begin = lower_key(value_key(d), cmp < 0 || (cmp == 0 && range.lower->inclusive));
      } else {
        r.begin = lower_key(value_key(range.lower->value), range.lower->inclusive);
      }
    }
    if (range.upper) {
      if (const auto* i = std::get_if<int64_t>(&range.upper->value)) {
        const auto d = static_cast<double>(*i);
        const int cmp = CompareIntDouble(*i, d);
        r.end = upper_key(value_key(d), cmp > 0 || (cmp == 0 && range.upper->inclusive));
      } else {
        r.end = upper_key(value_key(range.upper->value), range.upper->inclusive);
      }
    }
    if (r.begin < r.end) out->push_back(std::move(r));
  }
  return Status::OK();
}

}  // namespace

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

Batch::~Batch() = default;

void Batch::PutCollection(const CollectionMeta& meta) {
  rep_->Put(kCatalog, meta.spec.name, EncodeCollection(meta));
}

void Batch::DeleteCollection(const CollectionMeta& meta) {
  rep_->Delete(kCatalog, meta.spec.name);
  for (int f : kCollectionFamilies) {
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

void Batch::PutFieldEntries(uint32_t collection, uint64_t id, std::span<const std::string> fields,
                            const Metadata& metadata) {
  for (const auto& key : FieldEntryKeys(collection, id, fields, metadata)) {
    rep_->Put(kFields, key, rocksdb::Slice());
  }
}

void Batch::DeleteFieldEntries(uint32_t collection, uint64_t id,
                               std::span<const std::string> fields, const Metadata& metadata) {
  for (const auto& key : FieldEntryKeys(collection, id, fields, metadata)) {
    rep_->Delete(kFields, key);
  }
}

void Batch::PutPostings(uint32_t collection, uint64_t id, std::span<const TermCount> terms,
                        uint32_t length) {
  for (const auto& t : terms) {
    rep_->Put(kPostings, PostingKey(collection, t.term, id), PostingValue(t.count, length));
  }
}

void Batch::DeletePostings(uint32_t collection, uint64_t id, std::span<const TermCount> terms) {
  for (const auto& t : terms) rep_->Delete(kPostings, PostingKey(collection, t.term, id));
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
  // Table and blob files this open would have deleted, and where they are kept.
  size_t unnamed_kept = 0;
  std::string unnamed_dir;

  // Null for a family a read-only store's database lacks (IsNewerFamily).
  rocksdb::ColumnFamilyHandle* cf(int f) const { return handles[f]; }

  // An iterator over the family, empty if the database lacks it.
  std::unique_ptr<rocksdb::Iterator> NewIterator(const rocksdb::ReadOptions& ro, int f) const {
    if (handles[f] == nullptr)
      return std::unique_ptr<rocksdb::Iterator>(rocksdb::NewEmptyIterator());
    return std::unique_ptr<rocksdb::Iterator>(db->NewIterator(ro, handles[f]));
  }

  ~Rep() {
    for (auto* h : handles) {
      if (db && h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
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

size_t Store::UnnamedFilesKept(std::string* where) const {
  *where = rep_->unnamed_dir;
  return rep_->unnamed_kept;
}

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
  if (!store_options.read_only) guard.emplace(path);
  try {
    s = store_options.read_only
            ? rocksdb::DB::OpenForReadOnly(rocksdb::Options(options, {}), path.string(),
                                           descriptors, &handles, &db)
            : rocksdb::DB::Open(options, path.string(), descriptors, &handles, &db);
  } catch (const std::exception& e) {
    return Status::IOError("opening storage " + path.string() + ": " + e.what());
  }
  if (guard) rep->unnamed_kept = guard->Keep(&rep->unnamed_dir);
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

namespace {

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

}  // namespace

Status Store::ScanField(uint32_t collection, std::string_view field, const FieldRange& range,
                        const std::function<bool(uint64_t id)>& fn, const StoreSnapshot* at) const {
  std::vector<SubRange> plan;
  RELATE_RETURN_IF_ERROR(PlanFieldRange(collection, field, range, &plan));
  const size_t value_pos = FieldPrefix(collection, field).size();
  const rocksdb::Snapshot* snapshot = at != nullptr ? at->rep_->snapshot : nullptr;
  auto bad = [&](uint64_t after) {
    return Status::Corruption("an entry of field \"" + std::string(field) + "\" of collection id " +
                              std::to_string(collection) + " does not decode (after record id " +
                              std::to_string(after) + ")");
  };
  // One cursor per sub-range; integers and doubles are merged by value.
  struct Cursor {
    std::unique_ptr<RangeIterator> range;
    uint64_t id = 0;
    bool valid = false;
  };
  uint64_t last_id = 0;
  auto advance = [&](Cursor& c, bool first) -> Status {
    rocksdb::Iterator* it = c.range->it.get();
    if (first) {
      it->Seek(c.range->begin);
    } else {
      it->Next();
    }
    c.valid = it->Valid();
    if (!c.valid) return FromRocks(it->status(), "scanning field \"" + std::string(field) + "\"");
    if (!FieldEntryId(it->key(), value_pos, &c.id)) return bad(last_id);
    return Status::OK();
  };
  auto open = [&](const SubRange& r, Cursor* c) -> Status {
    c->range = std::make_unique<RangeIterator>(r.begin, r.end, snapshot);
    c->range->it = rep_->NewIterator(c->range->ro, kFields);
    return advance(*c, true);
  };
  for (size_t i = 0; i < plan.size(); ++i) {
    Cursor a, b;
    RELATE_RETURN_IF_ERROR(open(plan[i], &a));
    const bool merge =
        plan[i].tag == kFieldIntTag && i + 1 < plan.size() && plan[i + 1].tag == kFieldDoubleTag;
    if (merge) RELATE_RETURN_IF_ERROR(open(plan[++i], &b));
    while (a.valid || b.valid) {
      // The integer cursor goes first unless the double's value (or, at equal
      // values, its id) is smaller. NaN sorts after every integer.
      bool take_a = !b.valid;
      if (a.valid && b.valid) {
        const int64_t iv = ReadIntValue(a.range->it->key().data() + value_pos + 1);
        const double dv = ReadDoubleValue(b.range->it->key().data() + value_pos + 1);
        const int cmp = std::isnan(dv) ? -1 : CompareIntDouble(iv, dv);
        take_a = cmp < 0 || (cmp == 0 && a.id <= b.id);
      }
      Cursor& c = take_a ? a : b;
      last_id = c.id;
      if (!fn(c.id)) return Status::OK();
      RELATE_RETURN_IF_ERROR(advance(c, false));
    }
  }
  return Status::OK();
}

Result<uint64_t> Store::CountField(uint32_t collection, std::string_view field,
                                   const FieldRange& range, uint64_t limit) const {
  std::vector<SubRange> plan;
  RELATE_RETURN_IF_ERROR(PlanFieldRange(collection, field, range, &plan));
  uint64_t n = 0;
  for (const auto& r : plan) {
    if (n >= limit) break;
    RangeIterator ri(r.begin, r.end, nullptr);
    ri.ro.fill_cache = false;
    ri.it = rep_->NewIterator(ri.ro, kFields);
    for (ri.it->Seek(ri.begin); ri.it->Valid() && n < limit; ri.it->Next()) ++n;
    RELATE_RETURN_IF_ERROR(
        FromRocks(ri.it->status(), "counting field \"" + std::string(field) + "\""));
  }
  return n;
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
    if (key.size() != ri.begin.size() + 8 || !DecodePostingValue(ri.it->value(), &count, &length)) {
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

Result<ConsistencyReport> Store::CheckConsistency(bool fix, const TermsOf* terms) {
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
  auto put = [&](int family, const rocksdb::Slice& key, const rocksdb::Slice& value) -> Status {
    if (!fix) return Status::OK();
    RELATE_RETURN_IF_ERROR(FromRocks(wb.Put(rep_->cf(family), key, value), "building write batch"));
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
        Status why =
            id == 0 ? Status::Corruption("its key has a bad size")
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
                  (r.key.empty() ? "" : " (key \"" + r.key + "\")") +
                  " is lost: " + std::string(why.message()));
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
    // 4. Field entries and postings: each belongs to a record that stays, and
    // says what that record has (postings only when `terms` tells it).
    std::unordered_set<uint64_t> kept;
    for (const auto& [key, id] : owner) kept.insert(id);
    const bool check_terms = terms != nullptr && *terms && meta.spec.keyword_index;
    uint64_t text_docs = 0, text_terms = 0;
    {
      constexpr int kIndexFamilies[2] = {kFields, kPostings};
      const char* const kWhat[2] = {"field entries", "postings"};
      uint64_t* const kDangling[2] = {&report.dangling_entries, &report.dangling_postings};
      uint64_t* const kExtra[2] = {&report.extra_entries, &report.extra_postings};
      uint64_t* const kMissing[2] = {&report.missing_entries, &report.missing_postings};
      auto entry_id = [](int k, const rocksdb::Slice& key, uint64_t* id) {
        return k == 0 ? AnyFieldEntryId(key, id) : PostingId(key, id);
      };
      // Entries of each kept record, counted; the others go.
      std::unordered_map<uint64_t, uint32_t> actual[2];
      for (int k = 0; k < 2; ++k) {
        const int family = kIndexFamilies[k];
        uint64_t dangling = 0;
        std::set<uint64_t> sample;  // a few of the ids they point at
        std::unique_ptr<rocksdb::Iterator> it = rep_->NewIterator(ro, family);
        for (it->Seek(begin); it->Valid(); it->Next()) {
          uint64_t id = 0;
          uint32_t count = 0, length = 0;
          const bool decodes = entry_id(k, it->key(), &id);
          if (!decodes ||
              (k == 1 && !check_terms && !DecodePostingValue(it->value(), &count, &length))) {
            ++*kExtra[k];
            problem(name + ": an entry of " + kFamilyNames[family] +
                    (decodes ? " of record id " + std::to_string(id) : std::string()) +
                    " does not decode");
            RELATE_RETURN_IF_ERROR(remove(family, it->key()));
            continue;
          }
          if (!kept.count(id)) {
            ++dangling;
            if (sample.size() < 5) sample.insert(id);
            RELATE_RETURN_IF_ERROR(remove(family, it->key()));
            continue;
          }
          if (k == 1 && !meta.spec.keyword_index) {
            ++*kExtra[k];
            problem(name + ": record id " + std::to_string(id) +
                    " has a posting, but the collection has no keyword index");
            RELATE_RETURN_IF_ERROR(remove(family, it->key()));
            continue;
          }
          ++actual[k][id];
        }
        RELATE_RETURN_IF_ERROR(
            FromRocks(it->status(), std::string("scanning ") + kWhat[k] + " of " + name));
        if (dangling > 0) {
          *kDangling[k] += dangling;
          std::string ids;
          for (uint64_t id : sample) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
          problem(name + ": " + std::to_string(dangling) + " " + kWhat[k] +
                  " belong to no record (record ids " + ids +
                  (dangling > sample.size() ? ", ..." : "") + ")");
        }
      }
      // What each kept record should have, looked up; the ids that have more keep
      // the keys they should have, for the pass that removes the rest.
      std::unordered_map<uint64_t, std::unordered_set<std::string>> extras[2];
      const bool check[2] = {!meta.spec.filterable.empty() || !actual[0].empty(), check_terms};
      if (check[0] || check[1]) {
        std::unique_ptr<rocksdb::Iterator> it = rep_->NewIterator(ro, kRecords);
        std::vector<std::pair<std::string, std::string>> expected;  // key, value
        for (it->Seek(begin); it->Valid(); it->Next()) {
          const uint64_t id = it->key().size() == 12 ? ReadBigEndian64(it->key().data() + 4) : 0;
          if (!kept.count(id)) continue;
          StoredRecord r;
          RELATE_RETURN_IF_ERROR(
              DecodeRecord(std::string_view(it->value().data(), it->value().size()), &r)
                  .WithContext(name + ": record id " + std::to_string(id)));
          for (int k = 0; k < 2; ++k) {
            if (!check[k]) continue;
            expected.clear();
            if (k == 0) {
              for (auto& key : FieldEntryKeys(meta.id, id, meta.spec.filterable, r.metadata)) {
                expected.emplace_back(std::move(key), std::string());
              }
            } else {
              uint32_t length = 0;
              const std::vector<TermCount> counts = (*terms)(meta.id, r, &length);
              if (!counts.empty()) {
                ++text_docs;
                text_terms += length;
              }
              for (const auto& t : counts) {
                expected.emplace_back(PostingKey(meta.id, t.term, id),
                                      PostingValue(t.count, length));
              }
              std::sort(expected.begin(), expected.end(),
                        [](const auto& a, const auto& b) { return a.first < b.first; });
              expected.erase(
                  std::unique(expected.begin(), expected.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  expected.end());
            }
            const int family = kIndexFamilies[k];
            std::vector<rocksdb::Slice> keys;
            for (const auto& e : expected) keys.emplace_back(e.first);
            std::vector<rocksdb::PinnableSlice> values(keys.size());
            std::vector<rocksdb::Status> statuses(keys.size(), rocksdb::Status::NotFound());
            if (rep_->cf(family) != nullptr && !keys.empty()) {
              rep_->db->MultiGet(ro, rep_->cf(family), keys.size(), keys.data(), values.data(),
                                 statuses.data());
            }
            uint64_t found = 0, missing = 0;
            for (size_t i = 0; i < keys.size(); ++i) {
              if (!statuses[i].IsNotFound()) {
                RELATE_RETURN_IF_ERROR(
                    FromRocks(statuses[i], std::string("reading ") + kWhat[k] + " of " + name));
                ++found;
                if (values[i] == rocksdb::Slice(expected[i].second)) continue;
              }
              ++missing;
              RELATE_RETURN_IF_ERROR(put(family, keys[i], expected[i].second));
            }
            if (missing > 0) {
              *kMissing[k] += missing;
              problem(name + ": record id " + std::to_string(id) + " (key \"" + r.key +
                      "\") lacked " + std::to_string(missing) + " of its " +
                      std::to_string(keys.size()) + " " + kWhat[k] +
                      (k == 1 ? " (or had them wrong)" : ""));
            }
            auto a = actual[k].find(id);
            if (a != actual[k].end() && a->second > found) {
              auto& should = extras[k][id];
              for (auto& e : expected) should.insert(std::move(e.first));
            }
          }
        }
        RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning records of " + name));
      }
      // Entries of kept records that the records do not have.
      for (int k = 0; k < 2; ++k) {
        if (extras[k].empty()) continue;
        const int family = kIndexFamilies[k];
        std::unique_ptr<rocksdb::Iterator> it = rep_->NewIterator(ro, family);
        for (it->Seek(begin); it->Valid(); it->Next()) {
          uint64_t id = 0;
          if (!entry_id(k, it->key(), &id)) continue;  // removed above
          auto e = extras[k].find(id);
          if (e == extras[k].end() || e->second.count(it->key().ToString())) continue;
          ++*kExtra[k];
          problem(name + ": record id " + std::to_string(id) + " has " +
                  (k == 0 ? "a field entry of a value" : "a posting of a term") +
                  " it does not have");
          RELATE_RETURN_IF_ERROR(remove(family, it->key()));
        }
        RELATE_RETURN_IF_ERROR(
            FromRocks(it->status(), std::string("scanning ") + kWhat[k] + " of " + name));
      }
    }
    // 5. Counters: count, the next id, the newest change, the keyword statistics.
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
    if (check_terms) {
      fixed.text_docs = text_docs;
      fixed.text_terms = text_terms;
    }
    report.records += owner.size();
    if (fixed.count != meta.count || fixed.next_record_id != meta.next_record_id ||
        fixed.last_change != meta.last_change || fixed.text_docs != meta.text_docs ||
        fixed.text_terms != meta.text_terms) {
      ++report.recounted;
      std::string line = name + ": catalog said " + std::to_string(meta.count) + " records, " +
                         std::to_string(fixed.count) + " are whole";
      if (fixed.text_docs != meta.text_docs || fixed.text_terms != meta.text_terms) {
        line += "; it said " + std::to_string(meta.text_docs) + " texts of " +
                std::to_string(meta.text_terms) + " terms, the records have " +
                std::to_string(fixed.text_docs) + " of " + std::to_string(fixed.text_terms);
      }
      problem(std::move(line));
      if (fix) {
        RELATE_RETURN_IF_ERROR(
            FromRocks(wb.Put(rep_->cf(kCatalog), meta.spec.name, EncodeCollection(fixed)),
                      "building write batch"));
      }
    }
    RELATE_RETURN_IF_ERROR(flush());
  }
  ro.iterate_upper_bound = nullptr;
  // 6. Entries of collection ids the catalog does not have.
  for (int family : kCollectionFamilies) {
    std::unique_ptr<rocksdb::Iterator> it = rep_->NewIterator(ro, family);
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
      problem(std::to_string(n) + " entries of " + kFamilyNames[family] +
              " belong to collection id " + std::to_string(id) +
              ", which the catalog does not have");
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
    std::unique_ptr<rocksdb::Iterator> it = rep_->NewIterator(rocksdb::ReadOptions(), f);
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
