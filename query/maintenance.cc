// Keeping indexes fit: background rebuilds (tombstones, training, "auto"
// growing into a graph), Compact, Stats, and tuning the search knobs.
//
// A rebuild never stops searches or writes for long: it scans a storage
// snapshot and builds the new index with no lock held, then, holding the
// writer lock, replays the changes written since the snapshot (checkpoints
// keep them in the change log meanwhile) and swaps the index in under the
// index lock.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <unordered_set>

#include "query/db_impl.h"

namespace relate::query {
namespace {

// Rows added to a new index per call while it is built from storage; between
// calls a closing database can stop the build.
constexpr size_t kBuildChunk = 65536;

std::string NowText() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

}  // namespace

Status DBImpl::AddStoredVectors(
    const Collection& c, index::VectorIndex& index, const storage::StoreSnapshot* at,
    const std::atomic<bool>* stop,
    const std::function<void(uint64_t, std::span<const float>)>& each) const {
  const CollectionSpec& spec = c.meta.spec;
  const uint32_t dim = spec.dimension;
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  auto flush = [&]() -> Status {
    if (stop != nullptr && stop->load()) return Status::Cancelled("the database is closing");
    index::PrepareVectors(spec.metric, dim, vectors);
    RELATE_RETURN_IF_ERROR(index.Add(ids, vectors));
    ids.clear();
    vectors.clear();
    return Status::OK();
  };
  RELATE_RETURN_IF_ERROR(store_->ScanVectors(
      c.meta.id,
      [&](uint64_t id, std::span<const float> vector) -> Status {
        if (vector.size() != dim) {
          return Status::Corruption("record id " + std::to_string(id) + " has " +
                                    std::to_string(vector.size()) + " values, expected " +
                                    std::to_string(dim));
        }
        if (each) each(id, vector);
        ids.push_back(id);
        vectors.insert(vectors.end(), vector.begin(), vector.end());
        return ids.size() >= kBuildChunk ? flush() : Status::OK();
      },
      at));
  return flush();
}

Result<std::unique_ptr<index::VectorIndex>> DBImpl::BuildFromStorage(
    const Collection& c, const storage::StoreSnapshot* at, const std::atomic<bool>* stop) {
  const CollectionSpec& spec = c.meta.spec;
  const uint32_t dim = spec.dimension;
  // "auto" is resolved for the number of vectors the index will hold.
  size_t rows = 0;
  std::string use = spec.index_spec;
  if (use == "auto") {
    RELATE_RETURN_IF_ERROR(store_->ScanVectors(
        c.meta.id, [&](uint64_t, std::span<const float>) { return ++rows, Status::OK(); }, at));
    use = index::VectorIndex::AutoSpec(rows, dim);
  }
  if (Status bad = index::VectorIndex::CheckSpec(dim, use); !bad.ok()) {
    // A spec an older version took: while the database opens (the collection
    // is not in the catalog yet) the collection gets an unusable index, so it
    // can be listed and dropped; a rebuild of an open one fails (a write, say).
    auto unusable = index::VectorIndex::Unusable(dim, spec.metric, use, bad.message());
    if (!Find(spec.name)) return unusable;
    return unusable->CheckUsable().WithContext("collection " + Quote(spec.name));
  }
  RELATE_ASSIGN_OR_RETURN(auto index, index::VectorIndex::Create(dim, spec.metric, use));
  index->Reserve(c.Meta().count);  // about what the snapshot holds
  RELATE_RETURN_IF_ERROR(AddStoredVectors(c, *index, at, stop, nullptr));
  // A kind that trains holds the vectors exactly until now; FAISS samples
  // 256 per centroid of what it gets, so more would only cost time.
  if (index->needs_training() && index->size() >= index->training_rows()) {
    RELATE_RETURN_IF_ERROR(index->TrainOnHeld(index->training_rows() * 256 / 39));
  }
  return index;
}

std::string DBImpl::RebuildReason(const Collection& c) const {
  const CollectionSpec& spec = c.meta.spec;
  const index::IndexStats st = c.index->Stats();
  if (spec.index_spec == "auto" && c.index->spec() == "Flat" &&
      index::VectorIndex::AutoSpec(st.live, spec.dimension) != "Flat") {
    return "it holds " + std::to_string(st.live) + " vectors, and \"auto\" moves to " +
           index::VectorIndex::AutoSpec(st.live, spec.dimension);
  }
  if (c.index->needs_training() && st.live >= c.index->training_rows()) {
    return "it holds " + std::to_string(st.live) + " vectors, enough to train its index";
  }
  uint64_t trained_rows;
  {
    util::MutexLock lock(&c.meta_mu);
    trained_rows = c.trained_rows;
  }
  if (st.trains && st.trained && trained_rows > 0 &&
      static_cast<double>(st.live) >= kRetrainGrowth * static_cast<double>(trained_rows)) {
    return "it has grown from " + std::to_string(trained_rows) + " to " + std::to_string(st.live) +
           " vectors since its index was trained";
  }
  const size_t gone = st.dead + st.holes;  // tombstones, and IVF's removed positions
  if (gone > 0 &&
      static_cast<double>(gone) > kRebuildDeadFraction * static_cast<double>(st.live + gone)) {
    return std::to_string(gone) + " of the " + std::to_string(st.live + gone) +
           " vectors in its index are deleted or replaced";
  }
  return {};
}

void DBImpl::MaybeScheduleRebuild(const std::shared_ptr<Collection>& c) {
  if (store_->read_only() || NowUnixMs() < c->rebuild_retry_after_ms.load()) return;
  {
    IndexReadLock lock(&c->index_mu);
    if (RebuildReason(*c).empty()) return;
  }
  if (c->rebuild_queued.exchange(true)) return;
  {
    util::MutexLock lock(&maintenance_mu_);
    if (closing_) return;
    maintenance_queue_.push_back(c);
  }
  maintenance_cv_.notify_one();
}

void DBImpl::MaintenanceLoop() {
  for (;;) {
    std::shared_ptr<Collection> c;
    {
      util::MutexLock lock(&maintenance_mu_);
      maintenance_cv_.wait(lock, [&]() RELATE_REQUIRES(maintenance_mu_) {
        return closing_ || !maintenance_queue_.empty();
      });
      // Closing: stop, or (finish_rebuilds_on_close) drain the queue first.
      if (closing_ && (maintenance_queue_.empty() || stop_rebuilds_)) return;
      c = maintenance_queue_.front().lock();
      maintenance_queue_.pop_front();
    }
    if (!c) continue;
    c->rebuild_queued = false;
    std::string why;
    {
      IndexReadLock lock(&c->index_mu);
      why = RebuildReason(*c);
    }
    if (why.empty()) continue;
    Status s;
    try {
      s = RebuildOnline(c, why);
    } catch (const std::exception& e) {
      s = Status::Internal(std::string("background rebuild: ") + e.what());
    }
    if (!s.ok() && s.code() != Status::Code::kCancelled) {
      // Not again for a minute: a rebuild that fails would otherwise be queued
      // by every write.
      c->rebuild_retry_after_ms = NowUnixMs() + 60000;
      Log("collection " + Quote(c->meta.spec.name) + ": background rebuild failed: " +
          s.ToString() + "; next try in a minute at the earliest");
    }
  }
}

Status DBImpl::RebuildOnline(const std::shared_ptr<Collection>& c, const std::string& why) {
  util::MutexLock rebuild(&c->rebuild_mu);
  c->rebuilding = true;
  struct Done {
    Collection& c;
    ~Done() {
      c.keep_changes_after = UINT64_MAX;
      c.rebuilding = false;
    }
  } done{*c};
  const std::string name = c->meta.spec.name;
  std::unique_ptr<storage::StoreSnapshot> snapshot;
  uint64_t after = 0;
  {
    util::MutexLock write(&write_mu_);
    if (c->dropped) return Status::OK();
    const storage::CollectionMeta meta = c->Meta();
    after = meta.last_change;
    snapshot = store_->TakeSnapshot();
    c->keep_changes_after = after;
    Log("collection " + Quote(name) + ": " + why + "; rebuilding its index (" +
        std::to_string(meta.count) + " records) while it stays in use");
  }
  const auto start = std::chrono::steady_clock::now();
  RELATE_ASSIGN_OR_RETURN(auto built, BuildFromStorage(*c, snapshot.get(), &stop_rebuilds_));
  snapshot.reset();

  util::MutexLock write(&write_mu_);
  if (c->dropped) return Status::OK();
  size_t replayed = 0;
  RELATE_RETURN_IF_ERROR(ReplayChanges(*c, *built, after, &replayed));
  const storage::CollectionMeta meta = c->Meta();
  if (built->size() != meta.count) {
    return Status::Internal("rebuilt index of " + Quote(name) + " holds " +
                            std::to_string(built->size()) + " vectors, storage " +
                            std::to_string(meta.count) + " records; the old index stays");
  }
  const index::IndexStats st = built->Stats();
  {
    IndexWriteLock lock(&c->index_mu);
    std::swap(c->index, built);
  }
  built.reset();  // the old index, freed with searches already on the new one
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    util::MutexLock lock(&c->meta_mu);
    if (st.trains && st.trained) c->trained_rows = st.live;
    c->last_rebuild = why + " (" + NowText() + ", " + std::to_string(seconds).substr(0, 5) + " s)";
  }
  Log("collection " + Quote(name) + ": index rebuilt in " + std::to_string(seconds).substr(0, 5) +
      " s (" + std::to_string(replayed) + " changes replayed)");
  c->keep_changes_after = UINT64_MAX;
  Status saved = CheckpointLocked(*c);
  if (!saved.ok()) Log("collection " + Quote(name) + ": checkpoint failed: " + saved.ToString());
  return Status::OK();
}

Status DBImpl::Compact(std::string_view collection) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  return RebuildOnline(c, "compaction was asked for")
      .WithContext("compacting " + Quote(collection));
}

Result<CollectionStats> DBImpl::Stats(std::string_view collection) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const storage::CollectionMeta meta = c->Meta();
  CollectionStats out;
  out.name = meta.spec.name;
  out.count = meta.count;
  out.index_spec = meta.spec.index_spec;
  out.knobs = meta.knobs;
  out.tuned_recall = meta.tuned_recall;
  out.tuned_target = meta.tuned_target;
  out.tuned_unix_ms = meta.tuned_unix_ms;
  out.rebuilding = c->rebuilding.load();
  {
    util::MutexLock lock(&c->meta_mu);
    out.last_rebuild = c->last_rebuild;
  }
  IndexReadLock lock(&c->index_mu);
  const index::IndexStats st = c->index->Stats();
  out.index_in_use = c->index->spec();
  out.trained = st.trained;
  out.live = st.live;
  out.dead = st.dead;
  out.dead_fraction = st.live + st.dead == 0
                          ? 0
                          : static_cast<double>(st.dead) / static_cast<double>(st.live + st.dead);
  out.memory_bytes = st.memory_bytes;
  return out;
}

namespace {

namespace fs = std::filesystem;

// Bytes of the regular files under `dir` (none if it does not exist). Files
// that vanish while they are counted (a compaction's inputs) are skipped.
Result<uint64_t> DirectoryBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return total;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code file_ec;
    if (it->is_regular_file(file_ec)) {
      const uintmax_t bytes = it->file_size(file_ec);
      if (!file_ec) total += bytes;
    }
  }
  if (ec) return Status::IOError("listing " + dir.string() + ": " + ec.message());
  return total;
}

}  // namespace

Result<SpaceUsage> DBImpl::SpaceUsed() {
  SpaceUsage out;
  RELATE_ASSIGN_OR_RETURN(out.storage_bytes, DirectoryBytes(paths::Store(dir_)));
  RELATE_ASSIGN_OR_RETURN(out.index_checkpoint_bytes, DirectoryBytes(paths::Index(dir_)));
  return out;
}

Status DBImpl::SetSearchKnobs(std::string_view collection, const SearchKnobs& knobs) {
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  RELATE_RETURN_IF_ERROR(CheckKnobs(knobs, 1).WithContext("setting knobs of " + Quote(collection)));
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  util::MutexLock write(&write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  storage::CollectionMeta meta = c->Meta();
  meta.knobs = knobs;
  storage::Batch batch(*store_);
  batch.PutCollection(meta);
  RELATE_RETURN_IF_ERROR(
      store_->Write(batch, true).WithContext("setting knobs of " + Quote(collection)));
  util::MutexLock lock(&c->meta_mu);
  c->meta.knobs = knobs;
  return Status::OK();
}

Result<TuneReport> DBImpl::Tune(std::string_view collection, const TuneOptions& options) {
  const std::string where = "tuning " + Quote(collection);
  if (store_->read_only()) return Status::FailedPrecondition("the database is open read-only");
  if (!(options.target_recall > 0 && options.target_recall <= 1)) {
    return Status::InvalidArgument(where + ": target recall " +
                                   std::to_string(options.target_recall) + " is not in (0, 1]");
  }
  if (options.k == 0 || options.sample == 0 || options.k >= 10000 || options.sample > 100000) {
    return Status::InvalidArgument(where + ": k must be 1 to 9,999 and sample 1 to 100,000");
  }
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const CollectionSpec& spec = c->meta.spec;
  const uint32_t dim = spec.dimension;
  const size_t k = options.k;
  if (c->Meta().count < k + 1) {
    return Status::FailedPrecondition(where + ": it holds " + std::to_string(c->Meta().count) +
                                      " records; tuning recall@" + std::to_string(k) +
                                      " needs at least " + std::to_string(k + 1));
  }

  // The reference: exact search over the stored vectors (DESIGN.md invariant 4),
  // queried with a sample of them.
  RELATE_ASSIGN_OR_RETURN(auto exact, index::VectorIndex::Create(dim, spec.metric, "Flat"));
  std::mt19937_64 rng(options.seed);
  std::vector<uint64_t> sample_ids;
  std::vector<float> sample;
  size_t seen = 0;
  // Reservoir sampling: every stored vector equally likely.
  RELATE_RETURN_IF_ERROR(
      AddStoredVectors(*c, *exact, nullptr, nullptr, [&](uint64_t id, std::span<const float> v) {
        ++seen;
        if (sample_ids.size() < options.sample) {
          sample_ids.push_back(id);
          sample.insert(sample.end(), v.begin(), v.end());
        } else if (const size_t j = rng() % seen; j < options.sample) {
          sample_ids[j] = id;
          std::copy(v.begin(), v.end(), sample.begin() + static_cast<ptrdiff_t>(j * dim));
        }
      }));
  index::PrepareVectors(spec.metric, dim, sample);
  const size_t nq = sample_ids.size();
  std::vector<std::unordered_set<int64_t>> truth(nq);
  {
    RELATE_ASSIGN_OR_RETURN(auto nb, exact->Search(sample, k + 1));
    for (size_t q = 0; q < nq; ++q) {
      for (size_t j = 0; j <= k && truth[q].size() < k; ++j) {
        const int64_t id = nb.ids[q * (k + 1) + j];
        if (id >= 0 && static_cast<uint64_t>(id) != sample_ids[q]) truth[q].insert(id);
      }
    }
  }
  exact.reset();

  auto trial = [&](const SearchKnobs& knobs) -> Result<TuneTrial> {
    size_t hits = 0, wanted = 0;
    const auto start = std::chrono::steady_clock::now();
    for (size_t q = 0; q < nq; ++q) {
      RELATE_ASSIGN_OR_RETURN(
          Ranked ranked, RankPrepared(*c, std::span(sample.data() + q * dim, dim), k + 1, knobs,
                                      std::nullopt, nullptr));
      size_t taken = 0;
      for (int64_t id : ranked.nb.ids) {
        if (id < 0 || static_cast<uint64_t>(id) == sample_ids[q] || taken == k) continue;
        ++taken;
        hits += truth[q].count(id);
      }
      wanted += truth[q].size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return TuneTrial{.knobs = knobs,
                     .recall = wanted == 0 ? 1.0 : static_cast<double>(hits) / wanted,
                     .ms_per_query = seconds * 1000 / static_cast<double>(nq)};
  };

  index::IndexStats st;
  {
    IndexReadLock lock(&c->index_mu);
    st = c->index->Stats();
  }
  std::vector<uint32_t> values;  // efSearch or nprobe, increasing
  if (st.graph) {
    values = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048};
  } else if (st.nlist > 0) {
    for (uint32_t v = 1; v < st.nlist; v *= 2) values.push_back(v);
    values.push_back(static_cast<uint32_t>(st.nlist));
  }
  std::vector<uint32_t> refines{1};
  if (!st.exact_vectors && st.trained) refines = {1, 2, 4, 8, 16};

  TuneReport report;
  for (uint32_t refine : refines) {
    for (size_t i = 0; i < std::max<size_t>(values.size(), 1); ++i) {
      SearchKnobs knobs{.refine = refine};
      if (!values.empty()) (st.graph ? knobs.ef_search : knobs.nprobe) = values[i];
      RELATE_ASSIGN_OR_RETURN(TuneTrial t, trial(knobs));
      report.trials.push_back(t);
      if (t.recall >= options.target_recall) break;
    }
  }
  const TuneTrial* best = nullptr;
  for (const TuneTrial& t : report.trials) {
    const bool reaches = t.recall >= options.target_recall;
    if (best == nullptr) {
      best = &t;
      continue;
    }
    const bool best_reaches = best->recall >= options.target_recall;
    if (reaches && (!best_reaches || t.ms_per_query < best->ms_per_query)) best = &t;
    if (!reaches && !best_reaches && t.recall > best->recall) best = &t;
  }
  report.knobs = best->knobs;
  report.recall = best->recall;
  report.ms_per_query = best->ms_per_query;
  report.reached = best->recall >= options.target_recall;

  util::MutexLock write(&write_mu_);
  if (c->dropped) return Status::NotFound("no collection named " + Quote(collection));
  storage::CollectionMeta meta = c->Meta();
  meta.knobs = report.knobs;
  meta.tuned_recall = report.recall;
  meta.tuned_target = options.target_recall;
  meta.tuned_unix_ms = NowUnixMs();
  storage::Batch batch(*store_);
  batch.PutCollection(meta);
  RELATE_RETURN_IF_ERROR(store_->Write(batch, true).WithContext(where));
  util::MutexLock lock(&c->meta_mu);
  c->meta.knobs = meta.knobs;
  c->meta.tuned_recall = meta.tuned_recall;
  c->meta.tuned_target = meta.tuned_target;
  c->meta.tuned_unix_ms = meta.tuned_unix_ms;
  return report;
}

}  // namespace relate::query
