// The exact pass that several families share: exact search over the rows at
// chosen positions (stored vectors, or vectors decoded from codes), fetched a
// block at a time and scored through index::ExactSearch, and the conversions
// between ExactSearch's distances, FAISS's values and relate's scores.
//
// Conventions: "raw" values are FAISS's (the inner product, or the squared
// Euclidean distance); ExactSearch's are "lower is closer" (the negated inner
// product, or the squared distance); scores and distances are relate's (see
// Metric).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "index/exact_search.h"
#include "index/positions.h"
#include "index/topk.h"
#include "index/vector_index.h"

namespace relate::index {

// Per query, (ExactSearch distance, position or row) pairs, best first.
using RangeHits = std::vector<std::vector<std::pair<float, int64_t>>>;

inline ScanMetric MetricFor(Metric m) {
  return m == Metric::kL2 ? ScanMetric::kL2 : ScanMetric::kInnerProduct;
}

// FAISS's convention from ExactSearch's (lower is closer: the negated inner product).
inline float RawFromScan(ScanMetric scan, float v) {
  return scan == ScanMetric::kInnerProduct ? -v : v;
}

// Score and distance (see Metric) of a value in FAISS's convention.
void FromRaw(Metric metric, float v, float* score, float* distance);

// Neighbours of n x k positions and FAISS-convention values; a position p
// becomes the record id ids[p], a label of -1 an empty slot.
Neighbours ToNeighbours(Metric metric, size_t n, size_t k, const int64_t* labels, const float* raw,
                        const uint64_t* ids);

// The ExactSearch distance a range search keeps up to: the negated threshold
// for scores, the squared one (a hair over, checked again on the distance)
// for L2; nullopt when nothing can be in range (a negative L2 threshold).
std::optional<float> RangeBound(Metric metric, float threshold);

inline bool InRange(Metric metric, float threshold, float score, float distance) {
  return metric == Metric::kL2 ? distance <= threshold : score >= threshold;
}

// RangeResult from per-query (ExactSearch distance, row) hits, rows mapped to
// ids by `ids`, keeping those in range.
RangeResult ToRange(Metric metric, ScanMetric scan, float threshold, const RangeHits& hits,
                    const uint64_t* ids);

// Rows per gathered block of an exact pass: 8 MiB of floats.
inline size_t GatherRows(size_t d) {
  return std::max<size_t>(256, (size_t{1} << 21) / std::max<size_t>(d, 1));
}

// Whether an exact search of `nq` queries over `allowed` of `positions` rows
// of `d` values should gather the allowed rows (a lookup of each id's
// position and a copy of its row) rather than scan every row, skipping the
// others. One query: a lookup and copy cost about as much as scanning 450
// values (on 100,000 x 100, gathering won below 18 % allowed: 1,462 queries/s
// at 15 % against 1,139 for a scan, 694 at 25 %). Many queries share one
// gather and multiply the gathered block, so they gather up to half the rows.
inline bool GatherAllowed(size_t allowed, size_t positions, size_t d, size_t nq) {
  if (nq >= kExactBatchQueries) return allowed * 2 <= positions;
  return static_cast<double>(allowed) * static_cast<double>(d + 450) <=
         static_cast<double>(positions) * static_cast<double>(d);
}

// Copies row `pos` of rows laid end to end.
struct CopyRow {
  const float* rows;
  size_t d;
  void operator()(size_t pos, float* out) const {
    std::memcpy(out, rows + pos * d, d * sizeof(float));
  }
};

// Rows (positions) whose record id is in a set: RowFilter's and HnswFilter's test.
struct IdsInSet {
  const uint64_t* ids;
  const IdSet* allowed;
  static bool Keep(const void* ctx, size_t row) {
    const auto* c = static_cast<const IdsInSet*>(ctx);
    return c->allowed->Contains(c->ids[row]);
  }
};

// Exact k-search of `nq` queries over the rows at `positions` (ascending),
// each fetched by fetch(position, out): labels get positions (-1 past the
// last hit), raw FAISS's values (nq x k each). Blocks of gathered rows go
// through ExactSearch, so many queries run as matrix products; ties go to
// the lower position, as in a scan of every row.
template <class Fetch>
void ExactOverPositions(ScanMetric scan, size_t d, std::span<const size_t> positions,
                        const float* queries, size_t nq, size_t k, const Fetch& fetch,
                        int64_t* labels, float* raw) {
  std::fill(labels, labels + nq * k, -1);
  std::fill(raw, raw + nq * k, std::numeric_limits<float>::infinity());
  if (positions.empty() || k == 0) return;
  const size_t chunk = GatherRows(d);
  const bool several = positions.size() > chunk;
  std::vector<float> block(std::min(chunk, positions.size()) * d);
  std::vector<int64_t> got(nq * k);
  std::vector<float> got_d(nq * k);
  std::vector<TopK> tops(several ? nq : 0, TopK(k));
  for (size_t b = 0; b < positions.size(); b += chunk) {
    const size_t m = std::min(chunk, positions.size() - b);
    for (size_t i = 0; i < m; ++i) fetch(positions[b + i], block.data() + i * d);
    ExactSearch(scan, block.data(), m, d, queries, nq, k, got.data(), got_d.data());
    for (size_t i = 0; i < nq * k; ++i) {
      if (got[i] < 0) continue;
      const auto pos = static_cast<int64_t>(positions[b + static_cast<size_t>(got[i])]);
      if (several) {
        tops[i / k].Push(got_d[i], pos);
      } else {
        labels[i] = pos;
        raw[i] = RawFromScan(scan, got_d[i]);
      }
    }
  }
  if (!several) return;
  for (size_t q = 0; q < nq; ++q) {
    tops[q].Drain(std::span(labels + q * k, k), std::span(raw + q * k, k));
    for (size_t j = 0; j < k; ++j) raw[q * k + j] = RawFromScan(scan, raw[q * k + j]);
  }
}

// Range search over the rows at `positions` (ascending), as ExactOverPositions:
// hits[q] gets (ExactSearch distance, position) pairs, best first, at most `limit`.
template <class Fetch>
void RangeOverPositions(ScanMetric scan, size_t d, std::span<const size_t> positions,
                        const float* queries, size_t nq, float max_distance, size_t limit,
                        const Fetch& fetch, RangeHits& hits) {
  hits.assign(nq, {});
  const size_t chunk = GatherRows(d);
  std::vector<float> block(std::min(chunk, positions.size()) * d);
  RangeHits got;
  for (size_t b = 0; b < positions.size(); b += chunk) {
    const size_t m = std::min(chunk, positions.size() - b);
    for (size_t i = 0; i < m; ++i) fetch(positions[b + i], block.data() + i * d);
    ExactRangeSearch(scan, block.data(), m, d, queries, nq, max_distance, limit, got);
    for (size_t q = 0; q < nq; ++q) {
      for (const auto& [dist, row] : got[q]) {
        hits[q].emplace_back(dist, static_cast<int64_t>(positions[b + static_cast<size_t>(row)]));
      }
    }
  }
  if (positions.size() <= chunk) return;
  for (auto& h : hits) {
    std::sort(h.begin(), h.end());
    if (h.size() > limit) h.resize(limit);
  }
}

// The live positions of the ids of `allowed`, ascending: through `where` (a
// lookup per allowed id), as plans do when the set is small next to the index.
std::vector<size_t> LookUpPositions(const Positions& positions, const IdSet& allowed);

// One search as VectorIndex hands it to a family: `n` prepared queries of `d`
// values, k neighbours each, into labels (positions, -1 beforehand) and raw
// (FAISS's values), n x k each. The family adds what it did to `stats`.
struct SearchJob {
  const Positions& positions;
  const SearchParams& params;
  ScanMetric scan;
  size_t d;
  const float* queries;
  size_t n;
  size_t k;
  int64_t* labels;
  float* raw;
  SearchStats& stats;

  // The efSearch of a graph walk for k neighbours (at least k).
  size_t ef() const {
    return std::max<size_t>(params.ef_search ? params.ef_search : VectorIndex::kDefaultEfSearch, k);
  }
};

// A filtered search's allowed ids (SearchParams::allowed, non-empty, over an
// index with live ids): their live positions, found once when first needed,
// and the exact pass over them that a plan starts with or ends with.
class AllowedPass {
 public:
  explicit AllowedPass(const SearchJob& job) : job_(job), allowed_(*job.params.allowed) {}

  const IdSet& allowed() const { return allowed_; }
  // Whether the set is small next to the index (positions are then looked up
  // per allowed id rather than found by a pass over every position).
  bool few() const { return allowed_.size() * 16 <= job_.positions.ids.size(); }
  // The allowed live positions, ascending.
  const std::vector<size_t>& positions();
  // Whether an exact pass over `a` allowed ids costs less than a graph walk
  // with efSearch `ef`. A walk meets some multiple of ef x live / a nodes to
  // collect ef of a allowed ones, each dearer than a row of an exact pass,
  // which scores a: measured on 100,000 clustered 100-d vectors at ef 64, the
  // walk answered 1,617 queries/s at 5 % allowed (an exact pass 6,254) and
  // 4,247 at 10 % (an exact pass 2,243), a crossing near a^2 = 8 ef live.
  bool ExactCheaper(size_t a, size_t ef) const {
    return static_cast<double>(a) * static_cast<double>(a) <=
           8.0 * static_cast<double>(ef) * static_cast<double>(job_.positions.where.size());
  }
  // Every query of the search: 0 .. n-1.
  std::vector<size_t> Every() const;
  // Of `which`, the queries short of k hits while more allowed ids exist.
  std::vector<size_t> StillShort(std::span<const size_t> which);
  // Answers the queries `which` by an exact pass over the allowed positions,
  // each fetched by fetch(position, out) in the space of `space_queries`
  // (d_space values a query).
  template <class Fetch>
  void Exact(std::span<const size_t> which, size_t d_space, const float* space_queries,
             const Fetch& fetch);

 private:
  const SearchJob& job_;
  const IdSet& allowed_;
  std::vector<size_t> positions_;
  bool have_positions_ = false;
};

template <class Fetch>
void AllowedPass::Exact(std::span<const size_t> which, size_t d_space, const float* space_queries,
                        const Fetch& fetch) {
  const auto& p = positions();
  const size_t m = which.size();
  const size_t k = job_.k;
  std::vector<float> q(m * d_space);
  for (size_t i = 0; i < m; ++i) {
    std::memcpy(q.data() + i * d_space, space_queries + which[i] * d_space,
                d_space * sizeof(float));
  }
  std::vector<int64_t> got(m * k);
  std::vector<float> got_raw(m * k);
  ExactOverPositions(job_.scan, d_space, p, q.data(), m, k, fetch, got.data(), got_raw.data());
  for (size_t i = 0; i < m; ++i) {
    std::copy_n(got.data() + i * k, k, job_.labels + which[i] * k);
    std::copy_n(got_raw.data() + i * k, k, job_.raw + which[i] * k);
  }
  job_.stats.distances += m * p.size();
  job_.stats.exact_pass = true;
}

}  // namespace relate::index
