// Learns W by backpropagation: skip-gram or CBOW with negative sampling
// (Mikolov et al. 2013, as the word2vec C tool does it), optionally with
// fastText's hashed character n-grams (Bojanowski et al. 2017).
//
// Invariants and choices:
// - The encoded corpus is cut into blocks of whole sentences. Every random
//   choice in a block (sub-sampling, window widths, noise words) comes from a
//   generator seeded with (seed, epoch, block), and threads take blocks in
//   order from one counter: with one thread the same seed gives the same W,
//   and a run stopped between blocks and resumed gives the W of a run that
//   never stopped.
// - Threads update W and W' without locks ("Hogwild", as word2vec and fastText
//   do): updates are sparse and rarely collide, and a collision costs a lost
//   update, never a torn structure. These are data races in the C++ sense on
//   float rows, accepted for speed, as in every word2vec implementation.
// - The learning rate falls linearly from its start to start * 1e-4 over all
//   epochs' words, from the shared count of words processed.
// - Skip-gram without subwords predicts the centre word from each context
//   word's row (word2vec). With subwords the centre word's input is the mean
//   of its word and n-gram rows (fastText); its gradient over the whole window
//   is summed and applied once per position, which keeps subword training fast.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "embed/corpus.h"
#include "embed/embedding_table.h"
#include "embed/fasttext_model.h"
#include "embed/sgns.h"
#include "relate/options.h"
#include "relate/types.h"

namespace relate::embed {

// A trained model: plain word vectors, or (with subwords) a fastText model
// whose unseen words get vectors from their n-grams.
struct TrainedModel {
  std::optional<FastTextModel> fasttext;
  WordVectors plain;
};

// Checks options before any work: InvalidArgument naming the bad field.
Status ValidateTrainOptions(const TrainOptions& options);

class Trainer {
 public:
  // Counts the corpus, keeps the vocabulary and writes the ids to
  // `scratch_file`. `fingerprint` names the corpus (files, sizes, times), so a
  // resume can refuse another one. Errors: those of ValidateTrainOptions,
  // CountWords and EncodeCorpus.
  static Result<std::unique_ptr<Trainer>> Prepare(const TextSource& source,
                                                  const TrainOptions& options,
                                                  std::string fingerprint,
                                                  const std::filesystem::path& scratch_file);
  // A trainer that continues from `checkpoint` (see Train), re-encoding
  // `source` with the checkpoint's vocabulary. NotFound if there is no
  // checkpoint; Corruption if it fails its checksum; InvalidArgument if
  // `fingerprint` is not the checkpointed corpus's. Progress and stop come
  // from `options`; every other setting from the checkpoint.
  static Result<std::unique_ptr<Trainer>> Resume(const std::filesystem::path& checkpoint,
                                                 const TextSource& source,
                                                 const TrainOptions& options,
                                                 const std::string& fingerprint,
                                                 const std::filesystem::path& scratch_file);

  ~Trainer();

  // Trains the remaining epochs. When options.stop becomes true, the threads
  // finish their blocks, the state is written to `checkpoint` (tmp file,
  // fsync, rename) and Cancelled is returned; IOError if that write fails.
  Status Train(const std::filesystem::path& checkpoint);

  // The model learnt so far.
  Result<TrainedModel> Model() const;

  // The settings in force (a resumed trainer has its checkpoint's).
  const TrainOptions& options() const { return options_; }
  const Vocabulary& vocabulary() const { return vocabulary_; }
  // W (vocabulary rows, then n-gram rows) and W' as they stand.
  const EmbeddingTable& input_table() const { return input_; }
  const EmbeddingTable& output_table() const { return output_; }
  // Words in the encoded corpus (one epoch).
  uint64_t corpus_words() const { return corpus_.words; }
  // Statistics of the last Train call.
  struct Stats {
    double seconds = 0;
    uint64_t words = 0;  // words processed (before sub-sampling), all epochs
    uint32_t threads = 0;
    double words_per_second_per_thread() const {
      return seconds > 0 && threads > 0 ? words / seconds / threads : 0;
    }
    double loss = 0;  // mean loss per prediction over the call
  };
  const Stats& stats() const { return stats_; }

 private:
  Trainer() = default;
  Status Initialise();
  void BuildTables();
  Status SaveCheckpoint(const std::filesystem::path& path) const;
  // One thread: trains blocks from the shared counter until end_block or a stop.
  void Work(uint64_t end_block);
  void TrainBlock(uint64_t global_block, std::vector<uint32_t>& ids, std::vector<float>& scratch,
                  double& loss, uint64_t& predictions);

  TrainOptions options_;
  std::string fingerprint_;
  Vocabulary vocabulary_;
  EncodedCorpus corpus_;
  bool subwords_ = false;
  bool cbow_ = false;
  float start_lr_ = 0;
  uint32_t threads_ = 1;

  EmbeddingTable input_;   // W: vocabulary rows, then n-gram bucket rows
  EmbeddingTable output_;  // W': one row per vocabulary word
  // For each word, the input rows that make its vector: [offsets_[w], offsets_[w + 1]).
  std::vector<uint32_t> subword_offsets_, subword_rows_;
  std::vector<float> keep_probability_;  // sub-sampling, per word
  std::vector<uint32_t> noise_table_;    // word ids, each count^0.75 times in proportion
  SigmoidTable sigmoid_;

  int ids_fd_ = -1;          // the encoded corpus, open while Train runs
  uint64_t next_block_ = 0;  // global block (epoch * blocks + block) to train next
  std::atomic<uint64_t> block_counter_ = 0;
  std::atomic<uint64_t> words_done_ = 0;  // all epochs, for the learning rate
  std::atomic<uint64_t> predictions_ = 0;
  std::atomic<double> loss_sum_ = 0;
  Stats stats_;
};

}  // namespace relate::embed
