#define BOOST_TEST_MODULE query
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "index/vector_index.h"
#include "relate/relate.h"
#include "storage/store.h"
#include "tests/testutil/testutil.h"

using namespace relate;

namespace {

constexpr uint32_t kDim = 8;

// A database in a scratch directory with a cosine collection "papers" of kDim.
struct ScratchDb {
  testutil::ScratchDir dir;
  std::vector<std::string> log;
  std::mutex log_mu;
  std::unique_ptr<DB> db;

  ScratchDb() {
    Open();
    BOOST_TEST_REQUIRE(db->CreateCollection({.name = "papers", .dimension = kDim}).ok());
  }
  Options MakeOptions() {
    return {.create_if_missing = true, .log = [this](std::string_view line) {
              std::lock_guard lock(log_mu);
              log.emplace_back(line);
            }};
  }
  void Open(Options options) {
    db.reset();
    auto opened = DB::Open(dir.path() / "db", options);
    BOOST_TEST_REQUIRE(opened.has_value(), opened.error().ToString());
    db = std::move(*opened);
  }
  void Open() { Open(MakeOptions()); }
  bool Logged(std::string_view text) {
    std::lock_guard lock(log_mu);
    for (const auto& l : log) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::filesystem::path CheckpointFile() {
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / "db" / "index")) {
      return e.path();
    }
    return {};
  }
};

Record MakeRecord(const std::string& key, std::vector<float> vector) {
  return Record{.key = key,
                .text = "text of " + key,
                .metadata = {{"n", int64_t{static_cast<int64_t>(key.size())}},
                             {"tags", std::vector<std::string>{"x", key}}},
                .vector = std::move(vector)};
}

// `n` records "k0".."k{n-1}" with random vectors from `seed`.
std::vector<Record> MakeRecords(size_t n, uint32_t seed, size_t dim = kDim) {
  auto v = testutil::RandomVectors(n, dim, seed);
  std::vector<Record> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(
        MakeRecord("k" + std::to_string(i),
                   std::vector<float>(v.begin() + static_cast<ptrdiff_t>(i * dim),
                                      v.begin() + static_cast<ptrdiff_t>((i + 1) * dim))));
  }
  return out;
}

// Expected keys for `query` over `records` by brute force.
std::vector<std::string> BruteForceKeys(Metric metric, const std::vector<Record>& records,
                                        const std::vector<float>& query, size_t k) {
  std::vector<float> base;
  for (const auto& r : records) base.insert(base.end(), r.vector.begin(), r.vector.end());
  std::vector<std::string> keys;
  for (size_t i : testutil::BruteForce(metric, base, query.size(), query.data(), k)) {
    keys.push_back(records[i].key);
  }
  return keys;
}

std::vector<std::string> Keys(const std::vector<Hit>& hits) {
  std::vector<std::string> keys;
  for (const auto& h : hits) keys.push_back(h.key);
  return keys;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(CollectionTest, ScratchDb)

BOOST_AUTO_TEST_CASE(CreatedCollectionIsListedAndDescribed) {
  BOOST_TEST(db->CreateCollection({.name = "other", .dimension = 3, .metric = Metric::kL2}).ok());
  auto all = db->ListCollections().value();
  BOOST_TEST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].spec.name == "other");
  BOOST_TEST(all[1].spec.name == "papers");
  auto info = db->DescribeCollection("other").value();
  BOOST_TEST(info.spec.dimension == 3u);
  BOOST_TEST((info.spec.metric == Metric::kL2));
  BOOST_TEST(info.spec.index_spec == "Flat");
  BOOST_TEST(info.count == 0u);
  BOOST_TEST(info.created_unix_ms > 0);
}

BOOST_AUTO_TEST_CASE(CreatingOneThatExistsFails) {
  Status s = db->CreateCollection({.name = "papers", .dimension = 4});
  BOOST_TEST(s.code() == Status::Code::kAlreadyExists);
  BOOST_TEST(db->DescribeCollection("papers").value().spec.dimension == kDim);
}

BOOST_AUTO_TEST_CASE(BadSpecsAreRefused) {
  BOOST_TEST(db->CreateCollection({.name = "", .dimension = 4}).code() ==
             Status::Code::kInvalidArgument);
  BOOST_TEST(db->CreateCollection({.name = "z", .dimension = 0}).code() ==
             Status::Code::kInvalidArgument);
  Status s = db->CreateCollection({.name = "z", .dimension = 4, .index_spec = "Bogus"});
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("Bogus") != std::string::npos);
  BOOST_TEST(db->ListCollections().value().size() == 1u);
}

BOOST_AUTO_TEST_CASE(DropRemovesRecordsAndTheNameCanBeReused) {
  auto records = MakeRecords(20, 1);
  BOOST_TEST(db->Upsert("papers", records).ok());
  BOOST_TEST(db->DropCollection("papers").ok());
  BOOST_TEST(db->Count("papers").error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->DropCollection("papers").code() == Status::Code::kNotFound);
  BOOST_TEST(db->CreateCollection({.name = "papers", .dimension = kDim}).ok());
  BOOST_TEST(db->Count("papers").value() == 0u);
  BOOST_TEST(db->Get("papers", "k1").error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->Search("papers", records[0].vector).value().empty());
  Open();
  BOOST_TEST(db->Count("papers").value() == 0u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(UnknownCollectionIsNotFoundEverywhere) {
  std::vector<float> v(kDim, 1.0f);
  std::vector<Record> one{MakeRecord("a", v)};
  BOOST_TEST(db->Upsert("nope", one).code() == Status::Code::kNotFound);
  BOOST_TEST(db->Get("nope", "a").error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->Search("nope", v).error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->DescribeCollection("nope").error().code() == Status::Code::kNotFound);
  std::vector<std::string> keys{"a"};
  BOOST_TEST(db->Delete("nope", keys).error().code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(UpsertTest, ScratchDb)

BOOST_AUTO_TEST_CASE(UpsertedRecordIsReturnedWhole) {
  auto records = MakeRecords(3, 2);
  records[1].metadata = {{"s", std::string("str")},
                         {"i", int64_t{-5}},
                         {"d", 2.5},
                         {"b", false},
                         {"l", std::vector<std::string>{"p", "q"}}};
  BOOST_TEST(db->Upsert("papers", records).ok());
  auto r = db->Get("papers", "k1").value();
  BOOST_TEST(r.key == "k1");
  BOOST_TEST(r.text == "text of k1");
  BOOST_TEST(r.version == 1u);
  BOOST_TEST(r.vector == records[1].vector, boost::test_tools::per_element());
  BOOST_TEST((r.metadata == records[1].metadata));
  BOOST_TEST(db->Count("papers").value() == 3u);
}

// A tiny cosine vector's squared length underflows float: it used to be
// stored unnormalised and score 2e-23 against its own direction.
BOOST_AUTO_TEST_CASE(TinyCosineVectorIsNormalisedAndScoresOne) {
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "tiny", .dimension = 4}).ok());
  const std::vector<float> tiny{1e-23f, 1e-23f, 1e-23f, 1e-23f};
  BOOST_TEST_REQUIRE(
      db->Upsert("tiny", std::vector<Record>{Record{.key = "t", .vector = tiny}}).ok());
  const std::vector<float> ones{1, 1, 1, 1};
  auto hits = db->Search("tiny", ones, {.k = 1}).value();
  BOOST_TEST_REQUIRE(hits.size() == 1u);
  BOOST_TEST(hits[0].score == 1.0f, boost::test_tools::tolerance(1e-5f));
  auto tiny_query = db->Search("tiny", tiny, {.k = 1}).value();
  BOOST_TEST(tiny_query.at(0).score == 1.0f, boost::test_tools::tolerance(1e-5f));
}

// L2 distances between vectors ingest accepted overflowed to infinity (so
// their order was wrong): vectors that long are refused, naming the bound.
BOOST_AUTO_TEST_CASE(VectorWhoseDistancesOverflowIsRefused) {
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
    const std::string name = metric == Metric::kL2 ? "l2" : "ip";
    BOOST_TEST_REQUIRE(db->CreateCollection({.name = name, .dimension = 2, .metric = metric}).ok());
    Status s =
        db->Upsert(name, std::vector<Record>{Record{.key = "big", .vector = {1e19f, -1e19f}}});
    BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
    BOOST_TEST(std::string(s.message()).find("too long") != std::string::npos, s.ToString());
    BOOST_TEST(db->Count(name).value() == 0u);
    // The largest accepted vectors still have finite, ordered distances.
    BOOST_TEST_REQUIRE(
        db->Upsert(name, std::vector<Record>{Record{.key = "a", .vector = {6e18f, 0}},
                                             Record{.key = "b", .vector = {-6e18f, 0}},
                                             Record{.key = "c", .vector = {0, 1}}})
            .ok());
    auto hits = db->Search(name, std::vector<float>{6e18f, 0}, {.k = 3}).value();
    BOOST_TEST_REQUIRE(hits.size() == 3u);
    for (const auto& h : hits) BOOST_TEST(std::isfinite(h.distance), name << " " << h.key);
    BOOST_TEST(hits[0].key == "a");
    BOOST_TEST(hits[2].key == "b");
  }
}

// Storage keeps keys, texts and metadata strings as protobuf strings, which
// must be UTF-8 to be read back: anything else is refused, naming the field.
BOOST_AUTO_TEST_CASE(StringsThatAreNotUtf8AreRefusedAndNothingIsWritten) {
  const std::vector<float> v(kDim, 1.0f);
  const std::vector<std::pair<Record, std::string>> cases = {
      {Record{.key = "k\xff", .vector = v}, "the key"},
      {Record{.key = "k", .text = "caf\xc3", .vector = v}, "the text"},
      {Record{.key = "k", .metadata = {{"\xc0\xaf", int64_t{1}}}, .vector = v},
       "a metadata field name"},  // an overlong form
      {Record{.key = "k", .metadata = {{"s", std::string("\xf5\x80\x80\x80")}}, .vector = v},
       "metadata field \"s\""},
  };
  for (const auto& [record, field] : cases) {
    Status s = db->Upsert("papers", std::vector<Record>{MakeRecords(1, 1)[0], record});
    BOOST_TEST(s.code() == Status::Code::kInvalidArgument, field);
    BOOST_TEST(std::string(s.message()).find(field + " is not valid UTF-8") != std::string::npos,
               s.ToString());
    BOOST_TEST(db->Count("papers").value() == 0u);
  }
  Status s = db->CreateCollection({.name = "n\xff", .dimension = 2});
  BOOST_TEST(std::string(s.message()).find("not valid UTF-8") != std::string::npos, s.ToString());
  BOOST_TEST(
      db->Upsert("papers", std::vector<Record>{Record{.key = "ключ", .text = "текст", .vector = v}})
          .ok());
}

BOOST_AUTO_TEST_CASE(UpsertOfExistingKeyReplacesItAndItsVector) {
  auto records = MakeRecords(10, 3);
  BOOST_TEST(db->Upsert("papers", records).ok());
  auto moved = MakeRecords(1, 99);
  moved[0].key = "k4";
  moved[0].text = "new text";
  BOOST_TEST(db->Upsert("papers", moved).ok());
  auto r = db->Get("papers", "k4").value();
  BOOST_TEST(r.version == 2u);
  BOOST_TEST(r.text == "new text");
  BOOST_TEST(db->Count("papers").value() == 10u);
  // The old vector is gone from the index, the new one is there.
  auto hits = db->Search("papers", moved[0].vector, {.k = 1}).value();
  BOOST_TEST(hits.at(0).key == "k4");
  BOOST_TEST(hits.at(0).score == 1.0f, boost::test_tools::tolerance(1e-5f));
  auto old_hits = db->Search("papers", records[4].vector, {.k = 10}).value();
  for (const auto& h : old_hits) {
    if (h.key == "k4") BOOST_TEST(h.score < 0.9999f);
  }
  BOOST_TEST(db->DescribeCollection("papers").value().index_size == 10u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(WrongDimensionIsRejectedAndNothingIsWritten) {
  auto records = MakeRecords(5, 4);
  records[3].vector.push_back(1.0f);
  Status s = db->Upsert("papers", records);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  const std::string m(s.message());
  BOOST_TEST(m.find("\"k3\"") != std::string::npos, m);
  BOOST_TEST(m.find("9 values") != std::string::npos, m);
  BOOST_TEST(m.find("expects 8") != std::string::npos, m);
  BOOST_TEST(m.find("\"papers\"") != std::string::npos, m);
  BOOST_TEST(db->Count("papers").value() == 0u);
  BOOST_TEST(db->Get("papers", "k0").error().code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(NonFiniteEmptyAndZeroVectorsAreRejected) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> bad = {
      {1, 2, nan, 4, 5, 6, 7, 8}, {1, 2, 3, inf, 5, 6, 7, 8}, {}, std::vector<float>(kDim, 0)};
  for (const auto& v : bad) {
    std::vector<Record> batch = MakeRecords(2, 5);
    batch.push_back(MakeRecord("bad", v));
    Status s = db->Upsert("papers", batch);
    BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
    BOOST_TEST(std::string(s.message()).find("\"bad\"") != std::string::npos);
  }
  std::vector<Record> nokey{MakeRecord("", std::vector<float>(kDim, 1))};
  BOOST_TEST(db->Upsert("papers", nokey).code() == Status::Code::kInvalidArgument);
  BOOST_TEST(db->Count("papers").value() == 0u);
  BOOST_TEST(db->DescribeCollection("papers").value().index_size == 0u);
}

BOOST_AUTO_TEST_CASE(DuplicateKeysInOneBatchKeepTheLast) {
  auto records = MakeRecords(3, 6);
  records[2].key = "k0";
  records[2].text = "last";
  BOOST_TEST(db->Upsert("papers", records).ok());
  BOOST_TEST(db->Count("papers").value() == 2u);
  auto r = db->Get("papers", "k0").value();
  BOOST_TEST(r.text == "last");
  BOOST_TEST(r.vector == records[2].vector, boost::test_tools::per_element());
  BOOST_TEST(db->DescribeCollection("papers").value().index_size == 2u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(DeleteRemovesRecordsFromStorageAndSearch) {
  auto records = MakeRecords(10, 7);
  BOOST_TEST(db->Upsert("papers", records).ok());
  std::vector<std::string> keys{"k2", "k5", "missing", "k2"};
  BOOST_TEST(db->Delete("papers", keys).value() == 2u);
  BOOST_TEST(db->Count("papers").value() == 8u);
  BOOST_TEST(db->Get("papers", "k2").error().code() == Status::Code::kNotFound);
  auto hits = db->Search("papers", records[2].vector, {.k = 10}).value();
  BOOST_TEST(hits.size() == 8u);
  for (const auto& h : hits) BOOST_TEST((h.key != "k2" && h.key != "k5"));
  std::vector<std::string> none{"missing"};
  BOOST_TEST(db->Delete("papers", none).value() == 0u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(GetOfMissingKeyIsNotFound) {
  auto r = db->Get("papers", "ghost");
  BOOST_TEST(r.error().code() == Status::Code::kNotFound);
  BOOST_TEST(std::string(r.error().message()).find("ghost") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(SearchTest, ScratchDb)

BOOST_AUTO_TEST_CASE(ExactSearchEqualsBruteForceForEveryMetric) {
  const size_t dim = 24;
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct, Metric::kL2}) {
    BOOST_TEST_CONTEXT("metric " << MetricName(metric)) {
      const std::string name(MetricName(metric));
      BOOST_TEST_REQUIRE(
          db->CreateCollection({.name = name, .dimension = dim, .metric = metric}).ok());
      auto records = MakeRecords(800, 10, dim);
      BOOST_TEST_REQUIRE(db->Upsert(name, records).ok());
      // Replace some and delete some so the index has seen removals.
      auto replacements = MakeRecords(50, 11, dim);
      BOOST_TEST_REQUIRE(db->Upsert(name, replacements).ok());
      std::vector<std::string> gone;
      for (size_t i = 700; i < 760; ++i) gone.push_back("k" + std::to_string(i));
      BOOST_TEST_REQUIRE(db->Delete(name, gone).value() == 60u);
      std::vector<Record> current;
      for (size_t i = 0; i < 800; ++i) {
        if (i >= 700 && i < 760) continue;
        current.push_back(i < 50 ? replacements[i] : records[i]);
      }
      auto queries = testutil::RandomVectors(25, dim, 12);
      for (size_t q = 0; q < 25; ++q) {
        std::vector<float> query(queries.begin() + static_cast<ptrdiff_t>(q * dim),
                                 queries.begin() + static_cast<ptrdiff_t>((q + 1) * dim));
        auto hits = db->Search(name, query, {.k = 10}).value();
        BOOST_TEST(Keys(hits) == BruteForceKeys(metric, current, query, 10),
                   boost::test_tools::per_element());
        for (const auto& h : hits) {
          const auto& r =
              current[std::stoul(h.key.substr(1)) < 700 ? std::stoul(h.key.substr(1))
                                                        : std::stoul(h.key.substr(1)) - 60];
          BOOST_TEST(h.score == testutil::Score(metric, r.vector.data(), query.data(), dim),
                     boost::test_tools::tolerance(1e-3));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(HitsCarryTextMetadataAndDistance) {
  BOOST_TEST(db->Upsert("papers", MakeRecords(30, 13)).ok());
  auto q = db->Get("papers", "k7").value().vector;
  auto hits = db->Search("papers", q, {.k = 3}).value();
  BOOST_TEST_REQUIRE(hits.size() == 3u);
  BOOST_TEST(hits[0].key == "k7");
  BOOST_TEST(hits[0].text == "text of k7");
  BOOST_TEST(std::get<int64_t>(hits[0].metadata.at("n")) == 2);
  BOOST_TEST(hits[0].distance == 1.0f - hits[0].score, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(hits[0].score >= hits[1].score);
  BOOST_TEST(hits[1].score >= hits[2].score);
}

BOOST_AUTO_TEST_CASE(SearchByKeyExcludesTheRecordItself) {
  auto records = MakeRecords(40, 14);
  BOOST_TEST(db->Upsert("papers", records).ok());
  auto hits = db->SearchByKey("papers", "k3", {.k = 5}).value();
  BOOST_TEST(hits.size() == 5u);
  for (const auto& h : hits) BOOST_TEST(h.key != "k3");
  std::vector<Record> others;
  for (const auto& r : records) {
    if (r.key != "k3") others.push_back(r);
  }
  BOOST_TEST(Keys(hits) == BruteForceKeys(Metric::kCosine, others, records[3].vector, 5),
             boost::test_tools::per_element());
  BOOST_TEST(db->SearchByKey("papers", "nope").error().code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(BatchSearchEqualsSingleSearches) {
  BOOST_TEST(db->Upsert("papers", MakeRecords(200, 15)).ok());
  auto queries = testutil::RandomVectors(7, kDim, 16);
  auto batch = db->SearchBatch("papers", queries, {.k = 4}).value();
  BOOST_TEST_REQUIRE(batch.size() == 7u);
  for (size_t q = 0; q < 7; ++q) {
    std::span<const float> one(queries.data() + q * kDim, kDim);
    BOOST_TEST(Keys(batch[q]) == Keys(db->Search("papers", one, {.k = 4}).value()),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(KLargerThanCountReturnsEveryRecord) {
  BOOST_TEST(db->Upsert("papers", MakeRecords(3, 17)).ok());
  BOOST_TEST(db->Search("papers", std::vector<float>(kDim, 1.0f), {.k = 50}).value().size() == 3u);
  BOOST_TEST(db->SearchByKey("papers", "k0", {.k = 50}).value().size() == 2u);
}

BOOST_AUTO_TEST_CASE(BadQueriesAreRejected) {
  std::vector<float> short_query(kDim - 1, 1.0f);
  auto r = db->Search("papers", short_query);
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(r.error().message()).find("expects 8") != std::string::npos);
  std::vector<float> nan(kDim, std::numeric_limits<float>::quiet_NaN());
  BOOST_TEST(db->Search("papers", nan).error().code() == Status::Code::kInvalidArgument);
  std::vector<float> ragged(kDim * 2 + 1, 1.0f);
  BOOST_TEST(db->SearchBatch("papers", ragged).error().code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(ReopenTest, ScratchDb)

BOOST_AUTO_TEST_CASE(ReopenKeepsEverythingIndexIncluded) {
  auto records = MakeRecords(300, 20);
  BOOST_TEST(db->Upsert("papers", records).ok());
  std::vector<std::string> gone{"k1", "k2"};
  BOOST_TEST(db->Delete("papers", gone).value() == 2u);
  auto before = db->Search("papers", records[9].vector, {.k = 10}).value();
  Open();
  BOOST_TEST(db->Count("papers").value() == 298u);
  BOOST_TEST(db->Get("papers", "k9").value().text == "text of k9");
  BOOST_TEST(db->Get("papers", "k1").error().code() == Status::Code::kNotFound);
  BOOST_TEST(Keys(db->Search("papers", records[9].vector, {.k = 10}).value()) == Keys(before),
             boost::test_tools::per_element());
  auto info = db->DescribeCollection("papers").value();
  BOOST_TEST(info.index_size == 298u);
  BOOST_TEST(info.index_checkpoint == info.last_change);
  BOOST_TEST(!Logged("rebuilding"));
  BOOST_TEST(!Logged("replayed"));
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(ChangesAfterTheCheckpointAreReplayed) {
  Options options = MakeOptions();
  options.checkpoint_on_close = false;
  Open(options);
  auto records = MakeRecords(100, 21);
  BOOST_TEST(db->Upsert("papers", records).ok());
  BOOST_TEST(db->Checkpoint().ok());
  auto more = MakeRecords(130, 22);  // replaces k0..k99, adds k100..k129
  BOOST_TEST(db->Upsert("papers", more).ok());
  std::vector<std::string> gone{"k5"};
  BOOST_TEST(db->Delete("papers", gone).value() == 1u);
  Open();
  BOOST_TEST(Logged("replayed"));
  BOOST_TEST(!Logged("rebuilding"));
  BOOST_TEST(db->Count("papers").value() == 129u);
  BOOST_TEST(db->DescribeCollection("papers").value().index_size == 129u);
  auto hits = db->Search("papers", more[17].vector, {.k = 1}).value();
  BOOST_TEST(hits.at(0).key == "k17");
  BOOST_TEST(hits.at(0).score == 1.0f, boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(PeriodicCheckpointsBoundTheReplay) {
  Options options = MakeOptions();
  options.checkpoint_every_changes = 50;
  options.checkpoint_on_close = false;
  Open(options);
  for (uint32_t i = 0; i < 7; ++i) {
    auto batch = MakeRecords(20, 30 + i);
    for (auto& r : batch) r.key += "-" + std::to_string(i);
    BOOST_TEST(db->Upsert("papers", batch).ok());
  }
  auto info = db->DescribeCollection("papers").value();
  BOOST_TEST(info.last_change == 140u);
  BOOST_TEST(info.index_checkpoint == 120u);  // written at 60 and 120 changes
  Open();
  BOOST_TEST(Logged("replayed 20 changed records"));
  BOOST_TEST(db->Count("papers").value() == 140u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(MissingCheckpointIsRebuiltFromStorage) {
  auto records = MakeRecords(150, 23);
  BOOST_TEST(db->Upsert("papers", records).ok());
  db.reset();
  std::filesystem::remove(CheckpointFile());
  Open();
  BOOST_TEST(Logged("missing; rebuilding its index from storage (150 records)"));
  BOOST_TEST(db->SearchByKey("papers", "k3", {.k = 3}).value().size() == 3u);
  BOOST_TEST(db->Search("papers", records[40].vector, {.k = 1}).value().at(0).key == "k40");
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(DamagedCheckpointsAreRebuiltNotTrusted) {
  auto records = MakeRecords(150, 24);
  BOOST_TEST(db->Upsert("papers", records).ok());
  db.reset();
  const auto path = CheckpointFile();
  const auto size = std::filesystem::file_size(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put('\x7f');
    f.put('\x01');
  }
  Open();
  BOOST_TEST(Logged("checksum"));
  BOOST_TEST(db->Verify("papers").value().ok());
  db.reset();
  std::filesystem::resize_file(CheckpointFile(), size / 3);
  log.clear();
  Open();
  BOOST_TEST(Logged("truncated"));
  BOOST_TEST(db->Search("papers", records[77].vector, {.k = 1}).value().at(0).key == "k77");
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(StaleCheckpointIsDetectedAndRebuilt) {
  BOOST_TEST(db->Upsert("papers", MakeRecords(40, 25)).ok());
  BOOST_TEST(db->Checkpoint().ok());
  const auto path = CheckpointFile();
  const auto stale = dir.path() / "stale.faiss";
  std::filesystem::copy_file(path, stale);
  auto more = MakeRecords(90, 26);
  for (auto& r : more) r.key += "b";
  BOOST_TEST(db->Upsert("papers", more).ok());
  db.reset();  // checkpoints at 130 changes and truncates the log
  std::filesystem::copy_file(stale, path, std::filesystem::copy_options::overwrite_existing);
  Open();
  BOOST_TEST(Logged("rebuilding"));
  BOOST_TEST(db->DescribeCollection("papers").value().index_size == 130u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_CASE(VerifyReportsAnIndexThatDisagreesWithStorage) {
  auto records = MakeRecords(20, 27);
  BOOST_TEST(db->Upsert("papers", records).ok());
  const auto info = db->DescribeCollection("papers").value();
  db.reset();
  // A checkpoint that passes every file check but holds other vectors: the
  // kind of damage only a comparison with storage can find.
  auto forged = index::VectorIndex::Create(kDim, Metric::kCosine, "Flat").value();
  auto other = testutil::RandomVectors(20, kDim, 999);
  index::PrepareVectors(Metric::kCosine, kDim, other);
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; id <= 20; ++id) ids.push_back(id);
  BOOST_TEST_REQUIRE(forged->Add(ids, other).ok());
  BOOST_TEST_REQUIRE(forged->Save(CheckpointFile(), info.id, info.last_change).ok());
  Open();
  auto report = db->Verify("papers").value();
  BOOST_TEST(!report.ok());
  BOOST_TEST(report.vectors_checked == 20u);
  BOOST_TEST(report.problems.at(0).find("storage says") != std::string::npos);
}

// A collection whose stored index spec this version refuses (an older one took
// it, and crashed inside FAISS on it): the database opens, the collection
// says what is wrong when searched or written, and it can be dropped.
BOOST_AUTO_TEST_CASE(StoredSpecThisVersionRefusesLeavesTheDatabaseUsable) {
  auto records = MakeRecords(50, 40);
  BOOST_TEST_REQUIRE(
      db->CreateCollection({.name = "bad", .dimension = kDim, .index_spec = "IVF16,Flat"}).ok());
  BOOST_TEST_REQUIRE(
      db->CreateCollection({.name = "empty", .dimension = kDim, .index_spec = "PQ4"}).ok());
  BOOST_TEST_REQUIRE(db->Upsert("bad", records).ok());
  BOOST_TEST_REQUIRE(db->Upsert("papers", records).ok());
  db.reset();
  {
    auto store = storage::Store::Open(dir.path() / "db" / "store", {}).value();
    storage::Batch batch(*store);
    std::vector<storage::CollectionMeta> catalog = store->LoadCatalog().value();
    for (auto meta : catalog) {
      if (meta.spec.name == "papers") continue;
      meta.spec.index_spec = meta.spec.name == "bad" ? "IVF0,Flat" : "PQ4x0";
      batch.PutCollection(meta);
    }
    BOOST_TEST_REQUIRE(store->Write(batch, true).ok());
  }
  for (int round = 0; round < 2; ++round) {
    Open();
    BOOST_TEST(db->ListCollections().value().size() == 3u);
    BOOST_TEST(db->DescribeCollection("bad").value().spec.index_spec == "IVF0,Flat");
    BOOST_TEST(db->Count("bad").value() == 50u);
    BOOST_TEST(db->Get("bad", "k3").value().text == "text of k3");
    for (std::string name : {"bad", "empty"}) {
      auto found = db->Search(name, records[0].vector, {.k = 3});
      BOOST_TEST_REQUIRE(!found.has_value());
      BOOST_TEST(found.error().code() == Status::Code::kFailedPrecondition);
      const std::string message(found.error().message());
      BOOST_TEST(message.find("collection \"" + name + "\"") != std::string::npos, message);
      BOOST_TEST(message.find(name == "bad" ? "\"IVF0,Flat\"" : "\"PQ4x0\"") != std::string::npos,
                 message);
      BOOST_TEST(message.find("drop the collection") != std::string::npos, message);
      Status s = db->Upsert(name, std::span(records).first(1));
      BOOST_TEST(s.code() == Status::Code::kFailedPrecondition);
      BOOST_TEST(std::string(s.message()).find("drop the collection") != std::string::npos);
    }
    // The other collection is untouched.
    BOOST_TEST(db->Search("papers", records[7].vector, {.k = 1}).value().at(0).key == "k7");
    BOOST_TEST(db->Verify("papers").value().ok());
    BOOST_TEST(db->Stats("bad").has_value());
  }
  db.reset();
  BOOST_TEST(DB::Repair(dir.path() / "db").has_value());
  Open();
  BOOST_TEST(db->DropCollection("bad").ok());
  BOOST_TEST(db->DropCollection("empty").ok());
  Open();
  BOOST_TEST(db->ListCollections().value().size() == 1u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(OpenTest)

BOOST_AUTO_TEST_CASE(MissingDatabaseWithoutCreateIsNotFound) {
  testutil::ScratchDir dir;
  auto r = DB::Open(dir.path() / "nothing", {});
  BOOST_TEST(r.error().code() == Status::Code::kNotFound);
  BOOST_TEST(std::string(r.error().message()).find("create") != std::string::npos);
  BOOST_TEST(!std::filesystem::exists(dir.path() / "nothing"));
}

BOOST_AUTO_TEST_CASE(DirectoryThatIsNotADatabaseIsRefusedAndLeftAlone) {
  testutil::ScratchDir dir;
  std::ofstream(dir.path() / "notes.txt") << "mine";
  auto r = DB::Open(dir.path(), {.create_if_missing = true});
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(r.error().message()).find("not a relate database") != std::string::npos);
  BOOST_TEST(!std::filesystem::exists(dir.path() / "store"));
  std::ofstream(dir.path() / "file") << "x";
  BOOST_TEST(DB::Open(dir.path() / "file", {}).error().code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(SecondWriterIsBusyAndReadersShare) {
  testutil::ScratchDir dir;
  auto first = DB::Open(dir.path() / "db", {.create_if_missing = true}).value();
  BOOST_TEST(first->CreateCollection({.name = "c", .dimension = 2}).ok());
  std::vector<Record> one{Record{.key = "a", .vector = {1, 0}}};
  BOOST_TEST(first->Upsert("c", one).ok());
  auto second = DB::Open(dir.path() / "db", {});
  BOOST_TEST_REQUIRE(!second.has_value());
  BOOST_TEST(second.error().code() == Status::Code::kBusy);
  const std::string who =
      "in use by this process (pid " + std::to_string(::getpid()) + ", another handle)";
  BOOST_TEST(std::string(second.error().message()).find(who) != std::string::npos,
             second.error().ToString());
  auto reader = DB::Open(dir.path() / "db", {.read_only = true});
  BOOST_TEST_REQUIRE(reader.has_value(), reader.error().ToString());
  BOOST_TEST((*reader)->Get("c", "a").value().key == "a");
  BOOST_TEST((*reader)->Upsert("c", one).code() == Status::Code::kFailedPrecondition);
  BOOST_TEST(first->Count("c").value() == 1u);
}

// Each writer open replays the log the last one left and flushes it, then
// deletes that log. A reader opening meanwhile must still see every record the
// writer had committed before the reader began (CI once saw a database with a
// collection read as empty, from a reader that read the MANIFEST before the
// flush and the log directory after the deletion).
BOOST_AUTO_TEST_CASE(ReadersOpeningWhileTheWriterReopensSeeEverythingCommitted) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "db";
  {
    auto db = DB::Open(path, {.create_if_missing = true}).value();
    BOOST_TEST_REQUIRE(db->CreateCollection({.name = "c", .dimension = 2}).ok());
  }
  constexpr int kCycles = 150;
  std::atomic<int> committed{0};
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int i = 1; i <= kCycles; ++i) {
      auto db = DB::Open(path, {});
      if (!db.has_value()) break;
      std::vector<Record> one{Record{.key = "k" + std::to_string(i), .vector = {1, float(i)}}};
      if (!(*db)->Upsert("c", one).ok()) break;
      committed = i;
    }
    writing = false;
  });
  size_t opens = 0, short_views = 0, errors = 0;
  std::string first_error;
  while (writing) {
    const int before = committed;
    auto reader = DB::Open(path, {.read_only = true});
    if (!reader.has_value()) {
      if (errors++ == 0) first_error = reader.error().ToString();
      continue;
    }
    ++opens;
    auto count = (*reader)->Count("c");
    if (!count.has_value() || *count < static_cast<uint64_t>(before)) ++short_views;
  }
  writer.join();
  BOOST_TEST_REQUIRE(committed == kCycles);
  BOOST_TEST(opens >= 10u);
  BOOST_TEST(short_views == 0u);
  BOOST_TEST(errors == 0u, first_error);
  // Clean closes and the compactions after each open leave no file that the
  // next open's guard would take for lost data (store/lost/unnamed-*).
  BOOST_TEST(!std::filesystem::exists(path / "store" / "lost"));
}

BOOST_AUTO_TEST_CASE(ErrorIfExistsRefusesAnExistingDatabase) {
  testutil::ScratchDir dir;
  { auto db = DB::Open(dir.path() / "db", {.create_if_missing = true}).value(); }
  BOOST_TEST(DB::Open(dir.path() / "db", {.error_if_exists = true}).error().code() ==
             Status::Code::kAlreadyExists);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(ConcurrencyTest, ScratchDb)

BOOST_AUTO_TEST_CASE(SearchesRunConcurrentlyWithOneWriter) {
  BOOST_TEST(db->Upsert("papers", MakeRecords(100, 40)).ok());
  std::atomic<bool> done{false};
  std::atomic<size_t> searches{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      auto q = testutil::RandomVectors(1, kDim, 50 + t);
      while (!done) {
        auto hits = db->Search("papers", q, {.k = 5});
        if (!hits || hits->size() != 5) ++failures;
        for (const auto& h : hits.value()) {
          if (h.text != "text of " + h.key) ++failures;
        }
        ++searches;
      }
    });
  }
  for (uint32_t i = 0; i < 40; ++i) {
    auto batch = MakeRecords(50, 60 + i);
    for (auto& r : batch) {
      r.key += "-" + std::to_string(i % 20);  // later batches replace earlier ones
      r.text = "text of " + r.key;
    }
    BOOST_TEST(db->Upsert("papers", batch).ok());
    if (i % 10 == 9) {
      std::vector<std::string> gone{"k1-0", "k2-1"};
      BOOST_TEST(db->Delete("papers", gone).has_value());
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(failures.load() == 0u);
  BOOST_TEST(searches.load() > 0u);
  BOOST_TEST(db->Count("papers").value() == 100u + 20u * 50u - 2u);
  BOOST_TEST(db->Verify("papers").value().ok());
}

BOOST_AUTO_TEST_SUITE_END()
