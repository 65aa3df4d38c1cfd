// HNSW (Malkov & Yashunin) construction and search over FAISS's graph
// structure, faiss::HNSW, so that FAISS serialises the graph and can search it
// too, while relate's own loops run the dispatched SIMD kernels.
//
// The graph holds row positions of a vector array that the caller owns and
// appends to; it never moves a row. Level 0 keeps up to 2M links per node,
// upper levels M; a new node is linked to the M neighbours that the selection
// heuristic keeps among ef_construction candidates, as hnswlib does.
//
// Deleted rows stay in the graph (they still route searches) and are left out
// of results by a bitset, until the index is rebuilt without them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "index/exact_search.h"
#include "relate/status.h"
#include "util/mutex.h"

namespace faiss {
struct HNSW;
}

namespace relate::index {

// The vectors a graph's positions refer to.
struct HnswSpace {
  ScanMetric metric;
  const float* rows;  // row i at rows + i * d
  size_t d;
};

// Per-search memory (visited marks and queues), reused across searches.
class HnswScratch {
 public:
  // Marks sized for `n` nodes; cleared lazily through an epoch counter.
  void Prepare(size_t n);
  uint16_t* visited() { return visited_.data(); }
  uint16_t epoch() const { return epoch_; }
  std::vector<std::pair<float, int32_t>> candidates, results;
  std::vector<int32_t> pending;

 private:
  std::vector<uint16_t> visited_;
  uint16_t epoch_ = 0;
};

// Hands each concurrent search its own scratch. Thread-safe.
class HnswScratchPool {
 public:
  std::unique_ptr<HnswScratch> Acquire();
  void Release(std::unique_ptr<HnswScratch> scratch);

 private:
  util::Mutex mu_;
  std::vector<std::unique_ptr<HnswScratch>> free_ RELATE_GUARDED_BY(mu_);
};

// Links rows [graph size, end) of `space` into `graph` with up to `threads`
// threads (0: OpenMP's default). The graph must not be searched meanwhile.
// Throws what an insertion threw (std::bad_alloc), leaving the graph to be
// rebuilt.
void HnswAdd(faiss::HNSW& graph, const HnswSpace& space, size_t end, uint32_t ef_construction,
             uint32_t threads);

// The k nearest rows to `query` that are not set in `dead` (a bitset over
// rows; null: none), best first, into labels/distances (row -1 and +inf pad
// when fewer exist). `ef` (at least k) candidates are kept while walking.
// Returns the number of distances computed.
size_t HnswSearch(const faiss::HNSW& graph, const HnswSpace& space, const float* query, size_t k,
                  size_t ef, const uint64_t* dead, HnswScratch& scratch, int64_t* labels,
                  float* distances);

// Which rows a filtered search may return. Rows left out still route the
// walk, as deleted ones do; only results are filtered.
struct HnswFilter {
  const uint64_t* dead = nullptr;  // bitset over rows never returned; null: none
  const uint64_t* rows = nullptr;  // if set: a bitset of the only rows returned
  // If set: only rows for which keep(ctx, row) is true.
  bool (*keep)(const void* ctx, size_t row) = nullptr;
  const void* ctx = nullptr;
};

// As above, with results limited by `filter`. The walk goes on until it holds
// ef rows the filter keeps or runs out of reachable nodes, so a selective
// filter makes it visit about ef / (share of rows kept) nodes.
size_t HnswSearch(const faiss::HNSW& graph, const HnswSpace& space, const float* query, size_t k,
                  size_t ef, const HnswFilter& filter, HnswScratch& scratch, int64_t* labels,
                  float* distances);

// Whether a graph read from a file (FAISS's reader checks none of it) is
// safe to walk over `n` nodes: every link, level and offset in range, the
// entry point on the top level. Corruption saying what is wrong.
Status CheckGraph(const faiss::HNSW& graph, size_t n);

}  // namespace relate::index
