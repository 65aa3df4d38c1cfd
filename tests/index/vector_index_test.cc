#define BOOST_TEST_MODULE index
#include "index/vector_index.h"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <limits>

#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::index;

namespace {

constexpr uint32_t kDim = 16;

std::unique_ptr<VectorIndex> Filled(Metric metric, const std::vector<float>& base) {
  auto index = VectorIndex::Create(kDim, metric, "Flat").value();
  std::vector<float> prepared = base;
  PrepareVectors(metric, kDim, prepared);
  std::vector<uint64_t> ids(base.size() / kDim);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 100 + i;  // ids are not positions
  BOOST_TEST_REQUIRE(index->Add(ids, prepared).ok());
  return index;
}

void FlipByte(const std::filesystem::path& path, std::streamoff offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x5a));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CheckVectorTest)

BOOST_AUTO_TEST_CASE(GoodVectorPasses) {
  std::vector<float> v{1, 2, 3};
  BOOST_TEST(CheckVector(v, 3, Metric::kCosine).ok());
}

BOOST_AUTO_TEST_CASE(WrongSizeEmptyNanInfAndZeroAreRefused) {
  std::vector<float> wrong{1, 2};
  Status s = CheckVector(wrong, 3, Metric::kL2);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("2 values") != std::string::npos);
  BOOST_TEST(CheckVector(std::vector<float>{}, 3, Metric::kL2).code() ==
             Status::Code::kInvalidArgument);
  std::vector<float> nan{1, std::numeric_limits<float>::quiet_NaN(), 3};
  BOOST_TEST(std::string(CheckVector(nan, 3, Metric::kL2).message()).find("NaN") !=
             std::string::npos);
  std::vector<float> inf{1, 2, std::numeric_limits<float>::infinity()};
  BOOST_TEST(std::string(CheckVector(inf, 3, Metric::kL2).message()).find("infinite") !=
             std::string::npos);
  std::vector<float> zero{0, 0, 0};
  BOOST_TEST(CheckVector(zero, 3, Metric::kCosine).code() == Status::Code::kInvalidArgument);
  BOOST_TEST(CheckVector(zero, 3, Metric::kL2).ok());  // a point at the origin is fine for L2
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SearchTest)

BOOST_AUTO_TEST_CASE(ExactSearchEqualsBruteForceForEveryMetric) {
  const auto base = testutil::RandomVectors(500, kDim, 1);
  const auto queries = testutil::RandomVectors(20, kDim, 2);
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct, Metric::kL2}) {
    BOOST_TEST_CONTEXT("metric " << MetricName(metric)) {
      auto index = Filled(metric, base);
      std::vector<float> q = queries;
      PrepareVectors(metric, kDim, q);
      auto nb = index->Search(q, 10).value();
      for (size_t qi = 0; qi < 20; ++qi) {
        auto expected = testutil::BruteForce(metric, base, kDim, queries.data() + qi * kDim, 10);
        for (size_t j = 0; j < 10; ++j) {
          BOOST_TEST(nb.ids[qi * 10 + j] == static_cast<int64_t>(100 + expected[j]));
          double want = testutil::Score(metric, base.data() + expected[j] * kDim,
                                        queries.data() + qi * kDim, kDim);
          BOOST_TEST(nb.scores[qi * 10 + j] == want, boost::test_tools::tolerance(1e-3));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(CosineDistanceIsOneMinusScore) {
  auto index = Filled(Metric::kCosine, testutil::RandomVectors(50, kDim, 3));
  auto q = testutil::Normalised(testutil::RandomVectors(1, kDim, 4));
  auto nb = index->Search(q, 5).value();
  for (size_t j = 0; j < 5; ++j) {
    BOOST_TEST(nb.distances[j] == 1.0f - nb.scores[j], boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(nb.scores[j] <= 1.0f + 1e-5f);
  }
}

BOOST_AUTO_TEST_CASE(FewerVectorsThanKLeavesEmptySlots) {
  auto index = Filled(Metric::kL2, testutil::RandomVectors(3, kDim, 5));
  auto nb = index->Search(testutil::RandomVectors(1, kDim, 6), 5).value();
  BOOST_TEST(nb.ids[2] >= 0);
  BOOST_TEST(nb.ids[3] == -1);
  BOOST_TEST(nb.ids[4] == -1);
}

BOOST_AUTO_TEST_CASE(RemovedIdsAreNotFound) {
  const auto base = testutil::RandomVectors(30, kDim, 7);
  auto index = Filled(Metric::kL2, base);
  std::vector<uint64_t> gone{100, 105, 999};
  BOOST_TEST(index->Remove(gone).value() == 2u);
  BOOST_TEST(index->size() == 28u);
  BOOST_TEST(!index->Contains(100));
  BOOST_TEST(index->Contains(101));
  // Searching for a removed vector itself no longer finds it.
  std::vector<float> q(base.begin(), base.begin() + kDim);
  auto nb = index->Search(q, 28).value();
  for (int64_t id : nb.ids) BOOST_TEST(id != 100);
  // The remaining ids still map to their own vectors.
  auto v = index->Reconstruct(101).value();
  BOOST_TEST(v[0] == base[kDim]);
}

BOOST_AUTO_TEST_CASE(BadSpecsAreRefused) {
  auto bad = VectorIndex::Create(kDim, Metric::kCosine, "NoSuchIndex42");
  BOOST_TEST(bad.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(bad.error().message()).find("NoSuchIndex42") != std::string::npos);
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kCosine, "IDMap,Flat").error().code() ==
             Status::Code::kInvalidArgument);
  // Kinds FAISS 1.7.3 builds but that crash or cannot take batches and removals.
  for (std::string spec : {"HNSW1", "HNSW0", "HNSW1,SQ8", "HNSW99999999999", "NSG16,Flat",
                           "IVF16,PQ4x4fs", "PQ8x4fs", "IVF16,Flat,RFlat"}) {
    auto refused = VectorIndex::Create(kDim, Metric::kCosine, spec);
    BOOST_TEST(refused.error().code() == Status::Code::kInvalidArgument, spec);
    BOOST_TEST(std::string(refused.error().message()).find(spec) != std::string::npos, spec);
  }
  // A query may not ask for more neighbours than any index can give.
  auto flat = VectorIndex::Create(kDim, Metric::kCosine, "Flat").value();
  std::vector<float> q(kDim, 1.0f);
  BOOST_TEST(flat->Search(q, size_t{1} << 40).error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(flat->Search(q, SIZE_MAX).error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kCosine, "auto").value()->spec() == "Flat");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(CheckpointTest)

BOOST_AUTO_TEST_CASE(SavedIndexLoadsWithItsLastChange) {
  testutil::ScratchDir dir;
  const auto base = testutil::RandomVectors(200, kDim, 8);
  auto index = Filled(Metric::kCosine, base);
  const auto path = dir.path() / "c.faiss";
  BOOST_TEST_REQUIRE(index->Save(path, 7, 4242).ok());
  BOOST_TEST(!std::filesystem::exists(path.string() + ".tmp"));
  auto loaded = VectorIndex::Load(path, 7, kDim, Metric::kCosine, "Flat");
  BOOST_TEST_REQUIRE(loaded.has_value());
  BOOST_TEST(loaded->last_change == 4242u);
  BOOST_TEST(loaded->index->size() == 200u);
  BOOST_TEST(loaded->index->Ids() == index->Ids(), boost::test_tools::per_element());
  auto q = testutil::RandomVectors(1, kDim, 9);
  PrepareVectors(Metric::kCosine, kDim, q);
  BOOST_TEST(loaded->index->Search(q, 5).value().ids == index->Search(q, 5).value().ids,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(DamagedCheckpointsAreRefused) {
  testutil::ScratchDir dir;
  auto index = Filled(Metric::kL2, testutil::RandomVectors(100, kDim, 10));
  const auto path = dir.path() / "c.faiss";
  BOOST_TEST_REQUIRE(index->Save(path, 1, 10).ok());
  const auto size = std::filesystem::file_size(path);

  BOOST_TEST(
      VectorIndex::Load(dir.path() / "missing", 1, kDim, Metric::kL2, "Flat").error().code() ==
      Status::Code::kNotFound);
  // Another collection's or shape's checkpoint.
  BOOST_TEST(VectorIndex::Load(path, 2, kDim, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim + 1, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
  // One flipped byte in the middle of the vectors.
  FlipByte(path, static_cast<std::streamoff>(size / 2));
  auto flipped = VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat");
  BOOST_TEST(flipped.error().code() == Status::Code::kCorruption);
  BOOST_TEST(std::string(flipped.error().message()).find("checksum") != std::string::npos);
  // Truncated.
  BOOST_TEST_REQUIRE(index->Save(path, 1, 10).ok());
  std::filesystem::resize_file(path, size - 100);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
  std::filesystem::resize_file(path, 5);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
}

BOOST_AUTO_TEST_SUITE_END()
