// Filtered search (SearchParams::allowed) with its k guarantee, exact search
// over an id subset, and range search, on every index kind: checked against
// brute force over the allowed, live vectors.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "index/vector_index.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::index;

namespace {

constexpr uint32_t kD = 24;
constexpr size_t kN = 3000;
constexpr size_t kK = 10;
constexpr size_t kQueries = 20;
// Ids are kFirstId + row, so that ids are not positions.
constexpr uint64_t kFirstId = 10;

// The base vectors as the index holds them (unit length for cosine).
std::vector<float> Base(Metric metric, size_t n = kN, uint32_t seed = 5) {
  std::vector<float> v = testutil::ClusteredVectors(n, kD, 40, 0.6f, seed);
  if (metric == Metric::kL2) {
    // Not unit length: L2 sees magnitudes too.
    std::mt19937 rng(seed + 1);
    std::uniform_real_distribution<float> scale(0.5f, 2.0f);
    for (size_t i = 0; i < n; ++i) {
      const float s = scale(rng);
      for (size_t j = 0; j < kD; ++j) v[i * kD + j] *= s;
    }
  }
  PrepareVectors(metric, kD, v);
  return v;
}

std::vector<float> Queries(Metric metric, size_t n = kQueries) {
  std::vector<float> q = testutil::ClusteredVectors(n, kD, 40, 0.6f, 99);
  PrepareVectors(metric, kD, q);
  return q;
}

// An index of `spec` over `base`, trained on it if the kind needs training.
std::unique_ptr<VectorIndex> Build(const std::string& spec, Metric metric,
                                   const std::vector<float>& base) {
  auto index = VectorIndex::Create(kD, metric, spec, {.threads = 2}).value();
  if (index->needs_training()) BOOST_TEST_REQUIRE(index->Train(base).ok());
  const size_t n = base.size() / kD;
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = kFirstId + i;
  BOOST_TEST_REQUIRE(index->Add(ids, base).ok());
  return index;
}

// Removes every `stride`-th row's id; returns the ids removed.
std::set<uint64_t> RemoveEvery(VectorIndex& index, size_t stride, size_t n = kN) {
  std::vector<uint64_t> gone;
  for (size_t i = 3; i < n; i += stride) gone.push_back(kFirstId + i);
  BOOST_TEST_REQUIRE(index.Remove(gone).value() == gone.size());
  return {gone.begin(), gone.end()};
}

// `count` distinct ids of rows picked at random, plus `absent` ids no row has.
IdSet RandomIds(size_t count, uint32_t seed, size_t absent = 0, size_t n = kN) {
  std::mt19937 rng(seed);
  std::vector<uint64_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = kFirstId + i;
  std::shuffle(rows.begin(), rows.end(), rng);
  IdSet set;
  for (size_t i = 0; i < count; ++i) set.Add(rows[i]);
  for (size_t i = 0; i < absent; ++i) set.Add(kFirstId + n + 1000 + i * 3);
  return set;
}

struct Found {
  int64_t id;
  double score;  // the metric's score (for L2: the distance)
};

bool Better(Metric metric, double a, double b) { return metric == Metric::kL2 ? a < b : a > b; }

// The best `k` of the rows whose id `keep` accepts, best first, by brute force
// in double precision. k = SIZE_MAX: all of them.
template <class Keep>
std::vector<Found> Brute(Metric metric, const std::vector<float>& base, const float* query,
                         size_t k, Keep keep) {
  std::vector<Found> all;
  for (size_t i = 0; i < base.size() / kD; ++i) {
    const auto id = static_cast<int64_t>(kFirstId + i);
    if (!keep(static_cast<uint64_t>(id))) continue;
    all.push_back({id, testutil::Score(metric, base.data() + i * kD, query, kD)});
  }
  std::sort(all.begin(), all.end(), [&](const Found& a, const Found& b) {
    return a.score != b.score ? Better(metric, a.score, b.score) : a.id < b.id;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// Query q's hits in `nb`, up to the first empty slot.
std::vector<Found> HitsOf(const Neighbours& nb, size_t q) {
  std::vector<Found> out;
  for (size_t j = q * nb.k; j < (q + 1) * nb.k && nb.ids[j] >= 0; ++j) {
    out.push_back({nb.ids[j], nb.scores[j]});
  }
  return out;
}

std::vector<Found> HitsOf(const RangeResult& rr, size_t q) {
  std::vector<Found> out;
  for (size_t j = rr.offsets[q]; j < rr.offsets[q + 1]; ++j) {
    out.push_back({rr.ids[j], rr.scores[j]});
  }
  return out;
}

// `got` equals `want` in ids and order (a swap allowed only between scores
// within float rounding of each other) and in scores.
void CheckEqual(const std::vector<Found>& got, const std::vector<Found>& want) {
  BOOST_TEST_REQUIRE(got.size() == want.size());
  for (size_t j = 0; j < got.size(); ++j) {
    BOOST_TEST(std::abs(got[j].score - want[j].score) < 1e-4,
               "rank " << j << ": score " << got[j].score << " vs " << want[j].score);
    if (got[j].id != want[j].id) {
      // Only a near-tie may swap.
      BOOST_TEST(std::abs(got[j].score - want[j].score) < 1e-5,
                 "rank " << j << ": id " << got[j].id << " vs " << want[j].id);
    }
  }
  std::multiset<int64_t> a, b;
  for (const Found& h : got) a.insert(h.id);
  for (const Found& h : want) b.insert(h.id);
  BOOST_TEST((a == b));
}

// Every query's hits: exactly min(k, allowed and live) of them, all allowed
// and live, no repeats, best first.
void CheckKGuarantee(Metric metric, const Neighbours& nb, size_t nq, const IdSet& allowed,
                     const VectorIndex& index) {
  size_t allowed_live = 0;
  for (uint64_t id : allowed.Sorted()) allowed_live += index.Contains(id) ? 1 : 0;
  for (size_t q = 0; q < nq; ++q) {
    const std::vector<Found> hits = HitsOf(nb, q);
    BOOST_TEST(hits.size() == std::min(nb.k, allowed_live), "query " << q);
    std::set<int64_t> seen;
    for (size_t j = 0; j < hits.size(); ++j) {
      const auto id = static_cast<uint64_t>(hits[j].id);
      BOOST_TEST(allowed.Contains(id), "query " << q << " returned " << id);
      BOOST_TEST(index.Contains(id), "query " << q << " returned removed " << id);
      BOOST_TEST(seen.insert(hits[j].id).second, "query " << q << " repeats " << id);
      if (j > 0) {
        BOOST_TEST(!Better(metric, hits[j].score,
                           hits[j - 1].score + (metric == Metric::kL2 ? -1e-5 : 1e-5)),
                   "query " << q << " rank " << j << " is out of order");
      }
    }
  }
}

// Recall@k of `nb` against brute force over the allowed, live rows.
double FilteredRecall(Metric metric, const std::vector<float>& base,
                      const std::vector<float>& queries, const Neighbours& nb, const IdSet& allowed,
                      const VectorIndex& index) {
  size_t hits = 0, total = 0;
  for (size_t q = 0; q < queries.size() / kD; ++q) {
    const auto want = Brute(metric, base, queries.data() + q * kD, nb.k, [&](uint64_t id) {
      return allowed.Contains(id) && index.Contains(id);
    });
    std::set<int64_t> w;
    for (const Found& h : want) w.insert(h.id);
    for (const Found& h : HitsOf(nb, q)) hits += w.count(h.id);
    total += want.size();
  }
  return total == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(total);
}

// A threshold halfway between the `rank`-th and next brute-force scores of
// query 0, so that no score sits on it.
float ThresholdAt(Metric metric, const std::vector<float>& base, const float* query, size_t rank) {
  const auto all = Brute(metric, base, query, rank + 1, [](uint64_t) { return true; });
  return static_cast<float>((all[rank - 1].score + all[rank].score) / 2);
}

std::vector<Found> BruteRange(Metric metric, const std::vector<float>& base, const float* query,
                              float threshold, size_t limit, const IdSet* allowed,
                              const VectorIndex& index) {
  auto all = Brute(metric, base, query, SIZE_MAX, [&](uint64_t id) {
    return index.Contains(id) && (allowed == nullptr || allowed->Contains(id));
  });
  std::vector<Found> out;
  for (const Found& h : all) {
    if (metric == Metric::kL2 ? h.score <= threshold : h.score >= threshold) out.push_back(h);
  }
  if (out.size() > limit) out.resize(limit);
  return out;
}

// Kinds searched with `allowed`: relate's own (Flat, HNSW), FAISS's IVF over
// vectors and codes, HNSW over codes, flat codes without selector support, and
// a pre-transform in front of IVF and of HNSW.
const std::vector<std::string> kKinds = {"Flat",       "HNSW16",           "HNSW32",
                                         "IVF16,Flat", "IVF16,SQ8",        "HNSW16,SQ8",
                                         "PQ8x4np",    "PCA16,IVF16,Flat", "PCA16,HNSW16"};

}  // namespace

BOOST_AUTO_TEST_SUITE(IdSetTest)

BOOST_AUTO_TEST_CASE(AddedIdsAreCountedOnceAndListedInOrder) {
  IdSet set;
  BOOST_TEST(set.size() == 0u);
  BOOST_TEST(!set.Contains(0));
  BOOST_TEST(!set.Contains(uint64_t{1} << 40));  // far beyond the bitmap
  for (uint64_t id : {700u, 3u, 64u, 3u, 63u, 700u}) set.Add(id);
  BOOST_TEST(set.size() == 4u);
  BOOST_TEST(set.Contains(3));
  BOOST_TEST(set.Contains(63));
  BOOST_TEST(set.Contains(64));
  BOOST_TEST(set.Contains(700));
  BOOST_TEST(!set.Contains(4));
  BOOST_TEST(!set.Contains(701));
  const std::vector<uint64_t> want = {3, 63, 64, 700};
  BOOST_TEST(set.Sorted() == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(FilteredSearchTest)

// 0.01 % (fewer than k: all of them), 1 % and 50 % of the ids, with tombstones
// and ids that are not in the index, on every kind and two metrics.
BOOST_AUTO_TEST_CASE(EveryKindReturnsMinOfKAndTheAllowedLiveIds) {
  for (Metric metric : {Metric::kCosine, Metric::kL2}) {
    const std::vector<float> base = Base(metric);
    const std::vector<float> queries = Queries(metric);
    for (const std::string& spec : kKinds) {
      BOOST_TEST_CONTEXT("spec " << spec << ", metric " << MetricName(metric)) {
        const auto start = std::chrono::steady_clock::now();
        auto index = Build(spec, metric, base);
        const std::set<uint64_t> gone = RemoveEvery(*index, 7);
        // 3 ids (0.1 %: 0.01 % of 3,000 is less than one), 1 %, 50 %; a few
        // more ids that are not in the index, and the removed ones in the mix.
        for (size_t count : {size_t{3}, kN / 100, kN / 2}) {
          BOOST_TEST_CONTEXT("allowed " << count) {
            IdSet allowed = RandomIds(count, static_cast<uint32_t>(count), 5);
            allowed.Add(*gone.begin());
            SearchStats stats;
            auto nb = index->Search(queries, kK, {.allowed = &allowed}, &stats);
            BOOST_TEST_REQUIRE(nb.has_value(), nb.error().ToString());
            CheckKGuarantee(metric, *nb, kQueries, allowed, *index);
            BOOST_TEST(stats.distances > 0u);
          }
        }
        BOOST_TEST_MESSAGE(
            spec << " " << MetricName(metric) << ": "
                 << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
                 << " s");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(AnEmptySetOrOneOfAbsentIdsFindsNothing) {
  const std::vector<float> base = Base(Metric::kCosine);
  const std::vector<float> queries = Queries(Metric::kCosine);
  for (const std::string spec : {"Flat", "HNSW16", "IVF16,Flat", "HNSW16,SQ8"}) {
    BOOST_TEST_CONTEXT("spec " << spec) {
      auto index = Build(spec, Metric::kCosine, base);
      const std::set<uint64_t> gone = RemoveEvery(*index, 5);
      IdSet empty, absent;
      for (uint64_t id : gone) absent.Add(id);
      absent.Add(kFirstId + kN + 7);
      for (const IdSet* set : {&empty, &absent}) {
        auto nb = index->Search(queries, kK, {.allowed = set});
        BOOST_TEST_REQUIRE(nb.has_value());
        BOOST_TEST(std::count(nb->ids.begin(), nb->ids.end(), -1) ==
                   static_cast<long>(kQueries * kK));
      }
    }
  }
}

// Flat, and HNSW where its plan is an exact pass (sets too small to be worth
// a walk), equal brute force over the allowed, live ids: ids and scores.
BOOST_AUTO_TEST_CASE(ExactPlansEqualBruteForceOverTheAllowedIds) {
  for (Metric metric : {Metric::kCosine, Metric::kL2}) {
    const std::vector<float> base = Base(metric);
    const std::vector<float> queries = Queries(metric);
    for (const std::string spec : {"Flat", "HNSW16", "HNSW32"}) {
      auto index = Build(spec, metric, base);
      RemoveEvery(*index, 7);
      // Flat: every size (gathered rows, then a scan that skips the others);
      // HNSW: the sizes its plan scores exactly.
      std::vector<size_t> counts = {3, kN / 100, kN / 10};
      if (spec == "Flat") counts.push_back(kN / 2);
      for (size_t count : counts) {
        BOOST_TEST_CONTEXT("spec " << spec << ", metric " << MetricName(metric) << ", allowed "
                                   << count) {
          const IdSet allowed = RandomIds(count, 7 + static_cast<uint32_t>(count), 3);
          SearchStats stats;
          auto nb = index->Search(queries, kK, {.allowed = &allowed}, &stats).value();
          if (spec != "Flat") BOOST_TEST(stats.exact_pass);
          for (size_t q = 0; q < kQueries; ++q) {
            BOOST_TEST_CONTEXT("query " << q) {
              CheckEqual(HitsOf(nb, q),
                         Brute(metric, base, queries.data() + q * kD, kK, [&](uint64_t id) {
                           return allowed.Contains(id) && index->Contains(id);
                         }));
            }
          }
        }
      }
    }
  }
}

// Where HNSW walks its graph with a filter (sets too large for an exact
// pass): through a bitset of allowed rows, or testing each row's id in the
// set; recall@10 against brute force over the allowed ids.
BOOST_AUTO_TEST_CASE(HnswWalkWithAFilterKeepsItsRecall) {
  constexpr size_t kBig = 30000;
  for (Metric metric : {Metric::kCosine, Metric::kL2}) {
    const std::vector<float> base = Base(metric, kBig, 21);
    const std::vector<float> queries = Queries(metric, 50);
    auto index = Build("HNSW16", metric, base);
    RemoveEvery(*index, 11, kBig);
    // ef 10: the walk is cheaper than an exact pass from sqrt(8 x 10 x live)
    // = about 1,480 allowed ids; 6 % (1,800, 1,640 of them live) is under
    // 1/16 of the rows (a bitset of rows), 50 % over it (each row's id tested).
    for (auto [count, ef] : {std::pair<size_t, uint32_t>{kBig * 6 / 100, 10},
                             {kBig / 2, 10},
                             {kBig / 100, 64},
                             {kBig / 2, 64}}) {
      BOOST_TEST_CONTEXT("metric " << MetricName(metric) << ", allowed " << count << ", ef "
                                   << ef) {
        const IdSet allowed = RandomIds(count, 3, 0, kBig);
        SearchStats stats;
        auto nb =
            index->Search(queries, kK, {.ef_search = ef, .allowed = &allowed}, &stats).value();
        CheckKGuarantee(metric, nb, 50, allowed, *index);
        const double recall = FilteredRecall(metric, base, queries, nb, allowed, *index);
        BOOST_TEST_MESSAGE("HNSW16 " << MetricName(metric) << " allowed " << count << " ef " << ef
                                     << ": recall@10 " << recall << ", " << stats.distances / 50
                                     << " distances per query"
                                     << (stats.exact_pass ? " (exact pass)" : ""));
        BOOST_TEST(recall >= 0.9);
        if (count == kBig / 100 && ef == 64) {
          BOOST_TEST(stats.exact_pass);  // 300 allowed: straight to an exact pass
          BOOST_TEST(recall == 1.0);
        } else {
          // A walk, not a scan of every vector.
          BOOST_TEST(stats.distances / 50 < kBig);
        }
      }
    }
  }
}

// FAISS's IVF widens nprobe while it finds fewer than k, up to every list:
// there the k guarantee holds over the codes.
BOOST_AUTO_TEST_CASE(IvfWidensNprobeUntilItFindsK) {
  const std::vector<float> base = Base(Metric::kCosine);
  const std::vector<float> queries = Queries(Metric::kCosine);
  auto index = Build("IVF64,Flat", Metric::kCosine, base);
  RemoveEvery(*index, 9);
  const IdSet allowed = RandomIds(kN / 20, 17);  // about 2 allowed ids per list
  SearchStats stats;
  auto nb = index->Search(queries, kK, {.nprobe = 1, .allowed = &allowed}, &stats).value();
  CheckKGuarantee(Metric::kCosine, nb, kQueries, allowed, *index);
  // nprobe starts at 2k x nlist / 150 = 9 and widens from there.
  BOOST_TEST(stats.nprobe >= 9u);
  BOOST_TEST(stats.nprobe <= 64u);
  // IVF over vectors: once it probes every list it is exact.
  SearchStats all;
  auto full = index->Search(queries, kK, {.nprobe = 64, .allowed = &allowed}, &all).value();
  for (size_t q = 0; q < kQueries; ++q) {
    CheckEqual(HitsOf(full, q),
               Brute(Metric::kCosine, base, queries.data() + q * kD, kK,
                     [&](uint64_t id) { return allowed.Contains(id) && index->Contains(id); }));
  }
  BOOST_TEST(all.widenings == 0u);
}

// FAISS's HNSW over codes: efSearch widens, then an exact pass over decoded
// vectors; the hits are the codes' best (scores within SQ8's error).
BOOST_AUTO_TEST_CASE(FaissHnswOverCodesKeepsTheGuaranteeAndItsRecall) {
  const std::vector<float> base = Base(Metric::kCosine);
  const std::vector<float> queries = Queries(Metric::kCosine);
  auto index = Build("HNSW16,SQ8", Metric::kCosine, base);
  RemoveEvery(*index, 7);
  for (size_t count : {size_t{3}, kN / 100, kN / 2}) {
    BOOST_TEST_CONTEXT("allowed " << count) {
      const IdSet allowed = RandomIds(count, 23);
      SearchStats stats;
      auto nb = index->Search(queries, kK, {.allowed = &allowed}, &stats).value();
      CheckKGuarantee(Metric::kCosine, nb, kQueries, allowed, *index);
      BOOST_TEST(FilteredRecall(Metric::kCosine, base, queries, nb, allowed, *index) >= 0.9);
      if (count <= kN / 100) BOOST_TEST(stats.exact_pass);
      for (size_t q = 0; q < kQueries; ++q) {
        for (const Found& h : HitsOf(nb, q)) {
          const double exact = testutil::Score(
              Metric::kCosine, base.data() + (static_cast<size_t>(h.id) - kFirstId) * kD,
              queries.data() + q * kD, kD);
          BOOST_TEST(std::abs(h.score - exact) < 0.02);
        }
      }
    }
  }
}

// Concurrent filtered searches with different efSearch on FAISS's HNSW (which
// takes efSearch from the index in 1.7.3) answer as one thread does.
BOOST_AUTO_TEST_CASE(ConcurrentFilteredSearchesAnswerAsOneThreadDoes) {
  const std::vector<float> base = Base(Metric::kCosine);
  const std::vector<float> queries = Queries(Metric::kCosine);
  for (const std::string spec : {"HNSW16", "HNSW16,SQ8", "IVF16,Flat"}) {
    BOOST_TEST_CONTEXT("spec " << spec) {
      auto index = Build(spec, Metric::kCosine, base);
      const IdSet allowed = RandomIds(kN / 2, 31);
      const std::vector<uint32_t> efs = {16, 40, 100, 200};
      std::vector<Neighbours> want;
      for (uint32_t ef : efs) {
        want.push_back(
            index->Search(queries, kK, {.ef_search = ef, .nprobe = ef / 8, .allowed = &allowed})
                .value());
      }
      std::vector<int> mismatches(efs.size(), 0);
      std::vector<std::thread> threads;
      for (size_t t = 0; t < efs.size(); ++t) {
        threads.emplace_back([&, t] {
          for (int round = 0; round < 10; ++round) {
            auto nb = index->Search(
                queries, kK, {.ef_search = efs[t], .nprobe = efs[t] / 8, .allowed = &allowed});
            if (!nb.has_value() || nb->ids != want[t].ids) ++mismatches[t];
          }
        });
      }
      for (auto& th : threads) th.join();
      for (size_t t = 0; t < efs.size(); ++t) BOOST_TEST(mismatches[t] == 0, "ef " << efs[t]);
    }
  }
}

BOOST_AUTO_TEST_CASE(UntrainedKindFiltersItsStagedRows) {
  const std::vector<float> base = Base(Metric::kL2);
  const std::vector<float> queries = Queries(Metric::kL2);
  auto index = VectorIndex::Create(kD, Metric::kL2, "IVF16,Flat").value();
  std::vector<uint64_t> ids(kN);
  for (size_t i = 0; i < kN; ++i) ids[i] = kFirstId + i;
  BOOST_TEST_REQUIRE(index->Add(ids, base).ok());
  BOOST_TEST_REQUIRE(index->needs_training());
  RemoveEvery(*index, 7);
  const IdSet allowed = RandomIds(kN / 100, 41, 2);
  auto nb = index->Search(queries, kK, {.allowed = &allowed}).value();
  for (size_t q = 0; q < kQueries; ++q) {
    CheckEqual(HitsOf(nb, q),
               Brute(Metric::kL2, base, queries.data() + q * kD, kK,
                     [&](uint64_t id) { return allowed.Contains(id) && index->Contains(id); }));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SearchExactTest)

BOOST_AUTO_TEST_CASE(EqualsBruteForceOverTheIdsAndBatchesEqualOneByOne) {
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct, Metric::kL2}) {
    const std::vector<float> base = Base(metric);
    const std::vector<float> queries = Queries(metric);
    for (const std::string spec : {"Flat", "HNSW16"}) {
      BOOST_TEST_CONTEXT("spec " << spec << ", metric " << MetricName(metric)) {
        auto index = Build(spec, metric, base);
        const std::set<uint64_t> gone = RemoveEvery(*index, 6);
        // 300 ids, a repeat, removed ones and ones never added.
        std::vector<uint64_t> ids = RandomIds(300, 51).Sorted();
        ids.push_back(ids.front());
        ids.push_back(*gone.begin());
        ids.push_back(kFirstId + kN + 5);
        std::shuffle(ids.begin(), ids.end(), std::mt19937(3));
        const std::set<uint64_t> wanted(ids.begin(), ids.end());
        SearchStats stats;
        auto batch = index->SearchExact(queries, kK, ids, &stats).value();
        size_t live = 0;
        for (uint64_t id : wanted) live += index->Contains(id) ? 1 : 0;
        BOOST_TEST(stats.distances == kQueries * live);
        for (size_t q = 0; q < kQueries; ++q) {
          BOOST_TEST_CONTEXT("query " << q) {
            const auto want = Brute(metric, base, queries.data() + q * kD, kK, [&](uint64_t id) {
              return wanted.count(id) && index->Contains(id);
            });
            CheckEqual(HitsOf(batch, q), want);
            auto one = index->SearchExact(std::span(queries.data() + q * kD, kD), kK, ids).value();
            CheckEqual(HitsOf(one, 0), HitsOf(batch, q));
          }
        }
        // Fewer ids than k: all of them.
        const std::vector<uint64_t> few = {kFirstId + 1, kFirstId + 2, *gone.begin()};
        auto small = index->SearchExact(queries, kK, few).value();
        BOOST_TEST(HitsOf(small, 0).size() == 2u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(KindsThatKeepCodesAreRefused) {
  const std::vector<float> base = Base(Metric::kCosine);
  auto index = Build("IVF16,SQ8", Metric::kCosine, base);
  const std::vector<uint64_t> ids = {kFirstId, kFirstId + 1};
  auto r = index->SearchExact(Queries(Metric::kCosine, 1), kK, ids);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == Status::Code::kFailedPrecondition);
  auto bad = Build("Flat", Metric::kCosine, base)->SearchExact(std::vector<float>(kD + 1), kK, ids);
  BOOST_TEST(bad.error().code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(RangeSearchTest)

BOOST_AUTO_TEST_CASE(FlatEqualsABruteForceThresholdScan) {
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct, Metric::kL2}) {
    const std::vector<float> base = Base(metric);
    // Inner product batches run as matrix products: 20 queries, then one.
    const std::vector<float> queries = Queries(metric);
    auto index = Build("Flat", metric, base);
    RemoveEvery(*index, 7);
    const float threshold = ThresholdAt(metric, base, queries.data(), 60);
    const IdSet small = RandomIds(kN / 50, 61, 4);  // gathered rows
    const IdSet large = RandomIds(kN / 2, 62, 4);   // a scan that skips the others
    for (const IdSet* allowed : {static_cast<const IdSet*>(nullptr), &small, &large}) {
      for (size_t limit : {size_t{1000000}, size_t{25}}) {
        BOOST_TEST_CONTEXT("metric " << MetricName(metric) << ", allowed "
                                     << (allowed ? allowed->size() : 0) << ", limit " << limit) {
          SearchStats stats;
          auto rr =
              index->RangeSearch(queries, threshold, limit, {.allowed = allowed}, &stats).value();
          BOOST_TEST_REQUIRE(rr.offsets.size() == kQueries + 1);
          size_t total = 0;
          for (size_t q = 0; q < kQueries; ++q) {
            BOOST_TEST_CONTEXT("query " << q) {
              const auto want = BruteRange(metric, base, queries.data() + q * kD, threshold, limit,
                                           allowed, *index);
              const auto got = HitsOf(rr, q);
              CheckEqual(got, want);
              BOOST_TEST(got.size() <= limit);
              total += got.size();
              for (size_t j = rr.offsets[q]; j < rr.offsets[q + 1]; ++j) {
                if (metric == Metric::kL2) {
                  BOOST_TEST(rr.distances[j] <= threshold);
                } else {
                  BOOST_TEST(rr.scores[j] >= threshold);
                }
              }
              auto one = index
                             ->RangeSearch(std::span(queries.data() + q * kD, kD), threshold, limit,
                                           {.allowed = allowed})
                             .value();
              CheckEqual(HitsOf(one, 0), got);
            }
          }
          BOOST_TEST(total > 0u);
          BOOST_TEST(stats.distances > 0u);
        }
      }
    }
  }
}

// HNSW, IVF, HNSW over codes: every hit in range, and (on clustered data that
// a k-search answers well) at least 95 % of the brute-force set found.
BOOST_AUTO_TEST_CASE(ApproximateKindsFindTheRangeAndNothingOutsideIt) {
  for (Metric metric : {Metric::kCosine, Metric::kL2}) {
    const std::vector<float> base = Base(metric);
    const std::vector<float> queries = Queries(metric);
    const IdSet half = RandomIds(kN / 2, 71, 2);
    for (const std::string spec : {"HNSW16", "HNSW32", "IVF16,Flat", "HNSW16,SQ8"}) {
      auto index = Build(spec, metric, base);
      RemoveEvery(*index, 9);
      // 300 hits for query 0 (half of them allowed): more than the first
      // k-search's 64, so it widens.
      const float threshold = ThresholdAt(metric, base, queries.data(), 300);
      for (const IdSet* allowed : {static_cast<const IdSet*>(nullptr), &half}) {
        BOOST_TEST_CONTEXT("spec " << spec << ", metric " << MetricName(metric)
                                   << (allowed ? ", half the ids" : "")) {
          SearchStats stats;
          auto rr = index
                        ->RangeSearch(queries, threshold, 100000,
                                      {.ef_search = 128, .nprobe = 12, .allowed = allowed}, &stats)
                        .value();
          size_t found = 0, want_total = 0;
          for (size_t q = 0; q < kQueries; ++q) {
            const auto want = BruteRange(metric, base, queries.data() + q * kD, threshold, SIZE_MAX,
                                         allowed, *index);
            std::set<int64_t> w;
            for (const Found& h : want) w.insert(h.id);
            std::set<int64_t> seen;
            for (size_t j = rr.offsets[q]; j < rr.offsets[q + 1]; ++j) {
              const auto id = static_cast<uint64_t>(rr.ids[j]);
              BOOST_TEST(seen.insert(rr.ids[j]).second);
              BOOST_TEST(index->Contains(id));
              if (allowed) BOOST_TEST(allowed->Contains(id));
              if (metric == Metric::kL2) {
                BOOST_TEST(rr.distances[j] <= threshold);
              } else {
                BOOST_TEST(rr.scores[j] >= threshold);
              }
              found += w.count(rr.ids[j]);
            }
            want_total += want.size();
          }
          BOOST_TEST_MESSAGE(spec << " " << MetricName(metric) << (allowed ? " half" : "")
                                  << ": range coverage " << found << " / " << want_total
                                  << ", widenings " << stats.widenings);
          BOOST_TEST(stats.widenings > 0u);
          BOOST_TEST(static_cast<double>(found) >= 0.95 * static_cast<double>(want_total));
          // The limit holds.
          auto capped = index->RangeSearch(queries, threshold, 7, {.allowed = allowed}).value();
          for (size_t q = 0; q < kQueries; ++q) {
            BOOST_TEST(capped.offsets[q + 1] - capped.offsets[q] <= 7u);
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(NothingInRangeGivesEmptyListsAndNaNIsRefused) {
  const std::vector<float> base = Base(Metric::kL2);
  const std::vector<float> queries = Queries(Metric::kL2);
  for (const std::string spec : {"Flat", "HNSW16", "IVF16,Flat"}) {
    auto index = Build(spec, Metric::kL2, base);
    for (float threshold : {-1.0f, 0.0f}) {
      auto rr = index->RangeSearch(queries, threshold, 10).value();
      BOOST_TEST(rr.offsets.size() == kQueries + 1);
      BOOST_TEST(rr.ids.empty());
    }
    BOOST_TEST(index->RangeSearch(queries, std::nanf(""), 10).error().code() ==
               Status::Code::kInvalidArgument);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SearchRowsTest)

// The query layer's exact search over stored vectors answers as the index does.
BOOST_AUTO_TEST_CASE(RowsAnswerAsAFlatIndexOverTheSameRows) {
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct, Metric::kL2}) {
    BOOST_TEST_CONTEXT("metric " << MetricName(metric)) {
      const std::vector<float> base = Base(metric);
      const std::vector<float> queries = Queries(metric);
      auto index = Build("Flat", metric, base);
      std::vector<uint64_t> ids(kN);
      for (size_t i = 0; i < kN; ++i) ids[i] = kFirstId + i;
      for (size_t nq : {size_t{1}, kQueries}) {
        const std::span<const float> q(queries.data(), nq * kD);
        SearchStats stats;
        const Neighbours rows = ExactSearchRows(metric, kD, base, ids, q, kK, &stats);
        const Neighbours want = index->Search(q, kK).value();
        BOOST_TEST(rows.ids == want.ids, boost::test_tools::per_element());
        BOOST_TEST(rows.scores == want.scores, boost::test_tools::per_element());
        BOOST_TEST(rows.distances == want.distances, boost::test_tools::per_element());
        BOOST_TEST(stats.distances == nq * kN);
        const float threshold = ThresholdAt(metric, base, queries.data(), 40);
        const RangeResult range = RangeSearchRows(metric, kD, base, ids, q, threshold, 30);
        const RangeResult range_want = index->RangeSearch(q, threshold, 30).value();
        BOOST_TEST(range.offsets == range_want.offsets, boost::test_tools::per_element());
        BOOST_TEST(range.ids == range_want.ids, boost::test_tools::per_element());
        BOOST_TEST(range.scores == range_want.scores, boost::test_tools::per_element());
        BOOST_TEST(range.distances == range_want.distances, boost::test_tools::per_element());
        BOOST_TEST(!range.ids.empty());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
