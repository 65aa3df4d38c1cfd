// Inputs that bench/fuzz/fuzz_record found crashing or misbehaving in the decoders of
// stored values (storage/codec.h), each with what the decoder must do with it.
#include <boost/test/unit_test.hpp>
#include <string_view>
#include <vector>

#include "storage/codec.h"

using namespace relate;
using namespace relate::storage;

BOOST_AUTO_TEST_SUITE(CodecFuzzRegressionTest)

// fuzz_record input "\x9b": DecodeVector of an empty value passed the empty vector's
// null data() to memcpy (undefined behaviour, reported by UBSan).
BOOST_AUTO_TEST_CASE(EmptyVectorValueDecodesToNoValues) {
  std::vector<float> out = {1.0f, 2.0f};
  BOOST_TEST(DecodeVector(std::string_view(), &out).ok());
  BOOST_TEST(out.empty());
  std::vector<float> fresh;
  BOOST_TEST(DecodeVector("", &fresh).ok());
  BOOST_TEST(fresh.empty());
}

BOOST_AUTO_TEST_SUITE_END()
