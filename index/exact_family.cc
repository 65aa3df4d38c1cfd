#include "index/exact_family.h"

#include <faiss/IndexFlat.h>
#include <faiss/index_io.h>

#include <cstring>

namespace relate::index {

ExactFamily::ExactFamily(uint32_t dimension, Metric metric)
    : flat_(std::make_unique<faiss::IndexFlat>(static_cast<int>(dimension), FaissMetric(metric))) {}

ExactFamily::~ExactFamily() = default;

std::unique_ptr<Family> MakeExactFamily(uint32_t dimension, Metric metric) {
  return std::make_unique<ExactFamily>(dimension, metric);
}

const float* ExactFamily::rows() const { return flat_->get_xb(); }

size_t ExactFamily::bytes() const { return flat_->codes.size(); }

void ExactFamily::Stats(IndexStats& stats) const {
  stats.kind = "flat";
  stats.memory_bytes += bytes();
}

void ExactFamily::Reserve(size_t n) {
  flat_->codes.reserve(n * static_cast<size_t>(flat_->d) * sizeof(float));
}

void ExactFamily::Add(size_t /*first*/, size_t n, const float* vectors) {
  flat_->add(static_cast<faiss::Index::idx_t>(n), vectors);
}

void ExactFamily::SwapRemove(size_t pos, size_t last) {
  const size_t row_bytes = flat_->code_size;
  if (pos != last) {
    std::memcpy(flat_->codes.data() + pos * row_bytes, flat_->codes.data() + last * row_bytes,
                row_bytes);
  }
  flat_->codes.resize(last * row_bytes);
  flat_->ntotal = static_cast<faiss::Index::idx_t>(last);
}

void ExactFamily::Search(const SearchJob& job) const {
  const auto rows = static_cast<size_t>(flat_->ntotal);
  ExactSearch(job.scan, flat_->get_xb(), rows, job.d, job.queries, job.n, job.k, job.labels,
              job.raw);
  if (job.scan == ScanMetric::kInnerProduct) {
    for (size_t i = 0; i < job.n * job.k; ++i) job.raw[i] = -job.raw[i];
  }
  job.stats.distances += job.n * static_cast<uint64_t>(rows);
}

void ExactFamily::SearchAllowed(const SearchJob& job, AllowedPass& pass) const {
  const float* rows = flat_->get_xb();
  const size_t d = job.d, n = job.n, k = job.k;
  const size_t positions = job.positions.ids.size();
  if (GatherAllowed(pass.allowed().size(), positions, d, n)) {
    const auto& p = pass.positions();
    ExactOverPositions(job.scan, d, p, job.queries, n, k, CopyRow{rows, d}, job.labels, job.raw);
    job.stats.distances += n * p.size();
    return;
  }
  const IdsInSet in_set{job.positions.ids.data(), &pass.allowed()};
  ExactSearch(job.scan, rows, positions, d, job.queries, n, k, job.labels, job.raw,
              RowFilter{&IdsInSet::Keep, &in_set});
  for (size_t i = 0; i < n * k; ++i) job.raw[i] = RawFromScan(job.scan, job.raw[i]);
  job.stats.distances += n * positions;
}

void ExactFamily::RangeSearch(const Positions& positions, ScanMetric scan, const float* queries,
                              size_t n, float max_distance, size_t limit, const IdSet* allowed,
                              RangeHits& hits, SearchStats& stats) const {
  const float* rows = flat_->get_xb();
  const auto d = static_cast<size_t>(flat_->d);
  const size_t count = positions.ids.size();
  if (allowed == nullptr) {
    ExactRangeSearch(scan, rows, count, d, queries, n, max_distance, limit, hits);
    stats.distances += n * count;
  } else if (GatherAllowed(allowed->size(), count, d, n)) {
    const std::vector<size_t> pos = LookUpPositions(positions, *allowed);
    RangeOverPositions(scan, d, pos, queries, n, max_distance, limit, CopyRow{rows, d}, hits);
    stats.distances += n * pos.size();
  } else {
    const IdsInSet in_set{positions.ids.data(), allowed};
    ExactRangeSearch(scan, rows, count, d, queries, n, max_distance, limit, hits,
                     RowFilter{&IdsInSet::Keep, &in_set});
    stats.distances += n * count;
  }
}

void ExactFamily::Write(faiss::IOWriter* writer) const { faiss::write_index(flat_.get(), writer); }

bool ExactFamily::Read(faiss::IOReader* reader, uint32_t /*ef_construction*/, uint32_t /*flags*/) {
  std::unique_ptr<faiss::Index> index(faiss::read_index(reader));
  auto* flat = dynamic_cast<faiss::IndexFlat*>(index.get());
  if (flat == nullptr) return false;
  (void)index.release();
  flat_.reset(flat);
  return true;
}

const faiss::Index& ExactFamily::held() const { return *flat_; }

}  // namespace relate::index
