#include <boost/test/unit_test.hpp>

#include "embed/embedding_table.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::embed;

BOOST_AUTO_TEST_SUITE(EmbeddingTableTest)

BOOST_AUTO_TEST_CASE(VocabularyMapsTokensToDenseIds) {
  Vocabulary v;
  BOOST_TEST(v.Add("cat", 5).value() == 0u);
  BOOST_TEST(v.Add("dog").value() == 1u);
  BOOST_TEST(v.Add("cat").error().code() == Status::Code::kAlreadyExists);
  BOOST_TEST(v.Find("dog").value() == 1u);
  BOOST_TEST(!v.Find("cow").has_value());
  BOOST_TEST(v.Token(0) == "cat");
  BOOST_TEST(v.Count(0) == 5u);
  BOOST_TEST(v.size() == 2u);
}

BOOST_AUTO_TEST_CASE(RowLookupEqualsOneHotTimesW) {
  const size_t rows = 7;
  const uint32_t dim = 5;
  auto values = testutil::RandomVectors(rows, dim, 3);
  EmbeddingTable w(0, dim);
  for (size_t r = 0; r < rows; ++r)
    w.AppendRow(std::span<const float>(values.data() + r * dim, dim));
  BOOST_TEST_REQUIRE(w.rows() == rows);
  for (uint32_t token = 0; token < rows; ++token) {
    // one-hot(token) x W, computed as the full vector-matrix product.
    std::vector<float> one_hot(rows, 0.0f);
    one_hot[token] = 1.0f;
    std::vector<float> product(dim, 0.0f);
    for (size_t r = 0; r < rows; ++r) {
      for (uint32_t c = 0; c < dim; ++c) product[c] += one_hot[r] * values[r * dim + c];
    }
    auto row = w.Row(token);
    BOOST_TEST(std::vector<float>(row.begin(), row.end()) == product,
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_SUITE_END()
