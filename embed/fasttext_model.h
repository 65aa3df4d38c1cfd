// fastText's native .bin models, read with their subword n-grams so that a word
// outside the vocabulary gets the vector fastText itself computes for it.
//
// A .bin file holds fastText's input matrix: one row per vocabulary word, then
// `bucket` rows shared by hashed character n-grams. fastText's vector for a
// word is the mean of the rows of its subwords: the word's own row (when it is
// in the vocabulary) and the rows of the n-grams of "<" + word + ">" with
// minn <= n <= maxn characters. FastTextModel reproduces that arithmetic
// exactly, in float and in fastText's order, so results match fastText 0.9.x's
// `print-word-vectors` and Python `get_word_vector` to the last bit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "relate/status.h"

namespace relate::embed {

// Bytes read so far and the file's size; called now and then while reading
// (may be empty).
using FastTextProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// An unsupervised fastText model (skipgram or cbow) read from a .bin file.
//
// Formats: files that start with fastText's magic number (format versions 11
// and 12, the latter written by fastText 0.9.x), and the older files without
// it (2016), whose vectors follow the rules of the fastText that wrote them
// (see WordVector).
// Words must be UTF-8: relate's tokenizer produces UTF-8 and fastText hashes
// the bytes of a word, so a vocabulary in another encoding (cp852, latin-1 ...)
// could never match a query and would give garbage n-gram vectors; such a file
// is refused, naming the byte offset of the first word that is not UTF-8.
//
// Memory: the input matrix is read straight into the two tables that keep it
// (vocabulary rows, then n-gram bucket rows), with no second copy; the output
// matrix, which only training needs, is skipped.
//
// Thread-safety: immutable once read; const methods may be called concurrently.
class FastTextModel {
 public:
  // Reads the fastText model in `path`, calling `progress` (if not empty) as it
  // goes. Errors name the file and the byte offset where the problem is:
  // IOError if the file cannot be opened or read; InvalidArgument if it is not
  // a fastText .bin file, was written by a newer fastText, is a supervised
  // (classification) model, is quantized (.ftz), or holds a word that is not
  // UTF-8; Corruption if it is truncated, has bytes after its end, repeats a
  // word, or its header, dictionary and matrices disagree (sizes, non-finite
  // values, rows whose mean for a vocabulary word is not finite).
  static Result<FastTextModel> Read(const std::filesystem::path& path,
                                    const FastTextProgressFn& progress = {});

  // The dimension of every vector.
  uint32_t dim() const { return words_.table.dim(); }

  // The vocabulary in the file's order (most frequent first, with their
  // counts; labels left out) and each word's vector as fastText's
  // print-word-vectors gives it: the mean of the word's own row and its n-gram
  // rows.
  const WordVectors& words() const { return words_; }

  // The shortest and longest character n-grams, in UTF-8 characters.
  int minn() const { return minn_; }
  int maxn() const { return maxn_; }
  // The number of hashed n-gram rows (fastText's -bucket); 0 without subwords.
  uint32_t buckets() const { return static_cast<uint32_t>(buckets_.rows()); }

  // The vector fastText gives `word`. For a vocabulary word, its row of
  // words(). For any other word, the mean of the bucket rows of its character
  // n-grams, as fastText's getWordVector computes it; when the word has no
  // n-gram (shorter than minn with its "<" ">", a model without subwords, or
  // the empty string) fastText returns the zero vector, and so does this.
  // fastText 0.9.x gives the end-of-sentence token "</s>" no n-grams; files
  // older than the magic number (2016) were written by a fastText that did,
  // and their "</s>" follows that. InvalidArgument if `word` is not valid
  // UTF-8 (naming the byte offset), or is one of the model's labels (a
  // "__label__" token of the training text, which has no vector: fastText's
  // print-word-vectors aborts on it). Corruption if the word's n-gram rows add
  // up beyond float32 range (damaged rows).
  Result<std::vector<float>> WordVector(std::string_view word) const;

  // The n-gram rows fastText 0.9.x gives `word` in a model with `buckets` rows
  // and n-grams of minn..maxn characters, in its order (duplicates kept).
  static std::vector<uint32_t> SubwordBuckets(std::string_view word, int minn, int maxn,
                                              uint32_t buckets);

  // What a database keeps of the model, to rebuild it with FromParts.
  const EmbeddingTable& bucket_rows() const { return buckets_; }
  const std::vector<std::string>& labels() const { return labels_; }
  bool legacy() const { return legacy_; }
  // A model from parts a previous model gave. InvalidArgument if they disagree
  // (dimensions, n-gram lengths).
  static Result<FastTextModel> FromParts(WordVectors words, EmbeddingTable bucket_rows,
                                         std::vector<std::string> labels, int minn, int maxn,
                                         bool legacy);

 private:
  friend class FastTextReading;
  FastTextModel() = default;

  // Calls `fn(bucket)` for each n-gram of "<" + word + ">", in fastText's order.
  template <typename Fn>
  void ForEachSubword(std::string_view word, Fn&& fn) const;
  // Whether fastText computes n-grams for `word` (it does not for "</s>").
  bool HasSubwords(std::string_view word) const;

  WordVectors words_;  // rows: the mean vectors of the vocabulary words
  // fastText's input matrix rows nwords .. nwords + bucket - 1.
  EmbeddingTable buckets_;
  std::vector<std::string> labels_;  // sorted: "__label__" tokens of an unsupervised model
  int minn_ = 0;
  int maxn_ = 0;
  bool legacy_ = false;  // a file without the magic number: 2016 fastText rules
};

}  // namespace relate::embed
