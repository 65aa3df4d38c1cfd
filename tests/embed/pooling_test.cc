#include "embed/pooling.h"

#include <boost/test/unit_test.hpp>
#include <cmath>

#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::embed;

namespace {

EmbeddingTable Table(std::vector<std::vector<float>> rows) {
  EmbeddingTable t(0, static_cast<uint32_t>(rows[0].size()));
  for (const auto& r : rows) t.AppendRow(r);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(PoolingTest)

BOOST_AUTO_TEST_CASE(MeanPoolingAveragesRows) {
  auto t = Table({{1, 0, 2}, {3, 4, -2}, {100, 100, 100}});
  std::vector<uint32_t> ids{0, 1, 1};
  auto v = PoolRows(t, ids, {}, Activation::kNone).value();
  const std::vector<float> want{7.0f / 3, 8.0f / 3, -2.0f / 3};
  for (size_t i = 0; i < 3; ++i) BOOST_TEST(v[i] == want[i], boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(ActivationAppliesBeforePooling) {
  auto t = Table({{-1, 2}, {3, -4}});
  std::vector<uint32_t> ids{0, 1};
  BOOST_TEST(PoolRows(t, ids, {}, Activation::kRelu).value() == (std::vector<float>{1.5f, 1.0f}),
             boost::test_tools::per_element());
  auto tanh = PoolRows(t, ids, {}, Activation::kTanh).value();
  BOOST_TEST(tanh[0] == (std::tanh(-1.0f) + std::tanh(3.0f)) / 2,
             boost::test_tools::tolerance(1e-6f));
  BOOST_TEST((ParseActivation("relu").value() == Activation::kRelu));
  BOOST_TEST(ParseActivation("sigmoid").error().code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(SifWeightsFavourRareWords) {
  Vocabulary v;
  (void)v.Add("the", 990).value();
  (void)v.Add("aardvark", 10).value();
  auto w = SifWeights(v, 1e-3);
  BOOST_TEST(w[0] == 1e-3 / (1e-3 + 0.99), boost::test_tools::tolerance(1e-5));
  BOOST_TEST(w[1] == 1e-3 / (1e-3 + 0.01), boost::test_tools::tolerance(1e-5));
  auto t = Table({{1, 0}, {0, 1}});
  std::vector<uint32_t> ids{0, 1};
  auto pooled = PoolRows(t, ids, w, Activation::kNone).value();
  BOOST_TEST(pooled[1] > 50 * pooled[0]);  // the rare word dominates
}

BOOST_AUTO_TEST_CASE(EmptyTextHasNoVectorRatherThanZeros) {
  auto t = Table({{1, 0}});
  BOOST_TEST(PoolRows(t, {}, {}, Activation::kNone).error().code() ==
             Status::Code::kInvalidArgument);
  std::vector<float> zero{0, 0};
  BOOST_TEST(Normalize(zero).code() == Status::Code::kInvalidArgument);
  std::vector<float> v{3, 4};
  BOOST_TEST(Normalize(v).ok());
  BOOST_TEST(v == (std::vector<float>{0.6f, 0.8f}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(FirstComponentIsFoundAndRemoved) {
  // Points spread along (1, 1, 0)/sqrt(2) with small noise.
  const uint32_t dim = 3;
  auto noise = testutil::RandomVectors(200, dim, 5);
  std::vector<float> points;
  for (size_t i = 0; i < 200; ++i) {
    const float t = static_cast<float>(i) - 100.0f;
    points.push_back(t + 0.01f * noise[i * dim]);
    points.push_back(t + 0.01f * noise[i * dim + 1]);
    points.push_back(0.01f * noise[i * dim + 2]);
  }
  auto pc = FirstPrincipalComponent(points, dim);
  BOOST_TEST_REQUIRE(pc.size() == 3u);
  BOOST_TEST(std::abs(pc[0]) == 1 / std::sqrt(2.0f), boost::test_tools::tolerance(1e-3f));
  BOOST_TEST(std::abs(pc[1]) == 1 / std::sqrt(2.0f), boost::test_tools::tolerance(1e-3f));
  std::vector<float> v{2, 2, 5};
  RemoveComponent(v, pc);
  BOOST_TEST(v[0] == 0.0f, boost::test_tools::tolerance(1e-2f));
  BOOST_TEST(v[2] == 5.0f, boost::test_tools::tolerance(1e-2f));
}

BOOST_AUTO_TEST_SUITE_END()
