// Options for opening a database, writing and searching.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relate/filter.h"
#include "relate/types.h"

namespace relate {

// A sink for the database's informational log lines ("index checkpoint of
// collection "x" is damaged, rebuilding from storage"). Called from any thread.
using LogFunction = std::function<void(std::string_view line)>;

struct Options {
  // Create the database directory if it does not exist. Default: false.
  bool create_if_missing = false;
  // Fail with AlreadyExists if the database exists. Default: false.
  bool error_if_exists = false;
  // Open without taking the writer lock: every write fails with FailedPrecondition,
  // and several read-only handles may share a database with one writer. A
  // read-only handle sees the database as of its opening (its indexes are the
  // checkpoints plus the change log replayed); open another one to see later
  // writes. Default: false.
  bool read_only = false;
  // Where log lines go. Default: none set, lines go to standard error prefixed "relate: ".
  LogFunction log;
  // Write an index checkpoint after this many changes to a collection since the last
  // one, so that opening replays at most that many. 0 writes them only on close.
  // Default: 200000.
  size_t checkpoint_every_changes = 200000;
  // Write index checkpoints when the database closes, so the next open replays
  // nothing. Without it closing is faster and the next open replays the change
  // log (as after a crash). Default: true.
  bool checkpoint_on_close = true;
  // Memory for caching stored records (text and metadata) that searches return.
  // Default: 128 MiB.
  size_t block_cache_bytes = 128 << 20;
  // Index rebuilds run in the background (see CollectionSpec::index_spec and
  // DB::Compact). At close, wait for the ones running or queued, rather than
  // stopping them; a stopped rebuild starts again at the next open, so a
  // short-lived process (a command-line tool) that writes should wait.
  // Default: false.
  bool finish_rebuilds_on_close = false;
};

struct WriteOptions {
  // fsync the write-ahead log before returning. Without it a write survives a process
  // crash (kill -9) but may be lost if the machine loses power. Default: false.
  bool sync = false;
};

// How SearchText ranks records (SearchOptions::ranking).
enum class Ranking {
  kVector,          // by the similarity of the text's vector (the default)
  kKeyword,         // by BM25 over the records' text (the collection's keyword index)
  kHybridRrf,       // both lists fused by reciprocal rank: sum of 1 / (rrf_k + rank)
  kHybridWeighted,  // both scores, each scaled to [0, 1] over its list, mixed by hybrid_weight
};

struct SearchOptions {
  // How many hits to return at most (with `threshold`: the limit). Default: 10.
  size_t k = 10;
  // Approximate-search knobs for this search; zeros take the collection's
  // defaults (see SearchKnobs, DB::Tune). Default: all 0.
  SearchKnobs knobs;

  // Only records whose metadata match. Whenever at least k stored records
  // match, k hits are returned: the planner searches exactly over the matching
  // records when they are few, and otherwise searches the index for more hits
  // than asked (skipping the others, or checking each hit's metadata),
  // widening the search until k are found, and exhaustively if it must.
  // Fields the collection declares filterable (CollectionSpec::filterable) are
  // looked up in their secondary index; others are read from the records, so a
  // rare value of such a field may cost a read of every record. `explain`
  // tells which plan ran. Default: every record.
  Filter filter;

  // Range search: every record at least this related, best first, at most k of
  // them: score >= threshold for cosine and inner product, distance <=
  // threshold for L2. On approximate indexes the search widens until a hit
  // falls below the threshold. Default: none.
  std::optional<float> threshold;

  // Return each hit's vector as stored (Hit::vector). Default: false.
  bool with_vector = false;

  // Diversity by maximal marginal relevance: the best `mmr_candidates` hits
  // (0: max(4 k, 40)) are re-ranked, each next pick maximising
  // lambda x similarity to the query - (1 - lambda) x its highest similarity
  // to the hits picked before it. 1 is plain relevance. Default: off.
  std::optional<double> mmr_lambda;
  size_t mmr_candidates = 0;

  // Diversity by group: the best `group_size` hits of each value of this
  // metadata field, up to k groups, best group first (a list field groups by
  // its first string). Records without the field are left out. Default: none.
  std::string group_by;
  size_t group_size = 1;

  // SearchText only: how records are ranked (see Ranking). Keyword and hybrid
  // ranking need the collection's keyword index (CollectionSpec::keyword_index).
  // Default: kVector.
  Ranking ranking = Ranking::kVector;
  // BM25's k1 and b. Defaults: 1.2 and 0.75.
  double bm25_k1 = 1.2;
  double bm25_b = 0.75;
  // Hybrid: each list holds this many hits before fusing (0: max(4 k, 50)).
  size_t hybrid_candidates = 0;
  // kHybridRrf: the constant of reciprocal rank fusion. Default: 60.
  double rrf_k = 60;
  // kHybridWeighted: weight of the vector score; the keyword score gets
  // 1 - hybrid_weight. Default: 0.5.
  double hybrid_weight = 0.5;

  // If set, filled with how the search ran: the plan, candidates, distance
  // computations and the time of each stage. Default: none.
  QueryExplain* explain = nullptr;
};

// How DB::ImportModel reads a file and how the model will turn text into vectors.
struct ModelOptions {
  // "auto" (detected from the file), "word2vec-text" (also fastText .vec),
  // "word2vec-binary", "glove" or "fasttext-bin". Default: "auto".
  std::string format = "auto";
  // Replace a model of the same name (its version goes up by one). Default: false.
  bool replace = false;
  // Tokenizer: lower-case text, keep numbers, keep punctuation marks as tokens.
  // Defaults: true, true, false.
  bool lowercase = true;
  bool keep_numbers = true;
  bool keep_punctuation = false;
  // Applied to each token's row: "none", "relu" or "tanh". Default: "none".
  std::string activation = "none";
  // "mean" or "sif" (weights a / (a + p(w)) from the file's word counts). Default: "mean".
  std::string pooling = "mean";
  // SIF's a. Default: 1e-3.
  double sif_a = 1e-3;
  // Called now and then with bytes read and the file's size. Default: none.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// What DB::TrainModel learns from and how: skip-gram or CBOW with negative
// sampling (word2vec's algorithm), optionally with fastText's subword n-grams.
// The defaults are word2vec's and fastText's.
struct TrainOptions {
  // The text to learn from: plain UTF-8 files (any size; read as a stream), or
  // the texts of a collection's records. Exactly one of the two.
  std::vector<std::filesystem::path> corpus;
  std::string collection;

  // "skipgram" or "cbow". Default: "skipgram".
  std::string architecture = "skipgram";
  // Rows of W have this many values. Default: 100.
  uint32_t dimension = 100;
  // Context words on each side; each position draws its own width in 1..window,
  // as word2vec does. Default: 5.
  uint32_t window = 5;
  // Noise words per prediction, drawn from unigram counts ^ 0.75. Default: 5.
  uint32_t negative = 5;
  // Sub-sampling threshold t: a word of frequency f is kept with probability
  // (sqrt(f / t) + 1) t / f; 0 keeps every word. Default: 1e-3.
  double sample = 1e-3;
  // Words seen fewer times are left out of the vocabulary. Default: 5.
  uint64_t min_count = 5;
  // Keep at most this many words, the most frequent (0: no limit). Default: 0.
  uint64_t max_words = 0;
  // Passes over the corpus. Default: 5.
  uint32_t epochs = 5;
  // Starting learning rate, decayed linearly to nearly 0; 0 means 0.025 for
  // skip-gram and 0.05 for CBOW. Default: 0.
  float learning_rate = 0;
  // Training threads (lock-free "Hogwild" updates); 0 means one per core.
  // With one thread and a fixed seed, training gives the same model twice.
  // Default: 0.
  uint32_t threads = 0;
  // Seed of every random choice (initial W, windows, noise words, sub-sampling).
  // Default: 1.
  uint64_t seed = 1;
  // Character n-grams of min_ngram..max_ngram characters (of "<word>") hashed
  // into `buckets` shared rows, as fastText does, so that unseen words get
  // vectors. 0 and 0: no subwords. Default: 0, 0.
  int32_t min_ngram = 0, max_ngram = 0;
  // Default: 2,000,000 (fastText's).
  uint32_t buckets = 2000000;
  // Tokenizer of the model (and of the corpus). Defaults: true, true, false.
  bool lowercase = true;
  bool keep_numbers = true;
  bool keep_punctuation = false;
  // Pooling of the texts the model embeds: "mean" or "sif". Default: "mean".
  std::string pooling = "mean";
  // Distinct words counted before the rarest are pruned (word2vec's bound on
  // the vocabulary pass, so memory stays bounded on any corpus). Default: 10,000,000.
  uint64_t counting_limit = 10000000;

  // Continue the training that a stop (see `stop`) checkpointed for this model
  // name, with that run's settings; the corpus must be the same. Default: false.
  bool resume = false;
  // Checked between blocks of work: when it becomes true, training stops within
  // about a second, writes a checkpoint that `resume` continues from, and
  // TrainModel returns Cancelled. Default: none.
  const std::atomic<bool>* stop = nullptr;
  // Called about twice a second from the calling thread. Default: none.
  std::function<void(const TrainProgress&)> progress;
};

// What DB::Export writes (storage/EXPORT_FORMAT.md).
struct ExportOptions {
  // The collections to write, each with the model version it is bound to;
  // empty: the whole database, every collection and every version of every
  // model. Default: empty.
  std::vector<std::string> collections;
  // Time stamp of the stream's header; 0 leaves it out, so that exporting the
  // same data twice gives the same bytes. Default: 0.
  int64_t created_unix_ms = 0;
  // Called after each model and collection with what is written so far. Default: none.
  std::function<void(const TransferReport&)> progress;
};

// How DB::Import reads a stream.
struct ImportOptions {
  // Called now and then (every 64 MiB of records, and after each model and
  // collection) with what is read so far. Default: none.
  std::function<void(const TransferReport&)> progress;
};

}  // namespace relate
