// The values that cross the public API: records, collections, search hits.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relate/status.h"

namespace relate {

// How relatedness between two vectors is measured.
enum class Metric {
  // Vectors are L2-normalised on the way in; score = cosine similarity (1 = same
  // direction), distance = 1 - cosine. A zero vector has no direction and is refused.
  kCosine,
  // score = inner product, distance = -inner product. Vectors are used as given.
  kInnerProduct,
  // score = distance = Euclidean distance (lower is more related).
  kL2,
};

// "cosine", "ip" or "l2".
inline std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kCosine:
      return "cosine";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kL2:
      return "l2";
  }
  return "unknown";
}

// Parses "cosine", "ip" (or "inner_product") or "l2"; InvalidArgument otherwise.
inline Result<Metric> ParseMetric(std::string_view name) {
  if (name == "cosine") return Metric::kCosine;
  if (name == "ip" || name == "inner_product") return Metric::kInnerProduct;
  if (name == "l2") return Metric::kL2;
  return Status::InvalidArgument("unknown metric \"" + std::string(name) +
                                 "\"; expected cosine, ip or l2");
}

// A typed metadata value: string, int64, double, bool or a list of strings.
using MetadataValue = std::variant<std::string, int64_t, double, bool, std::vector<std::string>>;
using Metadata = std::map<std::string, MetadataValue, std::less<>>;

// What a caller writes: a key unique within its collection, the text the vector
// came from, metadata and the vector itself.
struct Record {
  std::string key;
  std::string text;
  Metadata metadata;
  std::vector<float> vector;
};

// A record as stored: the written fields plus the internal id (the FAISS id) and
// a version that counts the upserts of this key (1 for the first).
struct StoredRecord {
  std::string key;
  uint64_t id = 0;
  std::string text;
  Metadata metadata;
  std::vector<float> vector;
  uint64_t version = 0;
};

// One answer to a search, best first.
struct Hit {
  std::string key;
  uint64_t id = 0;
  // Cosine similarity, inner product or Euclidean distance, by metric (see Metric).
  float score = 0;
  // 1 - cosine, -inner product or Euclidean distance: lower is more related.
  float distance = 0;
  std::string text;
  Metadata metadata;
  // The vector as stored (as written, or as embedded from the text), with
  // SearchOptions::with_vector; empty otherwise.
  std::vector<float> vector;
  // Hybrid ranking: the hit's vector score and BM25 score (0 when it was not
  // in that list); `score` is then the fused score and `distance` 0. Keyword
  // ranking: `score` is the BM25 score.
  float vector_score = 0;
  float keyword_score = 0;
};

// What a collection is made with.
struct CollectionSpec {
  std::string name;
  // Number of values in every vector of the collection. Required (> 0) unless a
  // model gives it.
  uint32_t dimension = 0;
  // Default: cosine.
  Metric metric = Metric::kCosine;
  // How the collection's vectors are indexed:
  //  - "Flat": exact search (relate's SIMD scan; BLAS for batches).
  //  - "HNSW<M>" (or "HNSW<M>,Flat"): a graph, built with efConstruction 100.
  //  - any other FAISS index_factory string that fits the metric: "HNSW32,SQ8",
  //    "IVF1024,Flat", "IVF4096,PQ32", "OPQ32,IVF4096,PQ32" ... Kinds that need
  //    training search exactly until the collection holds enough vectors (39
  //    per centroid), are then trained on them in the background, and are
  //    retrained when the collection has grown 4-fold since.
  //  - "auto": "Flat" while the collection holds fewer than 2^23 values
  //    (vectors x dimension, e.g. 80,000 of 100 values or 10,900 of 768), then
  //    "HNSW32", rebuilt in the background.
  // Default: "Flat" (exact search).
  std::string index_spec = "Flat";
  // The embedding model that turns the records' text (and text queries) into
  // vectors; empty when the caller brings the vectors. With a model, dimension
  // may be 0 (taken from the model) or must equal the model's. Default: none.
  std::string model;
  // Metadata fields kept in a secondary index, so filters on them find the
  // matching records without reading the others (any field can be filtered;
  // these are fast). Default: none.
  std::vector<std::string> filterable;
  // Keep an inverted index of the records' text (its words at Unicode word
  // boundaries, lower-cased) for keyword (BM25) and hybrid search. A write
  // then adds a key per distinct word of each text, in the same batch: with
  // ~200 bytes of text, ingest runs several times slower (bench/README.md,
  // "Queries"). Set when the collection is created. Default: false.
  bool keyword_index = false;
};

// A collection as it stands.
struct CollectionInfo {
  CollectionSpec spec;
  uint32_t id = 0;                    // internal, unique for the life of the database
  int64_t created_unix_ms = 0;        // when it was created
  uint64_t count = 0;                 // records stored
  uint64_t last_change = 0;           // sequence number of its newest change
  uint64_t index_size = 0;            // vectors in its index
  uint64_t index_checkpoint = 0;      // newest change the index checkpoint on disk holds
  uint64_t model_version = 0;         // version of spec.model its vectors came from; 0 without
  bool sif_component_fitted = false;  // see DB::FitSifComponent
};

// Search knobs of a collection (its defaults) or of one search; 0 leaves the
// choice to the next level: a search's 0 takes the collection's default, the
// collection's 0 the index's own default.
struct SearchKnobs {
  // HNSW: candidates kept while walking the graph (at least k); more finds
  // more of the true neighbours, more slowly. Index default: 64.
  uint32_t ef_search = 0;
  // IVF: inverted lists visited. Index default: 16.
  uint32_t nprobe = 0;
  // Re-rank k x refine candidates by their exact distance to the query, over
  // the vectors kept in storage: for indexes that keep codes (PQ, SQ), whose
  // own distances are approximate. Index default: 1 (no re-ranking).
  uint32_t refine = 0;
};

// One stage of a search, as SearchOptions::explain reports it.
struct QueryStage {
  std::string name;    // "parse filter", "candidates", "index search", "exact search", ...
  std::string detail;  // what it did ("field year: 3 ranges, 1,204 ids")
  uint64_t items = 0;  // ids, candidates or hits it produced
  double ms = 0;
};

// How a search ran (SearchOptions::explain).
struct QueryExplain {
  // The plan the planner chose: "index search" (no filter), "exact over
  // candidates", "index search with filter", "scan and exact search", "keyword", ...
  std::string plan;
  std::string why;          // why it chose it ("1,204 candidates of 100,000: below ...")
  std::string filter;       // the filter, as Filter::ToString gives it
  uint64_t records = 0;     // records in the collection
  uint64_t candidates = 0;  // records the filter matched (or, when not counted, 0)
  bool candidates_counted = false;
  uint64_t distance_computations = 0;
  uint32_t widenings = 0;  // times the index search widened to find k matches
  SearchKnobs knobs;       // the knobs of the last index search
  std::vector<QueryStage> stages;
  double total_ms = 0;
};

// The bytes a database's files take on disk (DB::SpaceUsed).
struct SpaceUsage {
  uint64_t storage_bytes = 0;           // records, vectors, models: the storage engine's files
  uint64_t index_checkpoint_bytes = 0;  // the collections' saved indexes
};

// A collection's index as it stands (DB::Stats).
struct CollectionStats {
  std::string name;
  uint64_t count = 0;         // records stored
  std::string index_spec;     // as the collection was created ("auto" included)
  std::string index_in_use;   // what it resolved to ("Flat", "HNSW32", ...)
  bool trained = true;        // false while a trainable index searches exactly
  uint64_t live = 0;          // vectors searches can return
  uint64_t dead = 0;          // deleted or replaced vectors still in the index
  double dead_fraction = 0;   // dead / (live + dead); a rebuild drops them
  uint64_t memory_bytes = 0;  // the index in memory (estimate)
  SearchKnobs knobs;          // the collection's defaults
  // The last DB::Tune: recall@10 it measured with `knobs`, the target it was
  // asked for and when (0: never tuned).
  double tuned_recall = 0;
  double tuned_target = 0;
  int64_t tuned_unix_ms = 0;
  bool rebuilding = false;   // a background rebuild is running
  std::string last_rebuild;  // why and when the index was last rebuilt, if it was
};

// How DB::Tune measures.
struct TuneOptions {
  // Recall@k to reach against exact search. Default: 0.95.
  double target_recall = 0.95;
  // Default: 10.
  size_t k = 10;
  // Stored vectors used as queries (each one's own record left out of both
  // answers). Default: 200.
  size_t sample = 200;
  // Seed of the sample. Default: 1.
  uint64_t seed = 1;
};

// One setting DB::Tune measured.
struct TuneTrial {
  SearchKnobs knobs;
  double recall = 0;
  double ms_per_query = 0;
};

struct TuneReport {
  SearchKnobs knobs;  // stored as the collection's defaults
  double recall = 0;  // what they reached
  double ms_per_query = 0;
  bool reached = false;  // false: no setting reached the target; the best recall is stored
  std::vector<TuneTrial> trials;
};

// What `Verify` found when it compared storage with the index.
struct VerifyReport {
  uint64_t records = 0;          // records in storage
  uint64_t indexed = 0;          // vectors in the index
  uint64_t vectors_checked = 0;  // records whose index vector was compared value by value
  // Human-readable findings, at most a few dozen; empty when storage and index agree.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// What DB::Backup wrote.
struct BackupReport {
  uint64_t files = 0;   // files in the backup, manifest excluded
  uint64_t bytes = 0;   // their size
  uint64_t linked = 0;  // of them, hard links to the database's own (immutable) files
  uint64_t collections = 0;
};

// What DB::CheckStorage found, or DB::Repair found and fixed.
struct StorageReport {
  // Storage files whose checksums failed (CheckStorage), or that RocksDB could
  // not read and set aside in store/lost (Repair).
  std::vector<std::string> damaged_files;
  uint64_t records = 0;  // whole records (after a repair: kept)
  uint64_t records_lost =
      0;  // records that do not decode or lack their vector (Repair removes them)
  uint64_t entries_fixed = 0;  // key, vector and catalog entries that disagree with the records
  // Human-readable findings naming collection and key or id; empty when all is well.
  std::vector<std::string> problems;
  // Repair: what it did to storage's files, a line each (empty: they were whole
  // and were not touched), and where the files are kept as they were before.
  std::vector<std::string> actions;
  std::string set_aside;
  bool ok() const { return problems.empty() && damaged_files.empty(); }
};

// An embedding model stored in the database: a vocabulary, its table W (one
// row per word), the tokenizer and pooling settings that turn text into a
// vector with it, and a version.
struct ModelInfo {
  std::string name;
  uint64_t version = 1;  // 1 at import; each re-import under the name adds 1
  uint32_t dimension = 0;
  uint64_t words = 0;            // rows of W
  uint64_t subword_buckets = 0;  // fastText character n-gram rows; 0 without subwords
  int32_t min_ngram = 0, max_ngram = 0;
  std::string format;  // the file format it came from
  std::string source;  // the file it came from
  int64_t created_unix_ms = 0;
  bool lowercase = true;
  bool keep_numbers = true;
  bool keep_punctuation = false;
  std::string activation = "none";  // none, relu, tanh
  std::string pooling = "mean";     // mean, sif
  double sif_a = 1e-3;
};

// A word and how related it is to a query (cosine similarity, or the 3CosMul
// objective for that analogy method).
struct WordHit {
  std::string word;
  float score = 0;
};

// How an analogy a : b :: c : ? is solved (Levy and Goldberg 2014).
enum class AnalogyMethod {
  kCosAdd,  // argmax cos(x, b - a + c)
  kCosMul,  // argmax cos'(x, b) cos'(x, c) / (cos'(x, a) + 0.001), cos' = (cos + 1) / 2
};

// Spearman correlation of a model's cosine similarities with human scores.
struct WordSimReport {
  // NaN when undefined: fewer than two pairs covered, or all their human
  // scores (or all their similarities) equal.
  double spearman = 0;
  size_t pairs = 0;                 // pairs in the file
  size_t covered = 0;               // pairs whose two words the model has
  std::vector<std::string> missed;  // words the model lacks, first few
};

// Accuracy on analogy questions, counted as word2vec's compute-accuracy counts.
struct AnalogyReport {
  struct Section {
    std::string name;
    size_t questions = 0;  // in the file
    size_t answered = 0;   // all four words in the (restricted) vocabulary
    size_t correct = 0;
  };
  std::vector<Section> sections;
  size_t questions = 0, answered = 0, correct = 0;
  double accuracy() const { return answered == 0 ? 0 : static_cast<double>(correct) / answered; }
};

// What DB::Export wrote or DB::Import added.
struct TransferReport {
  uint64_t collections = 0;
  uint64_t records = 0;
  uint64_t models = 0;  // model versions
  uint64_t bytes = 0;   // of the stream
};

// Where DB::TrainModel is, for progress displays.
struct TrainProgress {
  std::string phase;   // "counting", "encoding" or "training"
  uint32_t epoch = 0;  // 1-based while training
  uint32_t epochs = 0;
  uint64_t words_done = 0;   // corpus words processed: read (counting, encoding) or trained
  uint64_t words_total = 0;  // words to process in this phase (0 while unknown)
  double words_per_second_per_thread = 0;
  double loss = 0;  // mean loss per prediction since the last report
  double learning_rate = 0;
  double elapsed_seconds = 0;  // since the phase began
  double eta_seconds = 0;      // until the phase ends (0 while unknown)
  uint32_t threads = 0;
};

}  // namespace relate
