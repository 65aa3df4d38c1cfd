// Search through the DB with the options of issue 7: filters with a k
// guarantee (exact and index plans, with and without secondary indexes),
// range search, keyword (BM25) and hybrid ranking, MMR, group-by, vectors on
// request, batches of texts, more-like-this with a filter, explain.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;

namespace {

constexpr uint32_t kD = 16;
constexpr size_t kN = 20000;

// A collection of kN clustered unit vectors whose record i has metadata
//   rank: i (filterable), free_rank: i (not filterable), colour: one of four
//   strings (filterable), tags: a list, half: i % 2 == 0 (bool).
struct SearchDb {
  testutil::ScratchDir dir;
  std::unique_ptr<DB> db;
  std::vector<float> base;

  SearchDb() { db = DB::Open(dir.path() / "db", {.create_if_missing = true}).value(); }

  static Metadata MetaOf(size_t i) {
    static const char* kColours[] = {"red", "green", "blue", "grey"};
    return Metadata{{"rank", int64_t(i)},
                    {"free_rank", int64_t(i)},
                    {"colour", std::string(kColours[i % 4])},
                    {"tags", std::vector<std::string>{"t" + std::to_string(i % 7),
                                                      "u" + std::to_string(i % 3)}},
                    {"half", i % 2 == 0}};
  }

  void Make(const std::string& name, const std::string& spec, size_t n = kN) {
    BOOST_TEST_REQUIRE(db->CreateCollection({.name = name,
                                             .dimension = kD,
                                             .index_spec = spec,
                                             .filterable = {"rank", "colour", "tags"}})
                           .ok());
    if (base.empty()) base = testutil::ClusteredVectors(kN, kD, 50, 0.3f, 7);
    std::vector<Record> batch;
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(Record{.key = "k" + std::to_string(i),
                             .text = "record " + std::to_string(i),
                             .metadata = MetaOf(i),
                             .vector = Row(i)});
      if (batch.size() == 2000) {
        BOOST_TEST_REQUIRE(db->Upsert(name, batch).ok());
        batch.clear();
      }
    }
    if (!batch.empty()) BOOST_TEST_REQUIRE(db->Upsert(name, batch).ok());
  }

  // Waits until a collection whose index trains has trained it.
  void WaitTrained(const std::string& name) {
    for (int i = 0; i < 1200 && !db->Stats(name).value().trained; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    BOOST_TEST_REQUIRE(db->Stats(name).value().trained);
  }

  std::vector<float> Row(size_t i) const {
    return std::vector<float>(base.begin() + i * kD, base.begin() + (i + 1) * kD);
  }

  // Indexes (= ranks) of the records `keep` accepts, best first for `query`,
  // at most k, by brute force.
  template <typename Keep>
  std::vector<size_t> Brute(const std::vector<float>& query, size_t k, Keep keep,
                            size_t n = kN) const {
    std::vector<std::pair<double, size_t>> scored;
    for (size_t i = 0; i < n; ++i) {
      if (!keep(i)) continue;
      scored.push_back(
          {-testutil::Score(Metric::kCosine, base.data() + i * kD, query.data(), kD), i});
    }
    std::sort(scored.begin(), scored.end());
    std::vector<size_t> out;
    for (size_t j = 0; j < scored.size() && j < k; ++j) out.push_back(scored[j].second);
    return out;
  }
};

size_t RankOf(const Hit& h) {
  return static_cast<size_t>(std::get<int64_t>(h.metadata.at("rank")));
}

std::vector<float> Query(uint32_t seed) {
  return testutil::ClusteredVectors(1, kD, 50, 0.3f, 1000 + seed);
}

BOOST_FIXTURE_TEST_SUITE(FilteredSearchDbTest, SearchDb)

// The k guarantee on Flat, HNSW and IVF, with the filter on a field with a
// secondary index and on one without, at 0.01 %, 1 % and 50 % selectivity:
// k hits whenever k records match (all of them when fewer), every hit
// matching, and the exact answer wherever the plan is exact.
BOOST_AUTO_TEST_CASE(KHitsWheneverKMatchOnFlatHnswAndIvf) {
  for (const std::string spec : {"Flat", "HNSW16", "IVF16,Flat"}) {
    const std::string name = spec == "Flat" ? "flat" : spec == "HNSW16" ? "hnsw" : "ivf";
    Make(name, spec);
    if (spec.starts_with("IVF")) WaitTrained(name);
    for (const size_t matching : {size_t{2}, kN / 100, kN / 2}) {
      for (const std::string field : {"rank", "free_rank"}) {
        const Filter filter = Filter::Lt(field, int64_t(matching));
        double found = 0, expected = 0;
        for (uint32_t q = 0; q < 5; ++q) {
          const auto query = Query(q);
          QueryExplain explain;
          auto hits = db->Search(name, query, {.k = 10, .filter = filter, .explain = &explain});
          BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
          BOOST_TEST_CONTEXT(spec << " " << field << " < " << matching << " query " << q << " plan "
                                  << explain.plan) {
            BOOST_TEST(hits->size() == std::min<size_t>(10, matching));
            std::set<size_t> seen;
            for (const auto& h : *hits) {
              BOOST_TEST(RankOf(h) < matching);
              BOOST_TEST(seen.insert(RankOf(h)).second);
            }
            const auto truth = Brute(query, 10, [&](size_t i) { return i < matching; });
            std::vector<size_t> got;
            for (const auto& h : *hits) got.push_back(RankOf(h));
            if (explain.plan.find("exact") != std::string::npos) {
              BOOST_TEST(got == truth, boost::test_tools::per_element());
            }
            for (size_t i : truth) found += seen.count(i);
            expected += static_cast<double>(truth.size());
            BOOST_TEST(!explain.stages.empty());
          }
        }
        BOOST_TEST_CONTEXT(spec << " " << field << " < " << matching) {
          BOOST_TEST(found / expected >= 0.9);
        }
      }
    }
  }
}

// The plans: few candidates are searched exactly; many are not listed, and
// the hits of a widening index search are checked, as are those of a filter
// without a secondary index; an index that keeps codes searches skipping the
// others rather than read the vectors of many candidates from storage.
BOOST_AUTO_TEST_CASE(PlannerPicksExactForFewAndChecksHitsForMany) {
  Make("hnsw", "HNSW16");
  const auto query = Query(1);
  QueryExplain few, many, unindexed, codes;
  BOOST_TEST_REQUIRE(
      db->Search("hnsw", query, {.filter = Filter::Lt("rank", int64_t(100)), .explain = &few})
          .has_value());
  BOOST_TEST(few.plan == "exact over candidates");
  BOOST_TEST(few.candidates_counted);
  BOOST_TEST(few.candidates == 100u);
  BOOST_TEST(few.distance_computations == 100u);
  BOOST_TEST_REQUIRE(
      db->Search("hnsw", query,
                 {.filter = Filter::Eq("colour", std::string("red")), .explain = &many})
          .has_value());
  BOOST_TEST(many.plan == "index search, filter on hits");
  BOOST_TEST(!many.candidates_counted);
  BOOST_TEST(many.distance_computations < kN / 2);  // less than a scan
  BOOST_TEST_REQUIRE(
      db->Search("hnsw", query,
                 {.filter = Filter::Ge("free_rank", int64_t(10)), .explain = &unindexed})
          .has_value());
  BOOST_TEST(unindexed.plan == "index search, filter on hits");
  BOOST_TEST(!unindexed.candidates_counted);
  Make("ivf", "IVF16,Flat");
  WaitTrained("ivf");
  auto hits =
      db->Search("ivf", query, {.filter = Filter::Lt("rank", int64_t(1000)), .explain = &codes});
  BOOST_TEST_REQUIRE(hits.has_value());
  BOOST_TEST(codes.plan == "index search with filter");
  BOOST_TEST(codes.candidates == 1000u);
  BOOST_TEST(hits->size() == 10u);
}

// Filters that combine fields, lists and negation give what a scan of the
// records with Filter::Matches gives.
BOOST_AUTO_TEST_CASE(CombinedFiltersEqualExactFilteredSearch) {
  Make("flat", "Flat", 4000);
  const char* expressions[] = {
      "colour == 'red' and rank < 1000",
      "colour in ['red', 'blue'] or rank >= 3990",
      "tags == 't3' and not (half == true)",
      "tags != 'u1' and free_rank > 100",
      "not (colour == 'grey') and exists(tags)",
      "rank >= 10.5 and rank <= 20",
      "colour not in ['red'] and rank < 50",
      "half == true and tags in ['t1', 't2']",
      "missing == 1 or rank == 7",
  };
  const auto query = Query(3);
  for (const char* e : expressions) {
    BOOST_TEST_CONTEXT(e) {
      auto filter = Filter::Parse(e);
      BOOST_TEST_REQUIRE(filter.has_value(), filter.error().ToString());
      auto hits = db->Search("flat", query, {.k = 25, .filter = *filter});
      BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
      const auto truth = Brute(
          query, 25, [&](size_t i) { return filter->Matches(MetaOf(i)); }, 4000);
      std::vector<size_t> got;
      for (const auto& h : *hits) got.push_back(RankOf(h));
      BOOST_TEST(got == truth, boost::test_tools::per_element());
    }
  }
}

// Writes keep the secondary indexes in step: a changed value moves a record
// from one answer to another, a delete takes it out, and reopening keeps it so.
BOOST_AUTO_TEST_CASE(UpsertsAndDeletesMoveRecordsBetweenFilters) {
  Make("flat", "Flat", 100);
  const Filter red = Filter::Eq("colour", std::string("red"));
  auto count = [&](const Filter& f) {
    return db->Search("flat", Row(0), {.k = 1000, .filter = f}).value().size();
  };
  BOOST_TEST(count(red) == 25u);
  Record r{.key = "k1", .metadata = MetaOf(1), .vector = Row(1)};
  r.metadata["colour"] = std::string("red");
  BOOST_TEST_REQUIRE(db->Upsert("flat", std::vector<Record>{r}).ok());
  BOOST_TEST(count(red) == 26u);
  BOOST_TEST(count(Filter::Eq("colour", std::string("green"))) == 24u);
  BOOST_TEST_REQUIRE(db->Delete("flat", std::vector<std::string>{"k0", "k4"}).value() == 2u);
  BOOST_TEST(count(red) == 24u);
  db.reset();
  db = DB::Open(dir.path() / "db", {}).value();
  BOOST_TEST(count(red) == 24u);
  BOOST_TEST(count(Filter::Eq("tags", std::string("t0"))) == 14u);  // 0, 7, ..., 98 less k0
  auto report = db->CheckStorage();
  BOOST_TEST_REQUIRE(report.has_value());
  BOOST_TEST(report->ok());
}

// More like this with a filter: the record itself is left out, the rest match.
BOOST_AUTO_TEST_CASE(MoreLikeThisTakesAFilter) {
  Make("flat", "Flat", 1000);
  auto hits =
      db->SearchByKey("flat", "k2", {.k = 5, .filter = Filter::Eq("colour", std::string("blue"))});
  BOOST_TEST_REQUIRE(hits.has_value());
  BOOST_TEST(hits->size() == 5u);
  for (const auto& h : *hits) {
    BOOST_TEST(h.key != "k2");
    BOOST_TEST(std::get<std::string>(h.metadata.at("colour")) == "blue");
  }
}

// A list given where one value goes is refused at search time.
BOOST_AUTO_TEST_CASE(MisusedBuilderIsRefused) {
  Make("flat", "Flat", 10);
  auto hits = db->Search("flat", Row(0),
                         {.filter = Filter::Eq("tags", std::vector<std::string>{"a", "b"})});
  BOOST_TEST(hits.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(hits.error().message()).find("tags") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(RangeSearchDbTest, SearchDb)

// Range search returns every record at least as related as the threshold:
// on Flat exactly the brute-force set in order, on HNSW and IVF (nearly) all
// of it, never one below it; with a filter too.
BOOST_AUTO_TEST_CASE(RangeSearchEqualsBruteForceThresholdScan) {
  for (const std::string spec : {"Flat", "HNSW16", "IVF16,Flat"}) {
    const std::string name = spec == "Flat" ? "flat" : spec == "HNSW16" ? "hnsw" : "ivf";
    Make(name, spec, 5000);
    if (spec.starts_with("IVF")) {
      for (int i = 0; i < 600 && db->Stats(name).value().trained == false; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      BOOST_TEST_REQUIRE(db->Stats(name).value().trained);
    }
    double covered = 0, total = 0;
    for (uint32_t q = 0; q < 5; ++q) {
      const auto query = Query(q);
      const auto top = Brute(
          query, 60, [](size_t) { return true; }, 5000);
      // Halfway between the 50th and 51st best: no record sits on the threshold.
      const float threshold = static_cast<float>(
          (testutil::Score(Metric::kCosine, base.data() + top[49] * kD, query.data(), kD) +
           testutil::Score(Metric::kCosine, base.data() + top[50] * kD, query.data(), kD)) /
          2);
      for (const bool filtered : {false, true}) {
        SearchOptions o{.k = 1000, .knobs = {.nprobe = 16}, .threshold = threshold};
        if (filtered) o.filter = Filter::Eq("colour", std::string("green"));
        auto hits = db->Search(name, query, o);
        BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
        const auto truth = Brute(
            query, 1000,
            [&](size_t i) {
              return (!filtered || i % 4 == 1) &&
                     testutil::Score(Metric::kCosine, base.data() + i * kD, query.data(), kD) >=
                         threshold;
            },
            5000);
        std::vector<size_t> got;
        for (const auto& h : *hits) {
          got.push_back(RankOf(h));
          BOOST_TEST(h.score >= threshold - 1e-6f);
        }
        BOOST_TEST_CONTEXT(spec << " query " << q << (filtered ? " filtered" : "")) {
          if (spec == "Flat") {
            BOOST_TEST(got == truth, boost::test_tools::per_element());
          }
          std::set<size_t> g(got.begin(), got.end());
          for (size_t i : truth) covered += g.count(i);
          total += static_cast<double>(truth.size());
        }
      }
    }
    BOOST_TEST_CONTEXT(spec) { BOOST_TEST(covered / total >= 0.9); }
  }
}

// With a threshold, k is the limit.
BOOST_AUTO_TEST_CASE(RangeSearchStopsAtTheLimit) {
  Make("flat", "Flat", 2000);
  auto hits = db->Search("flat", Row(5), {.k = 7, .threshold = -1.0f});
  BOOST_TEST_REQUIRE(hits.has_value());
  BOOST_TEST(hits->size() == 7u);
  auto none = db->Search("flat", Row(5), {.k = 7, .threshold = 1.5f});
  BOOST_TEST(none.value().empty());
}

BOOST_AUTO_TEST_SUITE_END()

// Small collections whose answers are known by hand.
struct TextDb {
  testutil::ScratchDir dir;
  std::unique_ptr<DB> db = DB::Open(dir.path() / "db", {.create_if_missing = true}).value();

  void Add(const std::string& c, const std::string& key, const std::string& text,
           std::vector<float> v, Metadata m = {}) {
    BOOST_TEST_REQUIRE(
        db->Upsert(c,
                   std::vector<Record>{Record{
                       .key = key, .text = text, .metadata = std::move(m), .vector = std::move(v)}})
            .ok());
  }
};

BOOST_FIXTURE_TEST_SUITE(KeywordSearchTest, TextDb)

// BM25 with k1 = 1.2, b = 0.75 on three texts, computed by hand:
//   lengths 3, 6, 3 (avgdl 4); "cat" only in d1, "mat" only in d2 (df 1, N 3):
//   idf = ln(1 + 2.5 / 1.5) = 0.980829
//   d1: idf x 2.2 / (1 + 1.2 (0.25 + 0.75 x 3/4)) = idf x 2.2 / 1.975 = 1.092569
//   d2: idf x 2.2 / (1 + 1.2 (0.25 + 0.75 x 6/4)) = idf x 2.2 / 2.65  = 0.814273
// d3 has "cats", not "cat".
BOOST_AUTO_TEST_CASE(Bm25ScoresEqualAHandComputedExample) {
  BOOST_TEST_REQUIRE(
      db->CreateCollection({.name = "t", .dimension = 2, .keyword_index = true}).ok());
  Add("t", "d1", "The cat sat", {1, 0});
  Add("t", "d2", "the dog sat on the mat", {0, 1});
  Add("t", "d3", "cats and dogs", {1, 1});
  SearchOptions o{.ranking = Ranking::kKeyword};
  auto hits = db->SearchText("t", "cat MAT", o);
  BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
  BOOST_TEST_REQUIRE(hits->size() == 2u);
  BOOST_TEST((*hits)[0].key == "d1");
  BOOST_TEST(double((*hits)[0].score) == 1.092569, boost::test_tools::tolerance(1e-5));
  BOOST_TEST((*hits)[1].key == "d2");
  BOOST_TEST(double((*hits)[1].score) == 0.814273, boost::test_tools::tolerance(1e-5));
  // A replaced text leaves the index with its old words.
  Add("t", "d1", "a bird", {1, 0});
  hits = db->SearchText("t", "cat", o);
  BOOST_TEST(hits.value().empty());
  BOOST_TEST(db->SearchText("t", "bird", o).value().at(0).key == "d1");
  BOOST_TEST(db->CheckStorage().value().ok());
}

BOOST_AUTO_TEST_CASE(KeywordSearchTakesAFilter) {
  BOOST_TEST_REQUIRE(
      db->CreateCollection({.name = "t", .dimension = 2, .keyword_index = true}).ok());
  Add("t", "a", "red apple", {1, 0}, {{"n", int64_t(1)}});
  Add("t", "b", "red red car", {0, 1}, {{"n", int64_t(2)}});
  auto hits = db->SearchText("t", "red",
                             {.filter = Filter::Eq("n", int64_t(1)), .ranking = Ranking::kKeyword});
  BOOST_TEST_REQUIRE(hits.has_value());
  BOOST_TEST_REQUIRE(hits->size() == 1u);
  BOOST_TEST((*hits)[0].key == "a");
}

BOOST_AUTO_TEST_CASE(CollectionWithoutKeywordIndexSaysSo) {
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "t", .dimension = 2}).ok());
  Add("t", "a", "red apple", {1, 0});
  auto hits = db->SearchText("t", "red", {.ranking = Ranking::kKeyword});
  BOOST_TEST(hits.error().code() == Status::Code::kFailedPrecondition);
  BOOST_TEST(std::string(hits.error().message()).find("keyword index") != std::string::npos);
}

// Hybrid ranking: a record only the keywords find and one only the vectors
// find both come back, with both part scores.
BOOST_AUTO_TEST_CASE(HybridFusesKeywordAndVectorRanks) {
  std::ofstream(dir.path() / "small.vec") << testutil::kSmallModel;
  BOOST_TEST_REQUIRE(db->ImportModel("small", dir.path() / "small.vec").ok());
  BOOST_TEST_REQUIRE(
      db->CreateCollection({.name = "t", .model = "small", .keyword_index = true}).ok());
  BOOST_TEST_REQUIRE(
      db->Upsert("t", std::vector<Record>{Record{.key = "royal", .text = "king queen"},
                                          Record{.key = "fruit", .text = "apple pear"},
                                          Record{.key = "mixed", .text = "pear king king"}})
          .ok());
  for (Ranking r : {Ranking::kHybridRrf, Ranking::kHybridWeighted}) {
    auto hits = db->SearchText("t", "queen", {.k = 3, .ranking = r});
    BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
    BOOST_TEST_REQUIRE(hits->size() == 3u);
    BOOST_TEST((*hits)[0].key == "royal");  // first in both lists
    BOOST_TEST((*hits)[0].keyword_score > 0);
    BOOST_TEST((*hits)[0].vector_score > 0.9f);
    for (size_t i = 1; i < hits->size(); ++i) BOOST_TEST((*hits)[i].score <= (*hits)[i - 1].score);
  }
  // RRF by hand: "royal" is first in both lists: 2 / 61.
  auto hits = db->SearchText("t", "queen", {.k = 1, .ranking = Ranking::kHybridRrf});
  BOOST_TEST(double(hits.value()[0].score) == 2.0 / 61, boost::test_tools::tolerance(1e-6));
}

// Export and import carry the filterable fields and the keyword index, and
// import writes their entries: the imported collection answers alike.
BOOST_AUTO_TEST_CASE(ImportRebuildsSecondaryAndKeywordEntries) {
  BOOST_TEST_REQUIRE(
      db->CreateCollection(
            {.name = "t", .dimension = 2, .filterable = {"n"}, .keyword_index = true})
          .ok());
  Add("t", "a", "red apple", {1, 0}, {{"n", int64_t(1)}});
  Add("t", "b", "red red car", {0, 1}, {{"n", int64_t(2)}});
  Add("t", "c", "blue car", {1, 1}, {{"n", int64_t(2)}});
  std::stringstream stream;
  BOOST_TEST_REQUIRE(db->Export({}, stream).has_value());
  auto other = DB::Open(dir.path() / "other", {.create_if_missing = true}).value();
  BOOST_TEST_REQUIRE(other->Import(stream).has_value());
  const CollectionSpec spec = other->DescribeCollection("t").value().spec;
  BOOST_TEST(spec.keyword_index);
  BOOST_TEST(spec.filterable == std::vector<std::string>{"n"}, boost::test_tools::per_element());
  const SearchOptions keyword{.filter = Filter::Eq("n", int64_t(2)), .ranking = Ranking::kKeyword};
  for (DB* d : {db.get(), other.get()}) {
    auto hits = d->SearchText("t", "red car", keyword);
    BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
    BOOST_TEST_REQUIRE(hits->size() == 2u);
    BOOST_TEST((*hits)[0].key == "b");
    BOOST_TEST((*hits)[1].key == "c");
  }
  QueryExplain explain;
  auto hits = other->Search("t", std::vector<float>{1, 0},
                            {.filter = Filter::Eq("n", int64_t(2)), .explain = &explain});
  BOOST_TEST(hits.value().size() == 2u);
  BOOST_TEST(explain.candidates == 2u);  // listed from the imported secondary index
  BOOST_TEST(other->CheckStorage().value().ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(DiversityTest, TextDb)

// Near-duplicates crowd a plain answer; MMR spreads it, and lambda 1 is the
// plain answer.
BOOST_AUTO_TEST_CASE(MmrSpreadsNearDuplicates) {
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "c", .dimension = 2}).ok());
  for (int i = 0; i < 4; ++i) Add("c", "a" + std::to_string(i), "", {1, 0.01f * i});
  Add("c", "b", "", {0.8f, 0.6f});
  Add("c", "c", "", {0.8f, -0.6f});
  auto plain = db->Search("c", std::vector<float>{1, 0}, {.k = 3}).value();
  for (const auto& h : plain) BOOST_TEST(h.key.starts_with("a"));
  auto diverse = db->Search("c", std::vector<float>{1, 0}, {.k = 3, .mmr_lambda = 0.3}).value();
  std::set<std::string> keys;
  for (const auto& h : diverse) keys.insert(h.key);
  BOOST_TEST(keys.count("b") + keys.count("c") == 2u);
  BOOST_TEST(diverse[0].key == "a0");
  auto same = db->Search("c", std::vector<float>{1, 0}, {.k = 3, .mmr_lambda = 1.0}).value();
  BOOST_TEST_REQUIRE(same.size() == plain.size());
  for (size_t i = 0; i < same.size(); ++i) BOOST_TEST(same[i].key == plain[i].key);
}

// Group-by: at most group_size hits per value, k groups, best group first,
// records without the field left out; widened until k groups are found.
BOOST_AUTO_TEST_CASE(GroupByKeepsTheBestHitsPerValue) {
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "c", .dimension = 2}).ok());
  // 200 records of author "x" closest to the query, then one each of y and z.
  for (int i = 0; i < 200; ++i) {
    Add("c", "x" + std::to_string(i), "", {1, 0.001f * i}, {{"author", std::string("x")}});
  }
  Add("c", "y", "", {0.5f, 0.5f}, {{"author", std::string("y")}});
  Add("c", "z", "", {0, 1}, {{"author", std::string("z")}});
  Add("c", "none", "", {0.9f, 0.1f});
  auto hits =
      db->Search("c", std::vector<float>{1, 0}, {.k = 3, .group_by = "author", .group_size = 2});
  BOOST_TEST_REQUIRE(hits.has_value(), hits.error().ToString());
  std::vector<std::string> keys;
  for (const auto& h : *hits) keys.push_back(h.key);
  const std::vector<std::string> expected{"x0", "x1", "y", "z"};
  BOOST_TEST(keys == expected, boost::test_tools::per_element());
}

// Hits carry the stored vector on request only.
BOOST_AUTO_TEST_CASE(VectorsComeBackOnRequest) {
  BOOST_TEST_REQUIRE(
      db->CreateCollection({.name = "c", .dimension = 2, .metric = Metric::kL2}).ok());
  Add("c", "a", "", {3, 4});
  BOOST_TEST(db->Search("c", std::vector<float>{3, 4}).value()[0].vector.empty());
  auto hits = db->Search("c", std::vector<float>{3, 4}, {.with_vector = true}).value();
  const std::vector<float> expected{3, 4};
  BOOST_TEST(hits[0].vector == expected, boost::test_tools::per_element());
}

// A batch of texts gets what each text gets alone.
BOOST_AUTO_TEST_CASE(TextBatchEqualsOneByOne) {
  std::ofstream(dir.path() / "small.vec") << testutil::kSmallModel;
  BOOST_TEST_REQUIRE(db->ImportModel("small", dir.path() / "small.vec").ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "t", .model = "small"}).ok());
  BOOST_TEST_REQUIRE(db->Upsert("t", std::vector<Record>{Record{.key = "1", .text = "king"},
                                                         Record{.key = "2", .text = "apple"},
                                                         Record{.key = "3", .text = "queen pear"}})
                         .ok());
  const std::vector<std::string> texts{"queen", "pear", "king apple"};
  auto batch = db->SearchTextBatch("t", texts, {.k = 2});
  BOOST_TEST_REQUIRE(batch.has_value(), batch.error().ToString());
  BOOST_TEST_REQUIRE(batch->size() == 3u);
  for (size_t i = 0; i < texts.size(); ++i) {
    auto one = db->SearchText("t", texts[i], {.k = 2}).value();
    BOOST_TEST_REQUIRE((*batch)[i].size() == one.size());
    for (size_t j = 0; j < one.size(); ++j) {
      BOOST_TEST((*batch)[i][j].key == one[j].key);
      BOOST_TEST((*batch)[i][j].score == one[j].score, boost::test_tools::tolerance(1e-5f));
    }
  }
  auto bad = db->SearchTextBatch("t", std::vector<std::string>{"king", "zzz"}, {});
  BOOST_TEST(bad.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(bad.error().message()).find("text 1") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
