#include "embed/embedder.h"

#include <boost/test/unit_test.hpp>
#include <cmath>

using namespace relate;
using namespace relate::embed;

namespace {

// king, queen, apple, the: small hand-made vectors with known means.
WordVectors Model() {
  WordVectors m;
  m.table = EmbeddingTable(0, 3);
  const std::vector<std::pair<std::string, std::vector<float>>> rows = {
      {"king", {1, 0, 0}}, {"queen", {0, 1, 0}}, {"apple", {0, 0, 1}}, {"the", {1, 1, 1}}};
  const uint64_t counts[] = {10, 10, 10, 970};
  for (size_t i = 0; i < rows.size(); ++i) {
    (void)m.vocabulary.Add(rows[i].first, counts[i]).value();
    m.table.AppendRow(rows[i].second);
  }
  return m;
}

double Norm(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  return std::sqrt(n);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(EmbedderTest)

BOOST_AUTO_TEST_CASE(TextVectorIsTheNormalisedMeanOfItsKnownWords) {
  auto model = Model();
  Embedder e(model, {});
  auto v = e.Embed("The KING, the Queen and a unicorn").value();  // "and", "a", "unicorn" unknown
  // mean of the, king, the, queen = (3, 3, 2) / 4, then normalised.
  const double n = std::sqrt(9.0 + 9.0 + 4.0);
  BOOST_TEST(v[0] == 3 / n, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(v[1] == 3 / n, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(v[2] == 2 / n, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(Norm(v) == 1.0, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(SifDownweightsFrequentWords) {
  auto model = Model();
  Embedder mean(model, {});
  Embedder sif(model, {.pooling = Pooling::kSif});
  auto m = mean.Embed("the the the apple").value();
  auto s = sif.Embed("the the the apple").value();
  // Under SIF "apple" (p = 0.01) outweighs three "the" (p = 0.97).
  BOOST_TEST(s[2] > m[2]);
  BOOST_TEST(s[2] > 0.9f);
}

BOOST_AUTO_TEST_CASE(ComponentRemovalHappensBeforeNormalising) {
  auto model = Model();
  Embedder e(model, {});
  const std::vector<float> x_axis{1, 0, 0};
  auto v = e.Embed("king queen", x_axis).value();
  BOOST_TEST(v[0] == 0.0f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(v[1] == 1.0f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(UnknownWordsUseTheOovFunctionWhenGiven) {
  auto model = Model();
  Embedder e(model, {}, [](std::string_view token) -> std::optional<std::vector<float>> {
    if (token == "kings") return std::vector<float>{2, 0, 0};
    return std::nullopt;
  });
  auto v = e.Embed("kings").value();
  BOOST_TEST(v[0] == 1.0f, boost::test_tools::tolerance(1e-6f));
  auto explained = e.Explain("kings unicorn").value();
  BOOST_TEST_REQUIRE(explained.size() == 2u);
  BOOST_TEST(explained[0].second);
  BOOST_TEST(!explained[1].second);
}

BOOST_AUTO_TEST_CASE(TextWithoutKnownWordsFailsClearlyInsteadOfZeros) {
  auto model = Model();
  Embedder e(model, {});
  auto none = e.Embed("unicorns and dragons");
  BOOST_TEST(none.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(none.error().message()).find("vocabulary") != std::string::npos);
  BOOST_TEST(e.Embed("").error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(e.Embed("!!! ...").error().code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(ReluOfOppositeWordsLeavesNoDirection) {
  WordVectors m;
  m.table = EmbeddingTable(0, 2);
  (void)m.vocabulary.Add("neg").value();
  m.table.AppendRow(std::vector<float>{-1, -2});
  Embedder e(m, {.activation = Activation::kRelu});
  auto r = e.Embed("neg");
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);  // zero after relu: no NaN
}

BOOST_AUTO_TEST_SUITE_END()
