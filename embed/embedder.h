// Text in, vector out: tokenizer -> rows of W (or subword vectors) -> activation
// -> pooling -> optional common-component removal -> L2 normalisation.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "embed/pooling.h"
#include "embed/tokenizer.h"
#include "relate/status.h"

namespace relate::embed {

enum class Pooling {
  kMean,  // every known token weighs the same
  kSif,   // a / (a + p(w)) weights; see SifWeights
};

struct EmbedderOptions {
  TokenizerOptions tokenizer;
  // Default: none.
  Activation activation = Activation::kNone;
  // Default: mean.
  Pooling pooling = Pooling::kMean;
  // SIF's a. Default: 1e-3.
  double sif_a = 1e-3;
};

// Embeds texts with one model. Holds a reference to the model, which must
// outlive it. Thread-safety: Embed may be called from many threads at once.
class Embedder {
 public:
  // A vector for a token outside the vocabulary (fastText builds one from
  // subwords), or nullopt to skip the token.
  using OovFunction = std::function<std::optional<std::vector<float>>(std::string_view token)>;

  Embedder(const WordVectors& model, EmbedderOptions options, OovFunction oov = {});

  // The unit-length vector of `text`. With `component` (unit length, the model's
  // dimension) its projection is removed before normalising, as SIF does with
  // the first principal component of a collection. InvalidArgument when no token
  // of the text has a vector ("no word of the text is in the model's vocabulary"),
  // or the pooled vector has no direction; never a NaN or a silent zero vector.
  Result<std::vector<float>> Embed(std::string_view text,
                                   std::span<const float> component = {}) const;

  // The tokens of `text` and, for each, whether the model has a vector for it.
  Result<std::vector<std::pair<std::string, bool>>> Explain(std::string_view text) const;

 private:
  const WordVectors& model_;
  EmbedderOptions options_;
  OovFunction oov_;
  Tokenizer tokenizer_;
  std::vector<float> sif_weights_;  // empty for mean pooling
};

}  // namespace relate::embed
