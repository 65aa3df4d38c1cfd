// Batch: writes gathered for one atomic Store::Write.
#include <rocksdb/slice.h>

#include "storage/codec.h"
#include "storage/keys.h"
#include "storage/store_internal.h"

namespace relate::storage {

Batch::Batch(const Store& store) : rep_(std::make_unique<Rep>()) {
  rep_->handles = &store.rep_->handles;
}

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

}  // namespace relate::storage
