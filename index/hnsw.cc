#include "index/hnsw.h"

#include <faiss/impl/HNSW.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <limits>
#include <string>

#include "index/distance.h"
#include "util/bitset.h"
#include "util/mutex.h"

namespace relate::index {
namespace {

using Node = std::pair<float, int32_t>;  // distance, row

// Fewer new rows than this are linked by the calling thread alone.
constexpr size_t kParallelAddRows = 256;

// "Lower is closer" distance between two rows of the space.
struct Distance {
  explicit Distance(const HnswSpace& space)
      : rows(space.rows),
        d(space.d),
        negate(space.metric == ScanMetric::kInnerProduct),
        fn(negate ? KernelsForDimension(space.d).inner_product
                  : KernelsForDimension(space.d).l2_squared) {}
  const float* row(int32_t i) const { return rows + static_cast<size_t>(i) * d; }
  float operator()(const float* a, const float* b) const {
    const float v = fn(a, b, d);
    return negate ? -v : v;
  }
  float operator()(const float* a, int32_t i) const { return (*this)(a, row(i)); }

  const float* rows;
  size_t d;
  bool negate;
  float (*fn)(const float*, const float*, size_t);
};

// Starts fetching a row into cache: its first lines (the rest follow the
// hardware's sequential prefetch).
inline void PrefetchRow(const Distance& dist, int32_t i) {
  const char* p = reinterpret_cast<const char*>(dist.row(i));
  const size_t bytes = std::min<size_t>(dist.d * sizeof(float), 512);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
}

struct Links {
  int32_t* begin;
  int32_t* end;
};

Links LinksOf(faiss::HNSW& g, int32_t node, int level) {
  int32_t* base = g.neighbors.data() + g.offsets[static_cast<size_t>(node)];
  return {base + g.cum_nneighbor_per_level[static_cast<size_t>(level)],
          base + g.cum_nneighbor_per_level[static_cast<size_t>(level) + 1]};
}

const int32_t* LinksBegin(const faiss::HNSW& g, int32_t node, int level, const int32_t** end) {
  const int32_t* base = g.neighbors.data() + g.offsets[static_cast<size_t>(node)];
  *end = base + g.cum_nneighbor_per_level[static_cast<size_t>(level) + 1];
  return base + g.cum_nneighbor_per_level[static_cast<size_t>(level)];
}

// Link slots are read while other threads rewrite them during a parallel
// build: relaxed atomics (plain moves on x86) keep that defined.
inline int32_t LoadLink(const int32_t* p) {
  return std::atomic_ref<int32_t>(*const_cast<int32_t*>(p)).load(std::memory_order_relaxed);
}
inline void StoreLink(int32_t* p, int32_t v) {
  std::atomic_ref<int32_t>(*p).store(v, std::memory_order_relaxed);
}

// Greedy walk on one upper level: moves to a closer neighbour while there is one.
template <bool kConcurrent>
void Greedy(const faiss::HNSW& g, const Distance& dist, const float* q, int level, int32_t& cur,
            float& cur_d, size_t& ndis) {
  for (bool moved = true; moved;) {
    moved = false;
    const int32_t* end;
    for (const int32_t* p = LinksBegin(g, cur, level, &end); p < end; ++p) {
      const int32_t nb = kConcurrent ? LoadLink(p) : *p;
      if (nb < 0) break;
      const float d = dist(q, nb);
      ++ndis;
      if (d < cur_d) {
        cur = nb;
        cur_d = d;
        moved = true;
      }
    }
  }
}

// Rows not set in a bitset (null: every row) may be results.
struct NotDead {
  const uint64_t* dead;
  bool operator()(int32_t i) const {
    return dead == nullptr || !util::TestBit(dead, static_cast<uint64_t>(i));
  }
};

// Rows an HnswFilter keeps may be results.
struct Kept {
  const HnswFilter& f;
  bool operator()(int32_t i) const {
    const auto row = static_cast<size_t>(i);
    if (f.dead != nullptr && util::TestBit(f.dead, row)) return false;
    if (f.rows != nullptr && !util::TestBit(f.rows, row)) return false;
    return f.keep == nullptr || f.keep(f.ctx, row);
  }
};

// Beam search on one level from `entry`: leaves in scratch.results (a max-heap
// on distance) the ef closest nodes found that `result_ok` accepts.
template <bool kConcurrent, class ResultOk = NotDead>
size_t SearchLevel(const faiss::HNSW& g, const Distance& dist, const float* q, int level,
                   int32_t entry, float entry_d, size_t ef, ResultOk result_ok, HnswScratch& s) {
  auto is_dead = [&result_ok](int32_t i) { return !result_ok(i); };
  s.Prepare(g.levels.size());
  uint16_t* visited = s.visited();
  const uint16_t epoch = s.epoch();
  auto& cand = s.candidates;  // min-heap: std::greater
  auto& res = s.results;      // max-heap
  cand.clear();
  res.clear();
  size_t ndis = 0;
  visited[entry] = epoch;
  cand.emplace_back(entry_d, entry);
  float bound = std::numeric_limits<float>::infinity();
  if (!is_dead(entry)) {
    res.emplace_back(entry_d, entry);
    if (ef == 1) bound = entry_d;
  }
  while (!cand.empty()) {
    const Node c = cand.front();
    if (c.first > bound) break;
    std::pop_heap(cand.begin(), cand.end(), std::greater<>());
    cand.pop_back();
    // The next candidate's links are likely read next: start fetching them.
    if (!cand.empty()) {
      const int32_t* next_end;
      const int32_t* next = LinksBegin(g, cand.front().second, level, &next_end);
      __builtin_prefetch(next);
      __builtin_prefetch(next + 16);
    }
    // Collect the unvisited neighbours first and prefetch their rows, so the
    // distance loop finds them in cache.
    s.pending.clear();
    const int32_t* end;
    for (const int32_t* p = LinksBegin(g, c.second, level, &end); p < end; ++p) {
      const int32_t nb = kConcurrent ? LoadLink(p) : *p;
      if (nb < 0) break;
      if (visited[nb] == epoch) continue;
      visited[nb] = epoch;
      PrefetchRow(dist, nb);
      s.pending.push_back(nb);
    }
    for (int32_t nb : s.pending) {
      const float d = dist(q, nb);
      ++ndis;
      if (res.size() < ef || d < bound) {
        cand.emplace_back(d, nb);
        std::push_heap(cand.begin(), cand.end(), std::greater<>());
        if (!is_dead(nb)) {
          res.emplace_back(d, nb);
          std::push_heap(res.begin(), res.end());
          if (res.size() > ef) {
            std::pop_heap(res.begin(), res.end());
            res.pop_back();
          }
          if (res.size() == ef) bound = res.front().first;
        }
      }
    }
  }
  return ndis;
}

// hnswlib's neighbour selection: walking candidates nearest first, keep one
// only if it is closer to the base than to every one kept, until m are kept.
// `sorted` is nearest first; the kept ones are written back into it.
void SelectNeighbours(const Distance& dist, std::vector<Node>& sorted, size_t m) {
  if (sorted.size() <= m) return;
  size_t kept = 0;
  for (size_t i = 0; i < sorted.size() && kept < m; ++i) {
    const Node e = sorted[i];
    bool good = true;
    for (size_t j = 0; j < kept; ++j) {
      if (dist(dist.row(sorted[j].second), e.second) < e.first) {
        good = false;
        break;
      }
    }
    if (good) sorted[kept++] = e;
  }
  sorted.resize(kept);
}

class Builder {
 public:
  // `locks`: node locks, striped; 1 when a single thread inserts.
  Builder(faiss::HNSW& g, const HnswSpace& space, uint32_t ef_construction, size_t locks)
      : g_(g),
        dist_(space),
        ef_(std::max<uint32_t>(ef_construction, 1)),
        m_(static_cast<size_t>(g.nb_neighbors(1))),
        locks_(locks) {}

  void Insert(int32_t q, HnswScratch& s) {
    const int level = g_.levels[static_cast<size_t>(q)] - 1;
    const float* x = dist_.row(q);
    std::unique_lock top(top_mu_);
    if (g_.entry_point < 0) {
      g_.entry_point = q;
      g_.max_level = level;
      return;
    }
    const int max_level = g_.max_level;
    int32_t cur = g_.entry_point;
    if (level <= max_level) top.unlock();  // else keep it: q becomes the entry point

    size_t ndis = 0;
    float cur_d = dist_(x, cur);
    for (int l = max_level; l > level; --l) Greedy<true>(g_, dist_, x, l, cur, cur_d, ndis);
    // q's own lists are all written before any other node links to q, so no
    // thread can reach q and start a search from a list of q's that is still
    // empty (it would find nothing there, link poorly, and its link into that
    // list would be lost when q wrote it).
    const int top_level = std::min(level, max_level);
    std::vector<std::vector<Node>> linked(static_cast<size_t>(top_level) + 1);
    for (int l = top_level; l >= 0; --l) {
      SearchLevel<true>(g_, dist_, x, l, cur, cur_d, ef_, NotDead{nullptr}, s);
      std::vector<Node>& found = linked[static_cast<size_t>(l)];
      found.assign(s.results.begin(), s.results.end());
      std::sort(found.begin(), found.end());
      cur = found.front().second;
      cur_d = found.front().first;
      SelectNeighbours(dist_, found, m_);
      std::lock_guard lock(LockOf(q));
      Links own = LinksOf(g_, q, l);
      size_t i = 0;
      for (; i < found.size() && own.begin + i < own.end; ++i) {
        StoreLink(own.begin + i, found[i].second);
      }
      for (int32_t* p = own.begin + i; p < own.end; ++p) StoreLink(p, -1);
    }
    for (int l = top_level; l >= 0; --l) {
      for (const Node& n : linked[static_cast<size_t>(l)]) Connect(n.second, q, l);
    }
    if (level > max_level) {
      g_.entry_point = q;
      g_.max_level = level;
    }
  }

 private:
  std::mutex& LockOf(int32_t node) { return locks_[static_cast<size_t>(node) % locks_.size()]; }

  // Adds the link node -> q, re-selecting node's links if its list is full.
  void Connect(int32_t node, int32_t q, int level) {
    std::lock_guard lock(LockOf(node));
    Links links = LinksOf(g_, node, level);
    int32_t* free_slot = nullptr;
    for (int32_t* p = links.begin; p < links.end; ++p) {
      const int32_t v = *p;
      if (v == q) return;
      if (v < 0) {
        free_slot = p;
        break;
      }
    }
    if (free_slot != nullptr) {
      StoreLink(free_slot, q);
      return;
    }
    const float* base = dist_.row(node);
    std::vector<Node> all;
    all.reserve(static_cast<size_t>(links.end - links.begin) + 1);
    all.emplace_back(dist_(base, q), q);
    for (int32_t* p = links.begin; p < links.end; ++p) all.emplace_back(dist_(base, *p), *p);
    std::sort(all.begin(), all.end());
    SelectNeighbours(dist_, all, static_cast<size_t>(links.end - links.begin));
    size_t i = 0;
    for (; i < all.size(); ++i) StoreLink(links.begin + i, all[i].second);
    for (int32_t* p = links.begin + i; p < links.end; ++p) StoreLink(p, -1);
  }

  faiss::HNSW& g_;
  Distance dist_;
  size_t ef_;
  size_t m_;
  std::mutex top_mu_;
  std::vector<std::mutex> locks_;
};

}  // namespace

void HnswScratch::Prepare(size_t n) {
  if (visited_.size() < n) {
    visited_.assign(n + n / 4 + 1024, 0);
    epoch_ = 0;
  }
  if (++epoch_ == 0) {
    std::fill(visited_.begin(), visited_.end(), 0);
    epoch_ = 1;
  }
}

std::unique_ptr<HnswScratch> HnswScratchPool::Acquire() {
  util::MutexLock lock(&mu_);
  if (free_.empty()) return std::make_unique<HnswScratch>();
  auto s = std::move(free_.back());
  free_.pop_back();
  return s;
}

void HnswScratchPool::Release(std::unique_ptr<HnswScratch> scratch) {
  util::MutexLock lock(&mu_);
  free_.push_back(std::move(scratch));
}

void HnswAdd(faiss::HNSW& graph, const HnswSpace& space, size_t end, uint32_t ef_construction,
             uint32_t threads) {
  const size_t begin = graph.levels.size();
  if (end <= begin) return;
  graph.prepare_level_tab(end - begin);
  int nt = threads == 0 ? omp_get_max_threads() : static_cast<int>(threads);
  if (end - begin < kParallelAddRows) nt = 1;
  Builder builder(graph, space, ef_construction, nt == 1 ? 1 : size_t{1} << 16);
  // The first node alone: on an empty graph it becomes the entry point.
  HnswScratch first;
  builder.Insert(static_cast<int32_t>(begin), first);
  if (nt == 1) {
    for (size_t i = begin + 1; i < end; ++i) builder.Insert(static_cast<int32_t>(i), first);
    return;
  }
  // An exception may not leave an OpenMP region: the first one is kept, the
  // other threads skip what is left, and it is thrown after the region.
  std::exception_ptr failure;
  std::atomic<bool> failed = false;
#pragma omp parallel num_threads(nt)
  {
    HnswScratch s;
#pragma omp for schedule(dynamic, 64)
    for (size_t i = begin + 1; i < end; ++i) {
      if (failed.load(std::memory_order_relaxed)) continue;
      try {
        builder.Insert(static_cast<int32_t>(i), s);
      } catch (...) {
#pragma omp critical(relate_hnsw_add_failure)
        if (!failure) failure = std::current_exception();
        failed = true;
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
}

namespace {

template <class ResultOk>
size_t Search(const faiss::HNSW& graph, const HnswSpace& space, const float* query, size_t k,
              size_t ef, ResultOk result_ok, HnswScratch& scratch, int64_t* labels,
              float* distances) {
  for (size_t i = 0; i < k; ++i) {
    labels[i] = -1;
    distances[i] = std::numeric_limits<float>::infinity();
  }
  if (graph.entry_point < 0 || k == 0) return 0;
  const Distance dist(space);
  size_t ndis = 1;
  int32_t cur = graph.entry_point;
  float cur_d = dist(query, cur);
  for (int l = graph.max_level; l > 0; --l) Greedy<false>(graph, dist, query, l, cur, cur_d, ndis);
  ndis +=
      SearchLevel<false>(graph, dist, query, 0, cur, cur_d, std::max(ef, k), result_ok, scratch);
  auto& res = scratch.results;
  std::sort_heap(res.begin(), res.end());
  for (size_t i = 0; i < k && i < res.size(); ++i) {
    labels[i] = res[i].second;
    distances[i] = res[i].first;
  }
  return ndis;
}

}  // namespace

size_t HnswSearch(const faiss::HNSW& graph, const HnswSpace& space, const float* query, size_t k,
                  size_t ef, const uint64_t* dead, HnswScratch& scratch, int64_t* labels,
                  float* distances) {
  return Search(graph, space, query, k, ef, NotDead{dead}, scratch, labels, distances);
}

size_t HnswSearch(const faiss::HNSW& graph, const HnswSpace& space, const float* query, size_t k,
                  size_t ef, const HnswFilter& filter, HnswScratch& scratch, int64_t* labels,
                  float* distances) {
  return Search(graph, space, query, k, ef, Kept{filter}, scratch, labels, distances);
}

Status CheckGraph(const faiss::HNSW& g, size_t n) {
  const size_t level_count = g.cum_nneighbor_per_level.size();
  if (g.levels.size() != n || g.offsets.size() != n + 1 || g.offsets[0] != 0 ||
      g.offsets[n] != g.neighbors.size() || level_count < 2) {
    return Status::Corruption("its graph's tables disagree with its " + std::to_string(n) +
                              " vectors");
  }
  int top = -1;
  for (size_t i = 0; i < n; ++i) {
    const int levels = g.levels[i];
    if (levels < 1 || static_cast<size_t>(levels) >= level_count ||
        g.offsets[i + 1] - g.offsets[i] !=
            static_cast<size_t>(g.cum_nneighbor_per_level[static_cast<size_t>(levels)])) {
      return Status::Corruption("its graph's node " + std::to_string(i) + " is malformed");
    }
    top = std::max(top, levels - 1);
  }
  for (int32_t link : g.neighbors) {
    if (link < -1 || (link >= 0 && static_cast<size_t>(link) >= n)) {
      return Status::Corruption("its graph links to node " + std::to_string(link) + " of " +
                                std::to_string(n));
    }
  }
  const bool empty = n == 0;
  if (empty ? g.entry_point != -1
            : g.entry_point < 0 || static_cast<size_t>(g.entry_point) >= n || g.max_level != top ||
                  g.levels[static_cast<size_t>(g.entry_point)] - 1 != top) {
    return Status::Corruption("its graph's entry point is malformed");
  }
  return Status::OK();
}

}  // namespace relate::index
