// Exact k-nearest-neighbour search over rows laid end to end: the scan behind
// Flat indexes and behind indexes that are not trained yet.
//
// One query is a scan with the dispatched SIMD kernels (index/distance.h),
// split over threads when the rows are many; several inner-product queries
// are matrix products (BLAS sgemm) over blocks of queries and rows, each
// block followed by a threshold filter, so they run at the BLAS rate. Several
// L2 queries are scans too (one per thread): the matrix-product form of L2
// loses the differences between rows far from the origin to rounding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace relate::index {

// How rows are compared. Distances are "lower is closer": the negated inner
// product, or the squared Euclidean distance.
enum class ScanMetric { kInnerProduct, kL2 };

// Which rows a search may return: those for which keep(ctx, row) is true; a
// null `keep` returns every row. Asked only about rows close enough to enter
// the results, so a costly test costs little.
struct RowFilter {
  bool (*keep)(const void* ctx, size_t row) = nullptr;
  const void* ctx = nullptr;
};

// Searches `nq` queries against `n` rows of `d` values; writes, per query, k
// (row, distance) pairs best first into labels/distances (nq * k each), with
// row -1 and distance +inf where fewer than k rows exist. Ties go to the lower row.
void ExactSearch(ScanMetric metric, const float* rows, size_t n, size_t d, const float* queries,
                 size_t nq, size_t k, int64_t* labels, float* distances,
                 const RowFilter& filter = {});

// Per query, every row (that `filter` keeps) whose distance is <= max_distance,
// best first (ties to the lower row), at most `limit`: hits[q] gets the
// (distance, row) pairs of query q (it is resized to nq).
void ExactRangeSearch(ScanMetric metric, const float* rows, size_t n, size_t d,
                      const float* queries, size_t nq, float max_distance, size_t limit,
                      std::vector<std::vector<std::pair<float, int64_t>>>& hits,
                      const RowFilter& filter = {});

// From this many inner-product queries on, ExactSearch uses sgemm.
inline constexpr size_t kExactBatchQueries = 8;

}  // namespace relate::index
