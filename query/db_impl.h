// The DB implementation: plans and runs each call across storage and index.
//
// Invariants:
// - Storage (RocksDB) is the truth; a collection's index holds exactly the ids
//   of its stored records, each with its record's vector prepared for the metric,
//   once the call that changed them has returned.
// - Every write is one storage batch committed before the index changes, so a
//   crash loses at most index state, which Open rebuilds from the checkpoint and
//   the change log (or from the records, if the checkpoint fails any check).
// - `write_mu_` serialises writers. A collection's `index_mu` is held shared by
//   searches and exclusively only while a write changes the index.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>

#include "embed/embedder.h"
#include "embed/embedding_table.h"
#include "embed/fasttext_model.h"
#include "index/vector_index.h"
#include "query/db_paths.h"
#include "relate/db.h"
#include "storage/store.h"
#include "util/mutex.h"
#include "util/quote.h"

namespace relate::query {

class WriterLock;

// Longest collection or model name, in bytes.
inline constexpr size_t kMaxNameBytes = 200;
// InvalidArgument unless `name` (a collection, model or field name; `what`
// says which) has 1 to kMaxNameBytes bytes of valid UTF-8.
Status CheckName(std::string_view name, const std::string& what);

// Names and keys in messages: quoted, with control and invalid bytes escaped.
using util::Quote;

inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A model's data, loaded from storage on first use and then shared.
struct LoadedModel {
  storage::ModelMeta meta;
  std::optional<embed::FastTextModel> fasttext;  // set for fastText models (subwords)
  embed::WordVectors plain;                      // the words and W of other models
  const embed::WordVectors& words() const { return fasttext ? fasttext->words() : plain; }
};

// The embedder a model's settings describe (tokenizer, activation, pooling, and
// for fastText models subword vectors for unseen words). It refers to `model`,
// which must outlive it.
Result<std::unique_ptr<embed::Embedder>> MakeEmbedder(const LoadedModel& model);

// W's rows, unit length, in a FAISS inner-product index whose ids are word ids.
struct WordIndex {
  std::unique_ptr<index::VectorIndex> index;
};

struct ModelEntry {
  storage::ModelMeta meta;  // immutable; a re-import makes a new entry
  util::Mutex load_mu;
  std::shared_ptr<const LoadedModel> loaded RELATE_GUARDED_BY(load_mu);
  std::shared_ptr<const WordIndex> word_index RELATE_GUARDED_BY(load_mu);  // built on first use
};

// Search options in range: 1 <= k <= VectorIndex::kMaxK, knobs bounded (so
// k x refine stays within kMaxK). InvalidArgument says which.
Status CheckSearchOptions(const SearchOptions& options);
Status CheckKnobs(const SearchKnobs& knobs, size_t k);
// InvalidArgument if a filter made with the builders breaks a rule the parser
// keeps (and / or / not without operands, a list where one value goes);
// CheckSearchOptions calls it (query/filter_check.cc).
Status CheckFilterNode(const Filter::Node& n);

// The distinct terms of `text` as keyword indexes count them (the default
// tokenizer: Unicode words, lower case, numbers kept), sorted, and in
// *length the number of terms in all (query/keyword.cc).
Result<std::vector<storage::TermCount>> KeywordTermsOf(std::string_view text, uint32_t* length);

// What a record's text puts in its collection's keyword index (nothing for a
// collection without one, or an empty text).
struct TextTerms {
  std::vector<storage::TermCount> terms;
  uint32_t length = 0;
};
Result<TextTerms> TextTermsFor(const CollectionSpec& spec, std::string_view text);

// ValidateVector's check, with the collection named in the message.
Status CheckRecordVector(const CollectionSpec& spec, std::span<const float> vector);
// InvalidArgument naming the field (key, text, a metadata name or string
// value) of `record` that is not valid UTF-8, and the byte where it stops being
// so: storage keeps them as protobuf strings, which must be UTF-8 to parse.
Status CheckRecordStrings(const Record& record);

// A shared mutex that lets a waiting writer in ahead of the readers that come
// after it. std::shared_mutex on glibc lets new readers in while a writer waits,
// so a steady stream of searches kept writes and index swaps out for seconds
// (found by the stress test: 40 single upserts took 25 s beside 4 searching
// threads). Not recursive: a thread holding it shared must not lock it again.
class RELATE_CAPABILITY("mutex") WriterFirstMutex {
 public:
  void lock() RELATE_ACQUIRE() {
    util::MutexLock gate(&gate_);  // readers that come now wait behind this writer
    mu_.lock();
  }
  void unlock() RELATE_RELEASE() { mu_.unlock(); }
  void lock_shared() RELATE_ACQUIRE_SHARED() {
    util::MutexLock gate(&gate_);
    mu_.lock_shared();
  }
  void unlock_shared() RELATE_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  util::Mutex gate_;
  std::shared_mutex mu_;
};
// A collection's index_mu held exclusively (a write changes the index) or shared (a search).
using IndexWriteLock = util::BasicExclusiveLock<WriterFirstMutex>;
using IndexReadLock = util::BasicSharedLock<WriterFirstMutex>;

struct Collection : std::enable_shared_from_this<Collection> {
  // meta.spec and meta.id never change after creation and may be read without a
  // lock; the counters change under write_mu_ + meta_mu and are read through Meta().
  storage::CollectionMeta meta;
  mutable util::Mutex meta_mu;
  mutable WriterFirstMutex index_mu;
  std::unique_ptr<index::VectorIndex> index RELATE_GUARDED_BY(index_mu);
  std::atomic<uint64_t> checkpoint_change = 0;  // newest change in the checkpoint file

  // For a collection with a model: the model version its vectors came from and
  // the embedder made from it, on first use (under embed_mu); ApplyModel swaps them.
  util::Mutex embed_mu;
  std::shared_ptr<const LoadedModel> model RELATE_GUARDED_BY(embed_mu);
  std::shared_ptr<const embed::Embedder> embedder RELATE_GUARDED_BY(embed_mu);
  // Changes whenever texts start to embed differently (a new model version, a
  // new SIF component); changed only under index_mu held exclusively, so a
  // search holding it shared knows its query was embedded like the index.
  std::atomic<uint64_t> generation = 0;
  bool dropped = false;  // under write_mu_

  // Index rebuilds (background or Compact), one at a time per collection.
  util::Mutex rebuild_mu;
  std::atomic<bool> rebuild_queued = false;
  std::atomic<bool> rebuilding = false;
  std::atomic<int64_t> rebuild_retry_after_ms = 0;  // after a failed background rebuild
  // While a rebuild replays the changes after its snapshot, checkpoints keep
  // them: the change log is truncated up to here at most.
  std::atomic<uint64_t> keep_changes_after = UINT64_MAX;
  // Live vectors when the index was last trained (retrained at 4x); under meta_mu.
  uint64_t trained_rows RELATE_GUARDED_BY(meta_mu) = 0;
  std::string last_rebuild RELATE_GUARDED_BY(meta_mu);  // why and when

  storage::CollectionMeta Meta() const {
    util::MutexLock lock(&meta_mu);
    return meta;
  }
  // The fitted SIF component (empty when there is none).
  std::vector<float> Component() const {
    util::MutexLock lock(&meta_mu);
    return meta.sif_component;
  }
  void SetComponent(std::vector<float> component) {
    util::MutexLock lock(&meta_mu);
    meta.sif_component = std::move(component);
  }
  void SetModelVersion(uint64_t version) {
    util::MutexLock lock(&meta_mu);
    meta.model_version = version;
  }
  // Takes the counters of a write that committed.
  void SetCounters(const storage::CollectionMeta& committed) {
    util::MutexLock lock(&meta_mu);
    meta.count = committed.count;
    meta.next_record_id = committed.next_record_id;
    meta.last_change = committed.last_change;
    meta.text_docs = committed.text_docs;
    meta.text_terms = committed.text_terms;
  }
};

// Rebuild policy.
inline constexpr double kRebuildDeadFraction = 0.2;  // tombstones / all vectors in the index
inline constexpr double kRetrainGrowth = 4;          // live vectors / those trained on

// Its methods live in files by concern: open and close (db_impl.cc), the
// index state and checkpoints (db_impl_index.cc), collections
// (db_impl_collections.cc), writes, Get and Count (db_impl_write.cc), search
// and its planner (search.cc, filter_ids.cc), keyword and text search
// (keyword.cc), models (models.cc, word_ops.cc, train.cc), background rebuilds
// and tuning (maintenance.cc), backups, checks and repair (reliability.cc),
// export and import (transfer.cc).
class DBImpl final : public DB {
 public:
  static Result<std::unique_ptr<DB>> Open(const std::filesystem::path& dir, const Options& options);
  ~DBImpl() override;

  Status CreateCollection(const CollectionSpec& spec) override;
  Result<std::vector<CollectionInfo>> ListCollections() override;
  Result<CollectionInfo> DescribeCollection(std::string_view name) override;
  Status DropCollection(std::string_view name) override;
  Status Upsert(std::string_view collection, std::span<const Record> records,
                const WriteOptions& options) override;
  Result<size_t> Delete(std::string_view collection, std::span<const std::string> keys,
                        const WriteOptions& options) override;
  Result<StoredRecord> Get(std::string_view collection, std::string_view key) override;
  Result<uint64_t> Count(std::string_view collection) override;
  Result<std::vector<Hit>> Search(std::string_view collection, std::span<const float> query,
                                  const SearchOptions& options) override;
  Result<std::vector<std::vector<Hit>>> SearchBatch(std::string_view collection,
                                                    std::span<const float> queries,
                                                    const SearchOptions& options) override;
  Result<std::vector<float>> EmbedText(std::string_view collection, std::string_view text) override;
  Status FitSifComponent(std::string_view collection) override;
  Result<std::vector<Hit>> SearchText(std::string_view collection, std::string_view text,
                                      const SearchOptions& options) override;
  Result<std::vector<std::vector<Hit>>> SearchTextBatch(std::string_view collection,
                                                        std::span<const std::string> texts,
                                                        const SearchOptions& options) override;
  Result<std::vector<Hit>> SearchByKey(std::string_view collection, std::string_view key,
                                       const SearchOptions& options) override;
  Status ImportModel(std::string_view name, const std::filesystem::path& file,
                     const ModelOptions& options) override;
  Result<std::vector<ModelInfo>> ListModels() override;
  Result<ModelInfo> DescribeModel(std::string_view name) override;
  Status DropModel(std::string_view name) override;
  Status ExportModel(std::string_view name, const std::filesystem::path& file,
                     std::string_view format) override;
  Status TrainModel(std::string_view name, const TrainOptions& options) override;
  Result<std::vector<std::string>> ApplyModel(std::string_view name) override;
  Result<std::vector<WordHit>> SimilarWords(std::string_view model, std::string_view word,
                                            size_t k) override;
  Result<std::vector<WordHit>> Analogy(std::string_view model, std::string_view a,
                                       std::string_view b, std::string_view c, size_t k,
                                       AnalogyMethod method) override;
  Result<std::string> OddOneOut(std::string_view model,
                                std::span<const std::string> words) override;
  Result<float> TextSimilarity(std::string_view model, std::string_view a,
                               std::string_view b) override;
  Result<WordSimReport> EvaluateWordSim(std::string_view model,
                                        const std::filesystem::path& file) override;
  Result<AnalogyReport> EvaluateAnalogies(std::string_view model, const std::filesystem::path& file,
                                          size_t restrict) override;
  Result<VerifyReport> Verify(std::string_view collection) override;
  Status Checkpoint() override;
  Result<BackupReport> Backup(const std::filesystem::path& dir) override;
  Result<StorageReport> CheckStorage() override;
  Result<CollectionStats> Stats(std::string_view collection) override;
  Result<SpaceUsage> SpaceUsed() override;
  Status SetSearchKnobs(std::string_view collection, const SearchKnobs& knobs) override;
  Result<TuneReport> Tune(std::string_view collection, const TuneOptions& options) override;
  Status Compact(std::string_view collection) override;
  // Export / import (query/transfer.cc).
  Result<TransferReport> Export(const ExportOptions& options, std::ostream& out) override;
  Result<TransferReport> Import(std::istream& in, const ImportOptions& options) override;

  // What a search plan produces per query: ids best first with their score
  // and distance (query/search.cc).
  struct Scored {
    uint64_t id = 0;
    float score = 0, distance = 0;
  };
  using ScoredLists = std::vector<std::vector<Scored>>;
  class SearchRun;  // one call's plan and its explain (query/search_run.h)

 private:
  // Export / import: reads a stream into hidden ids, then makes it visible in one write.
  class Importer;
  util::Mutex import_mu_;  // one import at a time: each sweeps the leftovers of unfinished ones
  DBImpl(std::filesystem::path dir, Options options, std::unique_ptr<WriterLock> lock,
         std::unique_ptr<storage::Store> store);

  // CheckStorage's work, with nothing writing storage meanwhile.
  Result<StorageReport> CheckQuietStorage();
  void Log(const std::string& line) const;
  std::filesystem::path CheckpointPath(uint32_t collection_id) const;
  Result<std::shared_ptr<Collection>> Find(std::string_view name) const;
  CollectionInfo Info(const Collection& c) const;

  // Loads the checkpoint and replays the change log, or rebuilds from records.
  Status LoadIndex(Collection& c);

  // Makes `index` hold the stored vector of every record changed after change
  // `after` (removing those deleted since). Sets *count to how many ids changed.
  Status ReplayChanges(const Collection& c, index::VectorIndex& index, uint64_t after,
                       size_t* count);
  // Why the index of `c` should be rebuilt now (empty: it should not).
  std::string RebuildReason(const Collection& c) const RELATE_REQUIRES_SHARED(c.index_mu);
  // Queues a background rebuild of `c` if RebuildReason says so.
  void MaybeScheduleRebuild(const std::shared_ptr<Collection>& c);
  // Builds a new index for `c` from a storage snapshot (trained if it trains,
  // without tombstones, "auto" resolved for its size) while searches and
  // writes go on, replays the writes made meanwhile, swaps it in and writes
  // its checkpoint. Takes c.rebuild_mu.
  Status RebuildOnline(const std::shared_ptr<Collection>& c, const std::string& why);
  void MaintenanceLoop();
  // A new index of `c` holding its stored vectors (as of `at`, or now): "auto"
  // resolved for their number, trained if its kind trains and they are
  // enough. Cancelled if *stop turns true meanwhile.
  // Adds the collection's stored vectors (as of `at`, or now) to `index` in
  // chunks, prepared for the metric, calling `each` (if set) with every one
  // as stored. Cancelled if *stop turns true; Corruption for a vector of the
  // wrong size.
  Status AddStoredVectors(const Collection& c, index::VectorIndex& index,
                          const storage::StoreSnapshot* at, const std::atomic<bool>* stop,
                          const std::function<void(uint64_t, std::span<const float>)>& each) const;
  Result<std::unique_ptr<index::VectorIndex>> BuildFromStorage(const Collection& c,
                                                               const storage::StoreSnapshot* at,
                                                               const std::atomic<bool>* stop);
  Status RebuildIndex(Collection& c, const std::string& why);
  // Writes a checkpoint of `c` and truncates its change log.
  Status CheckpointLocked(Collection& c) RELATE_REQUIRES(write_mu_);
  Status MaybeCheckpointLocked(Collection& c) RELATE_REQUIRES(write_mu_);
  // Commits `batch` with the collection's new counters, then removes and adds the
  // given ids in the index (rebuilding it from storage if that fails).
  // `under_index_lock` (if set) runs while the index is held exclusively.
  Status CommitLocked(Collection& c, storage::Batch& batch, const storage::CollectionMeta& meta,
                      const WriteOptions& options, const std::string& where,
                      std::span<const uint64_t> remove, std::span<const uint64_t> add_ids,
                      std::span<const float> add_vectors,
                      const std::function<void()>& under_index_lock = {})
      RELATE_REQUIRES(write_mu_);

  // The newest version of a model.
  Result<std::shared_ptr<ModelEntry>> FindModel(std::string_view name) const;
  Result<std::shared_ptr<ModelEntry>> FindModelVersion(std::string_view name,
                                                       uint64_t version) const;
  // Whether a collection (other than `except`) holds vectors of this model
  // version.
  bool VersionInUseLocked(std::string_view model, uint64_t version,
                          const Collection* except = nullptr) const
      RELATE_REQUIRES_SHARED(catalog_mu_);
  // The version of its model that `leaving` holds, if it is not the newest and
  // no other collection holds it: the write that lets go of it removes it too
  // (then ForgetVersion).
  std::shared_ptr<ModelEntry> RetiringVersion(const Collection& leaving) const
      RELATE_REQUIRES(write_mu_);
  void ForgetVersion(const ModelEntry& entry);
  // Stores `model` (meta.info filled in but for id, version and creation time) as
  // the next version of its name, removing older versions no collection uses.
  // AlreadyExists if the name is taken and !replace.
  Status CommitModel(LoadedModel model, bool replace, const std::string& where);
  // Re-embeds the records of `c` that have text with model version `entry` (and
  // with `fit_component`, SIF's component fitted on them), and swaps vectors,
  // index, component and embedder in one step.
  Status ReembedLocked(Collection& c, const std::shared_ptr<ModelEntry>& entry, bool fit_component,
                       const std::string& where) RELATE_REQUIRES(write_mu_);
  // The embedder of a collection with a model, kept alive by the handle even if
  // ApplyModel replaces it meanwhile. FailedPrecondition without a model.
  struct EmbedderHandle {
    std::shared_ptr<const LoadedModel> model;
    std::shared_ptr<const embed::Embedder> embedder;
    const embed::Embedder* operator->() const { return embedder.get(); }
  };
  Result<EmbedderHandle> EmbedderFor(Collection& c);
  // `text` embedded as the collection's vectors are now, and the generation it
  // was embedded in.
  Result<std::pair<std::vector<float>, uint64_t>> EmbedForCollection(Collection& c,
                                                                     std::string_view text);
  // Names of the collections that use model `name`.
  std::vector<std::string> CollectionsUsingLocked(std::string_view model) const
      RELATE_REQUIRES_SHARED(catalog_mu_);
  // FailedPrecondition naming a collection that uses the model, if any.
  Status RefuseIfUsed(std::string_view model, const std::string& where) const;
  // The model's data, read from storage the first time.
  Result<std::shared_ptr<const LoadedModel>> LoadModel(ModelEntry& entry);
  // The model's word index, built the first time.
  Result<std::shared_ptr<const WordIndex>> WordIndexFor(ModelEntry& entry,
                                                        const LoadedModel& model);
  // Writes the data of a model read from a file under `meta.id`, in batches.
  Status WriteModelData(const storage::ModelMeta& meta, const LoadedModel& model);

  // Searches prepared queries (laid end to end) with every search option:
  // filter (planned by PlanFilter), threshold, MMR, group-by, vectors and
  // explain; `exclude_id` is left out of every answer (more like this). With
  // `generation`, sets *stale (and returns nothing) instead if the
  // collection's texts now embed differently, so the query must be embedded
  // again. query/search.cc.
  Result<std::vector<std::vector<Hit>>> SearchPrepared(
      const Collection& c, std::span<const float> queries, const SearchOptions& options,
      std::optional<uint64_t> exclude_id, std::optional<uint64_t> generation = std::nullopt,
      bool* stale = nullptr);
  // The ids of `c` most related to each query, filtered and thresholded as
  // `options` say, at most `want` per query.
  Result<ScoredLists> FindIds(SearchRun& run, std::span<const float> queries, size_t want);
  // Keyword (BM25) ranking of `text` over the collection's keyword index,
  // filtered, at most `want` ids (query/keyword.cc).
  Result<std::vector<Scored>> KeywordIds(SearchRun& run, std::string_view text, size_t want);
  // Adds to `batch` the secondary-index and keyword entries of `record`
  // (put) or removes those of `old` (delete), keeping `meta`'s keyword
  // counters right (query/keyword.cc).
  // `terms`: TextTermsFor(record.text), computed by the caller (outside the write lock).
  void PutSearchEntries(const Collection& c, storage::Batch& batch, uint64_t id,
                        const Record& record, const TextTerms& terms,
                        storage::CollectionMeta& meta) const;
  Status DeleteSearchEntries(const Collection& c, storage::Batch& batch, const StoredRecord& old,
                             storage::CollectionMeta& meta) const;
  // DeleteSearchEntries for the stored records that `existing` points at (a
  // collection without filterable fields and keyword index reads nothing).
  Status DeleteOldSearchEntries(const Collection& c, storage::Batch& batch,
                                std::span<const std::optional<storage::KeyEntry>> existing,
                                storage::CollectionMeta& meta);
  // Hits for scored ids, with their records (text, metadata and, if asked, vector).
  Result<std::vector<Hit>> MakeHits(const Collection& c, const std::vector<Scored>& ids,
                                    bool with_vector);
  // The ids (best first, `want` slots per query, -1 where empty) and scores
  // that SearchPrepared turns into hits: the index's answer with the knobs
  // (the search's, else the collection's), re-ranked over stored vectors when
  // refine > 1. `records`, if given, receives the fetched records (refine only).
  struct Ranked {
    index::Neighbours nb;
    std::vector<std::optional<StoredRecord>> records;  // parallel to nb.ids when refined
  };
  Result<Ranked> RankPrepared(const Collection& c, std::span<const float> queries, size_t want,
                              const SearchKnobs& knobs, std::optional<uint64_t> generation,
                              bool* stale, index::SearchStats* stats = nullptr);

  const std::filesystem::path dir_;
  const Options options_;
  std::unique_ptr<WriterLock> lock_;  // null for a read-only handle; released after store_ closes
  std::unique_ptr<storage::Store> store_;

  util::Mutex write_mu_;
  // Held while index checkpoint files are written and the change log truncated,
  // and by Backup, so a backup's checkpoints and change log fit together.
  util::Mutex checkpoint_mu_;
  mutable util::SharedMutex catalog_mu_;
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> collections_
      RELATE_GUARDED_BY(catalog_mu_);
  // Each model's versions: the newest, and older ones while collections hold
  // vectors made with them (until ApplyModel).
  std::map<std::string, std::map<uint64_t, std::shared_ptr<ModelEntry>>, std::less<>> models_
      RELATE_GUARDED_BY(catalog_mu_);
  util::Mutex training_mu_;
  std::set<std::string, std::less<>> training_ RELATE_GUARDED_BY(training_mu_);  // being trained

  // Background index rebuilds: a queue of collections and one thread.
  util::Mutex maintenance_mu_;
  util::CondVar maintenance_cv_;
  std::deque<std::weak_ptr<Collection>> maintenance_queue_ RELATE_GUARDED_BY(maintenance_mu_);
  bool closing_ RELATE_GUARDED_BY(maintenance_mu_) = false;
  std::atomic<bool> stop_rebuilds_ = false;
  std::thread maintenance_;
};

}  // namespace relate::query
