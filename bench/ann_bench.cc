// relate_ann_bench: relate's HNSW and Flat indexes next to hnswlib and raw FAISS on the
// same synthetic vectors in one run, each figure next to its anchor as a ratio.
//
// Equal work: every engine gets the same L2-normalised vectors under ids 0..N-1, the
// inner product metric, and for HNSW the same M and efConstruction; builds run on
// --threads threads. Recall@k is measured against the exact top-k computed here with
// OpenBLAS sgemm, and both Flat engines must reproduce that top-k (up to ties in the
// last float bit): the program exits if either does not, so an exact figure is never
// printed for an answer that is not exact.
//
// Timed passes of the engines are interleaved, the order rotating every repetition,
// so that noise from the machine hits them alike; the best repetition is reported.
// hnswlib is compiled with -O3 -march=native in its own shared library (see
// hnswlib_engine.h); relate and FAISS run as built for the project.
#include <cblas.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <fmt/format.h>
#include <malloc.h>
#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "bench/hnswlib_engine.h"
#include "index/vector_index.h"
#include "relate/status.h"
#include "relate/types.h"

namespace {

using namespace relate::bench;
using relate::index::VectorIndex;
using idx_t = faiss::Index::idx_t;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kRecallTargets[] = {0.95, 0.99};
// Goals of the issue for relate, each against its anchor.
constexpr double kBuildGoal = 1.0;        // build rate / hnswlib's
constexpr double kQpsGoal = 1.0;          // QPS at equal recall / hnswlib's
constexpr double kMemoryGoal = 1.1;       // index bytes / hnswlib's, at most
constexpr double kScanGoal = 0.8;         // exact single-query scan GB/s / triad GB/s
constexpr double kBatchGoal = 0.8;        // exact batch GFLOP/s-equivalent / sgemm's
constexpr double kExactTolerance = 1e-5;  // score slack that still counts as a tie

struct Preset {
  const char* name;
  size_t n;
  size_t d;
};
constexpr Preset kPresets[] = {{"1m-100", 1000000, 100}, {"100k-768", 100000, 768}};

struct Config {
  std::string dataset = "1m-100";
  size_t n = 0;  // 0: the preset's
  size_t d = 0;
  size_t queries = 1000;
  size_t clusters = 0;  // 0: one per 1000 vectors
  float noise = 1.0f;
  size_t k = 10;
  size_t m = 16;
  size_t ef_construction = 100;
  std::string efs = "10,16,24,32,48,64,96,128,192,256,384,512,768,1024";
  unsigned threads = 2;
  // OpenMP threads while HNSW single queries run. One, so that every engine answers a query
  // on one core as hnswlib does: with more, FAISS opens a parallel region per query
  // and waits for a second thread that has nothing to do.
  unsigned search_threads = 1;
  size_t reps = 3;
  size_t add_batch = 100000;
  size_t exact_queries = 100;
  size_t exact_reps = 3;
  size_t gemm_rows = 16384;
  size_t triad_reps = 10;
  uint64_t seed = 42;
  std::string out = "/tmp/relate-ann-bench";
  bool skip_hnswlib = false;
  bool skip_raw_faiss = false;
  bool skip_hnsw = false;
  bool skip_exact = false;
};

// Synthetic vectors and their exact neighbours.
struct Dataset {
  std::string name;
  size_t n = 0, d = 0, nq = 0, k = 0, clusters = 0;
  std::vector<float> base;       // n x d, unit length
  std::vector<float> queries;    // nq x d, unit length, not in base
  std::vector<int64_t> gt_ids;   // nq x k, best first
  std::vector<float> gt_scores;  // nq x k, inner products, best first
};

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser: independent seeds for RNG streams
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Draws `count` points of the mixture into `out`, each centre + noise * N(0, I),
// L2-normalised. Points come in blocks with their own RNG stream, so the data does
// not depend on the thread count.
void DrawPoints(const std::vector<float>& centres, size_t clusters, size_t d, float noise,
                uint64_t stream, size_t count, float* out, unsigned threads) {
  constexpr size_t kBlock = 4096;
  const size_t blocks = (count + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (size_t b = 0; b < blocks; ++b) {
    std::mt19937_64 rng(Mix(stream ^ Mix(b)));
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    std::uniform_int_distribution<size_t> pick(0, clusters - 1);
    for (size_t i = b * kBlock; i < std::min(count, (b + 1) * kBlock); ++i) {
      const float* c = centres.data() + pick(rng) * d;
      float* x = out + i * d;
      double norm2 = 0;
      for (size_t j = 0; j < d; ++j) {
        x[j] = c[j] + noise * gauss(rng);
        norm2 += static_cast<double>(x[j]) * x[j];
      }
      const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
      for (size_t j = 0; j < d; ++j) x[j] *= inv;
    }
  }
}

// Runs sgemm over the base in blocks of `block_rows` rows and calls
// consume(first_row, rows, scores), scores being nq x rows (row-major) inner
// products of every query with those rows. `buffer` is reused across calls.
template <typename Consume>
void BlockedScores(const Dataset& ds, size_t block_rows, std::vector<float>& buffer,
                   Consume&& consume) {
  buffer.resize(ds.nq * block_rows);
  for (size_t r0 = 0; r0 < ds.n; r0 += block_rows) {
    const size_t rows = std::min(block_rows, ds.n - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(ds.nq),
                static_cast<int>(rows), static_cast<int>(ds.d), 1.0f, ds.queries.data(),
                static_cast<int>(ds.d), ds.base.data() + r0 * ds.d, static_cast<int>(ds.d), 0.0f,
                buffer.data(), static_cast<int>(rows));
    consume(r0, rows, buffer.data());
  }
}

// The exact top-k of every query: blocked sgemm, then a min-heap of k per query.
void ComputeGroundTruth(Dataset& ds, size_t block_rows, unsigned threads) {
  using Entry = std::pair<float, int64_t>;
  const size_t k = ds.k;
  const size_t nq = ds.nq;
  std::vector<Entry> heaps(nq * k, Entry{-std::numeric_limits<float>::infinity(), -1});
  auto worse_on_top = [](const Entry& a, const Entry& b) { return a.first > b.first; };
  std::vector<float> buffer;
  BlockedScores(ds, block_rows, buffer, [&](size_t r0, size_t rows, const float* scores) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t q = 0; q < nq; ++q) {
      Entry* heap = heaps.data() + q * k;
      const float* row = scores + q * rows;
      float floor = heap[0].first;
      for (size_t r = 0; r < rows; ++r) {
        if (row[r] <= floor) continue;
        std::pop_heap(heap, heap + k, worse_on_top);
        heap[k - 1] = Entry{row[r], static_cast<int64_t>(r0 + r)};
        std::push_heap(heap, heap + k, worse_on_top);
        floor = heap[0].first;
      }
    }
  });
  ds.gt_ids.resize(nq * k);
  ds.gt_scores.resize(nq * k);
  for (size_t q = 0; q < nq; ++q) {
    Entry* heap = heaps.data() + q * k;
    std::sort(heap, heap + k, [](const Entry& a, const Entry& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (size_t i = 0; i < k; ++i) {
      ds.gt_scores[q * k + i] = heap[i].first;
      ds.gt_ids[q * k + i] = heap[i].second;
    }
  }
}

Dataset MakeDataset(const Config& cfg, const std::string& name, size_t n, size_t d) {
  Dataset ds;
  ds.name = name;
  ds.n = n;
  ds.d = d;
  ds.nq = cfg.queries;
  ds.k = cfg.k;
  ds.clusters = cfg.clusters != 0 ? cfg.clusters : std::max<size_t>(1, n / 1000);
  std::mt19937_64 rng(Mix(cfg.seed));
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> centres(ds.clusters * d);
  for (float& x : centres) x = gauss(rng);
  ds.base.resize(n * d);
  ds.queries.resize(ds.nq * d);
  DrawPoints(centres, ds.clusters, d, cfg.noise, Mix(cfg.seed + 1), n, ds.base.data(), cfg.threads);
  DrawPoints(centres, ds.clusters, d, cfg.noise, Mix(cfg.seed + 2), ds.nq, ds.queries.data(),
             cfg.threads);
  ComputeGroundTruth(ds, cfg.gemm_rows, cfg.threads);
  return ds;
}

// Mean over the first `nq` queries of |found ∩ exact top-k| / k.
double RecallAtK(const Dataset& ds, const std::vector<int64_t>& found, size_t nq) {
  const size_t k = ds.k;
  size_t hits = 0;
  for (size_t q = 0; q < nq; ++q) {
    const int64_t* truth = ds.gt_ids.data() + q * k;
    for (size_t i = 0; i < k; ++i) {
      const int64_t id = found[q * k + i];
      if (id >= 0 && std::find(truth, truth + k, id) != truth + k) ++hits;
    }
  }
  return static_cast<double>(hits) / static_cast<double>(nq * k);
}

double Dot(const float* a, const float* b, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) s += static_cast<double>(a[j]) * b[j];
  return s;
}

// Exits unless each of the first `nq` answers holds k distinct ids, each scoring at
// least the k-th exact score (less kExactTolerance, for ties and rounding): the
// exact top-k up to ties.
void CheckExact(const Dataset& ds, const std::vector<int64_t>& found, size_t nq,
                std::string_view who) {
  const size_t k = ds.k;
  for (size_t q = 0; q < nq; ++q) {
    std::vector<int64_t> ids(found.begin() + static_cast<ptrdiff_t>(q * k),
                             found.begin() + static_cast<ptrdiff_t>((q + 1) * k));
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
      Die(fmt::format("{}: query {} got the same id twice: not an exact top-{}", who, q, k));
    }
    const double kth = ds.gt_scores[q * k + k - 1];
    for (int64_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= ds.n) {
        Die(fmt::format("{}: query {} got id {}, outside 0..{}", who, q, id, ds.n - 1));
      }
      const double score =
          Dot(ds.queries.data() + q * ds.d, ds.base.data() + static_cast<size_t>(id) * ds.d, ds.d);
      if (score < kth - kExactTolerance) {
        Die(fmt::format("{}: query {} got id {} scoring {:.7f}, below the exact {}-th score {:.7f}",
                        who, q, id, score, k, kth));
      }
    }
  }
}

// Bytes the process holds from malloc: in-use chunks of every arena plus mmapped
// blocks. It does not count allocator overhead or fragmentation.
size_t HeapBytesInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// Resident set size, from /proc/self/statm; 0 if unreadable.
size_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return in ? resident * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

void AddInBatches(VectorIndex& index, const Dataset& ds, size_t batch) {
  index.Reserve(ds.n);  // as hnswlib is given max_elements up front
  std::vector<uint64_t> ids(std::min(batch, ds.n));
  for (size_t i0 = 0; i0 < ds.n; i0 += batch) {
    const size_t rows = std::min(batch, ds.n - i0);
    std::iota(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(rows), i0);
    Check(index.Add(std::span<const uint64_t>(ids.data(), rows),
                    std::span<const float>(ds.base.data() + i0 * ds.d, rows * ds.d)),
          "relate: VectorIndex::Add");
  }
}

// One HNSW implementation behind the calls the benchmark makes.
class HnswEngine {
 public:
  virtual ~HnswEngine() = default;
  // How the tables name it, and how the TSV files do (no spaces).
  virtual std::string name() const = 0;
  virtual std::string id() const = 0;
  // Builds the index over the whole base, ids 0..n-1.
  virtual void Build(const Dataset& ds, const Config& cfg) = 0;
  virtual void SetEf(uint32_t ef) = 0;
  // One query's k nearest ids into `labels`.
  virtual void Search(const float* query, size_t k, int64_t* labels) = 0;
};

class HnswlibEngine final : public HnswEngine {
 public:
  std::string name() const override { return "hnswlib"; }
  std::string id() const override { return "hnswlib"; }
  void Build(const Dataset& ds, const Config& cfg) override {
    std::string error;
    index_ = HnswlibIndex::Create(static_cast<uint32_t>(ds.d), ds.n, cfg.m, cfg.ef_construction,
                                  cfg.seed, &error);
    if (index_ == nullptr) Die("hnswlib: creating the index: " + error);
    error = index_->Add(ds.base.data(), ds.n, 0, cfg.threads);
    if (!error.empty()) Die("hnswlib: addPoint: " + error);
  }
  void SetEf(uint32_t ef) override { index_->SetEf(ef); }
  void Search(const float* query, size_t k, int64_t* labels) override {
    index_->Search(query, k, labels);
  }

 private:
  std::unique_ptr<HnswlibIndex> index_;
};

class FaissHnswEngine final : public HnswEngine {
 public:
  std::string name() const override { return "raw FAISS"; }
  std::string id() const override { return "faiss"; }
  void Build(const Dataset& ds, const Config& cfg) override {
    try {
      index_ = std::make_unique<faiss::IndexHNSWFlat>(
          static_cast<int>(ds.d), static_cast<int>(cfg.m), faiss::METRIC_INNER_PRODUCT);
      index_->hnsw.efConstruction = static_cast<int>(cfg.ef_construction);
      index_->add(static_cast<idx_t>(ds.n), ds.base.data());
    } catch (const faiss::FaissException& e) {
      Die(std::string("raw FAISS: IndexHNSWFlat::add: ") + e.what());
    }
    distances_.resize(cfg.k);
  }
  // FAISS 1.7.3 takes efSearch from SearchParametersHNSW for some loops but sizes the
  // candidate queue from hnsw.efSearch (fixed upstream in PR #3233, 2024), so both are
  // set: the way a raw FAISS user gets the ef they ask for.
  void SetEf(uint32_t ef) override {
    params_.efSearch = static_cast<int>(ef);
    index_->hnsw.efSearch = static_cast<int>(ef);
  }
  void Search(const float* query, size_t k, int64_t* labels) override {
    index_->search(1, query, static_cast<idx_t>(k), distances_.data(), labels, &params_);
  }

 private:
  std::unique_ptr<faiss::IndexHNSWFlat> index_;
  faiss::SearchParametersHNSW params_;
  std::vector<float> distances_;
};

class RelateHnswEngine final : public HnswEngine {
 public:
  std::string name() const override { return "relate"; }
  std::string id() const override { return "relate"; }
  void Build(const Dataset& ds, const Config& cfg) override {
    d_ = ds.d;
    const relate::index::BuildParams build{
        .ef_construction = static_cast<uint32_t>(cfg.ef_construction), .threads = cfg.threads};
    index_ = Take(VectorIndex::Create(static_cast<uint32_t>(ds.d), relate::Metric::kInnerProduct,
                                      "HNSW" + std::to_string(cfg.m), build),
                  "relate: VectorIndex::Create(HNSW)");
    AddInBatches(*index_, ds, cfg.add_batch);
    if (index_->size() != ds.n) Die("relate: the HNSW index holds the wrong number of vectors");
  }
  void SetEf(uint32_t ef) override { params_.ef_search = ef; }
  void Search(const float* query, size_t k, int64_t* labels) override {
    auto found = Take(index_->Search(std::span<const float>(query, d_), k, params_),
                      "relate: VectorIndex::Search");
    std::copy(found.ids.begin(), found.ids.begin() + static_cast<ptrdiff_t>(k), labels);
  }

 private:
  size_t d_ = 0;
  std::unique_ptr<VectorIndex> index_;
  relate::index::SearchParams params_;
};

struct CurvePoint {
  uint32_t ef = 0;
  double recall = 0;
  double qps = 0;         // best repetition
  double qps_median = 0;  // median repetition
};

struct EngineRun {
  std::unique_ptr<HnswEngine> engine;
  double build_s = 0;
  size_t bytes = 0;      // malloc'd bytes in use, after minus before the build
  int64_t resident = 0;  // RSS, after minus before
  std::vector<CurvePoint> curve;
};

void BuildOne(EngineRun& run, const Dataset& ds, const Config& cfg) {
  std::fprintf(stderr, "%s: building %s HNSW...\n", ds.name.c_str(), run.engine->name().c_str());
  omp_set_num_threads(static_cast<int>(cfg.threads));
  const size_t before = HeapBytesInUse();
  const size_t resident_before = ResidentBytes();
  const auto t0 = Clock::now();
  run.engine->Build(ds, cfg);
  run.build_s = Seconds(t0, Clock::now());
  const size_t after = HeapBytesInUse();
  run.bytes = after > before ? after - before : 0;
  run.resident = static_cast<int64_t>(ResidentBytes()) - static_cast<int64_t>(resident_before);
  std::fprintf(stderr, "%s: %s built in %.1f s, %.0f MB\n", ds.name.c_str(),
               run.engine->name().c_str(), run.build_s, static_cast<double>(run.bytes) / 1e6);
}

double TimedPass(HnswEngine& engine, const Dataset& ds, std::vector<int64_t>& labels) {
  const auto t0 = Clock::now();
  for (size_t q = 0; q < ds.nq; ++q) {
    engine.Search(ds.queries.data() + q * ds.d, ds.k, labels.data() + q * ds.k);
  }
  return Seconds(t0, Clock::now());
}

// For each ef: one pass per engine that also gives the recall, then `reps` timed
// passes per engine, the engines' order rotating every repetition.
void Sweep(std::vector<EngineRun>& runs, const Dataset& ds, const Config& cfg,
           const std::vector<uint32_t>& efs) {
  omp_set_num_threads(static_cast<int>(cfg.search_threads));
  std::vector<int64_t> labels(ds.nq * ds.k);
  for (uint32_t ef : efs) {
    std::vector<double> recall(runs.size());
    std::vector<std::vector<double>> seconds(runs.size());
    for (size_t e = 0; e < runs.size(); ++e) {
      runs[e].engine->SetEf(ef);
      TimedPass(*runs[e].engine, ds, labels);
      recall[e] = RecallAtK(ds, labels, ds.nq);
    }
    for (size_t rep = 0; rep < cfg.reps; ++rep) {
      for (size_t j = 0; j < runs.size(); ++j) {
        const size_t e = (j + rep) % runs.size();
        seconds[e].push_back(TimedPass(*runs[e].engine, ds, labels));
      }
    }
    std::string line = fmt::format("{}: ef={}", ds.name, ef);
    for (size_t e = 0; e < runs.size(); ++e) {
      const double nq = static_cast<double>(ds.nq);
      runs[e].curve.push_back(CurvePoint{
          .ef = ef,
          .recall = recall[e],
          .qps = nq / *std::min_element(seconds[e].begin(), seconds[e].end()),
          .qps_median = nq / Median(seconds[e]),
      });
      line += fmt::format("  {} recall {:.4f} QPS {:.0f}", runs[e].engine->name(), recall[e],
                          runs[e].curve.back().qps);
    }
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  omp_set_num_threads(static_cast<int>(cfg.threads));
}

struct AtRecall {
  bool reached = false;
  double qps = kNaN;
  uint32_t ef = 0;  // the smallest ef of the sweep that reaches the recall
};

// QPS at `target` recall: interpolated between the two sweep points around it,
// linearly in recall and in log QPS. Not reached if no ef of the sweep gets there;
// when the smallest ef already does, its QPS (an underestimate).
AtRecall QpsAtRecall(const std::vector<CurvePoint>& curve, double target) {
  for (size_t i = 0; i < curve.size(); ++i) {
    if (curve[i].recall < target) continue;
    AtRecall at{.reached = true, .qps = curve[i].qps, .ef = curve[i].ef};
    if (i > 0) {
      const CurvePoint& lo = curve[i - 1];
      const CurvePoint& hi = curve[i];
      const double t = (target - lo.recall) / (hi.recall - lo.recall);
      at.qps = std::exp(std::log(lo.qps) + t * (std::log(hi.qps) - std::log(lo.qps)));
    }
    return at;
  }
  return {};
}

struct Triad {
  double gbs = 0;             // --threads threads
  double gbs_one_thread = 0;  // one thread
  size_t bytes_per_array = 0;
};

double TriadOnce(float* a, const float* b, const float* c, size_t n, int threads) {
  const float s = 3.0f;
  const auto t0 = Clock::now();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
  return Seconds(t0, Clock::now());
}

// STREAM's triad a[i] = b[i] + s * c[i] on floats, counting 12 bytes per element
// (two reads and one write of 4 bytes; STREAM counts 24 for its doubles). Pages are
// first touched by the threads that use them. Best of `reps`.
Triad MeasureTriad(size_t elements, unsigned threads, size_t reps) {
  auto a = std::make_unique_for_overwrite<float[]>(elements);
  auto b = std::make_unique_for_overwrite<float[]>(elements);
  auto c = std::make_unique_for_overwrite<float[]>(elements);
#pragma omp parallel for schedule(static) num_threads(static_cast <int>(threads))
  for (size_t i = 0; i < elements; ++i) {
    a[i] = 0.0f;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }
  const double bytes = 12.0 * static_cast<double>(elements);
  Triad triad{.bytes_per_array = elements * sizeof(float)};
  double best = std::numeric_limits<double>::infinity();
  double best_one = best;
  for (size_t rep = 0; rep < reps; ++rep) {
    best =
        std::min(best, TriadOnce(a.get(), b.get(), c.get(), elements, static_cast<int>(threads)));
    best_one = std::min(best_one, TriadOnce(a.get(), b.get(), c.get(), elements, 1));
  }
  if (a[elements / 2] != 7.0f) Die("triad: wrong result; the loop did not run as written");
  triad.gbs = bytes / best / 1e9;
  triad.gbs_one_thread = bytes / best_one / 1e9;
  return triad;
}

struct ExactFigures {
  size_t single_queries = 0;
  double relate_single_s = kNaN;  // per query, best repetition
  double faiss_single_s = kNaN;
  double relate_batch_s = kNaN;  // whole batch, best repetition
  double faiss_batch_s = kNaN;
  double sgemm_s = kNaN;
  double relate_recall = kNaN;  // over the batch answers
  double faiss_recall = kNaN;
};

// Exact search: single queries (one per call, alternating which engine goes first)
// and one batch of all queries, next to blocked sgemm of the same shape.
ExactFigures RunExact(const Dataset& ds, const Config& cfg) {
  omp_set_num_threads(static_cast<int>(cfg.threads));
  ExactFigures f;
  const size_t k = ds.k;
  auto relate_flat =
      Take(VectorIndex::Create(static_cast<uint32_t>(ds.d), relate::Metric::kInnerProduct, "Flat"),
           "relate: VectorIndex::Create(Flat)");
  AddInBatches(*relate_flat, ds, cfg.add_batch);
  std::unique_ptr<faiss::IndexFlatIP> faiss_flat;
  if (!cfg.skip_raw_faiss) {
    faiss_flat = std::make_unique<faiss::IndexFlatIP>(static_cast<idx_t>(ds.d));
    faiss_flat->add(static_cast<idx_t>(ds.n), ds.base.data());
  }
  std::vector<int64_t> relate_ids(ds.nq * k), faiss_ids(ds.nq * k);
  std::vector<float> distances(ds.nq * k);

  auto relate_search = [&](size_t q0, size_t count) {
    auto found = Take(
        relate_flat->Search(std::span<const float>(ds.queries.data() + q0 * ds.d, count * ds.d), k),
        "relate: VectorIndex::Search(Flat)");
    std::copy(found.ids.begin(), found.ids.end(),
              relate_ids.begin() + static_cast<ptrdiff_t>(q0 * k));
  };
  auto faiss_search = [&](size_t q0, size_t count) {
    faiss_flat->search(static_cast<idx_t>(count), ds.queries.data() + q0 * ds.d,
                       static_cast<idx_t>(k), distances.data() + q0 * k, faiss_ids.data() + q0 * k);
  };

  // Single queries.
  f.single_queries = std::min(cfg.exact_queries, ds.nq);
  std::fprintf(stderr, "%s: exact single queries...\n", ds.name.c_str());
  for (size_t q = 0; q < f.single_queries; ++q) {
    relate_search(q, 1);
    if (faiss_flat) faiss_search(q, 1);
  }
  CheckExact(ds, relate_ids, f.single_queries, "relate Flat, single queries");
  if (faiss_flat) CheckExact(ds, faiss_ids, f.single_queries, "raw FAISS IndexFlatIP, single");
  double relate_best = std::numeric_limits<double>::infinity(), faiss_best = relate_best;
  for (size_t rep = 0; rep < cfg.exact_reps; ++rep) {
    double relate_s = 0, faiss_s = 0;
    for (size_t q = 0; q < f.single_queries; ++q) {
      auto time_relate = [&] {
        const auto t0 = Clock::now();
        relate_search(q, 1);
        relate_s += Seconds(t0, Clock::now());
      };
      auto time_faiss = [&] {
        if (!faiss_flat) return;
        const auto t0 = Clock::now();
        faiss_search(q, 1);
        faiss_s += Seconds(t0, Clock::now());
      };
      if ((q + rep) % 2 == 0) {
        time_relate();
        time_faiss();
      } else {
        time_faiss();
        time_relate();
      }
    }
    relate_best = std::min(relate_best, relate_s);
    faiss_best = std::min(faiss_best, faiss_s);
  }
  const double nsingle = static_cast<double>(f.single_queries);
  f.relate_single_s = relate_best / nsingle;
  if (faiss_flat) f.faiss_single_s = faiss_best / nsingle;

  // One batch of all queries, and the sgemm anchor.
  std::fprintf(stderr, "%s: exact batch of %zu queries...\n", ds.name.c_str(), ds.nq);
  relate_search(0, ds.nq);
  CheckExact(ds, relate_ids, ds.nq, "relate Flat, batch");
  f.relate_recall = RecallAtK(ds, relate_ids, ds.nq);
  if (faiss_flat) {
    faiss_search(0, ds.nq);
    CheckExact(ds, faiss_ids, ds.nq, "raw FAISS IndexFlatIP, batch");
    f.faiss_recall = RecallAtK(ds, faiss_ids, ds.nq);
  }
  std::vector<float> buffer(ds.nq * cfg.gemm_rows);
  auto sgemm = [&] {
    BlockedScores(ds, cfg.gemm_rows, buffer, [](size_t, size_t, const float*) {});
  };
  sgemm();
  std::vector<std::vector<double>> seconds(3);
  for (size_t rep = 0; rep < cfg.exact_reps; ++rep) {
    for (size_t j = 0; j < 3; ++j) {
      const size_t which = (j + rep) % 3;
      if (which == 1 && !faiss_flat) continue;
      const auto t0 = Clock::now();
      if (which == 0) relate_search(0, ds.nq);
      if (which == 1) faiss_search(0, ds.nq);
      if (which == 2) sgemm();
      seconds[which].push_back(Seconds(t0, Clock::now()));
    }
  }
  f.relate_batch_s = *std::min_element(seconds[0].begin(), seconds[0].end());
  if (faiss_flat) f.faiss_batch_s = *std::min_element(seconds[1].begin(), seconds[1].end());
  f.sgemm_s = *std::min_element(seconds[2].begin(), seconds[2].end());
  return f;
}

// A row of the summary: relate and raw FAISS next to the anchor.
struct Row {
  std::string figure;
  std::string unit;
  double relate = kNaN;
  double faiss = kNaN;
  double anchor = kNaN;
  std::string anchor_name;
  std::string relate_note, faiss_note, anchor_note;  // e.g. the ef that reaches a recall
  double goal = kNaN;                                // relate / anchor must reach it
  bool lower_is_better = false;                      // ... or stay at or below it
};

std::string Ratio(double a, double b) {
  return std::isnan(a) || std::isnan(b) || b == 0 ? "—" : fmt::format("{:.3f}", a / b);
}

std::string WithNote(double v, const std::string& note) {
  return note.empty() ? Figure(v) : Figure(v) + " (" + note + ")";
}

// "met", "NOT met" or "n/a" for relate against the row's goal.
std::string Verdict(const Row& r) {
  if (std::isnan(r.goal) || std::isnan(r.relate) || std::isnan(r.anchor) || r.anchor == 0) {
    return "n/a";
  }
  const double ratio = r.relate / r.anchor;
  return (r.lower_is_better ? ratio <= r.goal : ratio >= r.goal) ? "met" : "NOT met";
}

std::string GoalText(const Row& r) {
  if (std::isnan(r.goal)) return "";
  return fmt::format("{} {}x: {}", r.lower_is_better ? "≤" : "≥", r.goal, Verdict(r));
}

// Refuses an output directory inside a git work tree, so that results never land
// in the repository by accident.
void CheckOutDirectory(const fs::path& out) {
  std::error_code ec;
  const fs::path full = fs::weakly_canonical(fs::absolute(out), ec);
  for (fs::path p = full; !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / ".git", ec)) {
      Die("--out " + out.string() + " is inside the git work tree " + p.string() +
          "; give a directory outside it (default /tmp/relate-ann-bench)");
    }
    if (p == p.root_path()) break;
  }
  fs::create_directories(full, ec);
  if (ec) Die("creating " + full.string() + ": " + ec.message());
}

std::ofstream OpenTsv(const fs::path& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) Die("cannot write " + path.string());
  return out;
}

std::string Tsv(double v) { return std::isnan(v) ? "" : fmt::format("{:.6g}", v); }

int Run(int argc, char** argv) {
  const auto run_start = Clock::now();
  Config cfg;
  CLI::App app{
      "relate's HNSW and Flat search next to hnswlib and raw FAISS, on synthetic clustered "
      "vectors"};
  app.add_option("--dataset", cfg.dataset,
                 "preset: 1m-100 (N=1M, d=100) or 100k-768 (N=100k, d=768); --n and --d "
                 "override it")
      ->capture_default_str();
  app.add_option("--n", cfg.n, "vectors in the base (default: the preset's)");
  app.add_option("--d", cfg.d, "dimension (default: the preset's)");
  app.add_option("--queries", cfg.queries, "queries, drawn apart from the base")
      ->capture_default_str();
  app.add_option("--clusters", cfg.clusters, "mixture components (default: N / 1000)");
  app.add_option("--noise", cfg.noise,
                 "per-coordinate noise stddev around a centre (centres ~ N(0, 1))")
      ->capture_default_str();
  app.add_option("--k", cfg.k, "neighbours per query; recall@k")->capture_default_str();
  app.add_option("--m", cfg.m, "HNSW M")->capture_default_str();
  app.add_option("--ef-construction", cfg.ef_construction, "HNSW efConstruction")
      ->capture_default_str();
  app.add_option("--efs", cfg.efs, "efSearch values to sweep, comma-separated")
      ->capture_default_str();
  app.add_option("--threads", cfg.threads, "threads for builds, batches, sgemm and the triad")
      ->capture_default_str();
  app.add_option("--search-threads", cfg.search_threads,
                 "OpenMP threads while HNSW single queries run")
      ->capture_default_str();
  app.add_option("--reps", cfg.reps, "timed passes of all queries per ef and engine (best kept)")
      ->capture_default_str();
  app.add_option("--add-batch", cfg.add_batch, "vectors per relate VectorIndex::Add call")
      ->capture_default_str();
  app.add_option("--exact-queries", cfg.exact_queries, "single exact queries timed per pass")
      ->capture_default_str();
  app.add_option("--exact-reps", cfg.exact_reps, "timed passes of the exact searches (best kept)")
      ->capture_default_str();
  app.add_option("--gemm-rows", cfg.gemm_rows,
                 "base rows per sgemm block (ground truth and the sgemm anchor)")
      ->capture_default_str();
  app.add_option("--triad-reps", cfg.triad_reps, "triad repetitions (best kept)")
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "data seed")->capture_default_str();
  app.add_option("--out", cfg.out, "directory for the TSV files; must be outside any git work tree")
      ->capture_default_str();
  app.add_flag("--skip-hnswlib", cfg.skip_hnswlib, "leave out hnswlib (no anchor for HNSW ratios)");
  app.add_flag("--skip-raw-faiss", cfg.skip_raw_faiss, "leave out raw FAISS (HNSW and Flat)");
  app.add_flag("--skip-hnsw", cfg.skip_hnsw, "leave out the HNSW part");
  app.add_flag("--skip-exact", cfg.skip_exact, "leave out the exact part");
  CLI11_PARSE(app, argc, argv);

  size_t n = cfg.n, d = cfg.d;
  std::string name;
  for (const Preset& p : kPresets) {
    if (cfg.dataset == p.name) {
      n = n != 0 ? n : p.n;
      d = d != 0 ? d : p.d;
      name = n == p.n && d == p.d ? p.name : "";
    }
  }
  if (n == 0 || d == 0)
    Die("unknown --dataset \"" + cfg.dataset + "\"; use 1m-100 or 100k-768, or give --n and --d");
  if (name.empty()) name = fmt::format("n{}-d{}", n, d);
  if (cfg.queries == 0 || cfg.k == 0 || cfg.m < 2 || cfg.ef_construction == 0 || cfg.threads == 0 ||
      cfg.search_threads == 0 || cfg.reps == 0 || cfg.add_batch == 0 || cfg.exact_queries == 0 ||
      cfg.exact_reps == 0 || cfg.gemm_rows == 0 || cfg.triad_reps == 0) {
    Die("--queries, --k, --ef-construction, --threads, --search-threads, --reps, --add-batch, "
        "--exact-queries, "
        "--exact-reps, --gemm-rows and --triad-reps must be positive, --m at least 2");
  }
  if (cfg.k > n) Die("--k must not exceed --n");
  if (!(cfg.noise >= 0)) Die("--noise must be at least 0");
  const std::vector<uint32_t> efs = ParsePositiveList(cfg.efs, "--efs");
  const fs::path out(cfg.out);
  CheckOutDirectory(out);
  omp_set_num_threads(static_cast<int>(cfg.threads));

  PrintMachine("relate_ann_bench: approximate and exact search, relate vs hnswlib and raw FAISS");
  const BlasInfo blas = OpenBlas();
  std::printf(
      "simd:        cpu has %s; this program and relate compiled for %s (relate may also "
      "dispatch at run time); Debian's FAISS built for x86-64 baseline; hnswlib library for "
      "%s (%s)\n",
      CpuSimdFlags().c_str(), CompiledSimd(), HnswlibIndex::SimdLevel().c_str(),
      HnswlibIndex::CompileFlags().c_str());
  std::printf(
      "threads:     %u for builds, batches, sgemm and the triad; OpenMP %d while HNSW single "
      "queries run (OMP_NUM_THREADS=%s, OMP_WAIT_POLICY=%s)\n",
      cfg.threads, static_cast<int>(cfg.search_threads), EnvOr("OMP_NUM_THREADS", "unset").c_str(),
      EnvOr("OMP_WAIT_POLICY", "unset").c_str());
  if (blas.openblas) {
    std::printf("blas:        %s, %d threads\n", blas.config.c_str(), blas.threads);
  } else {
    std::printf("blas:        not OpenBLAS\n");
  }
  std::printf("faiss:       %d.%d.%d\n", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
              FAISS_VERSION_PATCH);
#ifdef NDEBUG
  std::printf("build:       optimised (NDEBUG)\n");
#else
  std::printf("build:       assertions on (not NDEBUG): figures are not representative\n");
#endif
  std::fflush(stdout);

  const auto g0 = Clock::now();
  const Dataset ds = MakeDataset(cfg, name, n, d);
  const double gen_s = Seconds(g0, Clock::now());
  std::printf(
      "data:        %s: N=%zu d=%zu, %zu queries; Gaussian mixture of %zu centres ~ N(0, 1) per "
      "coordinate, noise stddev %.3g per coordinate, every vector L2-normalised, seed %llu; "
      "queries drawn from the same mixture apart from the base\n",
      ds.name.c_str(), ds.n, ds.d, ds.nq, ds.clusters, static_cast<double>(cfg.noise),
      static_cast<unsigned long long>(cfg.seed));
  std::printf(
      "truth:       exact top-%zu by inner product: OpenBLAS sgemm over blocks of %zu base "
      "rows + top-k selection (%.1f s with the data)\n",
      ds.k, cfg.gemm_rows, gen_s);
  std::printf(
      "hnsw:        M=%zu efConstruction=%zu, inner product, %u build threads; relate spec "
      "\"HNSW%zu\", %zu vectors per Add; single queries, efSearch swept over %s; %zu "
      "timed passes of all queries per ef, engines interleaved, best pass reported\n",
      cfg.m, cfg.ef_construction, cfg.threads, cfg.m, cfg.add_batch, cfg.efs.c_str(), cfg.reps);
  std::printf(
      "memory:      glibc mallinfo2() bytes in use (uordblks + hblkhd) after minus before "
      "each build\n");
  std::printf("out:         %s\n\n", fs::absolute(out).c_str());
  std::fflush(stdout);

  std::vector<Row> rows;
  std::vector<std::string> notes;
  const double vectors_mb = static_cast<double>(ds.n * ds.d * sizeof(float)) / 1e6;

  if (!cfg.skip_hnsw) {
    std::vector<EngineRun> runs;
    if (!cfg.skip_hnswlib) runs.push_back(EngineRun{.engine = std::make_unique<HnswlibEngine>()});
    if (!cfg.skip_raw_faiss) {
      runs.push_back(EngineRun{.engine = std::make_unique<FaissHnswEngine>()});
    }
    runs.push_back(EngineRun{.engine = std::make_unique<RelateHnswEngine>()});
    for (EngineRun& run : runs) BuildOne(run, ds, cfg);
    Sweep(runs, ds, cfg, efs);

    auto find = [&](const std::string& engine) -> const EngineRun* {
      for (const EngineRun& r : runs) {
        if (r.engine->name() == engine) return &r;
      }
      return nullptr;
    };
    const EngineRun* hnswlib = find("hnswlib");
    const EngineRun* faiss_run = find("raw FAISS");
    const EngineRun* relate = find("relate");

    std::printf("## %s: recall@%zu and single-query QPS by efSearch\n\n| ef |", ds.name.c_str(),
                ds.k);
    for (const EngineRun& r : runs) {
      std::printf(" %s recall | %s QPS |", r.engine->name().c_str(), r.engine->name().c_str());
    }
    std::printf("\n|--:|");
    for (size_t e = 0; e < runs.size(); ++e) std::printf("--:|--:|");
    std::printf("\n");
    for (size_t i = 0; i < efs.size(); ++i) {
      std::printf("| %u |", efs[i]);
      for (const EngineRun& r : runs) {
        std::printf(" %.4f | %.0f |", r.curve[i].recall, r.curve[i].qps);
      }
      std::printf("\n");
    }
    std::printf("\n");

    std::ofstream curve = OpenTsv(out / ("ann-" + ds.name + "-curve.tsv"));
    curve << "dataset\tengine\tk\tef\trecall\tqps\tqps_median\n";
    for (const EngineRun& r : runs) {
      for (const CurvePoint& p : r.curve) {
        curve << ds.name << '\t' << r.engine->id() << '\t' << ds.k << '\t' << p.ef << '\t'
              << Tsv(p.recall) << '\t' << Tsv(p.qps) << '\t' << Tsv(p.qps_median) << '\n';
      }
    }
    if (!curve) Die("writing the curve TSV failed");

    auto value = [](const EngineRun* r, auto get) { return r != nullptr ? get(*r) : kNaN; };
    auto rate = [&](const EngineRun& r) { return static_cast<double>(ds.n) / r.build_s; };
    auto mb = [](const EngineRun& r) { return static_cast<double>(r.bytes) / 1e6; };
    rows.push_back(Row{.figure = "HNSW build, vectors/s",
                       .unit = "vectors/s",
                       .relate = value(relate, rate),
                       .faiss = value(faiss_run, rate),
                       .anchor = value(hnswlib, rate),
                       .anchor_name = "hnswlib",
                       .goal = kBuildGoal});
    for (double target : kRecallTargets) {
      Row row{.figure = fmt::format("single-query QPS at recall@{} {}", ds.k, target),
              .unit = "queries/s",
              .anchor_name = "hnswlib",
              .goal = kQpsGoal};
      auto at = [&](const EngineRun* r, double& v, std::string& note) {
        if (r == nullptr) return;
        const AtRecall a = QpsAtRecall(r->curve, target);
        v = a.qps;
        double best = 0;
        for (const CurvePoint& p : r->curve) best = std::max(best, p.recall);
        note =
            a.reached ? fmt::format("ef {}", a.ef) : fmt::format("not reached, max {:.4f}", best);
      };
      at(relate, row.relate, row.relate_note);
      at(faiss_run, row.faiss, row.faiss_note);
      at(hnswlib, row.anchor, row.anchor_note);
      rows.push_back(row);
    }
    rows.push_back(Row{.figure = "HNSW index memory, MB",
                       .unit = "MB",
                       .relate = value(relate, mb),
                       .faiss = value(faiss_run, mb),
                       .anchor = value(hnswlib, mb),
                       .anchor_name = "hnswlib",
                       .goal = kMemoryGoal,
                       .lower_is_better = true});
    for (const EngineRun& r : runs) {
      notes.push_back(fmt::format(
          "{} HNSW: built in {:.1f} s; {:.0f} MB = {:.0f} bytes per vector ({} of them vector "
          "data); resident set grew {:.0f} MB",
          r.engine->name(), r.build_s, mb(r),
          static_cast<double>(r.bytes) / static_cast<double>(ds.n), ds.d * sizeof(float),
          static_cast<double>(r.resident) / 1e6));
    }
  }

  if (!cfg.skip_exact) {
    const ExactFigures f = RunExact(ds, cfg);
    std::fprintf(stderr, "%s: triad...\n", ds.name.c_str());
    // Each array at least as large as the base, and far beyond any cache.
    const size_t elements = std::max(ds.n * ds.d, size_t{64} << 20);
    const Triad triad = MeasureTriad(elements, cfg.threads, cfg.triad_reps);
    const double scan_bytes = static_cast<double>(ds.n * ds.d * sizeof(float));
    const double flop =
        2.0 * static_cast<double>(ds.nq) * static_cast<double>(ds.n) * static_cast<double>(ds.d);
    rows.push_back(Row{.figure = "exact single query, GB/s of vectors scanned",
                       .unit = "GB/s",
                       .relate = scan_bytes / f.relate_single_s / 1e9,
                       .faiss = scan_bytes / f.faiss_single_s / 1e9,
                       .anchor = triad.gbs,
                       .anchor_name = fmt::format("triad, {} threads", cfg.threads),
                       .goal = kScanGoal});
    rows.push_back(Row{.figure = fmt::format("exact batch of {}, GFLOP/s-equivalent", ds.nq),
                       .unit = "GFLOP/s",
                       .relate = flop / f.relate_batch_s / 1e9,
                       .faiss = flop / f.faiss_batch_s / 1e9,
                       .anchor = flop / f.sgemm_s / 1e9,
                       .anchor_name = fmt::format("OpenBLAS sgemm, {}-row blocks", cfg.gemm_rows),
                       .goal = kBatchGoal});
    notes.push_back(fmt::format(
        "exact single queries: {} queries, one per call, alternating which engine goes first; "
        "relate {:.2f} ms, raw FAISS {} ms per query (best of {} passes); the Flat answers "
        "match the exact top-{} (checked)",
        f.single_queries, f.relate_single_s * 1e3,
        std::isnan(f.faiss_single_s) ? "—" : fmt::format("{:.2f}", f.faiss_single_s * 1e3),
        cfg.exact_reps, ds.k));
    notes.push_back(fmt::format(
        "exact batch: {} queries in one call; relate {:.2f} s, raw FAISS {} s, sgemm alone "
        "{:.2f} s (best of {}); recall@{} relate {:.4f}, raw FAISS {}",
        ds.nq, f.relate_batch_s,
        std::isnan(f.faiss_batch_s) ? "—" : fmt::format("{:.2f}", f.faiss_batch_s), f.sgemm_s,
        cfg.exact_reps, ds.k, f.relate_recall,
        std::isnan(f.faiss_recall) ? "—" : fmt::format("{:.4f}", f.faiss_recall)));
    notes.push_back(fmt::format(
        "triad: a[i] = b[i] + s*c[i] over 3 float arrays of {:.0f} MB each, 12 bytes per "
        "element; {:.2f} GB/s on {} threads, {:.2f} GB/s on one (best of {})",
        static_cast<double>(triad.bytes_per_array) / 1e6, triad.gbs, cfg.threads,
        triad.gbs_one_thread, cfg.triad_reps));
  }

  std::printf("## %s: each figure next to its anchor\n\n", ds.name.c_str());
  std::printf(
      "| figure | relate | raw FAISS | anchor | anchor value | relate ÷ anchor | raw FAISS ÷ "
      "anchor | goal for relate |\n");
  std::printf("|---|--:|--:|---|--:|--:|--:|---|\n");
  std::ofstream summary = OpenTsv(out / ("ann-" + ds.name + "-summary.tsv"));
  summary << "dataset\tfigure\tunit\trelate\traw_faiss\tanchor\tanchor_value\trelate_ratio\t"
             "raw_faiss_ratio\tgoal\tgoal_met\trelate_note\traw_faiss_note\tanchor_note\n";
  for (const Row& r : rows) {
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.figure.c_str(),
                WithNote(r.relate, r.relate_note).c_str(), WithNote(r.faiss, r.faiss_note).c_str(),
                r.anchor_name.c_str(), WithNote(r.anchor, r.anchor_note).c_str(),
                Ratio(r.relate, r.anchor).c_str(), Ratio(r.faiss, r.anchor).c_str(),
                GoalText(r).c_str());
    summary << ds.name << '\t' << r.figure << '\t' << r.unit << '\t' << Tsv(r.relate) << '\t'
            << Tsv(r.faiss) << '\t' << r.anchor_name << '\t' << Tsv(r.anchor) << '\t'
            << Tsv(r.relate / r.anchor) << '\t' << Tsv(r.faiss / r.anchor) << '\t'
            << (std::isnan(r.goal) ? ""
                                   : fmt::format("{}{}", r.lower_is_better ? "<=" : ">=", r.goal))
            << '\t' << Verdict(r) << '\t' << r.relate_note << '\t' << r.faiss_note << '\t'
            << r.anchor_note << '\n';
  }
  if (!summary) Die("writing the summary TSV failed");
  std::printf("\n");
  for (const std::string& note : notes) std::printf("- %s\n", note.c_str());
  std::printf("- vectors alone: %.0f MB\n", vectors_mb);
  std::printf("- load average at the end: %s\n", LoadAverage().c_str());
  std::printf("- wall time: %.0f s\n", Seconds(run_start, Clock::now()));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const faiss::FaissException& e) {
    Die(std::string("FAISS: ") + e.what());
  } catch (const std::exception& e) {
    Die(std::string("unexpected exception: ") + e.what());
  }
}
