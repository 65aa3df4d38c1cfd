#include "index/exact_pass.h"

#include <cassert>
#include <cmath>
#include <numeric>

#include "index/distance.h"

namespace relate::index {

void FromRaw(Metric metric, float v, float* score, float* distance) {
  switch (metric) {
    case Metric::kCosine:
      *score = v;
      *distance = 1.0f - v;
      break;
    case Metric::kInnerProduct:
      *score = v;
      *distance = -v;
      break;
    case Metric::kL2:
      *distance = std::sqrt(std::max(v, 0.0f));
      *score = *distance;
      break;
  }
}

void ScorePair(Metric metric, const float* a, const float* b, size_t dimension, float* score,
               float* distance) {
  const DistanceKernels& k = BestKernels();
  const float raw =
      metric == Metric::kL2 ? k.l2_squared(a, b, dimension) : k.inner_product(a, b, dimension);
  FromRaw(metric, raw, score, distance);
}

Neighbours ToNeighbours(Metric metric, size_t n, size_t k, const int64_t* labels, const float* raw,
                        const uint64_t* ids) {
  Neighbours out;
  out.k = k;
  out.ids.assign(n * k, -1);
  out.distances.assign(n * k, std::numeric_limits<float>::infinity());
  out.scores.resize(n * k);
  for (size_t i = 0; i < n * k; ++i) {
    if (labels[i] < 0) continue;
    out.ids[i] = static_cast<int64_t>(ids[static_cast<size_t>(labels[i])]);
    FromRaw(metric, raw[i], &out.scores[i], &out.distances[i]);
  }
  return out;
}

std::optional<float> RangeBound(Metric metric, float threshold) {
  if (metric != Metric::kL2) return -threshold;
  if (threshold < 0) return std::nullopt;
  return std::nextafter(threshold * threshold * (1 + 1e-6f),
                        std::numeric_limits<float>::infinity());
}

RangeResult ToRange(Metric metric, ScanMetric scan, float threshold, const RangeHits& hits,
                    const uint64_t* ids) {
  RangeResult out;
  out.offsets.push_back(0);
  for (const auto& list : hits) {
    for (const auto& [v, row] : list) {
      float score = 0, distance = 0;
      FromRaw(metric, RawFromScan(scan, v), &score, &distance);
      if (!InRange(metric, threshold, score, distance)) continue;
      out.ids.push_back(static_cast<int64_t>(ids[static_cast<size_t>(row)]));
      out.scores.push_back(score);
      out.distances.push_back(distance);
    }
    out.offsets.push_back(out.ids.size());
  }
  return out;
}

std::vector<size_t> LookUpPositions(const Positions& positions, const IdSet& allowed) {
  std::vector<size_t> pos;
  for (uint64_t id : allowed.Sorted()) {
    if (auto it = positions.where.find(id); it != positions.where.end()) pos.push_back(it->second);
  }
  std::sort(pos.begin(), pos.end());
  return pos;
}

const std::vector<size_t>& AllowedPass::positions() {
  if (have_positions_) return positions_;
  have_positions_ = true;
  const Positions& p = job_.positions;
  if (few()) {
    positions_ = LookUpPositions(p, allowed_);
  } else {
    for (size_t pos = 0; pos < p.ids.size(); ++pos) {
      if (p.ids[pos] != kNoId && !p.IsDead(pos) && allowed_.Contains(p.ids[pos])) {
        positions_.push_back(pos);
      }
    }
  }
  return positions_;
}

std::vector<size_t> AllowedPass::Every() const {
  std::vector<size_t> every(job_.n);
  std::iota(every.begin(), every.end(), size_t{0});
  return every;
}

std::vector<size_t> AllowedPass::StillShort(std::span<const size_t> which) {
  const size_t k = job_.k;
  std::vector<size_t> out;
  for (size_t q : which) {
    if (job_.labels[q * k + k - 1] >= 0) continue;
    size_t found = 0;
    while (found < k && job_.labels[q * k + found] >= 0) ++found;
    if (found < positions().size()) out.push_back(q);
  }
  return out;
}

Neighbours ExactSearchRows(Metric metric, uint32_t dimension, std::span<const float> rows,
                           std::span<const uint64_t> ids, std::span<const float> queries, size_t k,
                           SearchStats* stats) {
  const size_t d = std::max<size_t>(dimension, 1);
  assert(rows.size() == ids.size() * d);
  const size_t n_rows = std::min(rows.size() / d, ids.size());
  const size_t nq = queries.size() / d;
  const ScanMetric scan = MetricFor(metric);
  std::vector<int64_t> labels(nq * k, -1);
  std::vector<float> raw(nq * k);
  if (k > 0) {
    ExactSearch(scan, rows.data(), n_rows, d, queries.data(), nq, k, labels.data(), raw.data());
  }
  for (float& v : raw) v = RawFromScan(scan, v);
  if (stats != nullptr) stats->distances += nq * n_rows;
  return ToNeighbours(metric, nq, k, labels.data(), raw.data(), ids.data());
}

RangeResult RangeSearchRows(Metric metric, uint32_t dimension, std::span<const float> rows,
                            std::span<const uint64_t> ids, std::span<const float> queries,
                            float threshold, size_t limit, SearchStats* stats) {
  const size_t d = std::max<size_t>(dimension, 1);
  assert(rows.size() == ids.size() * d);
  const size_t n_rows = std::min(rows.size() / d, ids.size());
  const size_t nq = queries.size() / d;
  const ScanMetric scan = MetricFor(metric);
  const std::optional<float> bound = RangeBound(metric, threshold);
  RangeHits hits(nq);
  if (bound && !std::isnan(threshold)) {
    ExactRangeSearch(scan, rows.data(), n_rows, d, queries.data(), nq, *bound, limit, hits);
    if (stats != nullptr) stats->distances += nq * n_rows;
  }
  return ToRange(metric, scan, threshold, hits, ids.data());
}

}  // namespace relate::index
