// Opening and closing a database, and what every call needs: its log, its
// collections by name and their descriptions. DBImpl's other methods are in
// the files db_impl.h lists by concern.
#include "query/db_impl.h"

#include <fstream>
#include <iostream>
#include <unordered_set>

#include "query/writer_lock.h"
#include "util/durable_file.h"

namespace relate::query {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMarkerText = "relate database\nformat 1\n";

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
    // Nothing else sees the handle yet; the catalog is touched under its lock all the same.
    util::ExclusiveLock catalog(&db->catalog_mu_);
    db->collections_.emplace(c->meta.spec.name, std::move(c));
  }
  RELATE_ASSIGN_OR_RETURN(auto models, db->store_->LoadModels());
  std::vector<uint32_t> model_ids;
  for (auto& meta : models) {
    auto entry = std::make_shared<ModelEntry>();
    entry->meta = std::move(meta);
    model_ids.push_back(entry->meta.id);
    util::ExclusiveLock catalog(&db->catalog_mu_);
    db->models_[entry->meta.info.name][entry->meta.info.version] = std::move(entry);
  }
  // Data of imports that did not finish (a no-op for a read-only handle).
  RELATE_RETURN_IF_ERROR(db->store_->DeleteModelDataExcept(model_ids));
  std::vector<std::shared_ptr<Collection>> collections;  // to check for due rebuilds
  if (!options.read_only) {
    std::vector<uint32_t> collection_ids;
    {
      util::SharedLock catalog(&db->catalog_mu_);
      for (const auto& [_, c] : db->collections_) {
        collection_ids.push_back(c->meta.id);
        collections.push_back(c);
      }
    }
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
    for (const auto& c : collections) db->MaybeScheduleRebuild(c);
  }
  return std::unique_ptr<DB>(std::move(db));
}

DBImpl::~DBImpl() {
  {
    util::MutexLock lock(&maintenance_mu_);
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
  util::SharedLock lock(&catalog_mu_);
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
  IndexReadLock lock(&c.index_mu);
  info.index_size = c.index->size();
  return info;
}

}  // namespace relate::query

namespace relate {

Result<std::unique_ptr<DB>> DB::Open(const std::filesystem::path& dir, const Options& options) {
  return query::DBImpl::Open(dir, options);
}

}  // namespace relate
