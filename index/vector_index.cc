// VectorIndex: the owner of a family (index/family.h) and of the id maps
// beside it (index/positions.h). It checks every call's arguments, keeps the
// maps, turns what FAISS throws into a Status, and leaves what the vectors
// are stored as to the family. The spec parser is in spec.cc, the checkpoint
// format in checkpoint.cc.
#include "index/vector_index.h"

#include <faiss/impl/FaissException.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>
#include <tuple>

#include "index/exact_family.h"
#include "index/exact_pass.h"
#include "index/family.h"
#include "index/vector_index_rep.h"

namespace relate::index {
namespace {

void AddStats(const SearchStats& from, SearchStats* to) {
  if (to == nullptr) return;
  to->distances += from.distances;
  to->widenings += from.widenings;
  to->ef_search = std::max(to->ef_search, from.ef_search);
  to->nprobe = std::max(to->nprobe, from.nprobe);
  to->exact_pass = to->exact_pass || from.exact_pass;
}

Status CheckQueries(size_t values, uint32_t dimension) {
  if (values % dimension == 0) return Status::OK();
  return Status::InvalidArgument("queries hold " + std::to_string(values) +
                                 " values, not a multiple of the dimension " +
                                 std::to_string(dimension));
}

Status CheckK(size_t n, size_t k) {
  if (k > VectorIndex::kMaxK || (k > 0 && n > VectorIndex::kMaxK / k * 64)) {
    return Status::InvalidArgument("search asks for " + std::to_string(n) + " x " +
                                   std::to_string(k) + " neighbours; at most " +
                                   std::to_string(VectorIndex::kMaxK) + " per query");
  }
  return Status::OK();
}

}  // namespace

Status CheckVector(std::span<const float> vector, uint32_t dimension, Metric metric) {
  if (vector.empty()) return Status::InvalidArgument("vector is empty");
  if (vector.size() != dimension) {
    return Status::InvalidArgument("vector has " + std::to_string(vector.size()) +
                                   " values, expected " + std::to_string(dimension));
  }
  double norm2 = 0;
  for (size_t i = 0; i < vector.size(); ++i) {
    if (!std::isfinite(vector[i])) {
      return Status::InvalidArgument("vector value " + std::to_string(i) + " is " +
                                     (std::isnan(vector[i]) ? "NaN" : "infinite"));
    }
    norm2 += static_cast<double>(vector[i]) * vector[i];
  }
  if (metric == Metric::kCosine) {
    // Normalised (in double, PrepareVectors) before it is stored or searched.
    if (!(norm2 > 0)) {
      return Status::InvalidArgument("vector is all zeros, which has no direction for cosine");
    }
    return Status::OK();
  }
  // The distance of two vectors can reach (|a| + |b|)^2 = 4 |a|^2: kept in
  // float range, no L2 distance or inner product overflows to infinity.
  constexpr double kMaxNorm2 = std::numeric_limits<float>::max() / 4.0;
  if (!(norm2 <= kMaxNorm2)) {
    char what[160];
    std::snprintf(what, sizeof what,
                  "vector is too long (squared length %.3g, at most %.3g): distances between "
                  "such vectors overflow float; scale the vectors down",
                  norm2, kMaxNorm2);
    return Status::InvalidArgument(what);
  }
  return Status::OK();
}

void PrepareVectors(Metric metric, uint32_t dimension, std::span<float> vectors) {
  if (metric != Metric::kCosine || dimension == 0) return;
  // In double: FAISS's float renormalisation leaves a vector whose squared
  // length underflows (values near 1e-23) as it was.
  for (size_t start = 0; start + dimension <= vectors.size(); start += dimension) {
    double norm2 = 0;
    for (size_t i = start; i < start + dimension; ++i) {
      norm2 += static_cast<double>(vectors[i]) * vectors[i];
    }
    if (!(norm2 > 0)) continue;
    const double scale = 1.0 / std::sqrt(norm2);
    for (size_t i = start; i < start + dimension; ++i) {
      vectors[i] = static_cast<float>(vectors[i] * scale);
    }
  }
}

std::vector<uint64_t> IdSet::Sorted() const {
  std::vector<uint64_t> out;
  out.reserve(size_);
  bits_.ForEach([&out](uint64_t id) { out.push_back(id); });
  return out;
}

std::unique_ptr<VectorIndex> VectorIndex::Unusable(uint32_t dimension, Metric metric,
                                                   std::string_view spec, std::string_view why) {
  auto rep = std::make_unique<Rep>();
  rep->family = MakeExactFamily(std::max(dimension, 1u), metric);
  rep->unusable = Status::FailedPrecondition(
      std::string(why) +
      "; relate cannot build this index: drop the collection and create it again with a "
      "valid index spec");
  return std::unique_ptr<VectorIndex>(
      new VectorIndex(std::move(rep), std::max(dimension, 1u), metric, std::string(spec)));
}

Status VectorIndex::CheckUsable() const { return rep_->unusable; }

VectorIndex::VectorIndex(std::unique_ptr<Rep> rep, uint32_t dimension, Metric metric,
                         std::string spec)
    : rep_(std::move(rep)), dimension_(dimension), metric_(metric), spec_(std::move(spec)) {}

VectorIndex::~VectorIndex() = default;

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(uint32_t dimension, Metric metric,
                                                         std::string_view spec,
                                                         const BuildParams& build) {
  std::string resolved = ResolveSpec(spec);
  if (Status s = CheckSpec(dimension, resolved); !s.ok()) return s;
  auto rep = std::make_unique<Rep>();
  RELATE_ASSIGN_OR_RETURN(rep->family, MakeFamily(dimension, metric, resolved, build));
  return std::unique_ptr<VectorIndex>(
      new VectorIndex(std::move(rep), dimension, metric, std::move(resolved)));
}

size_t VectorIndex::size() const { return rep_->positions.where.size(); }

bool VectorIndex::keeps_exact_vectors() const { return rep_->family->keeps_exact_vectors(); }

bool VectorIndex::Contains(uint64_t id) const { return rep_->positions.where.count(id) != 0; }

bool VectorIndex::needs_training() const { return rep_->family->needs_training(); }

size_t VectorIndex::training_rows() const { return rep_->family->training_rows(); }

IndexStats VectorIndex::Stats() const {
  const Positions& p = rep_->positions;
  IndexStats st;
  st.live = p.where.size();
  st.dead = p.dead_count;
  st.holes = p.holes;
  st.memory_bytes = p.ids.size() * sizeof(uint64_t) + p.dead_words() * sizeof(uint64_t) +
                    // an unordered_map node: key, value, next pointer, cached hash, bucket
                    p.where.size() * 40;
  rep_->family->Stats(st);
  if (!rep_->unusable.ok()) st.kind = "unusable";
  return st;
}

Status VectorIndex::Train(std::span<const float> vectors) {
  if (!rep_->unusable.ok()) return rep_->unusable;
  Rep& r = *rep_;
  if (!r.family->needs_training()) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" needs no training");
  }
  const size_t n = vectors.size() / dimension_;
  if (n == 0) return Status::InvalidArgument("training index \"" + spec_ + "\": no vectors");
  try {
    r.family->Train(n, vectors.data(), r.positions.ids.size());
  } catch (const faiss::FaissException& e) {
    return Status::Internal("training index \"" + spec_ + "\": " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal("training index \"" + spec_ + "\": " + e.what());
  }
  return Status::OK();
}

void VectorIndex::Reserve(size_t n) {
  Rep& r = *rep_;
  r.positions.ids.reserve(n);
  r.positions.where.reserve(n);
  r.family->Reserve(n);
}

Status VectorIndex::TrainOnHeld(size_t max_rows) {
  if (!rep_->unusable.ok()) return rep_->unusable;
  const Rep& r = *rep_;
  if (!r.family->needs_training()) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" needs no training");
  }
  const size_t n = r.positions.ids.size();
  const size_t take = std::min(n, std::max<size_t>(max_rows, 1));
  std::vector<float> sample(take * dimension_);
  const float* rows = r.family->rows();
  for (size_t i = 0; i < take; ++i) {
    const size_t row = i * n / take;
    std::memcpy(sample.data() + i * dimension_, rows + row * dimension_,
                dimension_ * sizeof(float));
  }
  return Train(sample);
}

Status VectorIndex::Add(std::span<const uint64_t> ids, std::span<const float> vectors) {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (vectors.size() != ids.size() * dimension_) {
    return Status::Internal("index add: " + std::to_string(vectors.size()) + " values for " +
                            std::to_string(ids.size()) + " ids");
  }
  if (ids.empty()) return Status::OK();
  Positions& p = rep_->positions;
  for (uint64_t id : ids) {
    if (p.where.count(id)) {
      return Status::Internal("index add: id " + std::to_string(id) + " is in the index");
    }
  }
  const size_t first = p.ids.size();
  if (first + ids.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::FailedPrecondition("index holds 2^31 positions; rebuild it");
  }
  try {
    rep_->family->Add(first, ids.size(), vectors.data());
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index add: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index add: ") + e.what());
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    p.ids.push_back(ids[i]);
    p.where[ids[i]] = first + i;
  }
  p.CoverPositions();
  return Status::OK();
}

Result<size_t> VectorIndex::Remove(std::span<const uint64_t> ids) {
  if (!rep_->unusable.ok()) return rep_->unusable;
  Positions& p = rep_->positions;
  Family& family = *rep_->family;
  const Removal removal = family.removal();
  size_t removed = 0;
  std::vector<int64_t> hole_labels;
  for (uint64_t id : ids) {
    auto it = p.where.find(id);
    if (it == p.where.end()) continue;
    const size_t pos = it->second;
    p.where.erase(it);
    ++removed;
    switch (removal) {
      case Removal::kSwap:
        family.SwapRemove(pos, p.ids.size() - 1);
        p.SwapRemove(pos);
        break;
      case Removal::kHole:
        p.ids[pos] = kNoId;
        ++p.holes;
        hole_labels.push_back(Label(pos));
        break;
      case Removal::kTombstone:
        p.MarkDead(pos);
        break;
    }
  }
  if (!hole_labels.empty()) {
    try {
      family.RemoveLabels(hole_labels);
    } catch (const faiss::FaissException& e) {
      return Status::Internal("index remove: " + e.msg);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("index remove: ") + e.what());
    }
  }
  return removed;
}

Result<Neighbours> VectorIndex::Search(std::span<const float> queries, size_t k,
                                       const SearchParams& params, SearchStats* stats) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (Status s = CheckQueries(queries.size(), dimension_); !s.ok()) return s;
  const Rep& r = *rep_;
  const size_t n = queries.size() / dimension_;
  if (Status s = CheckK(n, k); !s.ok()) return s;
  if (n == 0 || k == 0) return ToNeighbours(metric_, n, k, nullptr, nullptr, nullptr);
  // `labels` are positions; `raw` FAISS's values: inner product, or squared L2.
  std::vector<int64_t> labels(n * k, -1);
  std::vector<float> raw(n * k);
  SearchStats st;
  const SearchJob job{.positions = r.positions,
                      .params = params,
                      .scan = MetricFor(metric_),
                      .d = dimension_,
                      .queries = queries.data(),
                      .n = n,
                      .k = k,
                      .labels = labels.data(),
                      .raw = raw.data(),
                      .stats = st};
  try {
    if (params.allowed == nullptr) {
      r.family->Search(job);
    } else if (params.allowed->size() != 0 && !r.positions.where.empty()) {
      AllowedPass pass(job);
      r.family->SearchAllowed(job, pass);
    }
  } catch (const faiss::FaissException& e) {
    return Status::Internal("index search: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index search: ") + e.what());
  }
  AddStats(st, stats);
  return ToNeighbours(metric_, n, k, labels.data(), raw.data(), r.positions.ids.data());
}

Result<Neighbours> VectorIndex::SearchExact(std::span<const float> queries, size_t k,
                                            std::span<const uint64_t> ids,
                                            SearchStats* stats) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (Status s = CheckQueries(queries.size(), dimension_); !s.ok()) return s;
  const Rep& r = *rep_;
  const size_t n = queries.size() / dimension_;
  if (Status s = CheckK(n, k); !s.ok()) return s;
  if (!r.family->keeps_exact_vectors()) {
    return Status::FailedPrecondition("index \"" + spec_ +
                                      "\" keeps codes, not vectors: exact search over ids "
                                      "needs the stored vectors (ExactSearchRows)");
  }
  std::vector<size_t> pos;
  pos.reserve(ids.size());
  for (uint64_t id : ids) {
    if (auto it = r.positions.where.find(id); it != r.positions.where.end()) {
      pos.push_back(it->second);
    }
  }
  std::sort(pos.begin(), pos.end());
  pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
  std::vector<int64_t> labels(n * k, -1);
  std::vector<float> raw(n * k);
  try {
    ExactOverPositions(MetricFor(metric_), dimension_, pos, queries.data(), n, k,
                       CopyRow{r.family->rows(), dimension_}, labels.data(), raw.data());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index exact search: ") + e.what());
  }
  SearchStats st;
  st.distances = n * pos.size();
  AddStats(st, stats);
  return ToNeighbours(metric_, n, k, labels.data(), raw.data(), r.positions.ids.data());
}

namespace {

// A range search of an index that is not scanned exactly: a k-search,
// widened for the queries whose k-th hit is still in range (see
// VectorIndex::RangeSearch).
Result<RangeResult> RangeByWidening(const VectorIndex& index, std::span<const float> queries,
                                    float threshold, size_t limit, const SearchParams& params,
                                    SearchStats& st) {
  const size_t d = index.dimension();
  const size_t n = queries.size() / d;
  const Metric metric = index.metric();
  const size_t live =
      params.allowed ? std::min(index.size(), params.allowed->size()) : index.size();
  const size_t cap = std::min({limit, VectorIndex::kMaxK, std::max<size_t>(live, 1)});
  size_t k = std::min<size_t>(cap, 64);
  std::vector<std::vector<std::tuple<int64_t, float, float>>> found(n);
  std::vector<size_t> pending(n);
  std::iota(pending.begin(), pending.end(), size_t{0});
  for (;;) {
    std::vector<size_t> next;
    // Search takes at most kMaxK x 64 neighbours at once.
    const size_t batch = std::max<size_t>(1, VectorIndex::kMaxK / k * 64);
    for (size_t b0 = 0; b0 < pending.size(); b0 += batch) {
      const size_t m = std::min(batch, pending.size() - b0);
      std::vector<float> q(m * d);
      for (size_t i = 0; i < m; ++i) {
        std::memcpy(q.data() + i * d, queries.data() + pending[b0 + i] * d, d * sizeof(float));
      }
      RELATE_ASSIGN_OR_RETURN(Neighbours nb, index.Search(q, k, params, &st));
      for (size_t i = 0; i < m; ++i) {
        const size_t last = i * k + k - 1;
        if (nb.ids[last] >= 0 && InRange(metric, threshold, nb.scores[last], nb.distances[last]) &&
            k < cap) {
          next.push_back(pending[b0 + i]);
          continue;
        }
        auto& out = found[pending[b0 + i]];
        for (size_t j = i * k; j < i * k + k && out.size() < limit; ++j) {
          if (nb.ids[j] >= 0 && InRange(metric, threshold, nb.scores[j], nb.distances[j])) {
            out.emplace_back(nb.ids[j], nb.scores[j], nb.distances[j]);
          }
        }
      }
    }
    if (next.empty()) break;
    k = std::min(cap, k * 4);
    ++st.widenings;
    pending = std::move(next);
  }
  RangeResult out;
  out.offsets.push_back(0);
  for (const auto& list : found) {
    for (const auto& [id, score, distance] : list) {
      out.ids.push_back(id);
      out.scores.push_back(score);
      out.distances.push_back(distance);
    }
    out.offsets.push_back(out.ids.size());
  }
  return out;
}

}  // namespace

Result<RangeResult> VectorIndex::RangeSearch(std::span<const float> queries, float threshold,
                                             size_t limit, const SearchParams& params,
                                             SearchStats* stats) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  if (Status s = CheckQueries(queries.size(), dimension_); !s.ok()) return s;
  if (std::isnan(threshold)) return Status::InvalidArgument("range search threshold is NaN");
  const Rep& r = *rep_;
  const size_t n = queries.size() / dimension_;
  const ScanMetric scan = MetricFor(metric_);
  const std::optional<float> bound = RangeBound(metric_, threshold);
  if (n == 0 || limit == 0 || !bound || r.positions.where.empty() ||
      (params.allowed != nullptr && params.allowed->size() == 0)) {
    RangeResult empty;
    empty.offsets.assign(n + 1, 0);
    return empty;
  }
  SearchStats st;
  const ExactFamily* rows = r.family->scanned();
  if (rows == nullptr) {
    auto out = RangeByWidening(*this, queries, threshold, limit, params, st);
    if (out) AddStats(st, stats);
    return out;
  }
  RangeHits hits;
  try {
    rows->RangeSearch(r.positions, scan, queries.data(), n, *bound, limit, params.allowed, hits,
                      st);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index range search: ") + e.what());
  }
  AddStats(st, stats);
  return ToRange(metric_, scan, threshold, hits, r.positions.ids.data());
}

Result<std::vector<float>> VectorIndex::Reconstruct(uint64_t id) const {
  if (!rep_->unusable.ok()) return rep_->unusable;
  const Rep& r = *rep_;
  auto it = r.positions.where.find(id);
  if (it == r.positions.where.end()) {
    return Status::NotFound("id " + std::to_string(id) + " is not in the index");
  }
  const float* rows = r.family->rows();
  if (rows == nullptr) {
    return Status::FailedPrecondition("index \"" + spec_ + "\" keeps codes, not vectors");
  }
  const float* v = rows + it->second * dimension_;
  return std::vector<float>(v, v + dimension_);
}

std::vector<uint64_t> VectorIndex::Ids() const {
  const Positions& p = rep_->positions;
  std::vector<uint64_t> out;
  out.reserve(p.where.size());
  for (size_t pos = 0; pos < p.ids.size(); ++pos) {
    if (p.ids[pos] != kNoId && !p.IsDead(pos)) out.push_back(p.ids[pos]);
  }
  return out;
}

}  // namespace relate::index
