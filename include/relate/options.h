// Options for opening a database, writing and searching.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

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
  // and several read-only handles may share a database with one writer. Default: false.
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
};

struct WriteOptions {
  // fsync the write-ahead log before returning. Without it a write survives a process
  // crash (kill -9) but may be lost if the machine loses power. Default: false.
  bool sync = false;
};

struct SearchOptions {
  // How many hits to return at most. Default: 10.
  size_t k = 10;
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

}  // namespace relate
