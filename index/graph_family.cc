// relate's HNSW graph over exact vectors ("HNSW<M>", "HNSW<M>,Flat"): FAISS's
// IndexHNSWFlat holds the rows and the graph (so a checkpoint holds them as
// FAISS writes them), and relate's own loops (index/hnsw.h) link and walk it.
// A removed vector stays in the graph as a tombstone, still routing walks.
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/HNSW.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <vector>

#include "index/family.h"
#include "index/hnsw.h"
#include "util/bitset.h"

namespace relate::index {
namespace {

class GraphFamily final : public Family {
 public:
  GraphFamily(uint32_t dimension, Metric metric, int m, const BuildParams& build)
      : hnsw_(std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dimension), m,
                                                     FaissMetric(metric))),
        scan_(MetricFor(metric)),
        threads_(build.threads) {
    hnsw_->hnsw.efConstruction = static_cast<int>(
        build.ef_construction ? build.ef_construction : VectorIndex::kDefaultEfConstruction);
  }

  Kind kind() const override { return Kind::kHnsw; }
  Removal removal() const override { return Removal::kTombstone; }
  bool keeps_exact_vectors() const override { return true; }
  const float* rows() const override { return storage().get_xb(); }

  void Stats(IndexStats& stats) const override {
    stats.kind = "hnsw";
    stats.graph = true;
    const faiss::HNSW& g = hnsw_->hnsw;
    stats.memory_bytes += storage().codes.size() + g.neighbors.size() * sizeof(int32_t) +
                          g.offsets.size() * sizeof(size_t) + g.levels.size() * sizeof(int);
  }

  void Reserve(size_t n) override {
    storage().codes.reserve(n * static_cast<size_t>(hnsw_->d) * sizeof(float));
    faiss::HNSW& g = hnsw_->hnsw;
    // Level 0 holds 2M links; a node reaches level l >= 1 with probability
    // M^-l, each upper level holding M: about M / (M - 1) more per node.
    // (At least 2: a graph read from a checkpoint has what the file says.)
    const size_t m = static_cast<size_t>(std::max(g.nb_neighbors(1), 2));
    const size_t links =
        static_cast<size_t>(std::max(g.nb_neighbors(0), 0)) + (m + m - 2) / (m - 1);
    g.neighbors.reserve(n * links + n / 64 + 1024);
    g.offsets.reserve(n + 1);
    g.levels.reserve(n);
  }

  void Add(size_t /*first*/, size_t n, const float* vectors) override {
    faiss::IndexFlat& flat = storage();
    flat.add(static_cast<faiss::Index::idx_t>(n), vectors);
    hnsw_->ntotal = flat.ntotal;
    HnswAdd(hnsw_->hnsw, Space(), static_cast<size_t>(flat.ntotal),
            static_cast<uint32_t>(hnsw_->hnsw.efConstruction), threads_);
  }

  void Search(const SearchJob& job) const override {
    const size_t ef = job.ef();
    job.stats.distances += Walk(job, ef, job.positions.dead_bits());
    if (job.scan == ScanMetric::kInnerProduct) {
      for (size_t i = 0; i < job.n * job.k; ++i) job.raw[i] = -job.raw[i];
    }
    job.stats.ef_search = static_cast<uint32_t>(ef);
  }

  void SearchAllowed(const SearchJob& job, AllowedPass& pass) const override;

  uint32_t saved_ef_construction() const override {
    return static_cast<uint32_t>(hnsw_->hnsw.efConstruction);
  }
  void Write(faiss::IOWriter* writer) const override { faiss::write_index(hnsw_.get(), writer); }
  bool Read(faiss::IOReader* reader, uint32_t ef_construction, uint32_t /*flags*/) override {
    std::unique_ptr<faiss::Index> index(faiss::read_index(reader));
    auto* h = dynamic_cast<faiss::IndexHNSWFlat*>(index.get());
    if (h == nullptr || dynamic_cast<faiss::IndexFlat*>(h->storage) == nullptr) return false;
    (void)index.release();
    hnsw_.reset(h);
    if (ef_construction > 0) hnsw_->hnsw.efConstruction = static_cast<int>(ef_construction);
    return true;
  }
  Status CheckLoaded(const Positions& /*positions*/) const override {
    return CheckGraph(hnsw_->hnsw, static_cast<size_t>(storage().ntotal));
  }
  const faiss::Index& held() const override { return *hnsw_; }

 private:
  const faiss::IndexFlat& storage() const {
    return *static_cast<const faiss::IndexFlat*>(hnsw_->storage);
  }
  faiss::IndexFlat& storage() { return *static_cast<faiss::IndexFlat*>(hnsw_->storage); }
  HnswSpace Space() const {
    return HnswSpace{scan_, storage().get_xb(), static_cast<size_t>(hnsw_->d)};
  }

  // Walks the graph for every query of `job` (in parallel when several),
  // returning only rows `filter` keeps (a tombstone bitset or an
  // HnswFilter); returns the distances computed.
  template <class Filter>
  uint64_t Walk(const SearchJob& job, size_t ef, const Filter& filter) const;

  std::unique_ptr<faiss::IndexHNSWFlat> hnsw_;
  ScanMetric scan_;
  uint32_t threads_;
  mutable HnswScratchPool scratch_;
};

template <class Filter>
uint64_t GraphFamily::Walk(const SearchJob& job, size_t ef, const Filter& filter) const {
  const HnswSpace space = Space();
  const size_t n = job.n, k = job.k, d = job.d;
  std::exception_ptr failure;  // may not leave the OpenMP region: thrown after it
  uint64_t ndis = 0;
#pragma omp parallel for schedule(dynamic) if (n > 1) reduction(+ : ndis)
  for (size_t i = 0; i < n; ++i) {
    try {
      auto scratch = scratch_.Acquire();
      ndis += HnswSearch(hnsw_->hnsw, space, job.queries + i * d, k, ef, filter, *scratch,
                         job.labels + i * k, job.raw + i * k);
      scratch_.Release(std::move(scratch));
    } catch (...) {
#pragma omp critical(relate_hnsw_search_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  return ndis;
}

void GraphFamily::SearchAllowed(const SearchJob& job, AllowedPass& pass) const {
  const float* rows = storage().get_xb();
  const size_t d = job.d;
  const size_t positions = job.positions.ids.size();
  const size_t ef = job.ef();
  const std::vector<size_t> every = pass.Every();
  util::Bitset mask;
  HnswFilter filter;
  const IdsInSet in_set{job.positions.ids.data(), &pass.allowed()};
  if (pass.few() || pass.ExactCheaper(pass.allowed().size(), ef)) {
    const auto& p = pass.positions();
    if (pass.ExactCheaper(p.size(), ef)) {
      pass.Exact(every, d, job.queries, CopyRow{rows, d});
      return;
    }
    mask = util::Bitset(positions);
    for (size_t x : p) mask.Set(x);
    filter.rows = mask.words();
  } else {
    filter.dead = job.positions.dead_bits();
    filter.keep = &IdsInSet::Keep;
    filter.ctx = &in_set;
  }
  // The walk keeps going until it holds ef allowed rows, so one that ends
  // short of k has met every node it can reach: a wider ef would find
  // nothing more, and an exact pass completes it.
  job.stats.distances += Walk(job, ef, filter);
  for (size_t i = 0; i < job.n * job.k; ++i) job.raw[i] = RawFromScan(job.scan, job.raw[i]);
  job.stats.ef_search = std::max(job.stats.ef_search, static_cast<uint32_t>(ef));
  const std::vector<size_t> rest = pass.StillShort(every);
  if (!rest.empty()) pass.Exact(rest, d, job.queries, CopyRow{rows, d});
}

}  // namespace

std::unique_ptr<Family> MakeGraphFamily(uint32_t dimension, Metric metric, int m,
                                        const BuildParams& build) {
  return std::make_unique<GraphFamily>(dimension, metric, m, build);
}

}  // namespace relate::index
