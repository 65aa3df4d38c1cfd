// relate_bench: ingest throughput and exact search QPS of relate, each next to raw
// FAISS IndexFlatIP on the same vectors measured in the same run, as a ratio.
//
// Equal work: relate's collection is cosine over a "Flat" index, so relate
// L2-normalises every vector and searches by inner product; the raw anchor gets the
// same vectors normalised by the same FAISS routine beforehand (outside its timing)
// and searches an IndexFlatIP. Top-1 ids are compared to show both answered alike.
// relate's search also fetches each hit's key, text and metadata from RocksDB,
// which the raw anchor does not: that is the overhead being measured.
//
// Search calls of the two systems are interleaved one by one, alternating which goes
// first, so noise from the machine hits both; each figure is the median over
// repetitions of the whole query set.
#include <faiss/IndexFlat.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "relate/relate.h"

namespace {

using namespace relate::bench;
using idx_t = faiss::Index::idx_t;

constexpr const char* kCollection = "bench";
constexpr size_t kClusters = 100;       // Gaussian mixture components
constexpr float kClusterSpread = 1.0f;  // noise stddev around a centre (centres ~ N(0, 1))
constexpr size_t kTextBytes = 200;      // text per record is at most this, at least ~190
constexpr double kIngestGoal = 50000;   // records/s
constexpr double kSearchGoal = 0.9;     // relate QPS / raw FAISS QPS

struct Config {
  size_t n = 100000;
  std::string dims = "768,100";
  size_t queries = 200;
  size_t batch = 100;
  size_t batches = 10;
  size_t k = 10;
  size_t reps = 5;
  size_t ingest_batch = 1000;
  size_t ingest_reps = 5;
  uint64_t seed = 42;
  std::string dir;
  bool keep = false;
};

// Synthetic, deterministic data for one dimension: records drawn from a Gaussian
// mixture (clustered like real embeddings), queries drawn from the same mixture.
struct Dataset {
  uint32_t d = 0;
  std::vector<relate::Record> records;  // vectors as generated; relate normalises them
  std::vector<float> normalised;        // n x d, what raw FAISS gets
  std::vector<float> queries;           // nq x d as generated; what relate gets
  std::vector<float> queries_normalised;
  uint64_t payload_bytes = 0;  // key + text + metadata values + vector bytes
};

const char* const kWords[] = {
    "vector",     "index",    "search",   "related",    "storage", "query",     "embedding",
    "token",      "cosine",   "nearest",  "cluster",    "record",  "metadata",  "durable",
    "batch",      "model",    "corpus",   "train",      "weight",  "matrix",    "pool",
    "normalise",  "distance", "score",    "text",       "graph",   "neighbour", "filter",
    "collection", "write",    "replay",   "checkpoint", "paper",   "author",    "topic",
    "method",     "result",   "dataset",  "measure",    "similar", "language",  "word",
    "sentence",   "context",  "semantic", "retrieval",  "ranking", "answer"};

Dataset MakeDataset(uint32_t d, size_t n, size_t nq, uint64_t seed) {
  Dataset ds;
  ds.d = d;
  std::mt19937_64 rng(seed * 1000003 + d);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_int_distribution<size_t> pick_cluster(0, kClusters - 1);
  std::uniform_int_distribution<size_t> pick_word(0, std::size(kWords) - 1);
  std::vector<float> centres(kClusters * d);
  for (float& x : centres) x = gauss(rng);
  auto draw = [&](float* out, size_t c) {
    for (uint32_t j = 0; j < d; ++j) out[j] = centres[c * d + j] + kClusterSpread * gauss(rng);
  };

  ds.records.resize(n);
  ds.normalised.resize(n * d);
  for (size_t i = 0; i < n; ++i) {
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
    std::string source = "synthetic/shard-" + std::to_string(i % 16);
    r.metadata.emplace("cluster", static_cast<int64_t>(c));
    r.metadata.emplace("source", source);
    r.metadata.emplace("year", static_cast<int64_t>(1990 + i % 35));
    ds.payload_bytes +=
        r.key.size() + r.text.size() + source.size() + 2 * sizeof(int64_t) + d * sizeof(float);
  }
  faiss::fvec_renorm_L2(d, n, ds.normalised.data());

  ds.queries.resize(nq * d);
  for (size_t q = 0; q < nq; ++q) draw(ds.queries.data() + q * d, pick_cluster(rng));
  ds.queries_normalised = ds.queries;
  faiss::fvec_renorm_L2(d, nq, ds.queries_normalised.data());
  return ds;
}

// The record index of a hit: keys are "r<index>".
int64_t KeyIndex(const relate::Hit& hit) {
  int64_t v = -1;
  std::from_chars(hit.key.data() + 1, hit.key.data() + hit.key.size(), v);
  return v;
}

struct Row {
  std::string figure;
  uint32_t d = 0;
  std::string relate;
  std::string anchor;
  std::string ratio;
  std::string spread;
  std::string agree;
  std::string goal;
};

struct IngestRep {
  double open_s = 0, upsert_s = 0, close_s = 0, total_s = 0;
  double raw_add_s = 0, raw_persist_s = 0;
};

// One repetition of ingest into a fresh database: open (create) + collection +
// upserts + close, which writes the index checkpoint, so everything is persisted
// when the clock stops. The anchors build a fresh IndexFlatIP each time, like relate
// builds a fresh index; `raw` keeps the last one for the search phase. Each timed
// part starts after sync(), so no part pays for another's dirty pages.
IngestRep IngestOnce(const Config& cfg, const Dataset& ds, const fs::path& db_dir,
                     const fs::path& raw_file, bool raw_first,
                     std::unique_ptr<faiss::IndexFlatIP>& raw) {
  IngestRep res;
  const size_t n = ds.records.size();
  auto run_raw = [&] {
    ::sync();
    auto fresh = std::make_unique<faiss::IndexFlatIP>(static_cast<int>(ds.d));
    auto t0 = Clock::now();
    fresh->add(static_cast<idx_t>(n), ds.normalised.data());
    res.raw_add_s = Seconds(t0, Clock::now());
    raw = std::move(fresh);

    ::sync();
    faiss::IndexFlatIP persisted(static_cast<int>(ds.d));
    auto p0 = Clock::now();
    persisted.add(static_cast<idx_t>(n), ds.normalised.data());
    faiss::write_index(&persisted, raw_file.c_str());
    int fd = ::open(raw_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) Die("fsync " + raw_file.string());
    ::close(fd);
    res.raw_persist_s = Seconds(p0, Clock::now());
  };
  auto run_relate = [&] {
    std::error_code ec;
    fs::remove_all(db_dir, ec);
    ::sync();
    relate::Options create;
    create.create_if_missing = true;
    auto t0 = Clock::now();
    auto db = Take(relate::DB::Open(db_dir, create), "open " + db_dir.string());
    Check(db->CreateCollection({.name = kCollection, .dimension = ds.d}), "create collection");
    auto t1 = Clock::now();
    std::span<const relate::Record> all(ds.records);
    for (size_t start = 0; start < n; start += cfg.ingest_batch) {
      Check(db->Upsert(kCollection, all.subspan(start, std::min(cfg.ingest_batch, n - start))),
            "upsert");
    }
    auto t2 = Clock::now();
    db.reset();
    auto t3 = Clock::now();
    res.open_s = Seconds(t0, t1);
    res.upsert_s = Seconds(t1, t2);
    res.close_s = Seconds(t2, t3);
    res.total_s = Seconds(t0, t3);
  };
  if (raw_first) {
    run_raw();
    run_relate();
  } else {
    run_relate();
    run_raw();
  }
  return res;
}

struct SearchFigures {
  std::vector<double> relate_qps, raw_qps;
  size_t agree = 0, compared = 0;
};

void AddSearchRow(std::vector<Row>& rows, std::string figure, uint32_t d, const SearchFigures& f) {
  const double relate = Median(f.relate_qps);
  const double raw = Median(f.raw_qps);
  std::vector<double> ratios;
  for (size_t i = 0; i < f.relate_qps.size(); ++i) ratios.push_back(f.relate_qps[i] / f.raw_qps[i]);
  const double ratio = relate / raw;
  rows.push_back(Row{
      .figure = std::move(figure),
      .d = d,
      .relate = Figure(relate),
      .anchor = Figure(raw),
      .ratio = fmt::format("{:.3f}", ratio),
      .spread = fmt::format("{:.3f}-{:.3f}", *std::min_element(ratios.begin(), ratios.end()),
                            *std::max_element(ratios.begin(), ratios.end())),
      .agree = fmt::format("{}/{}", f.agree, f.compared),
      .goal = fmt::format("≥ {}x: {}", kSearchGoal, ratio >= kSearchGoal ? "met" : "NOT met"),
  });
}

void Search(const Config& cfg, const Dataset& ds, const fs::path& db_dir,
            const faiss::IndexFlatIP& raw, std::vector<Row>& rows,
            std::vector<std::string>& notes) {
  const uint32_t d = ds.d;
  const size_t k = cfg.k;
  // Reopening loads the index checkpoint and has RocksDB recover its log into its
  // files, so records are read from there: the state a database is searched in.
  auto o0 = Clock::now();
  auto db = Take(relate::DB::Open(db_dir, {}), "reopen " + db_dir.string());
  const double open_s = Seconds(o0, Clock::now());
  notes.push_back(fmt::format("d={}: reopening the persisted database took {:.2f} s", d, open_s));

  std::vector<float> dist(cfg.batch * k);
  std::vector<idx_t> labels(cfg.batch * k);
  const relate::SearchOptions opts{.k = k};

  auto relate_single = [&](size_t q) {
    return Take(db->Search(kCollection, std::span(ds.queries.data() + q * d, d), opts), "search");
  };
  auto raw_single = [&](size_t q) {
    raw.search(1, ds.queries_normalised.data() + q * d, static_cast<idx_t>(k), dist.data(),
               labels.data());
  };
  auto relate_batch = [&](size_t b) {
    return Take(
        db->SearchBatch(kCollection,
                        std::span(ds.queries.data() + b * cfg.batch * d, cfg.batch * d), opts),
        "search batch");
  };
  auto raw_batch = [&](size_t b) {
    raw.search(static_cast<idx_t>(cfg.batch), ds.queries_normalised.data() + b * cfg.batch * d,
               static_cast<idx_t>(k), dist.data(), labels.data());
  };

  // Equal work: relate's top-1 matches raw FAISS's, and hits carry their stored text.
  SearchFigures single, batched;
  size_t text_checked = 0;
  for (size_t q = 0; q < cfg.queries; ++q) {
    auto hits = relate_single(q);
    raw_single(q);
    if (hits.size() != k) {
      Die(fmt::format("d={}: query {} got {} hits, not {}", d, q, hits.size(), k));
    }
    const int64_t top = KeyIndex(hits[0]);
    single.agree += top == labels[0];
    ++single.compared;
    if (top < 0 || static_cast<size_t>(top) >= ds.records.size() ||
        hits[0].text != ds.records[static_cast<size_t>(top)].text || hits[0].metadata.size() != 3) {
      Die(fmt::format("d={}: query {}: top hit {} does not carry its stored text and metadata", d,
                      q, hits[0].key));
    }
    ++text_checked;
  }
  for (size_t b = 0; b < cfg.batches; ++b) {
    auto hits = relate_batch(b);
    raw_batch(b);
    for (size_t q = 0; q < cfg.batch; ++q) {
      if (hits[q].size() != k) Die(fmt::format("d={}: batch query got {} hits", d, hits[q].size()));
      batched.agree += KeyIndex(hits[q][0]) == labels[q * k];
      ++batched.compared;
    }
  }
  notes.push_back(fmt::format(
      "d={}: warm-up pass doubled as the equal-work check: top-1 compared on {} single and {} "
      "batched queries; text and metadata of {} top hits match what was stored",
      d, single.compared, batched.compared, text_checked));

  // Calls are interleaved one by one, alternating which system goes first, so that
  // noise from the machine (other processes, RocksDB background work) hits both alike.
  auto interleave = [&](size_t rep, size_t count, double per_call_queries, SearchFigures& f,
                        const auto& relate_call, const auto& raw_call) {
    double relate_s = 0, raw_s = 0;
    for (size_t i = 0; i < count; ++i) {
      auto time_relate = [&] {
        auto t0 = Clock::now();
        relate_call(i);
        relate_s += Seconds(t0, Clock::now());
      };
      auto time_raw = [&] {
        auto t0 = Clock::now();
        raw_call(i);
        raw_s += Seconds(t0, Clock::now());
      };
      if ((i + rep) % 2 == 0) {
        time_raw();
        time_relate();
      } else {
        time_relate();
        time_raw();
      }
    }
    const double nq = static_cast<double>(count) * per_call_queries;
    f.relate_qps.push_back(nq / relate_s);
    f.raw_qps.push_back(nq / raw_s);
  };
  for (size_t rep = 0; rep < cfg.reps; ++rep) {
    interleave(
        rep, cfg.queries, 1.0, single,
        [&](size_t q) {
          if (relate_single(q).size() != k) Die("short answer");
        },
        raw_single);
    interleave(
        rep, cfg.batches, static_cast<double>(cfg.batch), batched,
        [&](size_t b) {
          if (relate_batch(b).size() != cfg.batch) Die("short batch answer");
        },
        raw_batch);
  }
  AddSearchRow(rows, fmt::format("search QPS, single queries, k={}", k), d, single);
  AddSearchRow(rows, fmt::format("search QPS, batches of {}, k={}", cfg.batch, k), d, batched);
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf(
      "| figure | d | relate | anchor: raw FAISS IndexFlatIP | ratio | ratio min-max over reps | "
      "top-1 = raw | goal |\n");
  std::printf("|---|--:|--:|--:|--:|--:|--:|---|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %u | %s | %s | %s | %s | %s | %s |\n", r.figure.c_str(), r.d,
                r.relate.c_str(), r.anchor.c_str(), r.ratio.c_str(), r.spread.c_str(),
                r.agree.c_str(), r.goal.c_str());
  }
}

int Run(int argc, char** argv) {
  Config cfg;
  CLI::App app{"relate ingest and exact-search throughput next to raw FAISS IndexFlatIP"};
  app.add_option("--n", cfg.n, "records per collection")->capture_default_str();
  app.add_option("--dims", cfg.dims, "comma-separated dimensions")->capture_default_str();
  app.add_option("--queries", cfg.queries, "single queries per repetition")->capture_default_str();
  app.add_option("--batch", cfg.batch, "queries per batch")->capture_default_str();
  app.add_option("--batches", cfg.batches, "batches per repetition")->capture_default_str();
  app.add_option("--k", cfg.k, "neighbours per query")->capture_default_str();
  app.add_option("--reps", cfg.reps, "timed repetitions (median reported)")->capture_default_str();
  app.add_option("--ingest-batch", cfg.ingest_batch, "records per Upsert call")
      ->capture_default_str();
  app.add_option("--ingest-reps", cfg.ingest_reps, "ingest repetitions (median reported)")
      ->capture_default_str();
  app.add_option("--seed", cfg.seed, "data seed")->capture_default_str();
  app.add_option("--dir", cfg.dir,
                 "scratch directory; must not exist or be empty; removed at the end "
                 "(default /tmp/relate-bench-<pid>)");
  app.add_flag("--keep", cfg.keep, "keep the scratch directory");
  CLI11_PARSE(app, argc, argv);
  if (cfg.n == 0 || cfg.queries == 0 || cfg.batch == 0 || cfg.batches == 0 || cfg.k == 0 ||
      cfg.reps == 0 || cfg.ingest_batch == 0 || cfg.ingest_reps == 0) {
    Die("--n, --queries, --batch, --batches, --k, --reps, --ingest-batch and --ingest-reps must "
        "be positive");
  }
  if (cfg.k > cfg.n) Die("--k must not exceed --n");
  const std::vector<uint32_t> dims = ParsePositiveList(cfg.dims, "--dims");

  const fs::path dir = ScratchDirectory(cfg.dir, "relate-bench");
  std::error_code ec;
  PrintMachine("relate_bench: ingest and exact search, relate vs raw FAISS IndexFlatIP");
  std::printf("omp threads: %d (OMP_NUM_THREADS=%s, OMP_WAIT_POLICY=%s)\n", omp_get_max_threads(),
              EnvOr("OMP_NUM_THREADS", "unset").c_str(), EnvOr("OMP_WAIT_POLICY", "unset").c_str());
  // OpenBLAS built on pthreads has its own thread pool next to OpenMP's.
  const BlasInfo blas = OpenBlas();
  const bool blas_own_threads = blas.threads > 1 && blas.own_thread_pool;
  if (blas.openblas) {
    std::printf("blas:        %s, %d threads\n", blas.config.c_str(), blas.threads);
  }
  std::printf("faiss:       %d.%d.%d\n", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
              FAISS_VERSION_PATCH);
#ifdef NDEBUG
  std::printf("build:       optimised (NDEBUG)\n");
#else
  std::printf("build:       assertions on (not NDEBUG): figures are not representative\n");
#endif
  std::printf("scratch:     %s\n", dir.c_str());
  const std::string wait_policy = EnvOr("OMP_WAIT_POLICY", "");
  if (blas_own_threads && omp_get_max_threads() > 1 && wait_policy != "PASSIVE" &&
      wait_policy != "passive") {
    std::printf(
        "WARNING:     OpenBLAS runs its own pthreads while idle OpenMP threads spin on the same "
        "cores: batch figures measure that contention more than either system; set "
        "OMP_WAIT_POLICY=PASSIVE or use OpenBLAS built for OpenMP (see bench/README.md)\n");
  }
  std::printf(
      "data:        N=%zu records per d; vectors from a %zu-component Gaussian mixture (seed "
      "%llu), ~%zu bytes of text and 3 metadata fields per record\n",
      cfg.n, kClusters, static_cast<unsigned long long>(cfg.seed), kTextBytes);
  std::printf(
      "ingest:      relate collection metric cosine, index \"Flat\", %zu records per Upsert, "
      "timed from DB::Open(create) to the end of ~DB (index checkpoint written); raw FAISS "
      "gets the vectors L2-normalised; %zu repetitions alternating which goes first, sync() "
      "before each, median reported\n",
      cfg.ingest_batch, cfg.ingest_reps);
  std::printf(
      "search:      %zu single queries and %zu batches of %zu per repetition, k=%zu, %zu "
      "repetitions, calls interleaved one by one alternating which system goes first, median "
      "reported\n\n",
      cfg.queries, cfg.batches, cfg.batch, cfg.k, cfg.reps);
  std::fflush(stdout);

  std::vector<Row> rows;
  std::vector<std::string> notes;
  const size_t nq = std::max(cfg.queries, cfg.batches * cfg.batch);
  for (uint32_t d : dims) {
    auto g0 = Clock::now();
    Dataset ds = MakeDataset(d, cfg.n, nq, cfg.seed);
    std::fprintf(stderr, "d=%u: generated data in %.1f s\n", d, Seconds(g0, Clock::now()));
    const fs::path db_dir = dir / ("db-d" + std::to_string(d));
    const fs::path raw_file = dir / ("raw-d" + std::to_string(d) + ".faiss");
    std::unique_ptr<faiss::IndexFlatIP> raw;
    std::vector<IngestRep> reps;
    reps.reserve(cfg.ingest_reps);
    for (size_t rep = 0; rep < cfg.ingest_reps; ++rep) {
      reps.push_back(IngestOnce(cfg, ds, db_dir, raw_file, rep % 2 == 0, raw));
    }
    auto median_of = [&](double IngestRep::*field) {
      std::vector<double> v;
      v.reserve(reps.size());
      for (const auto& r : reps) v.push_back(r.*field);
      return Median(v);
    };
    auto spread_of = [&](double IngestRep::*anchor) {
      std::vector<double> v;
      v.reserve(reps.size());
      for (const auto& r : reps) v.push_back(r.*anchor / r.total_s);
      return fmt::format("{:.3f}-{:.3f}", *std::min_element(v.begin(), v.end()),
                         *std::max_element(v.begin(), v.end()));
    };
    const double n = static_cast<double>(cfg.n);
    const double mb = static_cast<double>(ds.payload_bytes) / 1e6;
    const double total_s = median_of(&IngestRep::total_s);
    const double raw_add_s = median_of(&IngestRep::raw_add_s);
    const double raw_persist_s = median_of(&IngestRep::raw_persist_s);
    const double rps = n / total_s;
    rows.push_back(Row{.figure = "ingest records/s, persisted",
                       .d = d,
                       .relate = Figure(rps),
                       .anchor = Figure(n / raw_add_s) + " (add)",
                       .ratio = fmt::format("{:.3f}", raw_add_s / total_s),
                       .spread = spread_of(&IngestRep::raw_add_s),
                       .agree = "",
                       .goal = fmt::format("≥ 50k/s: {}", rps >= kIngestGoal ? "met" : "NOT met")});
    rows.push_back(Row{.figure = "ingest MB/s of payload, persisted",
                       .d = d,
                       .relate = Figure(mb / total_s),
                       .anchor = Figure(mb / raw_add_s) + " (add)",
                       .ratio = fmt::format("{:.3f}", raw_add_s / total_s),
                       .spread = spread_of(&IngestRep::raw_add_s),
                       .agree = "",
                       .goal = ""});
    rows.push_back(Row{.figure = "ingest records/s vs persisted raw",
                       .d = d,
                       .relate = Figure(rps),
                       .anchor = Figure(n / raw_persist_s) + " (add + write_index + fsync)",
                       .ratio = fmt::format("{:.3f}", raw_persist_s / total_s),
                       .spread = spread_of(&IngestRep::raw_persist_s),
                       .agree = "",
                       .goal = ""});
    // The breakdown of the repetition whose total is the median, so its parts add up.
    std::vector<IngestRep> by_total = reps;
    std::sort(by_total.begin(), by_total.end(),
              [](const IngestRep& a, const IngestRep& b) { return a.total_s < b.total_s; });
    const IngestRep& mid = by_total[(by_total.size() - 1) / 2];
    notes.push_back(fmt::format(
        "d={}: relate ingest, the median of {} repetitions: {:.2f} s = open+create {:.3f} s + "
        "upserts {:.2f} s ({}/s) + close, writing the index checkpoint, {:.2f} s; payload {:.0f} "
        "MB, database on disk {:.0f} MB; relate records/s over the repetitions {}-{}",
        d, reps.size(), mid.total_s, mid.open_s, mid.upsert_s, Figure(n / mid.upsert_s),
        mid.close_s, mb, static_cast<double>(DiskBytes(db_dir)) / 1e6,
        Figure(n / by_total.back().total_s), Figure(n / by_total.front().total_s)));

    Search(cfg, ds, db_dir, *raw, rows, notes);
    std::fprintf(stderr, "d=%u: done\n", d);
  }

  PrintTable(rows);
  std::printf("\n");
  std::printf("- load average at the end: %s\n", LoadAverage().c_str());
  for (const auto& note : notes) std::printf("- %s\n", note.c_str());
  std::fflush(stdout);

  RemoveScratchDirectory(dir, cfg.keep);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    Die(std::string("unexpected exception: ") + e.what());
  }
}
