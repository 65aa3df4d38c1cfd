#include "embed/pooling.h"

#include <cmath>
#include <string>

namespace relate::embed {

Result<Activation> ParseActivation(std::string_view name) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kRelu;
  if (name == "tanh") return Activation::kTanh;
  return Status::InvalidArgument("unknown activation \"" + std::string(name) +
                                 "\"; expected none, relu or tanh");
}

std::string_view ActivationName(Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return "none";
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
  }
  return "none";
}

void Activate(Activation activation, std::span<float> values) {
  switch (activation) {
    case Activation::kNone:
      return;
    case Activation::kRelu:
      for (auto& v : values) v = v > 0 ? v : 0.0f;
      return;
    case Activation::kTanh:
      for (auto& v : values) v = std::tanh(v);
      return;
  }
}

std::vector<float> SifWeights(const Vocabulary& vocabulary, double a) {
  double total = 0;
  for (uint32_t id = 0; id < vocabulary.size(); ++id)
    total += static_cast<double>(vocabulary.Count(id));
  std::vector<float> weights(vocabulary.size(), 1.0f);
  if (total <= 0) return weights;
  for (uint32_t id = 0; id < vocabulary.size(); ++id) {
    const double p = static_cast<double>(vocabulary.Count(id)) / total;
    weights[id] = static_cast<float>(a / (a + p));
  }
  return weights;
}

Result<std::vector<float>> PoolRows(const EmbeddingTable& table, std::span<const uint32_t> ids,
                                    std::span<const float> weights, Activation activation) {
  if (ids.empty()) return Status::InvalidArgument("no token to pool");
  const uint32_t dim = table.dim();
  std::vector<double> sum(dim, 0.0);
  std::vector<float> row(dim);
  double weight_sum = 0;
  for (uint32_t id : ids) {
    const double w = weights.empty() ? 1.0 : weights[id];
    auto source = table.Row(id);
    std::copy(source.begin(), source.end(), row.begin());
    Activate(activation, row);
    for (uint32_t c = 0; c < dim; ++c) sum[c] += w * row[c];
    weight_sum += w;
  }
  if (!(weight_sum > 0)) return Status::InvalidArgument("the tokens' weights sum to zero");
  std::vector<float> out(dim);
  for (uint32_t c = 0; c < dim; ++c) out[c] = static_cast<float>(sum[c] / weight_sum);
  return out;
}

std::vector<float> FirstPrincipalComponent(std::span<const float> vectors, uint32_t dim) {
  const size_t n = dim == 0 ? 0 : vectors.size() / dim;
  // Power iteration on X^T X, started from the sum of the rows (not orthogonal
  // to the top component unless the data is degenerate).
  std::vector<double> v(dim, 0.0), next(dim);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t c = 0; c < dim; ++c) v[c] += vectors[i * dim + c];
  }
  auto normalise = [&](std::vector<double>& x) {
    double norm = 0;
    for (double e : x) norm += e * e;
    norm = std::sqrt(norm);
    if (norm == 0) return false;
    for (auto& e : x) e /= norm;
    return true;
  };
  if (!normalise(v)) {
    std::fill(v.begin(), v.end(), 1.0);
    if (!normalise(v)) return {};
  }
  for (int iteration = 0; iteration < 100; ++iteration) {
    std::fill(next.begin(), next.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      const float* x = vectors.data() + i * dim;
      double dot = 0;
      for (uint32_t c = 0; c < dim; ++c) dot += x[c] * v[c];
      for (uint32_t c = 0; c < dim; ++c) next[c] += dot * x[c];
    }
    if (!normalise(next)) return {};
    double change = 0;
    for (uint32_t c = 0; c < dim; ++c) change += std::abs(next[c] - v[c]);
    v.swap(next);
    if (change < 1e-9) break;
  }
  return std::vector<float>(v.begin(), v.end());
}

void RemoveComponent(std::span<float> vector, std::span<const float> component) {
  if (component.size() != vector.size()) return;
  double dot = 0;
  for (size_t c = 0; c < vector.size(); ++c) dot += static_cast<double>(vector[c]) * component[c];
  for (size_t c = 0; c < vector.size(); ++c) vector[c] -= static_cast<float>(dot * component[c]);
}

Status Normalize(std::span<float> vector) {
  double norm = 0;
  for (float v : vector) norm += static_cast<double>(v) * v;
  norm = std::sqrt(norm);
  if (!(norm > 0) || !std::isfinite(norm)) {
    return Status::InvalidArgument("vector has zero (or non-finite) norm and no direction");
  }
  for (auto& v : vector) v = static_cast<float>(v / norm);
  return Status::OK();
}

}  // namespace relate::embed
