// relate_query_bench: the queries of issue 7 through relate's public API, each
// figure next to its anchor measured in the same run, as a ratio.
//
//  1. Filtered vector search (DB::Search with SearchOptions::filter): QPS,
//     recall@k against exact filtered brute force, the plan the planner chose
//     and distance computations per query, at several selectivities, with the
//     filter on a field the collection declares filterable (secondary index)
//     and on the same values under a field it does not. Anchors: relate
//     unfiltered on the same index, and raw FAISS with an IDSelectorBitmap of
//     the same records (IndexFlatIP, IndexHNSWFlat, IndexIVFFlat).
//  2. The k guarantee: the fraction of filtered queries that returned k hits,
//     relate next to raw FAISS with a selector (which returns what its search
//     met).
//  3. Range search (SearchOptions::threshold) next to k-search on the same
//     queries, the threshold being the score of each query's 50th neighbour.
//  4. Text queries (DB::SearchText) ranked by vector, keyword (BM25), hybrid
//     RRF and hybrid weighted: median and p95 latency, each next to kVector,
//     with and without a filter, over lines of the Gutenberg corpus embedded
//     with a model trained on them (DB::TrainModel) in the run.
//  5. What the secondary and keyword indexes cost at ingest: records/s with
//     filterable fields and the keyword index next to a collection with neither.
//
// Equal work: every system gets the same L2-normalised vectors (relate
// normalises them itself: cosine collections), the same queries, k, efSearch
// and nprobe, and single queries run on --search-threads OpenMP threads (one by
// default: FAISS answers one query on one thread). relate's figures include
// what raw FAISS does not do: the filter's secondary-index lookup, reading each
// hit's key, text and metadata from RocksDB.
//
// relate's and FAISS's calls are interleaved one by one, alternating which goes
// first, so that noise from the machine hits both alike; each QPS is the median
// over repetitions. A slow combination runs fewer queries (--budget).
#include <cblas.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"
#include "relate/relate.h"

namespace {

using namespace relate::bench;
using idx_t = faiss::Index::idx_t;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kClusters = 100;          // Gaussian mixture components, as relate_bench
constexpr float kClusterSpread = 1.0f;     // noise stddev around a centre (centres ~ N(0, 1))
constexpr size_t kTextBytes = 200;         // text per record, at most
constexpr int64_t kBucketRange = 100000;   // bucket values are in [0, kBucketRange)
constexpr uint32_t kEfConstruction = 100;  // relate's, given to FAISS too
constexpr const char* kFilterable = "bucket";
constexpr const char* kPlain = "bucket_raw";  // the same values, no secondary index
constexpr const char* kModel = "bench_model";
constexpr const char* kTextCollection = "text";
// A score this much below a threshold still counts as at it (relate and the
// sgemm ground truth sum in different orders).
constexpr float kScoreSlack = 1e-5f;

struct Config {
  size_t n = 100000;
  uint32_t d = 100;
  size_t queries = 200;
  size_t min_queries = 20;
  double budget = 1.5;
  size_t k = 10;
  size_t reps = 3;
  std::string indexes = "flat,hnsw,ivf";
  uint32_t hnsw_m = 32;
  uint32_t ef_search = 64;
  uint32_t ivf_nlist = 256;
  uint32_t nprobe = 16;
  std::string selectivities = "0.01,1,10,50";
  size_t range_rank = 50;
  size_t range_limit = 1000;
  int search_threads = 1;
  unsigned threads = 2;
  size_t ingest_batch = 1000;
  size_t ingest_n = 0;  // 0: --n
  size_t ingest_reps = 3;
  std::string data = "../shared/data";
  size_t text_lines = 50000;
  size_t text_queries = 200;
  size_t query_words = 6;
  uint32_t text_dim = 100;
  uint32_t train_epochs = 3;
  double text_filter = 10;
  size_t text_reps = 2;
  uint64_t seed = 42;
  std::string dir;
  bool keep = false;
  bool skip_filtered = false, skip_range = false, skip_text = false, skip_ingest = false;
};

// Records drawn from a Gaussian mixture (like relate_bench), each with a
// bucket: a permutation of the records scaled to [0, 100000), so that
// `bucket < x` matches exactly x N / 100000 records.
struct Dataset {
  uint32_t d = 0;
  size_t n = 0, nq = 0;
  std::vector<relate::Record> records;  // vectors as drawn; relate normalises them
  std::vector<float> normalised;        // n x d, what FAISS gets
  std::vector<int64_t> bucket;          // per record
  std::vector<float> queries;           // nq x d as drawn; what relate gets
  std::vector<float> queries_normalised;
  std::vector<float> scores;  // nq x n inner products, the ground truth
};

const char* const kWords[] = {
    "vector",     "index",    "search",   "related",    "storage", "query",     "embedding",
    "token",      "cosine",   "nearest",  "cluster",    "record",  "metadata",  "durable",
    "batch",      "model",    "corpus",   "train",      "weight",  "matrix",    "pool",
    "normalise",  "distance", "score",    "text",       "graph",   "neighbour", "filter",
    "collection", "write",    "replay",   "checkpoint", "paper",   "author",    "topic",
    "method",     "result",   "dataset",  "measure",    "similar", "language",  "word",
    "sentence",   "context",  "semantic", "retrieval",  "ranking", "answer"};

Dataset MakeDataset(const Config& cfg) {
  Dataset ds;
  const uint32_t d = cfg.d;
  ds.d = d;
  ds.n = cfg.n;
  ds.nq = cfg.queries;
  std::mt19937_64 rng(cfg.seed * 1000003 + d);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_int_distribution<size_t> pick_cluster(0, kClusters - 1);
  std::uniform_int_distribution<size_t> pick_word(0, std::size(kWords) - 1);
  std::vector<float> centres(kClusters * d);
  for (float& x : centres) x = gauss(rng);
  auto draw = [&](float* out, size_t c) {
    for (uint32_t j = 0; j < d; ++j) out[j] = centres[c * d + j] + kClusterSpread * gauss(rng);
  };
  std::vector<int64_t> perm(ds.n);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);

  ds.records.resize(ds.n);
  ds.bucket.resize(ds.n);
  ds.normalised.resize(ds.n * d);
  for (size_t i = 0; i < ds.n; ++i) {
    relate::Record& r = ds.records[i];
    const size_t c = pick_cluster(rng);
    r.key = "r" + std::to_string(i);
    r.vector.resize(d);
    draw(r.vector.data(), c);
    std::copy(r.vector.begin(), r.vector.end(), ds.normalised.data() + i * d);
    r.text = "Record " + std::to_string(i) + " of cluster " + std::to_string(c) + ":";
    for (;;) {
      std::string_view w = kWords[pick_word(rng)];
      if (r.text.size() + 1 + w.size() > kTextBytes) break;
      r.text += ' ';
      r.text += w;
    }
    ds.bucket[i] = static_cast<int64_t>(static_cast<__int128>(perm[i]) * kBucketRange /
                                        static_cast<int64_t>(ds.n));
    r.metadata.emplace(kFilterable, ds.bucket[i]);
    r.metadata.emplace(kPlain, ds.bucket[i]);
    r.metadata.emplace("cluster", static_cast<int64_t>(c));
  }
  faiss::fvec_renorm_L2(d, ds.n, ds.normalised.data());
  ds.queries.resize(ds.nq * d);
  for (size_t q = 0; q < ds.nq; ++q) draw(ds.queries.data() + q * d, pick_cluster(rng));
  ds.queries_normalised = ds.queries;
  faiss::fvec_renorm_L2(d, ds.nq, ds.queries_normalised.data());

  // Ground truth: every query's inner product with every record.
  ds.scores.resize(ds.nq * ds.n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(ds.nq),
              static_cast<int>(ds.n), static_cast<int>(d), 1.0f, ds.queries_normalised.data(),
              static_cast<int>(d), ds.normalised.data(), static_cast<int>(d), 0.0f,
              ds.scores.data(), static_cast<int>(ds.n));
  return ds;
}

// The best `k` records of query q among those `allowed` (all if empty), best first.
std::vector<int64_t> TopK(const Dataset& ds, size_t q, size_t k,
                          const std::vector<uint8_t>& allowed) {
  const float* s = ds.scores.data() + q * ds.n;
  std::vector<int64_t> ids;
  ids.reserve(allowed.empty() ? ds.n : ds.n / 2);
  for (size_t i = 0; i < ds.n; ++i) {
    if (allowed.empty() || allowed[i]) ids.push_back(static_cast<int64_t>(i));
  }
  const size_t take = std::min(k, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(take), ids.end(),
                    [&](int64_t a, int64_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  ids.resize(take);
  return ids;
}

// The record index of a hit: keys are "r<index>".
int64_t KeyIndex(const relate::Hit& hit) {
  int64_t v = -1;
  if (hit.key.size() > 1) std::from_chars(hit.key.data() + 1, hit.key.data() + hit.key.size(), v);
  return v;
}

std::vector<int64_t> HitIndexes(const std::vector<relate::Hit>& hits) {
  std::vector<int64_t> out;
  out.reserve(hits.size());
  for (const auto& h : hits) out.push_back(KeyIndex(h));
  return out;
}

double Recall(const std::vector<int64_t>& got, const std::vector<int64_t>& truth) {
  if (truth.empty()) return got.empty() ? 1.0 : 0.0;
  std::unordered_set<int64_t> t(truth.begin(), truth.end());
  size_t hit = 0;
  for (int64_t g : got) hit += t.count(g);
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::string Pct(double fraction) {
  if (std::isnan(fraction)) return "—";
  return fmt::format("{:.1f} %", 100 * fraction);
}

std::string Ratio(double v) { return std::isnan(v) ? "—" : fmt::format("{:.2f}", v); }

std::string WithThousands(uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// One engine's answer to one query: record indexes, best first.
using Answer = std::vector<int64_t>;

// What one combination (index, filter, query kind) measured.
struct Cell {
  std::string error;                          // relate failed: what it said (the rest is unset)
  std::string anchor_error;                   // FAISS failed or has no such search
  size_t queries = 0;                         // queries run (the first ones of the set)
  std::vector<double> relate_qps, faiss_qps;  // per repetition
  double relate_recall = kNaN, faiss_recall = kNaN;
  double relate_full = kNaN, faiss_full = kNaN;  // fraction of queries answered in full
  double relate_hits = kNaN, faiss_hits = kNaN;  // mean hits per query
  double relate_dis = kNaN, faiss_dis = kNaN;    // distance computations per query
  double widenings = kNaN;
  std::map<std::string, size_t> plans;  // plan -> queries
  std::string why;                      // the planner's reason, of the first query
  std::string stages;                   // the first query's stages, with their times
  std::string short_answers;            // relate's answers short of a full one: which, how

  double RelateQps() const { return relate_qps.empty() ? kNaN : Median(relate_qps); }
  double FaissQps() const { return faiss_qps.empty() ? kNaN : Median(faiss_qps); }
  std::string Plans() const {
    if (!error.empty()) return "error";
    std::string out;
    for (const auto& [plan, count] : plans) {
      out += out.empty() ? "" : "; ";
      out += count == queries ? plan : fmt::format("{} ({}/{})", plan, count, queries);
    }
    return out;
  }
  std::string RatioSpread() const {
    if (relate_qps.empty() || faiss_qps.empty()) return "—";
    double lo = 1e300, hi = 0;
    for (size_t i = 0; i < relate_qps.size(); ++i) {
      lo = std::min(lo, relate_qps[i] / faiss_qps[i]);
      hi = std::max(hi, relate_qps[i] / faiss_qps[i]);
    }
    return fmt::format("{:.2f}-{:.2f}", lo, hi);
  }
};

// relate's distance computations per query; relate leaves QueryExplain's
// count at 0 on some plans, shown as not reported.
std::string Distances(const Cell& c) {
  if (c.relate_dis == 0 && c.relate_hits > 0) return "not reported";
  return Figure(c.relate_dis);
}

// The calls a cell measures. `relate` returns false (with *error) when the API
// call failed; `faiss` may be empty (no anchor).
struct Calls {
  std::function<bool(size_t q, relate::QueryExplain* explain, Answer* out, std::string* error)>
      relate;
  std::function<void(size_t q, Answer* out)> faiss;
  std::function<size_t()> faiss_dis_counter;  // distance computations so far (may be empty)
  std::function<const Answer&(size_t q)> truth;
  std::function<size_t(size_t q)> expected;  // hits a full answer has
};

// One untimed pass (answers, recall, plans, counts), which also picks how
// many queries fit the budget, then `reps` timed passes interleaving relate
// and FAISS call by call.
Cell Measure(const Config& cfg, size_t nq, const Calls& calls,
             const std::string& anchor_error = "") {
  Cell cell;
  cell.anchor_error = anchor_error;
  double recall_r = 0, recall_f = 0, full_r = 0, full_f = 0, hits_r = 0, hits_f = 0;
  double dis_r = 0, widen = 0;
  size_t dis_f = 0;
  const bool anchor = static_cast<bool>(calls.faiss);
  Answer got;
  auto t0 = Clock::now();
  size_t q = 0;
  for (; q < nq; ++q) {
    if (q >= cfg.min_queries && Seconds(t0, Clock::now()) > cfg.budget) break;
    relate::QueryExplain ex;
    std::string error;
    if (!calls.relate(q, &ex, &got, &error)) {
      cell.error = fmt::format("query {}: {}", q, error);
      return cell;
    }
    const Answer& truth = calls.truth(q);
    const size_t want = calls.expected(q);
    recall_r += Recall(got, truth);
    full_r += got.size() == want;
    if (got.size() != want && cell.short_answers.size() < 2000) {
      std::string st;
      for (const auto& x : ex.stages) {
        st += fmt::format("{}{} ({}): {} items", st.empty() ? "" : "; ", x.name, x.detail, x.items);
      }
      cell.short_answers += fmt::format("{}query {}: {} of {} hits, recall {:.2f}, plan \"{}\": {}",
                                        cell.short_answers.empty() ? "" : " | ", q, got.size(),
                                        want, Recall(got, calls.truth(q)), ex.plan, st);
    }
    hits_r += static_cast<double>(got.size());
    dis_r += static_cast<double>(ex.distance_computations);
    widen += ex.widenings;
    ++cell.plans[ex.plan.empty() ? "(none)" : ex.plan];
    if (q == 0) {
      cell.why = ex.why;
      for (const auto& st : ex.stages) {
        cell.stages += fmt::format("{}{} ({}): {} ms", cell.stages.empty() ? "" : "; ", st.name,
                                   st.detail, Figure(st.ms));
      }
    }
    if (anchor) {
      const size_t before = calls.faiss_dis_counter ? calls.faiss_dis_counter() : 0;
      try {
        calls.faiss(q, &got);
      } catch (const std::exception& e) {
        cell.anchor_error = e.what();
        return Measure(
            cfg, nq,
            Calls{.relate = calls.relate, .truth = calls.truth, .expected = calls.expected},
            cell.anchor_error);
      }
      if (calls.faiss_dis_counter) dis_f += calls.faiss_dis_counter() - before;
      recall_f += Recall(got, truth);
      full_f += got.size() == want;
      hits_f += static_cast<double>(got.size());
    }
  }
  cell.queries = q;
  const double n = static_cast<double>(q);
  cell.relate_recall = recall_r / n;
  cell.relate_full = full_r / n;
  cell.relate_hits = hits_r / n;
  cell.relate_dis = dis_r / n;
  cell.widenings = widen / n;
  if (anchor) {
    cell.faiss_recall = recall_f / n;
    cell.faiss_full = full_f / n;
    cell.faiss_hits = hits_f / n;
    // FAISS 1.7.3's IndexHNSW::search does not add to hnsw_stats: not counted.
    if (calls.faiss_dis_counter && dis_f > 0) cell.faiss_dis = static_cast<double>(dis_f) / n;
  }
  for (size_t rep = 0; rep < cfg.reps; ++rep) {
    double relate_s = 0, faiss_s = 0;
    std::string error;
    for (size_t i = 0; i < cell.queries; ++i) {
      auto time_relate = [&] {
        auto t = Clock::now();
        if (!calls.relate(i, nullptr, &got, &error))
          Die("query " + std::to_string(i) + ": " + error);
        relate_s += Seconds(t, Clock::now());
      };
      auto time_faiss = [&] {
        auto t = Clock::now();
        calls.faiss(i, &got);
        faiss_s += Seconds(t, Clock::now());
      };
      if (!anchor) {
        time_relate();
      } else if ((i + rep) % 2 == 0) {
        time_faiss();
        time_relate();
      } else {
        time_relate();
        time_faiss();
      }
    }
    cell.relate_qps.push_back(n / relate_s);
    if (anchor) cell.faiss_qps.push_back(n / faiss_s);
  }
  return cell;
}

// A FAISS index under test, with how to search it.
struct FaissEngine {
  std::unique_ptr<faiss::Index> index;
  std::unique_ptr<faiss::Index> quantizer;  // IVF's
  faiss::IndexHNSW* hnsw = nullptr;
  faiss::IndexIVF* ivf = nullptr;
  double build_s = 0;

  // Searches one query for k (nullptr sel: no filter); -1 labels dropped.
  void Search(const Config& cfg, const float* query, size_t k, faiss::IDSelector* sel,
              Answer* out) const {
    std::vector<float> dist(k);
    std::vector<idx_t> labels(k);
    if (hnsw != nullptr) {
      faiss::SearchParametersHNSW p;
      p.efSearch = static_cast<int>(cfg.ef_search);
      p.sel = sel;
      index->search(1, query, static_cast<idx_t>(k), dist.data(), labels.data(), &p);
    } else if (ivf != nullptr) {
      faiss::SearchParametersIVF p;
      p.nprobe = cfg.nprobe;
      p.sel = sel;
      index->search(1, query, static_cast<idx_t>(k), dist.data(), labels.data(), &p);
    } else {
      faiss::SearchParameters p;
      p.sel = sel;
      index->search(1, query, static_cast<idx_t>(k), dist.data(), labels.data(), &p);
    }
    out->clear();
    for (idx_t l : labels) {
      if (l >= 0) out->push_back(l);
    }
  }
  size_t DistanceCount() const {
    if (hnsw != nullptr) return faiss::hnsw_stats.ndis;
    if (ivf != nullptr) return faiss::indexIVF_stats.ndis;
    return 0;
  }
};

// One of the index kinds measured: relate's collection and FAISS's counterpart.
struct Kind {
  std::string name;        // flat, hnsw, ivf
  std::string spec;        // relate's index_spec
  std::string faiss_desc;  // what the anchor is
  FaissEngine faiss;
  double relate_ingest_s = 0;
};

FaissEngine BuildFaiss(const Config& cfg, const Dataset& ds, const std::string& kind) {
  FaissEngine e;
  const int d = static_cast<int>(ds.d);
  auto t0 = Clock::now();
  if (kind == "flat") {
    e.index = std::make_unique<faiss::IndexFlatIP>(d);
  } else if (kind == "hnsw") {
    auto h = std::make_unique<faiss::IndexHNSWFlat>(d, static_cast<int>(cfg.hnsw_m),
                                                    faiss::METRIC_INNER_PRODUCT);
    h->hnsw.efConstruction = static_cast<int>(kEfConstruction);
    e.hnsw = h.get();
    e.index = std::move(h);
  } else {
    e.quantizer = std::make_unique<faiss::IndexFlatIP>(d);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(e.quantizer.get(), static_cast<size_t>(d),
                                                     cfg.ivf_nlist, faiss::METRIC_INNER_PRODUCT);
    ivf->train(static_cast<idx_t>(ds.n), ds.normalised.data());
    e.ivf = ivf.get();
    e.index = std::move(ivf);
  }
  e.index->add(static_cast<idx_t>(ds.n), ds.normalised.data());
  e.build_s = Seconds(t0, Clock::now());
  return e;
}

// Waits until the collection's index is trained and no rebuild runs.
void WaitForIndex(relate::DB& db, const std::string& name) {
  auto t0 = Clock::now();
  for (;;) {
    auto st = Take(db.Stats(name), "stats " + name);
    if (st.trained && !st.rebuilding) return;
    if (Seconds(t0, Clock::now()) > 900) Die("collection " + name + " not trained after 900 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void Ingest(const Config& cfg, relate::DB& db, const std::string& name,
            std::span<const relate::Record> records) {
  for (size_t at = 0; at < records.size(); at += cfg.ingest_batch) {
    Check(db.Upsert(name, records.subspan(at, std::min(cfg.ingest_batch, records.size() - at))),
          "upsert into " + name);
  }
}

std::vector<double> ParsePercents(const std::string& s) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    double v = 0;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + comma, v);
    if (ec != std::errc() || p != s.data() + comma || !(v > 0 && v <= 100)) {
      Die("bad --selectivities \"" + s +
          "\": expected percentages in (0, 100] separated by commas");
    }
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

std::string PercentText(double p) { return fmt::format("{:g} %", p); }

// ---------------------------------------------------------------- sections 1-3

struct FilterRow {
  std::string kind;
  double percent = 0;  // 0: unfiltered
  size_t matching = 0;
  std::string field;  // "" unfiltered
  Cell cell;
};

struct RangeRow {
  std::string kind;
  std::string query;  // "k=50" or "range"
  Cell cell;
};

void RunVectorSections(const Config& cfg, const Dataset& ds, const fs::path& dir,
                       std::vector<Kind>& kinds, std::vector<FilterRow>& filter_rows,
                       std::vector<RangeRow>& range_rows, std::vector<std::string>& notes) {
  const uint32_t d = ds.d;
  const fs::path db_dir = dir / "db-vectors";
  {
    relate::Options create;
    create.create_if_missing = true;
    auto db = Take(relate::DB::Open(db_dir, create), "open " + db_dir.string());
    for (Kind& kind : kinds) {
      relate::CollectionSpec spec{.name = kind.name, .dimension = d, .index_spec = kind.spec};
      spec.filterable = {kFilterable};
      spec.keyword_index = false;
      Check(db->CreateCollection(spec), "create collection " + kind.name);
      auto t0 = Clock::now();
      Ingest(cfg, *db, kind.name, ds.records);
      if (kind.name == "ivf") {
        // Trained in the background on the first ~10,000 and ~40,000 vectors;
        // Compact retrains it on all of them, as FAISS's anchor is trained.
        WaitForIndex(*db, kind.name);
        Check(db->Compact(kind.name), "compact " + kind.name);
      }
      WaitForIndex(*db, kind.name);
      kind.relate_ingest_s = Seconds(t0, Clock::now());
      auto st = Take(db->Stats(kind.name), "stats");
      std::fprintf(stderr, "relate %s (%s, in use %s): ingested %zu records in %.1f s\n",
                   kind.name.c_str(), kind.spec.c_str(), st.index_in_use.c_str(), ds.n,
                   kind.relate_ingest_s);
      notes.push_back(fmt::format(
          "relate {}: index_spec \"{}\" (in use: {}), ingest incl. index build {:.1f} s; raw "
          "FAISS {} built in {:.1f} s",
          kind.name, kind.spec, st.index_in_use, kind.relate_ingest_s, kind.faiss_desc,
          kind.faiss.build_s));
    }
  }
  // Reopened, so records are read from RocksDB's files as a database in use is.
  auto db = Take(relate::DB::Open(db_dir, {}), "reopen " + db_dir.string());
  omp_set_num_threads(cfg.search_threads);

  const size_t k = cfg.k;
  const size_t nq = ds.nq;
  relate::SearchKnobs knobs{.ef_search = cfg.ef_search, .nprobe = cfg.nprobe};
  auto query_span = [&](size_t q) { return std::span<const float>(ds.queries.data() + q * d, d); };

  // Unfiltered truth, and per selectivity the allowed bitmap and truth.
  const std::vector<uint8_t> none;
  std::vector<Answer> truth_all(nq);
  for (size_t q = 0; q < nq; ++q) truth_all[q] = TopK(ds, q, k, none);

  auto relate_search = [&](const std::string& coll, const relate::SearchOptions& base) {
    return [&db, coll, base, query_span](size_t q, relate::QueryExplain* ex, Answer* out,
                                         std::string* error) {
      relate::SearchOptions o = base;
      o.explain = ex;
      auto r = db->Search(coll, query_span(q), o);
      if (!r) {
        *error = r.error().ToString();
        return false;
      }
      *out = HitIndexes(*r);
      return true;
    };
  };

  if (!cfg.skip_filtered) {
    const std::vector<double> percents = ParsePercents(cfg.selectivities);
    for (Kind& kind : kinds) {
      FaissEngine& fe = kind.faiss;
      // Unfiltered.
      {
        Calls calls;
        calls.relate = relate_search(kind.name, relate::SearchOptions{.k = k, .knobs = knobs});
        calls.faiss = [&](size_t q, Answer* out) {
          fe.Search(cfg, ds.queries_normalised.data() + q * d, k, nullptr, out);
        };
        calls.faiss_dis_counter = [&] { return fe.DistanceCount(); };
        calls.truth = [&](size_t q) -> const Answer& { return truth_all[q]; };
        calls.expected = [&](size_t) { return k; };
        std::fprintf(stderr, "%s unfiltered...\n", kind.name.c_str());
        filter_rows.push_back(FilterRow{.kind = kind.name, .cell = Measure(cfg, nq, calls)});
        if (kind.name == "flat") filter_rows.back().cell.faiss_dis = static_cast<double>(ds.n);
      }
      for (double percent : percents) {
        const int64_t below = static_cast<int64_t>(std::llround(percent / 100 * kBucketRange));
        std::vector<uint8_t> allowed(ds.n);
        size_t matching = 0;
        std::vector<uint8_t> bitmap((ds.n + 7) / 8);
        for (size_t i = 0; i < ds.n; ++i) {
          allowed[i] = ds.bucket[i] < below;
          if (allowed[i]) {
            ++matching;
            bitmap[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
          }
        }
        faiss::IDSelectorBitmap sel(bitmap.size(), bitmap.data());
        std::vector<Answer> truth(nq);
        for (size_t q = 0; q < nq; ++q) truth[q] = TopK(ds, q, k, allowed);
        for (const char* field : {kFilterable, kPlain}) {
          relate::SearchOptions o{.k = k, .knobs = knobs};
          o.filter = relate::Filter::Lt(field, below);
          Calls calls;
          calls.relate = relate_search(kind.name, o);
          calls.faiss = [&](size_t q, Answer* out) {
            fe.Search(cfg, ds.queries_normalised.data() + q * d, k, &sel, out);
          };
          calls.faiss_dis_counter = [&] { return fe.DistanceCount(); };
          calls.truth = [&](size_t q) -> const Answer& { return truth[q]; };
          calls.expected = [&](size_t) { return std::min(k, matching); };
          std::fprintf(stderr, "%s %s < %lld (%s)...\n", kind.name.c_str(), field,
                       static_cast<long long>(below), PercentText(percent).c_str());
          Cell cell = Measure(cfg, nq, calls);
          // FAISS's flat scan computes a distance for each selected row only.
          if (kind.name == "flat") cell.faiss_dis = static_cast<double>(matching);
          filter_rows.push_back(FilterRow{.kind = kind.name,
                                          .percent = percent,
                                          .matching = matching,
                                          .field = field,
                                          .cell = std::move(cell)});
        }
      }
    }
  }

  if (!cfg.skip_range) {
    const size_t rank = cfg.range_rank;
    std::vector<Answer> truth_k(nq), truth_range(nq);
    std::vector<float> threshold(nq);
    for (size_t q = 0; q < nq; ++q) {
      truth_k[q] = TopK(ds, q, rank, none);
      const float* s = ds.scores.data() + q * ds.n;
      threshold[q] = s[truth_k[q].back()] - kScoreSlack;
      for (size_t i = 0; i < ds.n; ++i) {
        if (s[i] >= threshold[q]) truth_range[q].push_back(static_cast<int64_t>(i));
      }
    }
    for (Kind& kind : kinds) {
      FaissEngine& fe = kind.faiss;
      {
        Calls calls;
        calls.relate = relate_search(kind.name, relate::SearchOptions{.k = rank, .knobs = knobs});
        calls.faiss = [&](size_t q, Answer* out) {
          fe.Search(cfg, ds.queries_normalised.data() + q * d, rank, nullptr, out);
        };
        calls.faiss_dis_counter = [&] { return fe.DistanceCount(); };
        calls.truth = [&](size_t q) -> const Answer& { return truth_k[q]; };
        calls.expected = [&](size_t) { return rank; };
        std::fprintf(stderr, "%s k=%zu...\n", kind.name.c_str(), rank);
        range_rows.push_back(RangeRow{.kind = kind.name,
                                      .query = fmt::format("k-search, k={}", rank),
                                      .cell = Measure(cfg, nq, calls)});
      }
      {
        Calls calls;
        calls.relate = [&, name = kind.name](size_t q, relate::QueryExplain* ex, Answer* out,
                                             std::string* error) {
          relate::SearchOptions o{.k = cfg.range_limit, .knobs = knobs};
          o.threshold = threshold[q];
          o.explain = ex;
          auto r = db->Search(name, query_span(q), o);
          if (!r) {
            *error = r.error().ToString();
            return false;
          }
          *out = HitIndexes(*r);
          return true;
        };
        if (kind.name == "flat") {
          calls.faiss = [&](size_t q, Answer* out) {
            faiss::RangeSearchResult res(1);
            fe.index->range_search(1, ds.queries_normalised.data() + q * d, threshold[q], &res);
            out->assign(res.labels, res.labels + res.lims[1]);
          };
        }
        calls.truth = [&](size_t q) -> const Answer& { return truth_range[q]; };
        calls.expected = [&](size_t q) { return truth_range[q].size(); };
        std::fprintf(stderr, "%s range...\n", kind.name.c_str());
        range_rows.push_back(RangeRow{.kind = kind.name,
                                      .query = fmt::format("range, score ≥ {}th neighbour's", rank),
                                      .cell = Measure(cfg, nq, calls)});
        if (kind.name != "flat") {
          range_rows.back().cell.anchor_error = "FAISS 1.7.3 has no range search for this index";
        }
      }
    }
  }
  omp_set_num_threads(static_cast<int>(cfg.threads));
}

// ---------------------------------------------------------------- section 4

struct TextRow {
  std::string ranking;
  bool filtered = false;
  std::vector<double> ms;  // latency of each call
  double full = kNaN;      // fraction of queries answered with k hits
  std::string plan;
  std::string stages;  // the first query's stages, with their times
  std::string error;
};

// Lines of the corpus with at least 4 words of letters, trimmed.
std::vector<std::string> ReadCorpusLines(const fs::path& file, size_t want) {
  if (!fs::exists(file)) {
    Die(file.string() +
        " not found: give --data the shared data folder (../shared/data from "
        "the project root)");
  }
  const std::string cmd = "xz -dc '" + file.string() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) Die("running " + cmd);
  std::vector<std::string> lines;
  std::string line;
  char buf[1 << 16];
  auto finish_line = [&] {
    size_t a = line.find_first_not_of(" \t\r");
    size_t b = line.find_last_not_of(" \t\r");
    if (a != std::string::npos) {
      std::string t = line.substr(a, b - a + 1);
      size_t words = 0;
      bool in_word = false;
      for (char c : t) {
        const bool letter = std::isalpha(static_cast<unsigned char>(c)) != 0;
        if (letter && !in_word) ++words;
        in_word = letter;
      }
      if (words >= 4) lines.push_back(std::move(t));
    }
    line.clear();
  };
  while (lines.size() < want && std::fgets(buf, sizeof buf, p) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      finish_line();
    }
  }
  ::pclose(p);  // xz is stopped by the closed pipe once enough lines are read
  if (lines.size() < want) {
    Die(fmt::format("{} has only {} lines of 4 or more words; {} wanted", file.string(),
                    lines.size(), want));
  }
  return lines;
}

void RunTextSection(const Config& cfg, const fs::path& dir, std::vector<TextRow>& rows,
                    std::vector<std::string>& notes, std::string* first_query) {
  const fs::path corpus = fs::path(cfg.data) / "corpus" / "gutenberg-raw-15MB.txt.xz";
  auto t0 = Clock::now();
  // Every 10th line after the records' becomes a query, so queries are not records.
  std::vector<std::string> lines = ReadCorpusLines(corpus, cfg.text_lines + 10 * cfg.text_queries);
  const fs::path train_file = dir / "corpus-lines.txt";
  {
    std::ofstream out(train_file);
    for (size_t i = 0; i < cfg.text_lines; ++i) out << lines[i] << '\n';
    if (!out) Die("writing " + train_file.string());
  }
  const double read_s = Seconds(t0, Clock::now());

  const fs::path db_dir = dir / "db-text";
  relate::Options create;
  create.create_if_missing = true;
  auto db = Take(relate::DB::Open(db_dir, create), "open " + db_dir.string());
  relate::TrainOptions train;
  train.corpus = {train_file};
  train.dimension = cfg.text_dim;
  train.epochs = cfg.train_epochs;
  train.min_count = 1;  // every word of the records is in the vocabulary
  train.threads = cfg.threads;
  auto t1 = Clock::now();
  Check(db->TrainModel(kModel, train), "train model");
  const double train_s = Seconds(t1, Clock::now());
  auto model = Take(db->DescribeModel(kModel), "describe model");

  relate::CollectionSpec spec{.name = kTextCollection, .model = kModel, .keyword_index = true};
  spec.filterable = {kFilterable};
  Check(db->CreateCollection(spec), "create text collection");
  std::vector<relate::Record> records(cfg.text_lines);
  std::mt19937_64 rng(cfg.seed + 7);
  std::vector<int64_t> perm(cfg.text_lines);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  for (size_t i = 0; i < cfg.text_lines; ++i) {
    records[i].key = "t" + std::to_string(i);
    records[i].text = lines[i];
    records[i].metadata.emplace(
        kFilterable,
        static_cast<int64_t>(perm[i] * kBucketRange / static_cast<int64_t>(cfg.text_lines)));
  }
  auto t2 = Clock::now();
  Ingest(cfg, *db, kTextCollection, records);
  const double ingest_s = Seconds(t2, Clock::now());

  std::vector<std::string> queries;
  size_t skipped = 0;
  for (size_t i = cfg.text_lines; i < lines.size() && queries.size() < cfg.text_queries; i += 10) {
    std::string q;
    size_t words = 0;
    size_t pos = 0;
    const std::string& l = lines[i];
    while (words < cfg.query_words && pos < l.size()) {
      size_t b = l.find_first_not_of(' ', pos);
      if (b == std::string::npos) break;
      size_t e = l.find(' ', b);
      if (e == std::string::npos) e = l.size();
      q += (q.empty() ? "" : " ") + l.substr(b, e - b);
      ++words;
      pos = e;
    }
    if (db->EmbedText(kTextCollection, q)) {
      queries.push_back(std::move(q));
    } else {
      ++skipped;
    }
  }
  notes.push_back(fmt::format(
      "text: {} lines of {} (4+ words each; read in {:.1f} s); model trained on them with "
      "DB::TrainModel (skip-gram, d={}, {} epochs, min_count 1, {} threads): {} words in {:.1f} "
      "s; ingest with embedding, keyword index and the secondary index: {:.1f} s ({:.0f} "
      "records/s); {} queries: the first {} words of every 10th line after the records ({} "
      "skipped: no word in the vocabulary); filter {} < {} ({}), on a filterable field",
      cfg.text_lines, corpus.string(), read_s, cfg.text_dim, cfg.train_epochs, cfg.threads,
      WithThousands(model.words), train_s, ingest_s, static_cast<double>(cfg.text_lines) / ingest_s,
      queries.size(), cfg.query_words, skipped, kFilterable,
      std::llround(cfg.text_filter / 100 * kBucketRange), PercentText(cfg.text_filter)));

  if (queries.empty()) Die("no text query could be embedded");
  *first_query = queries.front();
  omp_set_num_threads(cfg.search_threads);
  const std::pair<relate::Ranking, const char*> rankings[] = {
      {relate::Ranking::kVector, "kVector"},
      {relate::Ranking::kKeyword, "kKeyword"},
      {relate::Ranking::kHybridRrf, "kHybridRrf"},
      {relate::Ranking::kHybridWeighted, "kHybridWeighted"}};
  const relate::Filter filter = relate::Filter::Lt(
      kFilterable, static_cast<int64_t>(std::llround(cfg.text_filter / 100 * kBucketRange)));
  for (bool filtered : {false, true}) {
    const size_t first = rows.size();
    for (const auto& ranking : rankings) {
      rows.push_back(TextRow{.ranking = ranking.second, .filtered = filtered});
    }
    std::vector<size_t> full(std::size(rankings), 0);
    // Untimed pass: errors, plans, answers in full.
    for (size_t r = 0; r < std::size(rankings); ++r) {
      TextRow& row = rows[first + r];
      std::map<std::string, size_t> plans;
      for (const auto& q : queries) {
        relate::QueryExplain ex;
        relate::SearchOptions o{.k = cfg.k};
        o.ranking = rankings[r].first;
        if (filtered) o.filter = filter;
        o.explain = &ex;
        auto hits = db->SearchText(kTextCollection, q, o);
        if (!hits) {
          row.error = "\"" + q + "\": " + hits.error().ToString();
          break;
        }
        full[r] += hits->size() == cfg.k;
        ++plans[ex.plan];
        if (&q == &queries.front()) {
          for (const auto& st : ex.stages) {
            row.stages += fmt::format("{}{} ({}): {} ms", row.stages.empty() ? "" : "; ", st.name,
                                      st.detail, Figure(st.ms));
          }
        }
      }
      row.full = static_cast<double>(full[r]) / static_cast<double>(queries.size());
      for (const auto& [plan, count] : plans) {
        row.plan += (row.plan.empty() ? "" : "; ") +
                    (count == queries.size() ? plan : fmt::format("{} ({})", plan, count));
      }
    }
    // Timed: each query under every ranking, the order rotating.
    for (size_t rep = 0; rep < cfg.text_reps; ++rep) {
      for (size_t qi = 0; qi < queries.size(); ++qi) {
        for (size_t j = 0; j < std::size(rankings); ++j) {
          const size_t r = (j + qi + rep) % std::size(rankings);
          TextRow& row = rows[first + r];
          if (!row.error.empty()) continue;
          relate::SearchOptions o{.k = cfg.k};
          o.ranking = rankings[r].first;
          if (filtered) o.filter = filter;
          auto t = Clock::now();
          auto hits = db->SearchText(kTextCollection, queries[qi], o);
          row.ms.push_back(Seconds(t, Clock::now()) * 1000);
          if (!hits) Die("SearchText: " + hits.error().ToString());
        }
      }
    }
  }
  omp_set_num_threads(static_cast<int>(cfg.threads));
}

// ---------------------------------------------------------------- section 5

// One collection configuration of the ingest section.
struct IngestConfig {
  std::string name;
  bool filterable = false;
  bool keyword = false;
  std::vector<double> rate;   // records/s of the upserts, per repetition
  std::vector<double> total;  // records/s from open to close
  uint64_t bytes = 0;         // the database's size after close
};

std::vector<IngestConfig> RunIngestSection(const Config& cfg, const Dataset& ds,
                                           const fs::path& dir) {
  std::vector<IngestConfig> configs = {
      {.name = "neither (keyword_index = false, no filterable)"},
      {.name = "filterable {bucket, cluster} + keyword index", .filterable = true, .keyword = true},
      {.name = "filterable {bucket, cluster} only", .filterable = true},
      {.name = "keyword index only", .keyword = true},
  };
  const size_t n = cfg.ingest_n ? std::min(cfg.ingest_n, ds.n) : ds.n;
  std::span<const relate::Record> records(ds.records.data(), n);
  auto once = [&](IngestConfig& c, size_t rep) {
    const fs::path db_dir = dir / fmt::format("db-ingest-{}", rep);
    ::sync();
    relate::Options create;
    create.create_if_missing = true;
    auto t0 = Clock::now();
    auto db = Take(relate::DB::Open(db_dir, create), "open " + db_dir.string());
    relate::CollectionSpec spec{.name = "ingest", .dimension = ds.d};
    if (c.filterable) spec.filterable = {kFilterable, "cluster"};
    spec.keyword_index = c.keyword;
    Check(db->CreateCollection(spec), "create ingest collection");
    auto t1 = Clock::now();
    Ingest(cfg, *db, "ingest", records);
    auto t2 = Clock::now();
    db.reset();
    auto t3 = Clock::now();
    c.rate.push_back(static_cast<double>(n) / Seconds(t1, t2));
    c.total.push_back(static_cast<double>(n) / Seconds(t0, t3));
    c.bytes = DiskBytes(db_dir);
    std::error_code ec;
    fs::remove_all(db_dir, ec);
  };
  for (size_t rep = 0; rep < cfg.ingest_reps; ++rep) {
    std::fprintf(stderr, "ingest repetition %zu...\n", rep + 1);
    // The order rotates, so that no configuration always runs first.
    for (size_t j = 0; j < configs.size(); ++j) once(configs[(j + rep) % configs.size()], rep);
  }
  return configs;
}

// ---------------------------------------------------------------- output

void PrintFilterTable(const Config& cfg, const std::vector<FilterRow>& rows) {
  std::printf(
      "## 1. Filtered search, k=%zu: relate next to raw FAISS with an IDSelectorBitmap, and next "
      "to relate unfiltered\n\n",
      cfg.k);
  std::printf(
      "| index | filter (matching) | field | plan (relate) | queries | relate QPS | FAISS QPS | "
      "relate / FAISS | min-max over reps | relate / relate unfiltered | recall@%zu relate | "
      "recall@%zu FAISS | distances / query relate | FAISS |\n",
      cfg.k, cfg.k);
  std::printf("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  std::map<std::string, double> unfiltered;
  for (const auto& r : rows) {
    if (r.percent == 0) unfiltered[r.kind] = r.cell.RelateQps();
  }
  for (const auto& r : rows) {
    const Cell& c = r.cell;
    const std::string filter =
        r.percent == 0 ? "none"
                       : fmt::format("{} ({})", PercentText(r.percent), WithThousands(r.matching));
    const std::string field =
        r.percent == 0 ? "—" : (r.field == kFilterable ? "filterable" : "not filterable");
    if (!c.error.empty()) {
      std::printf("| %s | %s | %s | ERROR: %s | | | | | | | | | | |\n", r.kind.c_str(),
                  filter.c_str(), field.c_str(), c.error.c_str());
      continue;
    }
    const double vs_unfiltered = r.percent == 0 ? kNaN : c.RelateQps() / unfiltered[r.kind];
    std::printf("| %s | %s | %s | %s | %zu | %s | %s | %s | %s | %s | %.3f | %s | %s | %s |\n",
                r.kind.c_str(), filter.c_str(), field.c_str(), c.Plans().c_str(), c.queries,
                Figure(c.RelateQps()).c_str(), Figure(c.FaissQps()).c_str(),
                Ratio(c.RelateQps() / c.FaissQps()).c_str(), c.RatioSpread().c_str(),
                Ratio(vs_unfiltered).c_str(), c.relate_recall,
                std::isnan(c.faiss_recall) ? "—" : fmt::format("{:.3f}", c.faiss_recall).c_str(),
                Distances(c).c_str(), Figure(c.faiss_dis).c_str());
  }
  std::printf("\n");
}

void PrintGuaranteeTable(const Config& cfg, const std::vector<FilterRow>& rows) {
  std::printf(
      "## 2. The k guarantee: filtered queries answered in full (k=%zu hits, or every matching "
      "record when fewer match)\n\n",
      cfg.k);
  std::printf(
      "| index | filter (matching) | relate, filterable field | relate, not filterable | raw "
      "FAISS with selector | FAISS mean hits |\n");
  std::printf("|---|---|--:|--:|--:|--:|\n");
  for (const auto& r : rows) {
    if (r.percent == 0 || r.field != kFilterable) continue;
    const Cell* plain = nullptr;
    for (const auto& o : rows) {
      if (o.kind == r.kind && o.percent == r.percent && o.field == kPlain) plain = &o.cell;
    }
    auto rel = [](const Cell* c) {
      if (c == nullptr) return std::string("—");
      return c->error.empty() ? Pct(c->relate_full) : std::string("error");
    };
    std::printf("| %s | %s (%s) | %s | %s | %s | %s |\n", r.kind.c_str(),
                PercentText(r.percent).c_str(), WithThousands(r.matching).c_str(),
                rel(&r.cell).c_str(), rel(plain).c_str(), Pct(r.cell.faiss_full).c_str(),
                Figure(r.cell.faiss_hits).c_str());
  }
  std::printf("\n");
}

void PrintRangeTable(const Config& cfg, const std::vector<RangeRow>& rows) {
  std::printf(
      "## 3. Range search (threshold = each query's %zuth neighbour's score, limit %zu) next to "
      "k-search with k=%zu\n\n",
      cfg.range_rank, cfg.range_limit, cfg.range_rank);
  std::printf(
      "| index | query | plan (relate) | queries | relate QPS | relate / k-search | recall | "
      "mean hits | distances / query | FAISS QPS | relate / FAISS | FAISS recall |\n");
  std::printf("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  double kqps = kNaN;
  for (const auto& r : rows) {
    const Cell& c = r.cell;
    if (!c.error.empty()) {
      std::printf("| %s | %s | ERROR: %s | | | | | | | | | |\n", r.kind.c_str(), r.query.c_str(),
                  c.error.c_str());
      continue;
    }
    const bool is_k = r.query.rfind("k-search", 0) == 0;
    if (is_k) kqps = c.RelateQps();
    std::printf("| %s | %s | %s | %zu | %s | %s | %.3f | %s | %s | %s | %s | %s |\n",
                r.kind.c_str(), r.query.c_str(), c.Plans().c_str(), c.queries,
                Figure(c.RelateQps()).c_str(), is_k ? "1" : Ratio(c.RelateQps() / kqps).c_str(),
                c.relate_recall, Figure(c.relate_hits).c_str(), Distances(c).c_str(),
                Figure(c.FaissQps()).c_str(), Ratio(c.RelateQps() / c.FaissQps()).c_str(),
                std::isnan(c.faiss_recall) ? "—" : fmt::format("{:.3f}", c.faiss_recall).c_str());
  }
  std::printf("\n");
}

void PrintTextTable(const Config& cfg, const std::vector<TextRow>& rows) {
  std::printf("## 4. Text queries (SearchText, k=%zu): latency by ranking, next to kVector\n\n",
              cfg.k);
  std::printf(
      "| ranking | filter | plan | calls | median ms | median / kVector's | p95 ms | p95 / "
      "kVector's | answered with k |\n");
  std::printf("|---|---|---|--:|--:|--:|--:|--:|--:|\n");
  double med0 = kNaN, p950 = kNaN;
  for (const auto& r : rows) {
    const std::string filter = r.filtered
                                   ? fmt::format("{} < {}", kFilterable,
                                                 std::llround(cfg.text_filter / 100 * kBucketRange))
                                   : "none";
    if (!r.error.empty()) {
      std::printf("| %s | %s | ERROR: %s | | | | | | |\n", r.ranking.c_str(), filter.c_str(),
                  r.error.c_str());
      continue;
    }
    const double med = Median(r.ms), p95 = Percentile(r.ms, 0.95);
    if (r.ranking == "kVector") {
      med0 = med;
      p950 = p95;
    }
    std::printf("| %s | %s | %s | %zu | %s | %s | %s | %s | %s |\n", r.ranking.c_str(),
                filter.c_str(), r.plan.c_str(), r.ms.size(), Figure(med).c_str(),
                Ratio(med / med0).c_str(), Figure(p95).c_str(), Ratio(p95 / p950).c_str(),
                Pct(r.full).c_str());
  }
  std::printf("\n");
}

void PrintIngestTable(const Config& cfg, const Dataset& ds,
                      const std::vector<IngestConfig>& configs) {
  const size_t n = cfg.ingest_n ? std::min(cfg.ingest_n, ds.n) : ds.n;
  std::printf(
      "## 5. Ingest cost of the secondary and keyword indexes (%zu records, d=%u, ~%zu bytes of "
      "text, Flat, %zu per Upsert)\n\n",
      n, ds.d, kTextBytes, cfg.ingest_batch);
  std::printf(
      "| collection | upsert records/s (median) | ratio to neither | min-max over reps | open to "
      "close records/s | disk bytes after close | ratio to neither |\n");
  std::printf("|---|--:|--:|--:|--:|--:|--:|\n");
  const IngestConfig& base = configs[0];
  for (const auto& c : configs) {
    double lo = 1e300, hi = 0;
    for (size_t i = 0; i < c.rate.size(); ++i) {
      lo = std::min(lo, c.rate[i] / base.rate[i]);
      hi = std::max(hi, c.rate[i] / base.rate[i]);
    }
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", c.name.c_str(),
                Figure(Median(c.rate)).c_str(), Ratio(Median(c.rate) / Median(base.rate)).c_str(),
                &c == &base ? "—" : fmt::format("{:.2f}-{:.2f}", lo, hi).c_str(),
                Figure(Median(c.total)).c_str(), WithThousands(c.bytes).c_str(),
                Ratio(static_cast<double>(c.bytes) / static_cast<double>(base.bytes)).c_str());
  }
  std::printf("\n");
}

int Run(int argc, char** argv) {
  Config cfg;
  CLI::App app{"relate's filtered, range, text and hybrid queries next to raw FAISS"};
  app.add_option("--n", cfg.n, "records")->capture_default_str();
  app.add_option("--d", cfg.d, "dimension")->capture_default_str();
  app.add_option("--queries", cfg.queries, "query vectors (at most; see --budget)")
      ->capture_default_str();
  app.add_option("--min-queries", cfg.min_queries, "queries run however slow")
      ->capture_default_str();
  app.add_option("--budget", cfg.budget,
                 "seconds of the untimed pass after which a combination runs no more queries")
      ->capture_default_str();
  app.add_option("--k", cfg.k, "neighbours per query")->capture_default_str();
  app.add_option("--reps", cfg.reps, "timed passes per combination (median reported)")
      ->capture_default_str();
  app.add_option("--indexes", cfg.indexes, "index kinds: flat, hnsw, ivf (comma-separated)")
      ->capture_default_str();
  app.add_option("--hnsw-m", cfg.hnsw_m, "HNSW M, relate and FAISS")->capture_default_str();
  app.add_option("--ef-search", cfg.ef_search, "HNSW efSearch, relate and FAISS")
      ->capture_default_str();
  app.add_option("--ivf-nlist", cfg.ivf_nlist, "IVF lists, relate and FAISS")
      ->capture_default_str();
  app.add_option("--nprobe", cfg.nprobe, "IVF lists probed, relate and FAISS")
      ->capture_default_str();
  app.add_option("--selectivities", cfg.selectivities, "filters' matching percentages")
      ->capture_default_str();
  app.add_option("--range-rank", cfg.range_rank, "range search threshold: this neighbour's score")
      ->capture_default_str();
  app.add_option("--range-limit", cfg.range_limit, "range search: at most this many hits")
      ->capture_default_str();
  app.add_option("--search-threads", cfg.search_threads, "OpenMP threads while queries run")
      ->capture_default_str();
  app.add_option("--threads", cfg.threads, "threads for builds and training")
      ->capture_default_str();
  app.add_option("--ingest-batch", cfg.ingest_batch, "records per Upsert")->capture_default_str();
  app.add_option("--ingest-n", cfg.ingest_n, "records of the ingest section (0: --n)")
      ->capture_default_str();
  app.add_option("--ingest-reps", cfg.ingest_reps, "ingest repetitions of each collection")
      ->capture_default_str();
  app.add_option("--data", cfg.data, "the shared data folder (corpus/gutenberg-raw-15MB.txt.xz)")
      ->capture_default_str();
  app.add_option("--text-lines", cfg.text_lines, "corpus lines in the text collection")
      ->capture_default_str();
  app.add_option("--text-queries", cfg.text_queries, "text queries")->capture_default_str();
  app.add_option("--query-words", cfg.query_words, "words per text query")->capture_default_str();
  app.add_option("--text-dim", cfg.text_dim, "dimension of the trained model")
      ->capture_default_str();
  app.add_option("--train-epochs", cfg.train_epochs, "epochs of the model's training")
      ->capture_default_str();
  app.add_option("--text-filter", cfg.text_filter, "text queries' filter: matching percentage")
      ->capture_default_str();
  app.add_option("--text-reps", cfg.text_reps, "timed passes of the text queries")
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "data seed")->capture_default_str();
  app.add_option("--dir", cfg.dir,
                 "scratch directory; must not exist or be empty; removed at the end "
                 "(default /tmp/relate-query-bench-<pid>)");
  app.add_flag("--keep", cfg.keep, "keep the scratch directory");
  app.add_flag("--skip-filtered", cfg.skip_filtered, "leave out sections 1 and 2");
  app.add_flag("--skip-range", cfg.skip_range, "leave out section 3");
  app.add_flag("--skip-text", cfg.skip_text, "leave out section 4");
  app.add_flag("--skip-ingest", cfg.skip_ingest, "leave out section 5");
  CLI11_PARSE(app, argc, argv);
  if (cfg.n == 0 || cfg.d == 0 || cfg.queries == 0 || cfg.k == 0 || cfg.reps == 0 ||
      cfg.ingest_batch == 0 || cfg.text_lines == 0 || cfg.text_queries == 0 ||
      cfg.query_words == 0 || cfg.text_reps == 0 || cfg.ingest_reps == 0 ||
      cfg.search_threads <= 0 || cfg.threads == 0) {
    Die("--n, --d, --queries, --k, --reps, --ingest-batch, --text-lines, --text-queries, "
        "--query-words, --text-reps, --ingest-reps, --search-threads and --threads must be "
        "positive");
  }
  if (cfg.k > cfg.n || cfg.range_rank > cfg.n || cfg.range_rank == 0) {
    Die("--k and --range-rank must be in [1, --n]");
  }
  if (!(cfg.text_filter > 0 && cfg.text_filter <= 100)) Die("--text-filter must be in (0, 100]");
  std::vector<Kind> kinds;
  {
    std::string rest = cfg.indexes + ",";
    for (size_t pos = 0, c; (c = rest.find(',', pos)) != std::string::npos; pos = c + 1) {
      const std::string k = rest.substr(pos, c - pos);
      if (k == "flat") {
        kinds.push_back(Kind{.name = k, .spec = "Flat", .faiss_desc = "IndexFlatIP"});
      } else if (k == "hnsw") {
        kinds.push_back(Kind{.name = k,
                             .spec = fmt::format("HNSW{}", cfg.hnsw_m),
                             .faiss_desc = fmt::format("IndexHNSWFlat(M={}, efConstruction={})",
                                                       cfg.hnsw_m, kEfConstruction)});
      } else if (k == "ivf") {
        kinds.push_back(Kind{.name = k,
                             .spec = fmt::format("IVF{},Flat", cfg.ivf_nlist),
                             .faiss_desc = fmt::format("IndexIVFFlat(nlist={})", cfg.ivf_nlist)});
      } else if (!k.empty()) {
        Die("bad --indexes \"" + cfg.indexes + "\": expected flat, hnsw or ivf");
      }
    }
  }

  const fs::path dir = ScratchDirectory(cfg.dir, "relate-query-bench");
  PrintMachine("relate_query_bench: filtered, range, text and hybrid queries (issue 7)");
  std::printf("omp threads: %d for builds and training, %d while queries run\n", cfg.threads,
              cfg.search_threads);
  const BlasInfo blas = OpenBlas();
  if (blas.openblas)
    std::printf("blas:        %s, %d threads\n", blas.config.c_str(), blas.threads);
  std::printf("faiss:       %d.%d.%d\n", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
              FAISS_VERSION_PATCH);
#ifdef NDEBUG
  std::printf("build:       optimised (NDEBUG)\n");
#else
  std::printf("build:       assertions on (not NDEBUG): figures are not representative\n");
#endif
  std::printf("scratch:     %s\n", dir.c_str());
  std::printf(
      "data:        N=%zu records, d=%u, %zu-component Gaussian mixture (seed %llu); int fields "
      "%s (filterable) and %s (not) hold the same value, a permutation of the records scaled to "
      "[0, %lld); %zu query vectors from the same mixture\n",
      cfg.n, cfg.d, kClusters, static_cast<unsigned long long>(cfg.seed), kFilterable, kPlain,
      static_cast<long long>(kBucketRange), cfg.queries);
  std::printf(
      "queries:     single queries, k=%zu, efSearch %u, nprobe %u (relate and FAISS); an untimed "
      "pass (answers, recall, explain) stops after %.1f s past %zu queries, then %zu timed "
      "passes interleaving relate and FAISS call by call; median QPS reported\n\n",
      cfg.k, cfg.ef_search, cfg.nprobe, cfg.budget, cfg.min_queries, cfg.reps);
  std::fflush(stdout);
  omp_set_num_threads(static_cast<int>(cfg.threads));
  auto start = Clock::now();

  std::vector<std::string> notes;
  std::vector<FilterRow> filter_rows;
  std::vector<RangeRow> range_rows;
  std::vector<TextRow> text_rows;
  std::optional<Dataset> ds;
  if (!cfg.skip_filtered || !cfg.skip_range || !cfg.skip_ingest) {
    auto g0 = Clock::now();
    ds = MakeDataset(cfg);
    std::fprintf(stderr, "generated data and ground truth in %.1f s\n", Seconds(g0, Clock::now()));
  }
  if (!cfg.skip_filtered || !cfg.skip_range) {
    for (Kind& kind : kinds) {
      kind.faiss = BuildFaiss(cfg, *ds, kind.name);
      std::fprintf(stderr, "FAISS %s built in %.1f s\n", kind.name.c_str(), kind.faiss.build_s);
    }
    RunVectorSections(cfg, *ds, dir, kinds, filter_rows, range_rows, notes);
    for (Kind& kind : kinds) kind.faiss = FaissEngine{};
  }
  std::string text_first_query;
  if (!cfg.skip_text) RunTextSection(cfg, dir, text_rows, notes, &text_first_query);
  std::vector<IngestConfig> ingest;
  if (!cfg.skip_ingest) ingest = RunIngestSection(cfg, *ds, dir);

  if (!filter_rows.empty()) {
    PrintFilterTable(cfg, filter_rows);
    PrintGuaranteeTable(cfg, filter_rows);
  }
  if (!range_rows.empty()) PrintRangeTable(cfg, range_rows);
  if (!text_rows.empty()) PrintTextTable(cfg, text_rows);
  if (!cfg.skip_ingest) PrintIngestTable(cfg, *ds, ingest);
  std::printf("Notes:\n");
  for (const auto& r : filter_rows) {
    if (r.percent != 0 && !r.cell.why.empty()) {
      notes.push_back(fmt::format("{} {} {}: planner said: {}; first query's stages: {}", r.kind,
                                  PercentText(r.percent), r.field, r.cell.why, r.cell.stages));
    }
  }
  for (const auto& r : filter_rows) {
    if (!r.cell.anchor_error.empty()) {
      notes.push_back(fmt::format("{} {} {}: the FAISS anchor failed: {}", r.kind,
                                  PercentText(r.percent), r.field, r.cell.anchor_error));
    }
  }
  for (const auto& r : filter_rows) {
    if (!r.cell.short_answers.empty()) {
      notes.push_back(fmt::format("SHORT ANSWERS (k guarantee broken): {} {} {}: {}", r.kind,
                                  PercentText(r.percent), r.field, r.cell.short_answers));
    }
  }
  for (const auto& r : text_rows) {
    if (!r.stages.empty()) {
      notes.push_back(fmt::format("text {}{}: first query (\"{}\") stages: {}", r.ranking,
                                  r.filtered ? " with filter" : "", text_first_query, r.stages));
    }
  }
  for (const auto& r : range_rows) {
    if (!r.cell.anchor_error.empty()) {
      notes.push_back(fmt::format("{} {}: {}", r.kind, r.query, r.cell.anchor_error));
    }
  }
  for (const auto& n : notes) std::printf("- %s\n", n.c_str());
  std::printf("- whole run: %.0f s; load avg at end: %s\n", Seconds(start, Clock::now()),
              LoadAverage().c_str());
  RemoveScratchDirectory(dir, cfg.keep);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
