// Exact vectors ("Flat"): rows in FAISS's flat storage (faiss::IndexFlat, so
// a checkpoint holds them as FAISS writes them), searched by relate's scans
// (index/exact_search.h). Rows stay dense: removing one moves the last row
// into its position. A code family keeps its rows in one of these until it
// is trained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "index/family.h"

namespace faiss {
struct IndexFlat;
}

namespace relate::index {

class ExactFamily final : public Family {
 public:
  // May throw what FAISS throws.
  ExactFamily(uint32_t dimension, Metric metric);
  ~ExactFamily() override;

  Kind kind() const override { return Kind::kFlat; }
  Removal removal() const override { return Removal::kSwap; }
  bool keeps_exact_vectors() const override { return true; }
  const float* rows() const override;
  const ExactFamily* scanned() const override { return this; }
  void Stats(IndexStats& stats) const override;

  void Reserve(size_t n) override;
  void Add(size_t first, size_t n, const float* vectors) override;
  void SwapRemove(size_t pos, size_t last) override;

  void Search(const SearchJob& job) const override;
  void SearchAllowed(const SearchJob& job, AllowedPass& pass) const override;
  // Range search of `n` queries over the live rows (only those of `allowed`
  // if set): per query, (ExactSearch distance, position) pairs within
  // `max_distance`, best first, at most `limit`.
  void RangeSearch(const Positions& positions, ScanMetric scan, const float* queries, size_t n,
                   float max_distance, size_t limit, const IdSet* allowed, RangeHits& hits,
                   SearchStats& stats) const;

  void Write(faiss::IOWriter* writer) const override;
  bool Read(faiss::IOReader* reader, uint32_t ef_construction, uint32_t flags) override;
  const faiss::Index& held() const override;

  // Bytes the rows take.
  size_t bytes() const;

 private:
  std::unique_ptr<faiss::IndexFlat> flat_;
};

}  // namespace relate::index
