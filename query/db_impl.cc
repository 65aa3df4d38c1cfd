#include "query/db_impl.h"
#include "query/writer_lock.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "util/durable_file.h"

namespace relate::query {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMarkerText = "relate database\nformat 1\n";
constexpr uint32_t kMaxDimension = 65536;
constexpr size_t kRebuildChunk = 4096;

Status WriteMarker(const fs::path& dir) {
  return util::WriteFileDurably(paths::Marker(dir), kMarkerText);
}

Status CheckMarker(const fs::path& marker) {
  std::ifstream in(marker, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.rfind("relate database\n", 0) != 0) {
    return Status::InvalidArgument(marker.string() + " is not a relate marker file");
  }
  if (text != kMarkerText) {
    return Status::FailedPrecondition(marker.parent_path().string() +
                                      " was written by another version of relate (" +
                                      marker.string() + " says a format this one cannot read)");
  }
  return Status::OK();
}

}  // namespace

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
  if (const size_t at = InvalidUtf8At(name); at != std::string_view::npos) {
    return Status::InvalidArgument(what + " is not valid UTF-8 (byte " + std::to_string(at) + ")");
  }
  return Status::OK();
}

Status CheckRecordStrings(const Record& record) {
  auto check = [](std::string_view s, const std::string& what) {
    const size_t at = InvalidUtf8At(s);
    if (at == std::string_view::npos) return Status::OK();
    return Status::InvalidArgument(what + " is not valid UTF-8 (byte " + std::to_string(at) +
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

DBImpl::DBImpl(fs::path dir, Options options, std::unique_ptr<WriterLock> lock,
               std::unique_ptr<storage::Store> store)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      lock_(std::move(lock)),
      store_(std::move(store)) {}

Result<std::unique_ptr<DB>> DBImpl::Open(const fs::path& dir, const Options& options) {
  std::error_code ec;
  const fs::path marker = paths::Marker(dir);
  bool fresh = false;
  if (!fs::exists(dir, ec)) {
    if (!options.create_if_missing) {
      return Status::NotFound("no database at " + dir.string() +
                              " (create one with create_if_missing, or --create in the CLI)");
    }
    if (options.read_only) {
      return Status::InvalidArgument("cannot create database " + dir.string() + " read-only");
    }
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("creating " + dir.string() + ": " + ec.message());
    fresh = true;
  } else if (!fs::is_directory(dir, ec)) {
    return Status::InvalidArgument(dir.string() + " is not a relate database (not a directory)");
  } else if (!fs::exists(marker, ec)) {
    if (!(options.create_if_missing && !options.read_only && fs::is_empty(dir, ec))) {
      return Status::InvalidArgument(dir.string() +
                                     " is not a relate database (it has no RELATE file)");
    }
    fresh = true;
  } else {
    if (options.error_if_exists) {
      return Status::AlreadyExists("database " + dir.string() + " exists");
    }
    RELATE_RETURN_IF_ERROR(CheckMarker(marker));
  }

  // The writer's lock comes first: a second writer is told who holds the database
  // before it touches anything in it.
  std::unique_ptr<WriterLock> lock;
  if (!options.read_only) {
    RELATE_ASSIGN_OR_RETURN(lock, WriterLock::Acquire(dir));
  }
  RELATE_ASSIGN_OR_RETURN(
      auto store,
      storage::Store::Open(paths::Store(dir), {.create = fresh,
                                           .read_only = options.read_only,
                                           .block_cache_bytes = options.block_cache_bytes}));
  if (fresh) RELATE_RETURN_IF_ERROR(WriteMarker(dir));
  if (!options.read_only) {
    fs::create_directories(paths::Index(dir), ec);
    if (ec) return Status::IOError("creating " + paths::Index(dir).string() + ": " + ec.message());
  }

  std::unique_ptr<DBImpl> db(new DBImpl(dir, options, std::move(lock), std::move(store)));
  if (std::string kept; size_t n = db->store_->UnnamedFilesKept(&kept)) {
    db->Log("storage: " + std::to_string(n) +
            " table or blob files that its MANIFEST does not name were kept in " + kept +
            " instead of being deleted (a crash during a flush leaves such files; a MANIFEST "
            "that lost its last edits does too, and then they hold the newest records: if "
            "records are missing, `relate repair` puts them back)");
  }
  RELATE_ASSIGN_OR_RETURN(auto metas, db->store_->LoadCatalog());
  std::unordered_set<std::string> wanted_files;
  for (auto& meta : metas) {
    auto c = std::make_shared<Collection>();
    c->meta = std::move(meta);
    RELATE_RETURN_IF_ERROR(db->LoadIndex(*c).WithContext("collection " + Quote(c->meta.spec.name)));
    wanted_files.insert(db->CheckpointPath(c->meta.id).filename().string());
    db->collections_.emplace(c->meta.spec.name, std::move(c));
  }
  RELATE_ASSIGN_OR_RETURN(auto models, db->store_->LoadModels());
  std::vector<uint32_t> model_ids;
  for (auto& meta : models) {
    auto entry = std::make_shared<ModelEntry>();
    entry->meta = std::move(meta);
    model_ids.push_back(entry->meta.id);
    db->models_[entry->meta.info.name][entry->meta.info.version] = std::move(entry);
  }
  // Data of imports that did not finish (a no-op for a read-only handle).
  RELATE_RETURN_IF_ERROR(db->store_->DeleteModelDataExcept(model_ids));
  if (!options.read_only) {
    std::vector<uint32_t> collection_ids;
    for (const auto& [_, c] : db->collections_) collection_ids.push_back(c->meta.id);
    RELATE_RETURN_IF_ERROR(db->store_->DeleteCollectionDataExcept(collection_ids));
  }
  // Checkpoints of dropped collections and temporary files of interrupted saves.
  if (!options.read_only) {
    for (const auto& entry : fs::directory_iterator(paths::Index(dir), ec)) {
      if (!wanted_files.count(entry.path().filename().string())) fs::remove(entry.path(), ec);
    }
    // Scratch files of trainings that a crash ended; their resume checkpoints stay.
    for (const auto& entry : fs::directory_iterator(paths::Training(dir), ec)) {
      if (entry.path().extension() != ".ckpt") fs::remove(entry.path(), ec);
    }
    DBImpl* raw = db.get();
    db->maintenance_ = std::thread([raw] { raw->MaintenanceLoop(); });
    for (auto& [_, c] : db->collections_) db->MaybeScheduleRebuild(c);
  }
  return std::unique_ptr<DB>(std::move(db));
}

DBImpl::~DBImpl() {
  {
    std::lock_guard lock(maintenance_mu_);
    closing_ = true;
  }
  if (!options_.finish_rebuilds_on_close) stop_rebuilds_ = true;
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (store_->read_only() || !options_.checkpoint_on_close) return;
  Status s = Checkpoint();
  if (!s.ok()) Log("closing: " + s.ToString() + "; the index will be rebuilt on open");
}

void DBImpl::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << "relate: " << line << "\n";
  }
}

fs::path DBImpl::CheckpointPath(uint32_t collection_id) const {
  return paths::Checkpoint(dir_, collection_id);
}

Result<std::shared_ptr<Collection>> DBImpl::Find(std::string_view name) const {
  std::shared_lock lock(catalog_mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) return Status::NotFound("no collection named " + Quote(name));
  return it->second;
}

CollectionInfo DBImpl::Info(const Collection& c) const {
  storage::CollectionMeta meta = c.Meta();
  CollectionInfo info;
  info.spec = meta.spec;
  info.id = meta.id;
  info.created_unix_ms = meta.created_unix_ms;
  info.count = meta.count;
  info.last_change = meta.last_change;
  info.index_checkpoint = c.checkpoint_change.load();
  info.model_version = meta.model_version;
  info.sif_component_fitted = !meta.sif_component.empty();
  std::shared_lock lock(c.index_mu);
  info.index_size = c.index->size();
  return info;
}

Status DBImpl::RebuildIndex(Collection& c, const std::string& why) {
  const auto& spec = c.meta.spec;
  Log("collection " + Quote(spec.name) + ": " + why + "; rebuilding its index from storage (" +
      std::to_string(c.Meta().count) + " records)");
  RELATE_ASSIGN_OR_RETURN(auto index, BuildFromStorage(c, nullptr, nullptr));
  std::unique_lock lock(c.index_mu);
  c.index = std::move(index);
  c.checkpoint_change = 0;
  return Status::OK();
}

Status DBImpl::LoadIndex(Collection& c) {
  const auto& spec = c.meta.spec;
  const fs::path path = CheckpointPath(c.meta.id);
  auto loaded =
      index::VectorIndex::Load(path, c.meta.id, spec.dimension, spec.metric, spec.index_spec);
  if (!loaded) {
    if (loaded.error().code() == Status::Code::kNotFound) {
      if (c.meta.last_change == 0 && c.meta.count == 0) {
        RELATE_ASSIGN_OR_RETURN(
            c.index, index::VectorIndex::Create(spec.dimension, spec.metric, spec.index_spec));
        return Status::OK();
      }
      return RebuildIndex(c, "its index checkpoint is missing");
    }
    return RebuildIndex(c, std::string(loaded.error().message()));
  }
  if (loaded->last_change > c.meta.last_change) {
    return RebuildIndex(c, "its index checkpoint is newer than storage");
  }
  c.index = std::move(loaded->index);
  c.checkpoint_change = loaded->last_change;
  if (const index::IndexStats st = c.index->Stats(); st.trains && st.trained) {
    c.trained_rows = st.live;  // the retraining bound counts from here
  }

  size_t replayed = 0;
  if (Status s = ReplayChanges(c, *c.index, loaded->last_change, &replayed); !s.ok()) {
    return RebuildIndex(c, "replaying its changes failed (" + s.ToString() + ")");
  }
  if (replayed > 0) {
    Log("collection " + Quote(spec.name) + ": replayed " + std::to_string(replayed) +
        " changed records after its index checkpoint");
  }
  if (c.index->size() != c.meta.count) {
    return RebuildIndex(c, "its index holds " + std::to_string(c.index->size()) +
                               " vectors but storage has " + std::to_string(c.meta.count) +
                               " records");
  }
  return Status::OK();
}

Status DBImpl::ReplayChanges(const Collection& c, index::VectorIndex& index, uint64_t after,
                             size_t* count) {
  const auto& spec = c.meta.spec;
  // Every id changed after `after` takes its stored vector, or leaves the
  // index if its record is gone.
  std::vector<uint64_t> touched;
  std::unordered_set<uint64_t> seen;
  RELATE_RETURN_IF_ERROR(store_->ScanChanges(c.meta.id, after, [&](uint64_t, uint64_t id) {
    if (seen.insert(id).second) touched.push_back(id);
    return Status::OK();
  }));
  *count = touched.size();
  if (touched.empty()) return Status::OK();
  RELATE_RETURN_IF_ERROR(index.Remove(touched).error());
  for (size_t start = 0; start < touched.size(); start += kRebuildChunk) {
    std::span<const uint64_t> chunk(touched.data() + start,
                                    std::min(kRebuildChunk, touched.size() - start));
    RELATE_ASSIGN_OR_RETURN(auto records, store_->GetRecords(c.meta.id, chunk, true));
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
    for (auto& r : records) {
      if (!r) continue;
      if (r->vector.size() != spec.dimension) {
        return Status::Corruption("record id " + std::to_string(r->id) + " has " +
                                  std::to_string(r->vector.size()) + " values, expected " +
                                  std::to_string(spec.dimension));
      }
      ids.push_back(r->id);
      vectors.insert(vectors.end(), r->vector.begin(), r->vector.end());
    }
    index::PrepareVectors(spec.metric, spec.dimension, vectors);
    RELATE_RETURN_IF_ERROR(index.Add(ids, vectors));
  }
  return Status::OK();
}

Status DBImpl::CheckpointLocked(Collection& c) {
  std::lock_guard checkpoint(checkpoint_mu_);
  const storage::CollectionMeta meta = c.Meta();
  {
    std::shared_lock lock(c.index_mu);
    RELATE_RETURN_IF_ERROR(c.index->Save(CheckpointPath(meta.id), meta.id, meta.last_change));
  }
  c.checkpoint_change = meta.last_change;
  // A running rebuild still needs the changes after its snapshot.
  return store_->TruncateChanges(meta.id, std::min(meta.last_change, c.keep_changes_after.load()));
}

Status DBImpl::MaybeCheckpointLocked(Collection& c) {
  if (options_.checkpoint_every_changes == 0) return Status::OK();
  if (c.Meta().last_change - c.checkpoint_change < options_.checkpoint_every_changes) {
    return Status::OK();
  }
  Status s = CheckpointLocked(c);
  // The write itself succeeded; a failed checkpoint only costs replay time on open.
  if (!s.ok())
    Log("collection " + Quote(c.meta.spec.name) + ": checkpoint failed: " + s.ToString());
  return Status::OK();
}

Status DBImpl::Checkpoint() {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  std::lock_guard write(write_mu_);
  std::vector<std::shared_ptr<Collection>> all;
  {
    std::shared_lock lock(catalog_mu_);
    for (auto& [_, c] : collections_) all.push_back(c);
  }
  for (auto& c : all) {
    if (c->Meta().last_change == c->checkpoint_change) continue;
    RELATE_RETURN_IF_ERROR(
        CheckpointLocked(*c).WithContext("collection " + Quote(c->meta.spec.name)));
  }
  return Status::OK();
}

Status DBImpl::CreateCollection(const CollectionSpec& requested) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  // One writer at a time, from the model lookup on, so that the model cannot be
  // dropped or replaced between being found and being recorded.
  std::lock_guard write(write_mu_);
  CollectionSpec spec = requested;
  uint64_t model_version = 0;
  if (!spec.model.empty()) {
    auto model = FindModel(spec.model);
    if (!model) return model.error().WithContext("collection " + Quote(spec.name));
    const uint32_t model_dim = (*model)->meta.info.dimension;
    if (spec.dimension != 0 && spec.dimension != model_dim) {
      return Status::InvalidArgument("collection " + Quote(spec.name) + ": dimension " +
                                     std::to_string(spec.dimension) + " differs from model " +
                                     Quote(spec.model) + "'s " + std::to_string(model_dim));
    }
    spec.dimension = model_dim;
    model_version = (*model)->meta.info.version;
  }
  RELATE_RETURN_IF_ERROR(CheckName(spec.name, "collection name"));
  if (spec.dimension == 0 || spec.dimension > kMaxDimension) {
    return Status::InvalidArgument("collection " + Quote(spec.name) + ": dimension must be 1 to " +
                                   std::to_string(kMaxDimension) + ", not " +
                                   std::to_string(spec.dimension));
  }
  std::set<std::string_view> fields;
  for (const auto& field : spec.filterable) {
    RELATE_RETURN_IF_ERROR(
        CheckName(field, "collection " + Quote(spec.name) + ": a filterable field name"));
    if (!fields.insert(field).second) {
      return Status::InvalidArgument("collection " + Quote(spec.name) + ": filterable field " +
                                     Quote(field) + " is named twice");
    }
  }
  auto index = index::VectorIndex::Create(spec.dimension, spec.metric, spec.index_spec);
  if (!index) return index.error().WithContext("collection " + Quote(spec.name));
  if (Find(spec.name)) return Status::AlreadyExists("collection " + Quote(spec.name) + " exists");
  RELATE_ASSIGN_OR_RETURN(uint32_t id, store_->NextCollectionId());
  auto c = std::make_shared<Collection>();
  c->meta.spec = spec;
  // "auto" stays "auto": it is resolved again as the collection grows.
  if (spec.index_spec != "auto") c->meta.spec.index_spec = (*index)->spec();
  c->meta.id = id;
  c->meta.created_unix_ms = NowUnixMs();
  c->meta.model_version = model_version;
  c->index = std::move(*index);
  storage::Batch batch(*store_);
  batch.PutCollection(c->meta);
  batch.PutNextCollectionId(id + 1);
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true));
  std::unique_lock lock(catalog_mu_);
  collections_.emplace(spec.name, std::move(c));
  return Status::OK();
}

Result<std::vector<CollectionInfo>> DBImpl::ListCollections() {
  std::vector<std::shared_ptr<Collection>> all;
  {
    std::shared_lock lock(catalog_mu_);
    for (auto& [_, c] : collections_) all.push_back(c);
  }
  std::vector<CollectionInfo> out;
  for (auto& c : all) out.push_back(Info(*c));
  return out;
}

Result<CollectionInfo> DBImpl::DescribeCollection(std::string_view name) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(name));
  return Info(*c);
}

Status DBImpl::DropCollection(std::string_view name) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  std::lock_guard write(write_mu_);
  RELATE_ASSIGN_OR_RETURN(auto c, Find(name));
  storage::Batch batch(*store_);
  batch.DeleteCollection(c->Meta());
  auto retiring = RetiringVersion(*c);
  if (retiring) batch.DeleteModel(retiring->meta);
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true));
  c->dropped = true;
  {
    std::unique_lock lock(catalog_mu_);
    collections_.erase(collections_.find(name));
  }
  if (retiring) ForgetVersion(*retiring);
  std::error_code ec;
  fs::remove(CheckpointPath(c->meta.id), ec);  // an orphan is removed on the next open anyway
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
    std::unique_lock lock(c.index_mu);
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

  std::unique_lock write(write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  if (!to_embed.empty() && c->generation.load() != generation) {
    // ApplyModel or FitSifComponent changed how texts embed meanwhile: start over.
    write.unlock();
    return Upsert(collection, given, options);
  }
  // A collection whose stored index spec this version refuses takes no writes:
  // storage is left as it was.
  RELATE_RETURN_IF_ERROR(c->index->CheckUsable().WithContext(where));
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

  std::lock_guard write(write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  RELATE_RETURN_IF_ERROR(c->index->CheckUsable().WithContext(where));
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

Status CheckKnobs(const SearchKnobs& knobs, size_t k) {
  const size_t most = index::VectorIndex::kMaxK;
  if (knobs.ef_search > most || knobs.nprobe > most || knobs.refine > 1024 ||
      std::max<size_t>(knobs.refine, 1) * k > most) {
    return Status::InvalidArgument("knobs out of range: efSearch and nprobe at most " +
                                   std::to_string(most) + ", refine at most 1024, k x refine at most " +
                                   std::to_string(most));
  }
  return Status::OK();
}

Result<DBImpl::Ranked> DBImpl::RankPrepared(const Collection& c, std::span<const float> queries,
                                            size_t want, const SearchKnobs& knobs,
                                            std::optional<uint64_t> generation, bool* stale,
                                            index::SearchStats* stats) {
  const storage::CollectionMeta meta = c.Meta();
  auto pick = [](uint32_t asked, uint32_t stored) { return asked ? asked : stored; };
  const uint32_t refine = std::max<uint32_t>(pick(knobs.refine, meta.knobs.refine), 1);
  const index::SearchParams params{.ef_search = pick(knobs.ef_search, meta.knobs.ef_search),
                                   .nprobe = pick(knobs.nprobe, meta.knobs.nprobe)};
  const size_t candidates = std::min(want * refine, index::VectorIndex::kMaxK);
  Ranked out;
  Result<index::Neighbours> found = Status::Internal("unset");
  {
    std::shared_lock lock(c.index_mu);
    found = c.index->Search(queries, candidates, params, stats);
    // The query was embedded for another generation of the vectors (rare: an
    // apply or a SIF fit just swapped them): its answer is thrown away.
    if (stale != nullptr) *stale = generation && c.generation.load() != *generation;
  }
  if (stale != nullptr && *stale) return out;
  if (!found) return found.error();
  if (refine <= 1) {
    out.nb = std::move(*found);
    return out;
  }
  // Re-rank the candidates by their exact distance to the query, over the
  // vectors in storage (the index may hold only codes of them).
  const index::Neighbours& nb = *found;
  const uint32_t dim = meta.spec.dimension;
  const size_t n = candidates == 0 ? 0 : nb.ids.size() / candidates;
  std::vector<uint64_t> ids;
  for (int64_t id : nb.ids) {
    if (id >= 0) ids.push_back(static_cast<uint64_t>(id));
  }
  RELATE_ASSIGN_OR_RETURN(auto records, store_->GetRecords(meta.id, ids, true));
  out.nb.k = want;
  out.nb.ids.assign(n * want, -1);
  out.nb.scores.assign(n * want, 0);
  out.nb.distances.assign(n * want, std::numeric_limits<float>::infinity());
  out.records.resize(n * want);
  size_t r = 0;
  for (size_t q = 0; q < n; ++q) {
    struct Scored {
      float distance, score;
      size_t record;
    };
    std::vector<Scored> scored;
    for (size_t j = 0; j < candidates; ++j) {
      if (nb.ids[q * candidates + j] < 0) continue;
      auto& rec = records[r++];
      // A record deleted after the index answered is left out.
      if (!rec || rec->vector.size() != dim) continue;
      index::PrepareVectors(meta.spec.metric, dim, rec->vector);
      Scored s{0, 0, r - 1};
      index::ScorePair(meta.spec.metric, queries.data() + q * dim, rec->vector.data(), dim,
                       &s.score, &s.distance);
      scored.push_back(s);
    }
    std::sort(scored.begin(), scored.end(), [&](const Scored& a, const Scored& b) {
      return a.distance != b.distance ? a.distance < b.distance
                                      : records[a.record]->id < records[b.record]->id;
    });
    for (size_t j = 0; j < scored.size() && j < want; ++j) {
      const size_t slot = q * want + j;
      auto& rec = records[scored[j].record];
      out.nb.ids[slot] = static_cast<int64_t>(rec->id);
      out.nb.scores[slot] = scored[j].score;
      out.nb.distances[slot] = scored[j].distance;
      out.records[slot] = std::move(rec);
    }
  }
  return out;
}

Result<std::pair<std::vector<float>, uint64_t>> DBImpl::EmbedForCollection(Collection& c,
                                                                           std::string_view text) {
  while (true) {
    const uint64_t generation = c.generation.load();
    RELATE_ASSIGN_OR_RETURN(EmbedderHandle embedder, EmbedderFor(c));
    const std::vector<float> component = c.Component();
    RELATE_ASSIGN_OR_RETURN(std::vector<float> v, embedder->Embed(text, component));
    if (c.generation.load() == generation) return std::make_pair(std::move(v), generation);
  }
}

Result<std::vector<float>> DBImpl::EmbedText(std::string_view collection, std::string_view text) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  RELATE_ASSIGN_OR_RETURN(auto embedded, EmbedForCollection(*c, text));
  return std::move(embedded.first);
}

Status DBImpl::FitSifComponent(std::string_view collection) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const std::string where = "fitting the SIF component of " + Quote(collection);
  // Holding the write lock throughout: no record changes between the scan and
  // the commit, so every text-made record gets the new component.
  std::lock_guard write(write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  auto embedder = EmbedderFor(*c);
  if (!embedder) return embedder.error().WithContext(where);
  if (embedder->model->meta.info.pooling != "sif") {
    return Status::FailedPrecondition(where + ": model " + Quote(c->meta.spec.model) +
                                      " pools with " + embedder->model->meta.info.pooling +
                                      ", not sif");
  }
  RELATE_ASSIGN_OR_RETURN(auto entry,
                          FindModelVersion(c->meta.spec.model, c->Meta().model_version));
  return ReembedLocked(*c, entry, /*fit_component=*/true, where);
}

Status DBImpl::ReembedLocked(Collection& c, const std::shared_ptr<ModelEntry>& entry,
                             bool fit_component, const std::string& where) {
  const uint32_t dim = c.meta.spec.dimension;
  if (entry->meta.info.dimension != dim) {
    return Status::FailedPrecondition(
        where + ": model " + Quote(entry->meta.info.name) + " version " +
        std::to_string(entry->meta.info.version) + " has dimension " +
        std::to_string(entry->meta.info.dimension) + ", the collection " + std::to_string(dim) +
        "; its vectors are left as they are (create a new collection for this model)");
  }
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  RELATE_ASSIGN_OR_RETURN(std::shared_ptr<const embed::Embedder> embedder, MakeEmbedder(*model));
  std::vector<StoredRecord> stored;
  RELATE_RETURN_IF_ERROR(store_->ScanRecords(c.meta.id, false, [&](StoredRecord&& r) {
    if (!r.text.empty()) stored.push_back(std::move(r));
    return Status::OK();
  }));

  // Without a component first: SIF's component is fitted on these vectors.
  std::vector<std::vector<float>> vectors(stored.size());
  std::vector<Status> errors(stored.size());
  const auto n = static_cast<int64_t>(stored.size());
#pragma omp parallel for schedule(dynamic, 16) if (n >= 64)
  for (int64_t i = 0; i < n; ++i) {
    const auto j = static_cast<size_t>(i);
    auto v = embedder->Embed(stored[j].text);
    if (v) {
      vectors[j] = std::move(*v);
    } else {
      errors[j] = v.error();
    }
  }
  std::vector<float> component;
  if (fit_component) {
    std::vector<float> all;
    for (const auto& v : vectors) all.insert(all.end(), v.begin(), v.end());
    if (all.size() < 2 * static_cast<size_t>(dim)) {
      return Status::FailedPrecondition(where + ": fewer than two records have text to embed");
    }
    component = embed::FirstPrincipalComponent(all, dim);
    if (component.empty()) return Status::FailedPrecondition(where + ": the texts have no direction");
  }
  if (entry->meta.info.version != c.Meta().model_version) {
    // A new model version: its vectors must all come from it, or none.
    for (size_t j = 0; j < stored.size(); ++j) {
      if (errors[j].ok()) continue;
      return Status::FailedPrecondition(where + ": record " + Quote(stored[j].key) + ": " +
                                        std::string(errors[j].message()) +
                                        "; the collection keeps its vectors");
    }
  }

  storage::CollectionMeta meta = c.Meta();
  meta.sif_component = component;
  meta.model_version = entry->meta.info.version;
  storage::Batch batch(*store_);
  std::vector<uint64_t> ids;
  std::vector<float> prepared;
  ids.reserve(stored.size());
  prepared.reserve(stored.size() * dim);
  for (size_t i = 0; i < stored.size(); ++i) {
    if (vectors[i].empty()) continue;  // fitting: text the model cannot embed keeps its vector
    StoredRecord& r = stored[i];
    std::vector<float> v = std::move(vectors[i]);
    if (!component.empty()) {
      auto with = embedder->Embed(r.text, component);
      if (!with) return with.error().WithContext(where + ": record " + Quote(r.key));
      v = std::move(*with);
    }
    Record record{.key = std::move(r.key),
                  .text = std::move(r.text),
                  .metadata = std::move(r.metadata),
                  .vector = std::move(v)};
    batch.PutRecord(meta.id, r.id, r.version + 1, record);
    batch.PutChange(meta.id, ++meta.last_change, r.id);
    ids.push_back(r.id);
    prepared.insert(prepared.end(), record.vector.begin(), record.vector.end());
  }
  index::PrepareVectors(meta.spec.metric, dim, prepared);
  // The model version this collection leaves goes with it if no one else holds it.
  const uint64_t old_version = c.Meta().model_version;
  std::shared_ptr<ModelEntry> retiring;
  if (old_version != meta.model_version) {
    retiring = RetiringVersion(c);
    if (retiring) batch.DeleteModel(retiring->meta);
  }
  RELATE_RETURN_IF_ERROR(CommitLocked(c, batch, meta, {.sync = true}, where, ids, ids, prepared,
                                      [&] {
                                        // Queries see the new vectors, component and
                                        // embedder together.
                                        c.SetComponent(component);
                                        c.SetModelVersion(meta.model_version);
                                        std::lock_guard lock(c.embed_mu);
                                        c.model = model;
                                        c.embedder = embedder;
                                        c.generation.fetch_add(1);
                                      }));
  if (retiring) ForgetVersion(*retiring);
  return MaybeCheckpointLocked(c);
}

std::shared_ptr<ModelEntry> DBImpl::RetiringVersion(const Collection& leaving) const {
  const std::string& model = leaving.meta.spec.model;
  if (model.empty()) return nullptr;
  const uint64_t version = leaving.Meta().model_version;
  std::shared_lock lock(catalog_mu_);
  auto it = models_.find(model);
  if (it == models_.end() || it->second.rbegin()->first == version ||
      VersionInUseLocked(model, version, &leaving)) {
    return nullptr;
  }
  auto v = it->second.find(version);
  return v == it->second.end() ? nullptr : v->second;
}

void DBImpl::ForgetVersion(const ModelEntry& entry) {
  std::unique_lock lock(catalog_mu_);
  auto it = models_.find(entry.meta.info.name);
  if (it != models_.end()) it->second.erase(entry.meta.info.version);
}

Result<std::vector<std::string>> DBImpl::ApplyModel(std::string_view name) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  std::lock_guard write(write_mu_);
  RELATE_ASSIGN_OR_RETURN(auto latest, FindModel(name));
  std::vector<std::shared_ptr<Collection>> stale;
  {
    std::shared_lock lock(catalog_mu_);
    for (const auto& [_, c] : collections_) {
      if (c->meta.spec.model == name && c->Meta().model_version != latest->meta.info.version) {
        stale.push_back(c);
      }
    }
  }
  std::vector<std::string> moved;
  for (const auto& c : stale) {
    const std::string where = "applying model " + Quote(name) + " version " +
                              std::to_string(latest->meta.info.version) + " to collection " +
                              Quote(c->meta.spec.name);
    // A fitted SIF component belongs to the old vectors: fit it again on the new ones.
    const bool refit = !c->Component().empty() && latest->meta.info.pooling == "sif";
    RELATE_RETURN_IF_ERROR(ReembedLocked(*c, latest, refit, where));
    moved.push_back(c->meta.spec.name);
  }
  return moved;
}

Result<DBImpl::EmbedderHandle> DBImpl::EmbedderFor(Collection& c) {
  const CollectionSpec& spec = c.meta.spec;
  if (spec.model.empty()) {
    return Status::FailedPrecondition("collection " + Quote(spec.name) +
                                      " has no model to embed text; give vectors, or create it "
                                      "with a model");
  }
  std::lock_guard lock(c.embed_mu);
  if (!c.embedder) {
    RELATE_ASSIGN_OR_RETURN(auto entry, FindModelVersion(spec.model, c.Meta().model_version));
    RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
    RELATE_ASSIGN_OR_RETURN(auto embedder, MakeEmbedder(*model));
    c.model = std::move(model);
    c.embedder = std::move(embedder);
  }
  return EmbedderHandle{c.model, c.embedder};
}

std::vector<std::string> DBImpl::CollectionsUsingLocked(std::string_view model) const {
  std::vector<std::string> names;
  for (const auto& [name, c] : collections_) {
    if (c->meta.spec.model == model) names.push_back(name);
  }
  return names;
}

Result<VerifyReport> DBImpl::Verify(std::string_view collection) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const CollectionSpec& spec = c->meta.spec;
  constexpr size_t kMaxProblems = 50;
  VerifyReport report;
  auto problem = [&](std::string p) {
    if (report.problems.size() < kMaxProblems) report.problems.push_back(std::move(p));
  };
  // Holding the write lock gives a view no write can change half-way.
  std::lock_guard write(write_mu_);
  std::shared_lock lock(c->index_mu);
  const index::VectorIndex& index = *c->index;
  if (Status s = index.CheckUsable(); !s.ok()) {
    // One problem, not one a record: the index cannot hold them.
    problem(std::string(s.message()));
    return report;
  }
  report.indexed = index.size();
  std::unordered_set<uint64_t> stored;
  const bool exact = index.keeps_exact_vectors();
  RELATE_RETURN_IF_ERROR(store_->ScanRecords(c->meta.id, true, [&](StoredRecord&& r) -> Status {
    ++report.records;
    stored.insert(r.id);
    if (r.vector.size() != spec.dimension) {
      problem("record " + Quote(r.key) + " has " + std::to_string(r.vector.size()) +
              " values, expected " + std::to_string(spec.dimension));
      return Status::OK();
    }
    if (!index.Contains(r.id)) {
      problem("record " + Quote(r.key) + " (id " + std::to_string(r.id) + ") is not in the index");
      return Status::OK();
    }
    if (!exact) return Status::OK();
    auto got = index.Reconstruct(r.id);
    if (!got) {
      problem("record " + Quote(r.key) + ": " + got.error().ToString());
      return Status::OK();
    }
    index::PrepareVectors(spec.metric, spec.dimension, r.vector);
    ++report.vectors_checked;
    for (size_t i = 0; i < r.vector.size(); ++i) {
      const float tolerance = 1e-6f * std::max(1.0f, std::abs(r.vector[i]));
      if (std::abs((*got)[i] - r.vector[i]) > tolerance) {
        problem("record " + Quote(r.key) + ": index value " + std::to_string(i) + " is " +
                std::to_string((*got)[i]) + ", storage says " + std::to_string(r.vector[i]));
        break;
      }
    }
    return Status::OK();
  }));
  for (uint64_t id : index.Ids()) {
    if (!stored.count(id)) problem("index id " + std::to_string(id) + " has no record in storage");
  }
  const uint64_t counted = c->Meta().count;
  if (counted != report.records) {
    problem("the catalog counts " + std::to_string(counted) + " records, storage holds " +
            std::to_string(report.records));
  }
  return report;
}

}  // namespace relate::query

namespace relate {

Status ValidateVector(const CollectionSpec& spec, std::span<const float> vector) {
  return query::CheckRecordVector(spec, vector);
}

Result<std::unique_ptr<DB>> DB::Open(const std::filesystem::path& dir, const Options& options) {
  return query::DBImpl::Open(dir, options);
}

}  // namespace relate
