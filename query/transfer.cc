// DB::Export and DB::Import: a database, or some of its collections with the
// model versions they are bound to, as a stream of frames (storage/transfer.h;
// the format is described in storage/EXPORT_FORMAT.md).
//
// Export reads one storage snapshot, taken together with a copy of the
// catalog under the writer lock: the stream is the database at one moment,
// while writes go on. (A read-only handle reads its own view instead, and
// does not catch up with the writer until the export is done.) Collections come in name order,
// models in (name, version) order and before every collection, records in id order, model data as
// stored; nothing in the stream depends on internal ids or (unless asked) the time, so the same
// data gives the same bytes.
//
// Import writes what it reads under fresh collection and model ids that no
// catalog entry names yet, so no call sees any of it. Only after the end frame
// has checked out (counts, checksum, nothing after it) does one batch write
// every catalog entry, and all the imported collections and models appear
// together. A failure before that removes what was written; if the process
// dies instead, the next Open removes the model data and the next Import the
// collection data (nothing else writes under ids without a catalog entry).
// An imported collection has no change log: its index is built from its
// records and checkpointed at last_change = its record count, and a missing
// checkpoint makes Open rebuild it from storage, as for any collection.
#include "storage/transfer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "embed/pooling.h"
#include "query/db_impl.h"
#include "query/model_codec.h"

#ifndef RELATE_VERSION
#define RELATE_VERSION "unknown"
#endif

namespace relate::query {
namespace {

// As CreateCollection allows.
constexpr uint32_t kMaxDimension = 65536;
// Bytes of records or model data per write batch of an import.
constexpr size_t kImportBatchBytes = 32 << 20;
// Import progress is reported at least this often, in stream bytes.
constexpr uint64_t kProgressBytes = 64 << 20;

bool AllFinite(std::string_view float_bytes) {
  const size_t n = float_bytes.size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    float x;
    std::memcpy(&x, float_bytes.data() + i * sizeof(float), sizeof(float));
    if (!std::isfinite(x)) return false;
  }
  return true;
}

}  // namespace

Result<TransferReport> DBImpl::Export(const ExportOptions& options, std::ostream& out) {
  const std::string where = "export";
  std::vector<storage::CollectionMeta> collections;
  std::vector<storage::ModelMeta> models;
  // A writer reads a snapshot; a read-only handle's view does not move.
  std::unique_ptr<storage::StoreSnapshot> snapshot;
  {
    // No write runs while the catalog is copied and the snapshot taken, so
    // the two agree.
    util::MutexLock write(&write_mu_);
    util::SharedLock lock(&catalog_mu_);
    std::set<std::pair<std::string, uint64_t>> wanted_models;
    if (options.collections.empty()) {
      for (const auto& [_, c] : collections_) collections.push_back(c->Meta());
      for (const auto& [_, versions] : models_) {
        for (const auto& [_, entry] : versions) models.push_back(entry->meta);
      }
    } else {
      const std::set<std::string, std::less<>> names(options.collections.begin(),
                                                     options.collections.end());
      for (const auto& name : names) {
        auto it = collections_.find(name);
        if (it == collections_.end()) {
          return Status::NotFound(where + ": no collection named " + Quote(name));
        }
        collections.push_back(it->second->Meta());
        const auto& meta = collections.back();
        if (meta.spec.model.empty()) continue;
        if (!wanted_models.emplace(meta.spec.model, meta.model_version).second) continue;
        const storage::ModelMeta* bound = nullptr;
        if (auto m = models_.find(meta.spec.model); m != models_.end()) {
          if (auto v = m->second.find(meta.model_version); v != m->second.end()) {
            bound = &v->second->meta;
          }
        }
        if (bound == nullptr) {
          return Status::Internal(where + ": collection " + Quote(name) + " is bound to model " +
                                  Quote(meta.spec.model) + " version " +
                                  std::to_string(meta.model_version) +
                                  ", which the database does not have");
        }
        models.push_back(*bound);
      }
      std::sort(models.begin(), models.end(), [](const auto& a, const auto& b) {
        return std::tie(a.info.name, a.info.version) < std::tie(b.info.name, b.info.version);
      });
    }
    if (!store_->read_only()) snapshot = store_->TakeSnapshot();
  }

  storage::ExportWriter writer(out);
  TransferReport report;
  auto progress = [&] {
    report.bytes = writer.bytes();
    if (options.progress) options.progress(report);
  };
  RELATE_RETURN_IF_ERROR(
      writer
          .Write(storage::ExportHeader{.relate_version = RELATE_VERSION,
                                       .created_unix_ms = options.created_unix_ms})
          .WithContext(where));
  for (const auto& meta : models) {
    const std::string what = where + ": model " + Quote(meta.info.name) + " version " +
                             std::to_string(meta.info.version);
    RELATE_RETURN_IF_ERROR(writer.Write(meta).WithContext(what));
    RELATE_RETURN_IF_ERROR(
        store_
            ->ScanModelData(meta.id, snapshot.get(),
                            [&](char part, uint32_t chunk, std::string_view b) {
                              return writer.Write(storage::ExportModelChunk{
                                  .part = part, .chunk = chunk, .data = std::string(b)});
                            })
            .WithContext(what));
    ++report.models;
    progress();
  }
  for (uint32_t ordinal = 0; ordinal < collections.size(); ++ordinal) {
    const auto& meta = collections[ordinal];
    const std::string what = where + ": collection " + Quote(meta.spec.name);
    RELATE_RETURN_IF_ERROR(writer.Write(meta).WithContext(what));
    uint64_t written = 0;
    RELATE_RETURN_IF_ERROR(store_
                               ->ScanRecords(
                                   meta.id, true,
                                   [&](StoredRecord&& r) {
                                     ++written;
                                     return writer.Write(storage::ExportRecord{
                                         .collection = ordinal, .record = std::move(r)});
                                   },
                                   snapshot.get())
                               .WithContext(what));
    if (written != meta.count) {
      return Status::Corruption(what + ": the catalog counts " + std::to_string(meta.count) +
                                " records, storage holds " + std::to_string(written) +
                                "; the stream written is incomplete");
    }
    ++report.collections;
    report.records += written;
    progress();
  }
  RELATE_RETURN_IF_ERROR(writer.Finish().WithContext(where));
  report.bytes = writer.bytes();
  return report;
}

// Reads an export stream into ids no catalog entry names, checking every frame,
// then commits the catalog entries in one write (see the top of this file).
class DBImpl::Importer {
 public:
  Importer(DBImpl& db, std::istream& in, const ImportOptions& options)
      : db_(db), reader_(in), options_(options) {}

  Result<TransferReport> Run() {
    Status s = ReadAll();
    if (s.ok()) s = Commit();
    if (!s.ok() && !committed_) {
      Status cleaned = db_.store_->DeleteData(collection_ids_, model_ids_);
      if (!cleaned.ok()) {
        db_.Log("import: removing what the failed import wrote failed (" + cleaned.ToString() +
                "); the next import removes it");
      }
      return s.WithContext("import");
    }
    if (!s.ok()) return s.WithContext("import");
    report_.bytes = reader_.bytes();
    return report_;
  }

 private:
  // A collection read from the stream: its object (made visible at commit)
  // and where its frame was.
  struct Imported {
    std::shared_ptr<Collection> c;
    std::string where;
  };

  Status Fail(std::string_view what) const {
    return Status::InvalidArgument(reader_.Where() + ": " + std::string(what));
  }

  void Progress(bool force) {
    if (!options_.progress) return;
    if (!force && reader_.bytes() < last_progress_ + kProgressBytes) return;
    last_progress_ = reader_.bytes();
    TransferReport r = report_;
    r.bytes = reader_.bytes();
    options_.progress(r);
  }

  Status Flush() {
    if (batch_->ByteSize() == 0) return Status::OK();
    RELATE_RETURN_IF_ERROR(db_.store_->Write(*batch_, false));
    batch_ = std::make_unique<storage::Batch>(*db_.store_);
    batch_keys_.clear();
    batch_key_frames_.clear();
    return Status::OK();
  }

  Status ReadAll() {
    // Leftovers of imports that did not finish: no catalog entry names them,
    // and no one else writes under such ids.
    {
      util::MutexLock write(&db_.write_mu_);
      std::vector<uint32_t> live;
      {
        util::SharedLock lock(&db_.catalog_mu_);
        for (const auto& [_, c] : db_.collections_) live.push_back(c->meta.id);
      }
      RELATE_RETURN_IF_ERROR(db_.store_->DeleteCollectionDataExcept(live));
    }
    batch_ = std::make_unique<storage::Batch>(*db_.store_);
    for (bool ended = false; !ended;) {
      auto frame = reader_.Next();
      if (!frame) {
        if (!header_seen_) {
          return frame.error().WithContext("is it a relate export? the first frame");
        }
        return frame.error();
      }
      if (!header_seen_ && frame->index() != 0) {
        return Fail("the stream does not start with a header frame: it is not a relate export");
      }
      RELATE_RETURN_IF_ERROR(std::visit(
          [&](auto& f) -> Status {
            using T = std::decay_t<decltype(f)>;
            if constexpr (std::is_same_v<T, storage::ExportHeader>) {
              return OnHeader(f);
            } else if constexpr (std::is_same_v<T, storage::ModelMeta>) {
              return OnModel(std::move(f));
            } else if constexpr (std::is_same_v<T, storage::ExportModelChunk>) {
              return OnModelChunk(f);
            } else if constexpr (std::is_same_v<T, storage::CollectionMeta>) {
              return OnCollection(std::move(f));
            } else if constexpr (std::is_same_v<T, storage::ExportRecord>) {
              return OnRecord(std::move(f));
            } else {
              ended = true;
              RELATE_RETURN_IF_ERROR(FinishModel());
              return FinishCollection();
            }
          },
          *frame));
      Progress(false);
    }
    return Flush();
  }

  Status OnHeader(const storage::ExportHeader& h) {
    if (header_seen_) return Fail("a second header frame: frames are out of order");
    header_seen_ = true;
    if (h.magic != storage::kExportMagic) {
      return Fail("the header's magic is \"" + h.magic + "\", not \"" +
                  std::string(storage::kExportMagic) + "\": it is not a relate export");
    }
    if (h.format_version != storage::kExportFormatVersion) {
      return Fail("the stream has format version " + std::to_string(h.format_version) +
                  " (written by relate " + h.relate_version + "); this relate reads version " +
                  std::to_string(storage::kExportFormatVersion));
    }
    return Status::OK();
  }

  Status OnModel(storage::ModelMeta meta) {
    if (!collections_.empty()) {
      return Fail(
          "a model frame after a collection frame: frames are out of order (models "
          "come first)");
    }
    RELATE_RETURN_IF_ERROR(FinishModel());
    const ModelInfo& info = meta.info;
    const std::string what =
        "model " + Quote(info.name) + " version " + std::to_string(info.version);
    if (Status s = CheckName(info.name, "a model name"); !s.ok()) return Fail(s.message());
    if (auto existing = db_.FindModel(info.name)) {
      return Status::AlreadyExists(reader_.Where() + ": " + what + ": the database has a model " +
                                   Quote(info.name) + " (version " +
                                   std::to_string((*existing)->meta.info.version) +
                                   "); drop it, or import into another database");
    }
    if (info.version == 0) return Fail(what + ": versions count from 1");
    if (!model_versions_.emplace(std::make_pair(info.name, info.version), models_.size()).second) {
      return Fail(what + " comes twice");
    }
    if (info.dimension == 0 || info.dimension > kMaxDimension) {
      return Fail(what + ": dimension " + std::to_string(info.dimension) + " is not 1 to " +
                  std::to_string(kMaxDimension));
    }
    if (info.words == 0) return Fail(what + ": it has no words");
    if (auto a = embed::ParseActivation(info.activation); !a) {
      return Fail(what + ": " + std::string(a.error().message()));
    }
    if (info.pooling != "mean" && info.pooling != "sif") {
      return Fail(what + ": unknown pooling \"" + info.pooling + "\"; expected mean or sif");
    }
    if (!(info.sif_a > 0) || !std::isfinite(info.sif_a)) {
      return Fail(what + ": sif_a must be positive");
    }
    RELATE_ASSIGN_OR_RETURN(meta.id, AllocateId(true));
    models_.push_back(std::move(meta));
    model_where_ = reader_.Where();
    model_open_ = true;
    last_part_ = 0;
    last_chunk_ = 0;
    any_chunk_ = false;
    return Status::OK();
  }

  Status OnModelChunk(const storage::ExportModelChunk& chunk) {
    if (!model_open_) {
      return Fail("a model chunk frame that follows no model frame: frames are out of order");
    }
    const storage::ModelMeta& meta = models_.back();
    const std::string what =
        "model " + Quote(meta.info.name) + " version " + std::to_string(meta.info.version);
    const char part = chunk.part;
    if (part != kPartWords && part != kPartRows && part != kPartBuckets && part != kPartLabels) {
      return Fail(what + ": unknown data part " + std::to_string(static_cast<int>(part)));
    }
    if (any_chunk_ &&
        std::make_pair(part, chunk.chunk) <= std::make_pair(last_part_, last_chunk_)) {
      return Fail(what + ": chunk " + std::string(1, part) + std::to_string(chunk.chunk) +
                  " comes after " + std::string(1, last_part_) + std::to_string(last_chunk_) +
                  ": frames are out of order");
    }
    any_chunk_ = true;
    last_part_ = part;
    last_chunk_ = chunk.chunk;
    if (part == kPartRows || part == kPartBuckets) {
      const size_t row_bytes = static_cast<size_t>(meta.info.dimension) * sizeof(float);
      if (chunk.data.size() % row_bytes != 0) {
        return Fail(what + ": a chunk of " + std::to_string(chunk.data.size()) +
                    " bytes is not whole rows of " + std::to_string(meta.info.dimension) +
                    " values");
      }
      if (!AllFinite(chunk.data)) return Fail(what + ": a row holds a NaN or infinity");
    }
    batch_->PutModelChunk(meta.id, part, chunk.chunk, chunk.data);
    if (batch_->ByteSize() >= kImportBatchBytes) RELATE_RETURN_IF_ERROR(Flush());
    return Status::OK();
  }

  // Checks that the model just read loads as the database will load it.
  Status FinishModel() {
    if (!model_open_) return Status::OK();
    model_open_ = false;
    RELATE_RETURN_IF_ERROR(Flush());
    const storage::ModelMeta& meta = models_.back();
    ModelEntry entry;
    entry.meta = meta;
    auto loaded = db_.LoadModel(entry);
    if (loaded) {
      auto embedder = MakeEmbedder(**loaded);
      if (!embedder) loaded = embedder.error();
    }
    if (!loaded) {
      return Status::InvalidArgument(
          model_where_ + ": model " + Quote(meta.info.name) + " version " +
          std::to_string(meta.info.version) +
          ": its data does not load: " + std::string(loaded.error().message()));
    }
    ++report_.models;
    Progress(true);
    return Status::OK();
  }

  Status OnCollection(storage::CollectionMeta meta) {
    RELATE_RETURN_IF_ERROR(FinishModel());
    RELATE_RETURN_IF_ERROR(FinishCollection());
    CollectionSpec& spec = meta.spec;
    const std::string what = "collection " + Quote(spec.name);
    if (Status s = CheckName(spec.name, "a collection name"); !s.ok()) return Fail(s.message());
    if (db_.Find(spec.name)) {
      return Status::AlreadyExists(reader_.Where() + ": " + what +
                                   " exists in the database; drop it, or import into another "
                                   "database");
    }
    if (!collection_names_.insert(spec.name).second) return Fail(what + " comes twice");
    if (spec.dimension == 0 || spec.dimension > kMaxDimension) {
      return Fail(what + ": dimension " + std::to_string(spec.dimension) + " is not 1 to " +
                  std::to_string(kMaxDimension));
    }
    if (spec.model.empty()) {
      if (meta.model_version != 0 || !meta.sif_component.empty()) {
        return Fail(what + ": it has no model but a model version or SIF component");
      }
    } else {
      auto m = model_versions_.find(std::make_pair(spec.model, meta.model_version));
      if (m == model_versions_.end()) {
        return Fail(what + " is bound to model " + Quote(spec.model) + " version " +
                    std::to_string(meta.model_version) +
                    ", which the stream does not hold before it");
      }
      const ModelInfo& model = models_[m->second].info;
      if (model.dimension != spec.dimension) {
        return Fail(what + ": dimension " + std::to_string(spec.dimension) +
                    " differs from model " + Quote(spec.model) + "'s " +
                    std::to_string(model.dimension));
      }
      if (!meta.sif_component.empty() && model.pooling != "sif") {
        return Fail(what + ": a SIF component, but model " + Quote(spec.model) + " pools with " +
                    model.pooling);
      }
    }
    if (!meta.sif_component.empty()) {
      if (meta.sif_component.size() != spec.dimension) {
        return Fail(what + ": its SIF component has " + std::to_string(meta.sif_component.size()) +
                    " values, not " + std::to_string(spec.dimension));
      }
      for (float x : meta.sif_component) {
        if (!std::isfinite(x)) return Fail(what + ": its SIF component holds a NaN or infinity");
      }
    }
    auto index = index::VectorIndex::Create(spec.dimension, spec.metric, spec.index_spec);
    if (!index) return Fail(what + ": " + std::string(index.error().message()));
    if (spec.index_spec != "auto") spec.index_spec = (*index)->spec();
    if (Status s = CheckKnobs(meta.knobs, 1); !s.ok()) {
      return Fail(what + ": " + std::string(s.message()));
    }
    if (meta.next_record_id == 0) return Fail(what + ": next_record_id is 0");
    RELATE_ASSIGN_OR_RETURN(meta.id, AllocateId(false));
    meta.last_change = meta.count;
    auto c = std::make_shared<Collection>();
    c->meta = std::move(meta);
    collections_.push_back({std::move(c), reader_.Where()});
    collection_open_ = true;
    records_read_ = 0;
    last_id_ = 0;
    return Status::OK();
  }

  Status OnRecord(storage::ExportRecord r) {
    if (!collection_open_) {
      return Fail("a record frame that follows no collection frame: frames are out of order");
    }
    const uint32_t ordinal = static_cast<uint32_t>(collections_.size() - 1);
    if (r.collection != ordinal) {
      return Fail("a record of collection frame " + std::to_string(r.collection) +
                  " among those of collection frame " + std::to_string(ordinal) +
                  ": frames are out of order");
    }
    Collection& imported = *collections_.back().c;
    storage::CollectionMeta& meta = imported.meta;
    StoredRecord& rec = r.record;
    const std::string what = "collection " + Quote(meta.spec.name) + ": record " + Quote(rec.key);
    if (rec.key.empty()) return Fail("collection " + Quote(meta.spec.name) + ": an empty key");
    if (rec.id <= last_id_) {
      return Fail(what + ": id " + std::to_string(rec.id) + " does not follow id " +
                  std::to_string(last_id_) + ": frames are out of order");
    }
    if (rec.id >= meta.next_record_id) {
      return Fail(what + ": id " + std::to_string(rec.id) + " is not below the collection's " +
                  "next_record_id " + std::to_string(meta.next_record_id));
    }
    if (rec.version == 0) return Fail(what + ": version 0 (versions count from 1)");
    if (Status s =
            CheckRecordStrings(Record{.key = rec.key, .text = rec.text, .metadata = rec.metadata});
        !s.ok()) {
      return Fail(what + ": " + std::string(s.message()));
    }
    if (Status s = CheckRecordVector(meta.spec, rec.vector); !s.ok()) {
      return Fail(what + ": " + std::string(s.message()));
    }
    if (++records_read_ > meta.count) {
      return Fail("collection " + Quote(meta.spec.name) + ": more records than the " +
                  std::to_string(meta.count) + " its frame announces");
    }
    if (!batch_keys_.emplace(rec.key, batch_key_frames_.size()).second) {
      return Fail(what + ": the key comes twice");
    }
    batch_key_frames_.push_back(reader_.Where());
    last_id_ = rec.id;
    const Record record{.key = std::move(rec.key),
                        .text = std::move(rec.text),
                        .metadata = std::move(rec.metadata),
                        .vector = std::move(rec.vector)};
    batch_->PutRecord(meta.id, rec.id, rec.version, record);
    RELATE_ASSIGN_OR_RETURN(TextTerms terms, TextTermsFor(meta.spec, record.text));
    db_.PutSearchEntries(imported, *batch_, rec.id, record, terms, meta);
    ++report_.records;
    if (batch_->ByteSize() >= kImportBatchBytes) RELATE_RETURN_IF_ERROR(FlushRecords());
    return Status::OK();
  }

  // Flushes a batch of records after checking that no earlier batch of the
  // collection had one of their keys.
  Status FlushRecords() {
    if (!collection_open_ || batch_keys_.empty()) return Flush();
    const storage::CollectionMeta& meta = collections_.back().c->meta;
    std::vector<std::string_view> keys;
    std::vector<size_t> frames;
    keys.reserve(batch_keys_.size());
    for (const auto& [key, frame] : batch_keys_) {
      keys.push_back(key);
      frames.push_back(frame);
    }
    RELATE_ASSIGN_OR_RETURN(auto found, db_.store_->LookupKeys(meta.id, keys));
    for (size_t i = 0; i < keys.size(); ++i) {
      if (found[i]) {
        return Status::InvalidArgument(batch_key_frames_[frames[i]] + ": collection " +
                                       Quote(meta.spec.name) + ": record " + Quote(keys[i]) +
                                       ": the key comes twice");
      }
    }
    return Flush();
  }

  // Checks that the collection just read had the records its frame announced.
  Status FinishCollection() {
    if (!collection_open_) return Status::OK();
    RELATE_RETURN_IF_ERROR(FlushRecords());
    collection_open_ = false;
    const Imported& imported = collections_.back();
    const storage::CollectionMeta& meta = imported.c->meta;
    if (records_read_ != meta.count) {
      return Status::InvalidArgument(imported.where + ": collection " + Quote(meta.spec.name) +
                                     ": the frame announces " + std::to_string(meta.count) +
                                     " records, " + std::to_string(records_read_) + " follow it");
    }
    ++report_.collections;
    Progress(true);
    return Status::OK();
  }

  // The next model (or collection) id, taken for data no catalog entry names
  // yet and remembered, so that a failed import removes what it wrote under it.
  Result<uint32_t> AllocateId(bool model) {
    util::MutexLock write(&db_.write_mu_);
    RELATE_ASSIGN_OR_RETURN(uint32_t id,
                            model ? db_.store_->NextModelId() : db_.store_->NextCollectionId());
    storage::Batch batch(*db_.store_);
    if (model) {
      batch.PutNextModelId(id + 1);
    } else {
      batch.PutNextCollectionId(id + 1);
    }
    RELATE_RETURN_IF_ERROR(db_.store_->Write(batch, false));
    (model ? model_ids_ : collection_ids_).push_back(id);
    return id;
  }

  // Builds the indexes, then makes every collection and model visible in one write.
  Status Commit() {
    for (auto& imported : collections_) {
      Collection& c = *imported.c;
      auto built = db_.BuildFromStorage(c, nullptr, nullptr);
      if (!built) {
        return built.error().WithContext("collection " + Quote(c.meta.spec.name) +
                                         ": building its index");
      }
      if ((*built)->size() != c.meta.count) {
        return Status::Internal("collection " + Quote(c.meta.spec.name) + ": its index holds " +
                                std::to_string((*built)->size()) + " vectors, not " +
                                std::to_string(c.meta.count));
      }
      const index::IndexStats st = (*built)->Stats();
      {
        IndexWriteLock lock(&c.index_mu);
        c.index = std::move(*built);
      }
      if (st.trains && st.trained) {
        util::MutexLock meta(&c.meta_mu);
        c.trained_rows = st.live;
      }
    }

    util::MutexLock write(&db_.write_mu_);
    storage::Batch batch(*db_.store_);
    {
      util::SharedLock lock(&db_.catalog_mu_);
      // Checked again: a collection or model of the name may have been made meanwhile.
      for (const auto& imported : collections_) {
        const std::string& name = imported.c->meta.spec.name;
        if (db_.collections_.count(name)) {
          return Status::AlreadyExists(imported.where + ": collection " + Quote(name) +
                                       " was created in the database during the import");
        }
        batch.PutCollection(imported.c->meta);
      }
      for (const auto& meta : models_) {
        if (db_.models_.count(meta.info.name)) {
          return Status::AlreadyExists("model " + Quote(meta.info.name) +
                                       " was created in the database during the import");
        }
        batch.PutModel(meta);
      }
    }
    RELATE_RETURN_IF_ERROR(db_.store_->Write(batch, true));
    committed_ = true;
    {
      util::ExclusiveLock lock(&db_.catalog_mu_);
      for (const auto& meta : models_) {
        auto entry = std::make_shared<ModelEntry>();
        entry->meta = meta;
        db_.models_[meta.info.name][meta.info.version] = std::move(entry);
      }
      for (const auto& imported : collections_) {
        db_.collections_.emplace(imported.c->meta.spec.name, imported.c);
      }
    }
    for (const auto& imported : collections_) {
      Collection& c = *imported.c;
      // The import stands without it: Open rebuilds a missing checkpoint.
      if (Status s = db_.CheckpointLocked(c); !s.ok()) {
        db_.Log("import: collection " + Quote(c.meta.spec.name) +
                ": writing its index checkpoint failed: " + s.ToString());
      }
      db_.MaybeScheduleRebuild(imported.c);
    }
    return Status::OK();
  }

  DBImpl& db_;
  storage::ExportReader reader_;
  const ImportOptions& options_;
  TransferReport report_;
  uint64_t last_progress_ = 0;
  bool header_seen_ = false;
  bool committed_ = false;
  std::unique_ptr<storage::Batch> batch_;
  // Ids written under, removed again if the import fails.
  std::vector<uint32_t> collection_ids_, model_ids_;

  // Models read, with their new ids; (name, version) -> index in models_.
  std::vector<storage::ModelMeta> models_;
  std::map<std::pair<std::string, uint64_t>, size_t> model_versions_;
  bool model_open_ = false;  // chunks of models_.back() are being read
  std::string model_where_;
  char last_part_ = 0;
  uint32_t last_chunk_ = 0;
  bool any_chunk_ = false;

  // Collections read; records of collections_.back() are being read while collection_open_.
  std::vector<Imported> collections_;
  std::set<std::string, std::less<>> collection_names_;
  bool collection_open_ = false;
  uint64_t records_read_ = 0;
  uint64_t last_id_ = 0;
  // Keys of the records in batch_ (of collections_.back()), each with the
  // index in batch_key_frames_ of where its frame was.
  std::unordered_map<std::string, size_t> batch_keys_;
  std::vector<std::string> batch_key_frames_;
};

Result<TransferReport> DBImpl::Import(std::istream& in, const ImportOptions& options) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  util::MutexLock one(&import_mu_);
  Importer importer(*this, in, options);
  return importer.Run();
}

}  // namespace relate::query
