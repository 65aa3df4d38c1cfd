// Collections: creating, listing, describing and dropping them.
#include <set>

#include "query/db_impl.h"

namespace relate::query {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kMaxDimension = 65536;

}  // namespace

Status DBImpl::CreateCollection(const CollectionSpec& requested) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  // One writer at a time, from the model lookup on, so that the model cannot be
  // dropped or replaced between being found and being recorded.
  util::MutexLock write(&write_mu_);
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
  {
    IndexWriteLock lock(&c->index_mu);  // not shared yet, but the contract holds
    c->index = std::move(*index);
  }
  storage::Batch batch(*store_);
  batch.PutCollection(c->meta);
  batch.PutNextCollectionId(id + 1);
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true));
  util::ExclusiveLock lock(&catalog_mu_);
  collections_.emplace(spec.name, std::move(c));
  return Status::OK();
}

Result<std::vector<CollectionInfo>> DBImpl::ListCollections() {
  std::vector<std::shared_ptr<Collection>> all;
  {
    util::SharedLock lock(&catalog_mu_);
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
  util::MutexLock write(&write_mu_);
  RELATE_ASSIGN_OR_RETURN(auto c, Find(name));
  storage::Batch batch(*store_);
  batch.DeleteCollection(c->Meta());
  auto retiring = RetiringVersion(*c);
  if (retiring) batch.DeleteModel(retiring->meta);
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true));
  c->dropped = true;
  {
    util::ExclusiveLock lock(&catalog_mu_);
    collections_.erase(collections_.find(name));
  }
  if (retiring) ForgetVersion(*retiring);
  std::error_code ec;
  fs::remove(CheckpointPath(c->meta.id), ec);  // an orphan is removed on the next open anyway
  return Status::OK();
}

}  // namespace relate::query
