// Writes and reads by key: checking records, upserting and deleting them (one
// storage batch a call, committed before the index changes), Get and Count.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "query/db_impl.h"
#include "util/utf8.h"

namespace relate::query {

Status CheckRecordVector(const CollectionSpec& spec, std::span<const float> vector) {
  Status s = index::CheckVector(vector, spec.dimension, spec.metric);
  if (s.ok() || vector.size() == spec.dimension || vector.empty()) return s;
  return Status::InvalidArgument("vector has " + std::to_string(vector.size()) +
                                 " values, collection " + Quote(spec.name) + " expects " +
                                 std::to_string(spec.dimension));
}

Status CheckName(std::string_view name, const std::string& what) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(what + " must have 1 to " + std::to_string(kMaxNameBytes) +
                                   " bytes");
  }
  if (const auto at = util::InvalidUtf8At(name)) {
    return Status::InvalidArgument(what + " is not valid UTF-8 (byte " + std::to_string(*at) + ")");
  }
  return Status::OK();
}

Status CheckRecordStrings(const Record& record) {
  auto check = [](std::string_view s, const std::string& what) {
    const auto at = util::InvalidUtf8At(s);
    if (!at) return Status::OK();
    return Status::InvalidArgument(what + " is not valid UTF-8 (byte " + std::to_string(*at) +
                                   " of " + std::to_string(s.size()) + ")");
  };
  RELATE_RETURN_IF_ERROR(check(record.key, "the key"));
  RELATE_RETURN_IF_ERROR(check(record.text, "the text"));
  for (const auto& [name, value] : record.metadata) {
    RELATE_RETURN_IF_ERROR(check(name, "a metadata field name"));
    const std::string what = "metadata field " + Quote(name);
    if (const auto* str = std::get_if<std::string>(&value)) {
      RELATE_RETURN_IF_ERROR(check(*str, what));
    } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
      for (const auto& item : *list) RELATE_RETURN_IF_ERROR(check(item, what));
    }
  }
  return Status::OK();
}

Status DBImpl::CommitLocked(Collection& c, storage::Batch& batch,
                            const storage::CollectionMeta& meta, const WriteOptions& options,
                            const std::string& where, std::span<const uint64_t> remove,
                            std::span<const uint64_t> add_ids, std::span<const float> add_vectors,
                            const std::function<void()>& under_index_lock) {
  batch.PutCollection(meta);
  RELATE_RETURN_IF_ERROR(store_->Write(batch, options.sync).WithContext(where));
  c.SetCounters(meta);
  Status applied;
  {
    IndexWriteLock lock(&c.index_mu);
    applied = c.index->Remove(remove).error();
    if (applied.ok()) applied = c.index->Add(add_ids, add_vectors);
    if (under_index_lock) under_index_lock();
  }
  if (!applied.ok()) {
    // Storage has the write; make the index agree with it again.
    RELATE_RETURN_IF_ERROR(
        RebuildIndex(c, "updating its index failed (" + applied.ToString() + ")"));
  }
  MaybeScheduleRebuild(c.shared_from_this());
  return Status::OK();
}

Status DBImpl::Upsert(std::string_view collection, std::span<const Record> records,
                      const WriteOptions& options) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const CollectionSpec spec = c->Meta().spec;
  const std::string where = "upsert into " + Quote(collection);
  if (records.empty()) return Status::OK();

  // Records without a vector get the vector of their text from the model, on
  // every core: embedding costs far more than storing.
  std::vector<size_t> to_embed;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].vector.empty()) continue;
    if (spec.model.empty()) {
      return Status::InvalidArgument(where + ": record " + std::to_string(i) + " (key " +
                                     Quote(records[i].key) +
                                     ") has no vector, and the collection has no model to "
                                     "embed its text");
    }
    to_embed.push_back(i);
  }
  std::vector<Record> embedded;
  const std::span<const Record> given = records;
  const uint64_t generation = c->generation.load();
  if (!to_embed.empty()) {
    RELATE_ASSIGN_OR_RETURN(EmbedderHandle embedder, EmbedderFor(*c));
    embedded.assign(records.begin(), records.end());
    std::vector<Status> errors(to_embed.size());
    const std::vector<float> component = c->Component();
    const auto n = static_cast<int64_t>(to_embed.size());
#pragma omp parallel for schedule(dynamic, 16) if (n >= 64)
    for (int64_t j = 0; j < n; ++j) {
      Record& r = embedded[to_embed[static_cast<size_t>(j)]];
      auto vector = embedder->Embed(r.text, component);
      if (vector) {
        r.vector = std::move(*vector);
      } else {
        errors[static_cast<size_t>(j)] = vector.error();
      }
    }
    for (size_t j = 0; j < errors.size(); ++j) {
      if (errors[j].ok()) continue;
      const size_t i = to_embed[j];
      return errors[j].WithContext(where + ": record " + std::to_string(i) + " (key " +
                                   Quote(records[i].key) + ")");
    }
    records = embedded;
  }

  // Validate and prepare outside the write lock. A key given twice keeps its last record.
  std::unordered_map<std::string_view, size_t> last;
  last.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (r.key.empty()) {
      return Status::InvalidArgument(where + ": record " + std::to_string(i) + " has an empty key");
    }
    Status s = CheckRecordStrings(r);
    if (s.ok()) s = CheckRecordVector(spec, r.vector);
    if (!s.ok()) {
      return s.WithContext(where + ": record " + std::to_string(i) + " (key " + Quote(r.key) + ")");
    }
    last[r.key] = i;
  }
  std::vector<size_t> order;
  order.reserve(last.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (last[records[i].key] == i) order.push_back(i);
  }
  std::vector<float> prepared(order.size() * spec.dimension);
  for (size_t j = 0; j < order.size(); ++j) {
    std::copy(records[order[j]].vector.begin(), records[order[j]].vector.end(),
              prepared.begin() + static_cast<ptrdiff_t>(j * spec.dimension));
  }
  index::PrepareVectors(spec.metric, spec.dimension, prepared);
  std::vector<std::string_view> keys;
  keys.reserve(order.size());
  for (size_t i : order) keys.push_back(records[i].key);
  // Keyword terms are worked out before the write lock: tokenizing is most of
  // a keyword-indexed write's own work.
  std::vector<TextTerms> terms(order.size());
  for (size_t j = 0; j < order.size(); ++j) {
    auto t = TextTermsFor(spec, records[order[j]].text);
    if (!t) {
      return t.error().WithContext(where + ": record " + std::to_string(order[j]) + " (key " +
                                   Quote(records[order[j]].key) + ")");
    }
    terms[j] = std::move(*t);
  }

  util::MutexLock write(&write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  if (!to_embed.empty() && c->generation.load() != generation) {
    // ApplyModel or FitSifComponent changed how texts embed meanwhile: start over.
    write.Unlock();
    return Upsert(collection, given, options);
  }
  // A collection whose stored index spec this version refuses takes no writes:
  // storage is left as it was.
  {
    IndexReadLock index(&c->index_mu);
    RELATE_RETURN_IF_ERROR(c->index->CheckUsable().WithContext(where));
  }
  storage::CollectionMeta meta = c->Meta();
  RELATE_ASSIGN_OR_RETURN(auto existing, store_->LookupKeys(meta.id, keys));
  storage::Batch batch(*store_);
  RELATE_RETURN_IF_ERROR(DeleteOldSearchEntries(*c, batch, existing, meta).WithContext(where));
  std::vector<uint64_t> ids(order.size());
  std::vector<uint64_t> replaced;
  for (size_t j = 0; j < order.size(); ++j) {
    const Record& r = records[order[j]];
    uint64_t version = 1;
    if (existing[j]) {
      ids[j] = existing[j]->id;
      version = existing[j]->version + 1;
      replaced.push_back(ids[j]);
    } else {
      ids[j] = meta.next_record_id++;
      ++meta.count;
    }
    batch.PutRecord(meta.id, ids[j], version, r);
    PutSearchEntries(*c, batch, ids[j], r, terms[j], meta);
    batch.PutChange(meta.id, ++meta.last_change, ids[j]);
  }
  RELATE_RETURN_IF_ERROR(CommitLocked(*c, batch, meta, options, where, replaced, ids, prepared));
  return MaybeCheckpointLocked(*c);
}

Result<size_t> DBImpl::Delete(std::string_view collection, std::span<const std::string> keys,
                              const WriteOptions& options) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const std::string where = "delete from " + Quote(collection);
  std::vector<std::string_view> views(keys.begin(), keys.end());

  util::MutexLock write(&write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  {
    IndexReadLock index(&c->index_mu);
    RELATE_RETURN_IF_ERROR(c->index->CheckUsable().WithContext(where));
  }
  storage::CollectionMeta meta = c->Meta();
  RELATE_ASSIGN_OR_RETURN(auto existing, store_->LookupKeys(meta.id, views));
  storage::Batch batch(*store_);
  std::vector<uint64_t> removed;
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (existing[i] && seen.contains(existing[i]->id)) existing[i].reset();  // a key given twice
    if (existing[i]) seen.insert(existing[i]->id);
  }
  RELATE_RETURN_IF_ERROR(DeleteOldSearchEntries(*c, batch, existing, meta).WithContext(where));
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!existing[i]) continue;
    removed.push_back(existing[i]->id);
    batch.DeleteRecord(meta.id, existing[i]->id, keys[i]);
    batch.PutChange(meta.id, ++meta.last_change, existing[i]->id);
    --meta.count;
  }
  if (removed.empty()) return size_t{0};
  RELATE_RETURN_IF_ERROR(CommitLocked(*c, batch, meta, options, where, removed, {}, {}));
  RELATE_RETURN_IF_ERROR(MaybeCheckpointLocked(*c));
  return removed.size();
}

Result<StoredRecord> DBImpl::Get(std::string_view collection, std::string_view key) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const uint32_t id = c->meta.id;
  RELATE_ASSIGN_OR_RETURN(auto entries, store_->LookupKeys(id, std::span(&key, 1)));
  if (entries[0]) {
    uint64_t rid = entries[0]->id;
    RELATE_ASSIGN_OR_RETURN(auto records, store_->GetRecords(id, std::span(&rid, 1), true));
    if (records[0]) return std::move(*records[0]);
  }
  return Status::NotFound("no record with key " + Quote(key) + " in collection " +
                          Quote(collection));
}

Result<uint64_t> DBImpl::Count(std::string_view collection) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  return c->Meta().count;
}

}  // namespace relate::query

namespace relate {

Status ValidateVector(const CollectionSpec& spec, std::span<const float> vector) {
  return query::CheckRecordVector(spec, vector);
}

}  // namespace relate
