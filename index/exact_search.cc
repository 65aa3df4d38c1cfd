#include "index/exact_search.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "index/distance.h"
#include "index/topk.h"

extern "C" {
// Fortran BLAS, as FAISS declares it (OpenBLAS provides it).
int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
           const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
           const float* beta, float* c, const int* ldc);
}

namespace relate::index {
namespace {

// Rows scored per kernel call: the scores stay in L1 while they are filtered.
constexpr size_t kScanBlock = 512;
// Below this many values a single query is scanned by one thread: waking a
// second costs more than it saves.
constexpr size_t kParallelScanValues = size_t{1} << 21;
// sgemm blocks: queries x rows scores (1024 x 4096 floats = 16 MiB, in L3).
constexpr size_t kGemmQueries = 1024;
constexpr size_t kGemmRows = 4096;

// Keeps the (distance, row) pairs with distance <= a bound, at most `limit`
// of the best: once it holds more than twice that, it drops all but the
// best `limit` and tightens the bound to the worst of them.
class RangeCollector {
 public:
  RangeCollector(float bound, size_t limit) : bound_(bound), limit_(limit) {}
  float threshold() const { return bound_; }
  void Push(float distance, int64_t row) {
    if (!(distance <= bound_) || limit_ == 0) return;
    pairs_.emplace_back(distance, row);
    if (pairs_.size() >= 2 * limit_ + 64) Compact();
  }
  void Merge(const RangeCollector& other) {
    for (const auto& [d, r] : other.pairs_) Push(d, r);
  }
  // The pairs best first (ties to the lower row), at most `limit`.
  std::vector<std::pair<float, int64_t>> Take() {
    std::sort(pairs_.begin(), pairs_.end());
    if (pairs_.size() > limit_) pairs_.resize(limit_);
    return std::move(pairs_);
  }

 private:
  void Compact() {
    const auto keep = pairs_.begin() + static_cast<ptrdiff_t>(limit_);
    std::nth_element(pairs_.begin(), keep, pairs_.end());
    pairs_.resize(limit_);
    bound_ = std::max_element(pairs_.begin(), pairs_.end())->first;
  }
  float bound_;
  size_t limit_;
  std::vector<std::pair<float, int64_t>> pairs_;
};

// Feeds rows [begin, end) to `top` (a TopK or a RangeCollector), only the
// ones that beat its threshold and that the filter keeps.
template <class Top, bool kFiltered>
void ScanRange(ScanMetric metric, const DistanceKernels& kernels, const float* q, const float* rows,
               size_t begin, size_t end, size_t d, Top& top, const RowFilter& filter) {
  float scores[kScanBlock];
  for (size_t b = begin; b < end; b += kScanBlock) {
    const size_t m = std::min(kScanBlock, end - b);
    const float* block = rows + b * d;
    if (metric == ScanMetric::kInnerProduct) {
      kernels.inner_products(q, block, m, d, scores);
      for (size_t j = 0; j < m; ++j) scores[j] = -scores[j];
    } else {
      for (size_t j = 0; j < m; ++j) scores[j] = kernels.l2_squared(q, block + j * d, d);
    }
    float threshold = top.threshold();
    for (size_t j = 0; j < m; ++j) {
      if (scores[j] <= threshold) {
        if constexpr (kFiltered) {
          if (!filter.keep(filter.ctx, b + j)) continue;
        }
        top.Push(scores[j], static_cast<int64_t>(b + j));
        threshold = top.threshold();
      }
    }
  }
}

template <class Top>
void ScanFiltered(ScanMetric metric, const DistanceKernels& kernels, const float* q,
                  const float* rows, size_t begin, size_t end, size_t d, Top& top,
                  const RowFilter& filter) {
  if (filter.keep == nullptr) {
    ScanRange<Top, false>(metric, kernels, q, rows, begin, end, d, top, filter);
  } else {
    ScanRange<Top, true>(metric, kernels, q, rows, begin, end, d, top, filter);
  }
}

// One query into `top`, split over threads when the rows are many.
template <class Top>
void ScanOne(ScanMetric metric, const float* rows, size_t n, size_t d, const float* q, Top& top,
             const RowFilter& filter) {
  const DistanceKernels& kernels = KernelsForDimension(d);
  const int threads = n * d >= kParallelScanValues ? omp_get_max_threads() : 1;
  if (threads <= 1) {
    ScanFiltered(metric, kernels, q, rows, 0, n, d, top, filter);
    return;
  }
  std::vector<Top> partial(static_cast<size_t>(threads), top);
#pragma omp parallel num_threads(threads)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t begin = n * t / nt, end = n * (t + 1) / nt;
    ScanFiltered(metric, kernels, q, rows, begin, end, d, partial[t], filter);
  }
  for (const Top& p : partial) top.Merge(p);
}

// Inner products only: for L2, ||x||^2 - 2 q.x + ||q||^2 in float cancels
// away the differences between rows far from the origin, so L2 batches scan.
// Feeds the block of queries [q0, q0 + tops.size()) into tops.
template <class Top>
void ProductBlock(const float* rows, size_t n, size_t d, const float* queries, size_t q0,
                  std::vector<Top>& tops, std::vector<float>& scores, const RowFilter& filter) {
  const int di = static_cast<int>(d);
  const float one = 1, zero = 0;
  const size_t qn = tops.size();
  for (size_t r0 = 0; r0 < n; r0 += kGemmRows) {
    const size_t rn = std::min(kGemmRows, n - r0);
    const int rni = static_cast<int>(rn), qni = static_cast<int>(qn);
    // Column-major rn x qn, i.e. row-major qn x rn: scores[q * rn + r].
    sgemm_("T", "N", &rni, &qni, &di, &one, rows + r0 * d, &di, queries + q0 * d, &di, &zero,
           scores.data(), &rni);
#pragma omp parallel for schedule(static)
    for (size_t q = 0; q < qn; ++q) {
      const float* s = scores.data() + q * rn;
      Top& top = tops[q];
      float threshold = top.threshold();
      for (size_t r = 0; r < rn; ++r) {
        if (-s[r] <= threshold) {
          if (filter.keep != nullptr && !filter.keep(filter.ctx, r0 + r)) continue;
          top.Push(-s[r], static_cast<int64_t>(r0 + r));
          threshold = top.threshold();
        }
      }
    }
  }
}

bool UseProducts(ScanMetric metric, size_t n, size_t d, size_t nq) {
  return metric == ScanMetric::kInnerProduct && nq >= kExactBatchQueries && n > 0 && d > 0;
}

}  // namespace

void ExactSearch(ScanMetric metric, const float* rows, size_t n, size_t d, const float* queries,
                 size_t nq, size_t k, int64_t* labels, float* distances, const RowFilter& filter) {
  if (k == 0) return;
  if (UseProducts(metric, n, d, nq)) {
    std::vector<float> scores(std::min(nq, kGemmQueries) * std::min(n, kGemmRows));
    for (size_t q0 = 0; q0 < nq; q0 += kGemmQueries) {
      const size_t qn = std::min(kGemmQueries, nq - q0);
      std::vector<TopK> tops(qn, TopK(k));
      ProductBlock(rows, n, d, queries, q0, tops, scores, filter);
      for (size_t q = 0; q < qn; ++q) {
        const size_t at = (q0 + q) * k;
        tops[q].Drain(std::span(labels + at, k), std::span(distances + at, k));
      }
    }
    return;
  }
  const auto queries_n = static_cast<int64_t>(nq);
#pragma omp parallel for schedule(dynamic) if (nq > 1)
  for (int64_t i = 0; i < queries_n; ++i) {
    const auto q = static_cast<size_t>(i);
    TopK top(k);
    ScanOne(metric, rows, n, d, queries + q * d, top, filter);
    top.Drain(std::span(labels + q * k, k), std::span(distances + q * k, k));
  }
}

void ExactRangeSearch(ScanMetric metric, const float* rows, size_t n, size_t d,
                      const float* queries, size_t nq, float max_distance, size_t limit,
                      std::vector<std::vector<std::pair<float, int64_t>>>& hits,
                      const RowFilter& filter) {
  hits.assign(nq, {});
  if (limit == 0 || n == 0) return;
  const RangeCollector empty(max_distance, std::min(limit, n));
  if (UseProducts(metric, n, d, nq)) {
    std::vector<float> scores(std::min(nq, kGemmQueries) * std::min(n, kGemmRows));
    for (size_t q0 = 0; q0 < nq; q0 += kGemmQueries) {
      const size_t qn = std::min(kGemmQueries, nq - q0);
      std::vector<RangeCollector> tops(qn, empty);
      ProductBlock(rows, n, d, queries, q0, tops, scores, filter);
      for (size_t q = 0; q < qn; ++q) hits[q0 + q] = tops[q].Take();
    }
    return;
  }
  const auto queries_n = static_cast<int64_t>(nq);
#pragma omp parallel for schedule(dynamic) if (nq > 1)
  for (int64_t i = 0; i < queries_n; ++i) {
    const auto q = static_cast<size_t>(i);
    RangeCollector top = empty;
    ScanOne(metric, rows, n, d, queries + q * d, top, filter);
    hits[q] = top.Take();
  }
}

}  // namespace relate::index
