// A collection's index state: loading it at open (its checkpoint plus the
// change log after it, or a rebuild from storage when either fails a check),
// and writing checkpoints, which lets the change log before them go.
#include <algorithm>
#include <unordered_set>

#include "query/db_impl.h"

namespace relate::query {
namespace {

namespace fs = std::filesystem;

constexpr size_t kRebuildChunk = 4096;

}  // namespace

Status DBImpl::RebuildIndex(Collection& c, const std::string& why) {
  const auto& spec = c.meta.spec;
  Log("collection " + Quote(spec.name) + ": " + why + "; rebuilding its index from storage (" +
      std::to_string(c.Meta().count) + " records)");
  RELATE_ASSIGN_OR_RETURN(auto index, BuildFromStorage(c, nullptr, nullptr));
  IndexWriteLock lock(&c.index_mu);
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
            auto empty, index::VectorIndex::Create(spec.dimension, spec.metric, spec.index_spec));
        IndexWriteLock lock(&c.index_mu);
        c.index = std::move(empty);
        return Status::OK();
      }
      return RebuildIndex(c, "its index checkpoint is missing");
    }
    return RebuildIndex(c, std::string(loaded.error().message()));
  }
  if (loaded->last_change > c.meta.last_change) {
    return RebuildIndex(c, "its index checkpoint is newer than storage");
  }
  std::unique_ptr<index::VectorIndex> index = std::move(loaded->index);
  if (const index::IndexStats st = index->Stats(); st.trains && st.trained) {
    util::MutexLock meta(&c.meta_mu);
    c.trained_rows = st.live;  // the retraining bound counts from here
  }

  size_t replayed = 0;
  if (Status s = ReplayChanges(c, *index, loaded->last_change, &replayed); !s.ok()) {
    return RebuildIndex(c, "replaying its changes failed (" + s.ToString() + ")");
  }
  if (replayed > 0) {
    Log("collection " + Quote(spec.name) + ": replayed " + std::to_string(replayed) +
        " changed records after its index checkpoint");
  }
  if (index->size() != c.meta.count) {
    return RebuildIndex(c, "its index holds " + std::to_string(index->size()) +
                               " vectors but storage has " + std::to_string(c.meta.count) +
                               " records");
  }
  IndexWriteLock lock(&c.index_mu);
  c.index = std::move(index);
  c.checkpoint_change = loaded->last_change;
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
  util::MutexLock checkpoint(&checkpoint_mu_);
  const storage::CollectionMeta meta = c.Meta();
  {
    IndexReadLock lock(&c.index_mu);
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
  util::MutexLock write(&write_mu_);
  std::vector<std::shared_ptr<Collection>> all;
  {
    util::SharedLock lock(&catalog_mu_);
    for (auto& [_, c] : collections_) all.push_back(c);
  }
  for (auto& c : all) {
    if (c->Meta().last_change == c->checkpoint_change) continue;
    RELATE_RETURN_IF_ERROR(
        CheckpointLocked(*c).WithContext("collection " + Quote(c->meta.spec.name)));
  }
  return Status::OK();
}

}  // namespace relate::query
