// Approximate search through the DB: every index kind takes deletes and
// upserts and never answers with a deleted or stale record; background
// rebuilds (tombstones, training, "auto") swap in while searches go on;
// refine, knobs, Tune, Stats and Compact.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <set>
#include <thread>
#include <unordered_set>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;

namespace {

constexpr uint32_t kD = 32;

struct AnnDb {
  testutil::ScratchDir dir;
  std::unique_ptr<DB> db;
  std::atomic<int> rebuilt_logs = 0;

  AnnDb() { Open(); }
  void Open(bool checkpoint_on_close = true) {
    db.reset();
    Options options{.create_if_missing = true,
                    .log =
                        [this](std::string_view line) {
                          if (line.find("index rebuilt") != std::string_view::npos) ++rebuilt_logs;
                        },
                    .checkpoint_on_close = checkpoint_on_close};
    db = DB::Open(dir.path() / "db", options).value();
  }
  void Create(const std::string& spec, uint32_t dim = kD) {
    BOOST_TEST_REQUIRE(
        db->CreateCollection({.name = "c", .dimension = dim, .index_spec = spec}).ok());
  }
  // Records k0..k<n-1> with clustered vectors (rows of `v`).
  void Fill(const std::vector<float>& v, size_t n, size_t first = 0, uint32_t dim = kD) {
    std::vector<Record> batch;
    for (size_t i = first; i < first + n; ++i) {
      batch.push_back(
          Record{.key = "k" + std::to_string(i),
                 .vector = std::vector<float>(v.begin() + i * dim, v.begin() + (i + 1) * dim)});
      if (batch.size() == 1000) {
        BOOST_TEST_REQUIRE(db->Upsert("c", batch).ok());
        batch.clear();
      }
    }
    if (!batch.empty()) BOOST_TEST_REQUIRE(db->Upsert("c", batch).ok());
  }
  // Waits (up to a minute) until `done` holds for the collection's stats.
  template <typename F>
  bool WaitFor(F done) {
    for (int i = 0; i < 600; ++i) {
      if (done(db->Stats("c").value())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
};

std::vector<float> Vectors(size_t n, uint32_t dim = kD, uint32_t seed = 7) {
  return testutil::ClusteredVectors(n, dim, 40, 1.0f, seed);
}

double RecallAgainstExact(DB& db, const std::vector<float>& base, size_t n,
                          const std::vector<float>& queries, size_t nq, const SearchKnobs& knobs) {
  size_t hits = 0;
  for (size_t q = 0; q < nq; ++q) {
    const float* qv = queries.data() + q * kD;
    std::vector<float> live(base.begin(), base.begin() + n * kD);
    const auto truth = testutil::BruteForce(Metric::kCosine, live, kD, qv, 10);
    std::set<std::string> want;
    for (size_t t : truth) want.insert("k" + std::to_string(t));
    auto hits_q = db.Search("c", std::span(qv, kD), {.k = 10, .knobs = knobs}).value();
    for (const Hit& h : hits_q) hits += want.count(h.key);
  }
  return static_cast<double>(hits) / (10.0 * nq);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(AnnDbTest, AnnDb)

BOOST_AUTO_TEST_CASE(DeletedAndReplacedRecordsNeverAnswerOnAnyKind) {
  for (std::string spec : {"Flat", "HNSW16", "HNSW16,SQ8", "IVF16,Flat", "SQ8"}) {
    BOOST_TEST_CONTEXT("spec " << spec) {
      AnnDb t;
      t.Create(spec);
      const auto v = Vectors(2000);
      t.Fill(v, 2000);
      // Every third key deleted; every third (offset 1) moved to another vector.
      std::vector<std::string> gone;
      std::vector<Record> moved;
      for (size_t i = 0; i < 2000; i += 3) gone.push_back("k" + std::to_string(i));
      for (size_t i = 1; i < 2000; i += 3) {
        const size_t from = (i + 1000) % 2000;
        moved.push_back(Record{
            .key = "k" + std::to_string(i),
            .vector = std::vector<float>(v.begin() + from * kD, v.begin() + (from + 1) * kD)});
      }
      BOOST_TEST_REQUIRE(t.db->Delete("c", gone).value() == gone.size());
      BOOST_TEST_REQUIRE(t.db->Upsert("c", moved).ok());
      const std::unordered_set<std::string> deleted(gone.begin(), gone.end());
      // Searching with each moved key's old vector: a hit for that key must
      // carry the score of its new vector, never the old one.
      for (size_t i = 1; i < 300; i += 3) {
        std::span<const float> old(v.data() + i * kD, kD);
        auto hits =
            t.db->Search("c", old, {.k = 20, .knobs = {.ef_search = 200, .nprobe = 16}}).value();
        BOOST_TEST_REQUIRE(hits.size() == 20u);
        for (const Hit& h : hits) {
          BOOST_TEST_REQUIRE(!deleted.count(h.key));
          if (h.key == "k" + std::to_string(i)) {
            BOOST_TEST(h.score < 0.9999f);  // not its old vector, which scores 1
          }
        }
      }
      BOOST_TEST(t.db->Count("c").value() == 2000u - gone.size());
      auto report = t.db->Verify("c").value();
      BOOST_TEST(report.ok());
    }
  }
}

BOOST_AUTO_TEST_CASE(TombstonesPastAFifthRebuildTheGraphInTheBackground) {
  Create("HNSW16");
  const auto v = Vectors(3000);
  Fill(v, 3000);
  std::vector<std::string> gone;
  for (size_t i = 0; i < 500; ++i) gone.push_back("k" + std::to_string(i));
  BOOST_TEST_REQUIRE(db->Delete("c", gone).value() == 500u);
  auto st = db->Stats("c").value();
  BOOST_TEST(st.live == 2500u);
  BOOST_TEST(st.dead_fraction < 0.2);  // 500 / 3000: not yet
  std::vector<std::string> more;
  for (size_t i = 500; i < 800; ++i) more.push_back("k" + std::to_string(i));
  BOOST_TEST_REQUIRE(db->Delete("c", more).value() == 300u);
  // 800 / 3000 > 0.2: a rebuild drops them.
  BOOST_TEST(WaitFor([](const CollectionStats& s) { return s.dead == 0 && !s.rebuilding; }));
  st = db->Stats("c").value();
  BOOST_TEST(st.live == 2200u);
  BOOST_TEST(st.last_rebuild.find("deleted or replaced") != std::string::npos);
  BOOST_TEST(db->Verify("c").value().ok());
  // The rebuilt index answers as well as the first one did.
  const auto queries = Vectors(30, kD, 8);
  std::vector<float> live(v.begin() + 800 * kD, v.end());
  size_t hits = 0;
  for (size_t q = 0; q < 30; ++q) {
    const auto truth = testutil::BruteForce(Metric::kCosine, live, kD, queries.data() + q * kD, 10);
    std::set<std::string> want;
    for (size_t t : truth) want.insert("k" + std::to_string(t + 800));
    const std::vector<Hit> found = db->Search("c", std::span(queries.data() + q * kD, kD)).value();
    for (const Hit& h : found) hits += want.count(h.key);
  }
  BOOST_TEST(hits >= 300u * 90 / 100);
}

BOOST_AUTO_TEST_CASE(TrainableIndexSearchesExactlyThenTrainsInTheBackground) {
  Create("IVF16,Flat");
  const auto v = Vectors(1500);
  Fill(v, 500);
  auto st = db->Stats("c").value();
  BOOST_TEST(!st.trained);
  const auto queries = Vectors(20, kD, 9);
  BOOST_TEST(RecallAgainstExact(*db, v, 500, queries, 20, {}) == 1.0);  // exact until trained
  Fill(v, 1000, 500);  // 1,500 >= max(39 x 16, 1000)
  BOOST_TEST(WaitFor([](const CollectionStats& s) { return s.trained && !s.rebuilding; }));
  st = db->Stats("c").value();
  BOOST_TEST(st.live == 1500u);
  BOOST_TEST(st.index_in_use == "IVF16,Flat");
  BOOST_TEST(RecallAgainstExact(*db, v, 1500, queries, 20, {.nprobe = 16}) == 1.0);
  BOOST_TEST(RecallAgainstExact(*db, v, 1500, queries, 20, {.nprobe = 1}) < 1.0);
  // Trained, it survives a reopen as trained.
  Open();
  BOOST_TEST(db->Stats("c").value().trained);
  BOOST_TEST(db->Verify("c").value().ok());
}

BOOST_AUTO_TEST_CASE(TrainedIndexIsRetrainedWhenTheCollectionGrowsFourfold) {
  Create("IVF16,Flat");
  const auto v = Vectors(6500);
  Fill(v, 1500);
  BOOST_TEST_REQUIRE(WaitFor([](const CollectionStats& s) { return s.trained && !s.rebuilding; }));
  const std::string first = db->Stats("c").value().last_rebuild;
  BOOST_TEST(first.find("enough to train") != std::string::npos, first);
  Fill(v, 4400, 1500);  // 5,900 < 4 x 1,500: no retraining yet
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  BOOST_TEST(db->Stats("c").value().last_rebuild == first);
  Fill(v, 600, 5900);  // 6,500 >= 4 x 1,500
  BOOST_TEST(WaitFor([&](const CollectionStats& s) {
    return !s.rebuilding && s.last_rebuild.find("grown from 1500") != std::string::npos;
  }));
  BOOST_TEST(db->Stats("c").value().live == 6500u);
  BOOST_TEST(db->Verify("c").value().ok());
}

// A short-lived writer (the CLI) asks close to finish the rebuilds its writes
// started: the next process finds the index trained.
BOOST_AUTO_TEST_CASE(CloseCanFinishTheRebuildsItStarted) {
  Create("IVF16,Flat");
  const auto v = Vectors(1500);
  db.reset();
  Options options{.finish_rebuilds_on_close = true};
  db = DB::Open(dir.path() / "db", options).value();
  Fill(v, 1500);
  db.reset();  // returns once the training is done and checkpointed
  db = DB::Open(dir.path() / "db", Options{.read_only = true}).value();
  const auto st = db->Stats("c").value();
  BOOST_TEST(st.trained);
  BOOST_TEST(st.live == 1500u);
}

BOOST_AUTO_TEST_CASE(AutoGrowsFromFlatIntoAGraph) {
  // 2^23 values: 2,048 vectors of 4,096.
  const uint32_t dim = 4096;
  Create("auto", dim);
  const auto v = testutil::ClusteredVectors(2100, dim, 20, 0.05f, 3);
  std::vector<Record> batch;
  for (size_t i = 0; i < 2000; ++i) {
    batch.push_back(
        Record{.key = "k" + std::to_string(i),
               .vector = std::vector<float>(v.begin() + i * dim, v.begin() + (i + 1) * dim)});
  }
  BOOST_TEST_REQUIRE(db->Upsert("c", batch).ok());
  BOOST_TEST(db->Stats("c").value().index_in_use == "Flat");
  batch.clear();
  for (size_t i = 2000; i < 2100; ++i) {
    batch.push_back(
        Record{.key = "k" + std::to_string(i),
               .vector = std::vector<float>(v.begin() + i * dim, v.begin() + (i + 1) * dim)});
  }
  BOOST_TEST_REQUIRE(db->Upsert("c", batch).ok());
  BOOST_TEST(WaitFor(
      [](const CollectionStats& s) { return s.index_in_use == "HNSW32" && !s.rebuilding; }));
  auto st = db->Stats("c").value();
  BOOST_TEST(st.index_spec == "auto");
  BOOST_TEST(st.live == 2100u);
  Open();  // the checkpoint keeps what auto chose
  BOOST_TEST(db->Stats("c").value().index_in_use == "HNSW32");
  auto hits = db->Search("c", std::span(v.data() + 5 * dim, dim), {.k = 1}).value();
  BOOST_TEST(hits[0].key == "k5");
}

BOOST_AUTO_TEST_CASE(RefineOverStoredVectorsGivesExactScoresAndRecall) {
  Create("IVF16,PQ8x4");  // 4 bits per 4 values: coarse codes
  const auto v = Vectors(3000);
  Fill(v, 3000);
  BOOST_TEST_REQUIRE(WaitFor([](const CollectionStats& s) { return s.trained && !s.rebuilding; }));
  const auto queries = Vectors(30, kD, 10);
  const double plain = RecallAgainstExact(*db, v, 3000, queries, 30, {.nprobe = 16});
  const double refined =
      RecallAgainstExact(*db, v, 3000, queries, 30, {.nprobe = 16, .refine = 16});
  BOOST_TEST_MESSAGE("IVF16,PQ8x4 recall " << plain << ", refined x16 " << refined);
  BOOST_TEST(refined > plain);
  BOOST_TEST(refined >= 0.9);
  // Refined scores are the exact cosines of the stored vectors.
  auto hits =
      db->Search("c", std::span(queries.data(), kD), {.k = 5, .knobs = {.refine = 4}}).value();
  for (const Hit& h : hits) {
    const size_t row = std::stoul(h.key.substr(1));
    const double exact = testutil::Score(Metric::kCosine, v.data() + row * kD, queries.data(), kD);
    BOOST_TEST(h.score == exact, boost::test_tools::tolerance(1e-4));
  }
}

BOOST_AUTO_TEST_CASE(TuneStoresTheCheapestKnobsThatReachTheTarget) {
  Create("HNSW8");
  const auto v = Vectors(4000);
  Fill(v, 4000);
  auto report = db->Tune("c", {.target_recall = 0.97, .sample = 100}).value();
  BOOST_TEST(report.reached);
  BOOST_TEST(report.recall >= 0.97);
  BOOST_TEST(report.knobs.ef_search >= 16u);
  BOOST_TEST(report.trials.size() >= 1u);
  // Every cheaper efSearch it tried fell short: the stored one is the first to reach.
  for (const TuneTrial& t : report.trials) {
    if (t.knobs.ef_search < report.knobs.ef_search) BOOST_TEST(t.recall < 0.97);
  }
  auto st = db->Stats("c").value();
  BOOST_TEST(st.knobs.ef_search == report.knobs.ef_search);
  BOOST_TEST(st.tuned_recall == report.recall);
  BOOST_TEST(st.tuned_target == 0.97);
  // Searches take the stored default, and it survives a reopen.
  Open();
  BOOST_TEST(db->Stats("c").value().knobs.ef_search == report.knobs.ef_search);
  const auto queries = Vectors(40, kD, 12);
  BOOST_TEST(RecallAgainstExact(*db, v, 4000, queries, 40, {}) >= 0.9);
}

BOOST_AUTO_TEST_CASE(TuneOnIvfFindsNprobeAndRefusesBadRequests) {
  Create("IVF16,Flat");
  const auto v = Vectors(2000);
  Fill(v, 2000);
  BOOST_TEST_REQUIRE(WaitFor([](const CollectionStats& s) { return s.trained && !s.rebuilding; }));
  auto report = db->Tune("c", {.target_recall = 1.0, .sample = 50}).value();
  BOOST_TEST(report.reached);
  BOOST_TEST(report.knobs.nprobe >= 1u);
  BOOST_TEST(report.knobs.nprobe <= 16u);
  BOOST_TEST(db->Tune("c", {.target_recall = 1.5}).error().code() ==
             Status::Code::kInvalidArgument);
  BOOST_TEST(db->Tune("c", {.k = 0}).error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(db->Tune("nope", {}).error().code() == Status::Code::kNotFound);
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "tiny", .dimension = kD}).ok());
  BOOST_TEST(db->Tune("tiny", {}).error().code() == Status::Code::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(SetKnobsPersistAndSearchKnobsOverrideThem) {
  Create("HNSW8");
  const auto v = Vectors(3000);
  Fill(v, 3000);
  const auto queries = Vectors(30, kD, 13);
  BOOST_TEST_REQUIRE(db->SetSearchKnobs("c", {.ef_search = 10}).ok());
  const double low = RecallAgainstExact(*db, v, 3000, queries, 30, {});
  Open();
  BOOST_TEST(db->Stats("c").value().knobs.ef_search == 10u);
  BOOST_TEST(RecallAgainstExact(*db, v, 3000, queries, 30, {}) == low);
  BOOST_TEST(RecallAgainstExact(*db, v, 3000, queries, 30, {.ef_search = 400}) > low);
}

// Compact rebuilds while readers search and a writer writes: no search fails
// or returns a deleted key, and the writes made meanwhile are all in the new index.
BOOST_AUTO_TEST_CASE(CompactSwapsInWhileSearchesAndWritesGoOn) {
  Create("HNSW16");
  const auto v = Vectors(8000);
  Fill(v, 6000);
  std::vector<std::string> gone;
  for (size_t i = 0; i < 6000; i += 10) gone.push_back("k" + std::to_string(i));
  BOOST_TEST_REQUIRE(db->Delete("c", gone).has_value());
  const std::unordered_set<std::string> deleted(gone.begin(), gone.end());
  std::atomic<bool> stop = false;
  std::atomic<size_t> searches = 0, failures = 0;
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      size_t i = static_cast<size_t>(t) * 13;
      while (!stop) {
        auto hits = db->Search("c", std::span(v.data() + (i % 6000) * kD, kD), {.k = 10});
        if (!hits || hits->size() != 10) {
          ++failures;
        } else {
          for (const Hit& h : *hits) {
            if (deleted.count(h.key)) ++failures;
          }
        }
        ++searches;
        i += 7;
      }
    });
  }
  std::thread writer([&] { Fill(v, 2000, 6000); });
  BOOST_TEST(db->Compact("c").ok());
  writer.join();
  stop = true;
  for (auto& r : readers) r.join();
  BOOST_TEST(failures.load() == 0u);
  BOOST_TEST(searches.load() > 0u);
  auto st = db->Stats("c").value();
  BOOST_TEST(st.live == 8000u - gone.size());
  BOOST_TEST(db->Verify("c").value().ok());
  BOOST_TEST(rebuilt_logs.load() >= 1);
  // The records written during the rebuild are searchable.
  auto hits = db->Search("c", std::span(v.data() + 7999 * kD, kD), {.k = 1}).value();
  BOOST_TEST(hits[0].key == "k7999");
}

BOOST_AUTO_TEST_CASE(OutOfRangeKAndKnobsAreRefused) {
  Create("HNSW8");
  const auto v = Vectors(100);
  Fill(v, 100);
  std::span<const float> q(v.data(), kD);
  for (SearchOptions bad :
       {SearchOptions{.k = 0}, SearchOptions{.k = size_t{1} << 40},
        SearchOptions{.k = 10, .knobs = {.refine = 4000000000u}},
        SearchOptions{.k = 2000, .knobs = {.refine = 1024}},  // 2,048,000 candidates
        SearchOptions{.k = 10, .knobs = {.ef_search = 4000000000u}}}) {
    auto hits = db->Search("c", q, bad);
    BOOST_TEST(hits.error().code() == Status::Code::kInvalidArgument, hits.error().ToString());
    BOOST_TEST(db->SearchByKey("c", "k1", bad).error().code() == Status::Code::kInvalidArgument);
    BOOST_TEST(db->SearchBatch("c", q, bad).error().code() == Status::Code::kInvalidArgument);
  }
  BOOST_TEST(db->SetSearchKnobs("c", {.refine = 4000000000u}).code() ==
             Status::Code::kInvalidArgument);
  BOOST_TEST(db->Stats("c").value().knobs.refine == 0u);  // nothing stored
  BOOST_TEST(db->Search("c", q, {.k = 1}).value().size() == 1u);
}

BOOST_AUTO_TEST_CASE(TombstonesSurviveACrashAndAReopen) {
  Create("HNSW16");
  const auto v = Vectors(1000);
  Fill(v, 1000);
  BOOST_TEST_REQUIRE(db->Checkpoint().ok());
  std::vector<std::string> gone{"k1", "k2", "k3"};
  BOOST_TEST_REQUIRE(db->Delete("c", gone).value() == 3u);
  Open(/*checkpoint_on_close=*/false);  // as after kill -9: the deletes are replayed
  for (const auto& key : gone) {
    const size_t row = std::stoul(key.substr(1));
    auto hits = db->Search("c", std::span(v.data() + row * kD, kD), {.k = 5}).value();
    for (const Hit& h : hits) BOOST_TEST(h.key != key);
  }
  BOOST_TEST(db->Stats("c").value().live == 997u);
  BOOST_TEST(db->Verify("c").value().ok());
}

BOOST_AUTO_TEST_SUITE_END()
