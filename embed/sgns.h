// The arithmetic of one training step: skip-gram / CBOW with negative sampling.
//
// For an input vector h (a context word's row of W, or the mean of several rows)
// and targets t_0 (the word to predict, label 1) and t_1..t_n (noise words,
// label 0), the loss is
//   L = -log s(h . w'_0) - sum_i log s(-h . w'_i),   s(x) = 1 / (1 + e^-x)
// where w'_t is row t of the output matrix W'. The step moves every w'_t by
// -lr dL/dw'_t and accumulates -lr dL/dh into `grad_h`, which the caller adds
// to the input rows afterwards (word2vec's neu1e).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace relate::embed {

// s(x) and log s(x) from tables, as word2vec and fastText do: exp() per target
// would cost as much as the dot product. Outside [-kMax, kMax] s saturates.
class SigmoidTable {
 public:
  static constexpr float kMax = 8.0f;
  static constexpr int kSize = 2048;

  SigmoidTable() : sigmoid_(kSize + 1), log_sigmoid_(kSize + 1) {
    for (int i = 0; i <= kSize; ++i) {
      const double x = (2.0 * i / kSize - 1.0) * kMax;
      sigmoid_[i] = static_cast<float>(1.0 / (1.0 + std::exp(-x)));
      log_sigmoid_[i] = static_cast<float>(-std::log1p(std::exp(-x)));
    }
  }
  float Sigmoid(float x) const {
    if (x >= kMax) return 1.0f;
    if (x <= -kMax) return 0.0f;
    return sigmoid_[Slot(x)];
  }
  // log s(x), for the loss shown in progress reports.
  float LogSigmoid(float x) const {
    if (x >= kMax) return 0.0f;
    if (x <= -kMax) return x;
    return log_sigmoid_[Slot(x)];
  }

 private:
  static int Slot(float x) { return static_cast<int>((x + kMax) * (kSize / kMax / 2) + 0.5f); }
  std::vector<float> sigmoid_;
  std::vector<float> log_sigmoid_;
};

// The same functions computed exactly, for tests of the gradient.
struct ExactSigmoid {
  float Sigmoid(float x) const { return static_cast<float>(1.0 / (1.0 + std::exp(-double{x}))); }
  float LogSigmoid(float x) const { return static_cast<float>(-std::log1p(std::exp(-double{x}))); }
};

// Translation units built with -fopenmp-simd (the trainer's) vectorise these
// loops, reduction included; elsewhere they stay plain loops, with no warning.
#if defined(_OPENMP) || defined(RELATE_OPENMP_SIMD)
#define RELATE_SIMD _Pragma("omp simd")
#define RELATE_SIMD_SUM_S _Pragma("omp simd reduction(+ : s)")
#else
#define RELATE_SIMD
#define RELATE_SIMD_SUM_S
#endif

inline float Dot(const float* a, const float* b, uint32_t n) {
  float s = 0;
  RELATE_SIMD_SUM_S
  for (uint32_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += a * x
inline void Axpy(float a, const float* x, float* y, uint32_t n) {
  RELATE_SIMD
  for (uint32_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// One negative-sampling step (see the file comment). `targets[0]` is the
// positive word, the rest are noise words; a noise word equal to the positive
// one is skipped, as word2vec does. Returns the loss L of this step.
template <typename Sigmoid>
inline float NegativeSamplingStep(const float* h, float* output, const uint32_t* targets,
                                  size_t n_targets, uint32_t dim, float lr, float* grad_h,
                                  const Sigmoid& sigmoid) {
  float loss = 0;
  for (size_t i = 0; i < n_targets; ++i) {
    if (i > 0 && targets[i] == targets[0]) continue;
    float* w = output + static_cast<size_t>(targets[i]) * dim;
    const float label = i == 0 ? 1.0f : 0.0f;
    const float f = Dot(h, w, dim);
    // dL/df = s(f) - label
    const float g = lr * (label - sigmoid.Sigmoid(f));
    loss -= sigmoid.LogSigmoid(i == 0 ? f : -f);
    Axpy(g, w, grad_h, dim);
    Axpy(g, h, w, dim);
  }
  return loss;
}

}  // namespace relate::embed
