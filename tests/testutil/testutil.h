// Helpers for relate's tests: scratch directories, deterministic vectors and
// the brute-force search that exact search is checked against.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "relate/types.h"

namespace relate::testutil {

// A fresh directory under $TMPDIR, removed with everything in it at destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "relate-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// `n` vectors of `dim` Gaussian values laid end to end, from a fixed seed.
inline std::vector<float> RandomVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (auto& x : v) x = normal(rng);
  return v;
}

// `n` unit vectors of `dim` values drawn around `clusters` random centres (noise
// `spread` per coordinate around unit-variance centres), like real embeddings:
// the data approximate search is checked on. The centres depend only on
// `centre_seed`, so base vectors and queries drawn with other seeds share them.
inline std::vector<float> ClusteredVectors(size_t n, size_t dim, size_t clusters, float spread,
                                           uint32_t seed, uint32_t centre_seed = 1) {
  const std::vector<float> centres = RandomVectors(clusters, dim, centre_seed ^ 0x5bd1e995u);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + pick(rng) * dim;
    double norm = 0;
    for (size_t j = 0; j < dim; ++j) {
      v[i * dim + j] = c[j] + normal(rng);
      norm += static_cast<double>(v[i * dim + j]) * v[i * dim + j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (size_t j = 0; j < dim; ++j) v[i * dim + j] *= inv;
  }
  return v;
}

inline std::vector<float> Normalised(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  const float inv = static_cast<float>(1.0 / std::sqrt(n));
  for (auto& x : v) x *= inv;
  return v;
}

// The score the metric gives `a` against `b`, computed in double precision.
inline double Score(Metric metric, const float* a, const float* b, size_t dim) {
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (size_t i = 0; i < dim; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
    l2 += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  }
  switch (metric) {
    case Metric::kCosine:
      return dot / std::sqrt(na * nb);
    case Metric::kInnerProduct:
      return dot;
    case Metric::kL2:
      return std::sqrt(l2);
  }
  return 0;
}

// Indexes of the k best of `n` base vectors for `query`, best first, by brute force.
inline std::vector<size_t> BruteForce(Metric metric, const std::vector<float>& base, size_t dim,
                                      const float* query, size_t k) {
  const size_t n = base.size() / dim;
  std::vector<double> scores(n);
  for (size_t i = 0; i < n; ++i) scores[i] = Score(metric, base.data() + i * dim, query, dim);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const bool lower_better = metric == Metric::kL2;
  std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(std::min(k, n)),
                    order.end(), [&](size_t a, size_t b) {
                      return lower_better ? scores[a] < scores[b] : scores[a] > scores[b];
                    });
  order.resize(std::min(k, n));
  return order;
}

// `n` lines of 12 words each drawn from one of 20 topics of 15 words ("t3w7" is
// word 7 of topic 3), so that words of a topic share contexts: a corpus whose
// right answers are known, for training tests.
inline std::string TopicText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out;
  for (size_t s = 0; s < n; ++s) {
    const int topic = static_cast<int>(rng() % 20);
    for (int i = 0; i < 12; ++i) {
      out += "t" + std::to_string(topic) + "w" + std::to_string(rng() % 15) + " ";
    }
    out += "\n";
  }
  return out;
}

// A word2vec text file of four 3-d words: two royals, two fruits.
inline constexpr const char* kSmallModel =
    "4 3\n"
    "king 0.5 0.25 -1\n"
    "queen 0.5 0.75 -1\n"
    "apple -2 0 0.125\n"
    "pear -2 0.5 0.25\n";

}  // namespace relate::testutil
