#include "embed/embedder.h"

#include <string>

namespace relate::embed {

Embedder::Embedder(const WordVectors& model, EmbedderOptions options, OovFunction oov)
    : model_(model), options_(options), oov_(std::move(oov)), tokenizer_(options.tokenizer) {
  if (options_.pooling == Pooling::kSif)
    sif_weights_ = SifWeights(model_.vocabulary, options_.sif_a);
}

Result<std::vector<float>> Embedder::Embed(std::string_view text,
                                           std::span<const float> component) const {
  RELATE_ASSIGN_OR_RETURN(auto tokens, tokenizer_.Tokenize(text));
  const uint32_t dim = model_.table.dim();
  std::vector<double> sum(dim, 0.0);
  std::vector<float> row(dim);
  double weight_sum = 0;
  size_t used = 0;
  for (const auto& token : tokens) {
    double weight = 1.0;
    if (auto id = model_.vocabulary.Find(token)) {
      auto source = model_.table.Row(*id);
      std::copy(source.begin(), source.end(), row.begin());
      if (!sif_weights_.empty()) weight = sif_weights_[*id];
    } else if (oov_) {
      auto built = oov_(token);
      if (!built || built->size() != dim) continue;
      row = std::move(*built);  // unseen: p(w) = 0, so its SIF weight is a / a = 1
    } else {
      continue;
    }
    Activate(options_.activation, row);
    for (uint32_t c = 0; c < dim; ++c) sum[c] += weight * row[c];
    weight_sum += weight;
    ++used;
  }
  if (used == 0) {
    return Status::InvalidArgument(tokens.empty()
                                       ? "the text has no words"
                                       : "no word of the text is in the model's vocabulary (" +
                                             std::to_string(tokens.size()) + " words, first \"" +
                                             tokens[0] + "\")");
  }
  std::vector<float> out(dim);
  for (uint32_t c = 0; c < dim; ++c) out[c] = static_cast<float>(sum[c] / weight_sum);
  if (!component.empty()) RemoveComponent(out, component);
  RELATE_RETURN_IF_ERROR(Normalize(out).WithContext("embedding the text"));
  return out;
}

Result<std::vector<std::pair<std::string, bool>>> Embedder::Explain(std::string_view text) const {
  RELATE_ASSIGN_OR_RETURN(auto tokens, tokenizer_.Tokenize(text));
  std::vector<std::pair<std::string, bool>> out;
  for (auto& token : tokens) {
    bool known = model_.vocabulary.Find(token).has_value();
    if (!known && oov_) known = oov_(token).has_value();
    out.emplace_back(std::move(token), known);
  }
  return out;
}

}  // namespace relate::embed
