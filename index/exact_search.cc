#include "index/exact_search.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <span>
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

void ScanRange(ScanMetric metric, const DistanceKernels& kernels, const float* q,
               const float* rows, size_t begin, size_t end, size_t d, TopK& top) {
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
        top.Push(scores[j], static_cast<int64_t>(b + j));
        threshold = top.threshold();
      }
    }
  }
}

void SearchOne(ScanMetric metric, const float* rows, size_t n, size_t d, const float* q, size_t k,
               int64_t* labels, float* distances) {
  const DistanceKernels& kernels = KernelsForDimension(d);
  const int threads = n * d >= kParallelScanValues ? omp_get_max_threads() : 1;
  TopK top(k);
  if (threads <= 1) {
    ScanRange(metric, kernels, q, rows, 0, n, d, top);
  } else {
    std::vector<TopK> partial(static_cast<size_t>(threads), TopK(k));
#pragma omp parallel num_threads(threads)
    {
      const size_t t = static_cast<size_t>(omp_get_thread_num());
      const size_t nt = static_cast<size_t>(omp_get_num_threads());
      const size_t begin = n * t / nt, end = n * (t + 1) / nt;
      ScanRange(metric, kernels, q, rows, begin, end, d, partial[t]);
    }
    for (const TopK& p : partial) top.Merge(p);
  }
  top.Drain(std::span(labels, k), std::span(distances, k));
}

// Inner products only: for L2, ||x||^2 - 2 q.x + ||q||^2 in float cancels
// away the differences between rows far from the origin, so L2 batches scan.
void SearchMany(const float* rows, size_t n, size_t d, const float* queries, size_t nq, size_t k,
                int64_t* labels, float* distances) {
  std::vector<float> scores(std::min(nq, kGemmQueries) * std::min(n, kGemmRows));
  const int di = static_cast<int>(d);
  const float one = 1, zero = 0;
  for (size_t q0 = 0; q0 < nq; q0 += kGemmQueries) {
    const size_t qn = std::min(kGemmQueries, nq - q0);
    std::vector<TopK> tops(qn, TopK(k));
    for (size_t r0 = 0; r0 < n; r0 += kGemmRows) {
      const size_t rn = std::min(kGemmRows, n - r0);
      const int rni = static_cast<int>(rn), qni = static_cast<int>(qn);
      // Column-major rn x qn, i.e. row-major qn x rn: scores[q * rn + r].
      sgemm_("T", "N", &rni, &qni, &di, &one, rows + r0 * d, &di, queries + q0 * d, &di, &zero,
             scores.data(), &rni);
#pragma omp parallel for schedule(static)
      for (size_t q = 0; q < qn; ++q) {
        const float* s = scores.data() + q * rn;
        TopK& top = tops[q];
        float threshold = top.threshold();
        for (size_t r = 0; r < rn; ++r) {
          if (-s[r] <= threshold) {
            top.Push(-s[r], static_cast<int64_t>(r0 + r));
            threshold = top.threshold();
          }
        }
      }
    }
    for (size_t q = 0; q < qn; ++q) {
      const size_t at = (q0 + q) * k;
      tops[q].Drain(std::span(labels + at, k), std::span(distances + at, k));
    }
  }
}

}  // namespace

void ExactSearch(ScanMetric metric, const float* rows, size_t n, size_t d, const float* queries,
                 size_t nq, size_t k, int64_t* labels, float* distances) {
  if (k == 0) return;
  if (metric == ScanMetric::kInnerProduct && nq >= kExactBatchQueries && n > 0 && d > 0) {
    SearchMany(rows, n, d, queries, nq, k, labels, distances);
    return;
  }
  const auto queries_n = static_cast<int64_t>(nq);
#pragma omp parallel for schedule(dynamic) if (nq > 1)
  for (int64_t i = 0; i < queries_n; ++i) {
    const auto q = static_cast<size_t>(i);
    SearchOne(metric, rows, n, d, queries + q * d, k, labels + q * k, distances + q * k);
  }
}

}  // namespace relate::index
