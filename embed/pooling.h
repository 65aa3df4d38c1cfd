// From token rows to one text vector: non-linearity, pooling (mean or SIF) and
// L2 normalisation.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "relate/status.h"

namespace relate::embed {

// Applied to each token's row before pooling.
enum class Activation { kNone, kRelu, kTanh };

// "none", "relu", "tanh"; InvalidArgument otherwise.
Result<Activation> ParseActivation(std::string_view name);
std::string_view ActivationName(Activation activation);

// Applies `activation` to each value in place.
void Activate(Activation activation, std::span<float> values);

// SIF weights (Arora et al. 2017): a / (a + p(w)), p(w) = count(w) / total count.
// Tokens without counts (all zero) get weight 1. `a` is typically 1e-3.
std::vector<float> SifWeights(const Vocabulary& vocabulary, double a);

// The weighted mean of the rows `ids` of `table` after `activation`; `weights`
// holds one weight per row of the table, or is empty for equal weights.
// InvalidArgument if `ids` is empty or the weights of its rows sum to zero.
Result<std::vector<float>> PoolRows(const EmbeddingTable& table, std::span<const uint32_t> ids,
                                    std::span<const float> weights, Activation activation);

// The first principal component (unit length) of `n` vectors of `dim` laid end to
// end, uncentred as in SIF; by power iteration. Empty if all vectors are zero.
std::vector<float> FirstPrincipalComponent(std::span<const float> vectors, uint32_t dim);

// Subtracts from `vector` its projection on the unit vector `component`.
void RemoveComponent(std::span<float> vector, std::span<const float> component);

// Scales `vector` to unit L2 norm. InvalidArgument if its norm is zero or not finite.
Status Normalize(std::span<float> vector);

}  // namespace relate::embed
