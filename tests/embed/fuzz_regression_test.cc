// Inputs that the fuzz targets of bench/fuzz found crashing or misbehaving in the
// readers of word-vector and fastText files, each with what the reader must do with it.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "embed/fasttext_model.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::embed;

namespace {

// Writes `bytes` to `name` in a scratch directory and reads it as a fastText model.
struct FuzzCaseFiles {
  testutil::ScratchDir dir;

  std::filesystem::path Write(const std::string& name, std::string_view bytes) const {
    const std::filesystem::path path = dir.path() / name;
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
};

// A fastText 0.9.x file (format 12) with dim 2, n-grams of 3 and 4 characters, and
// the input matrix rows `words` (one per word) followed by `buckets` n-gram rows.
std::string FastTextFile(const std::vector<std::string>& words, const std::vector<float>& rows,
                         int32_t buckets) {
  std::string out;
  const auto put = [&out](const auto& value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(value));
  };
  put(int32_t{793712314});
  put(int32_t{12});
  for (int32_t field : {2, 5, 1, 1, 5, 1, 2, 2, buckets, 3, 4, 100}) put(field);
  put(1e-4);
  const auto n = static_cast<int32_t>(words.size());
  put(n);
  put(n);
  put(int32_t{0});
  put(int64_t{10});
  put(int64_t{-1});  // not pruned
  for (const std::string& w : words) {
    out += w;
    out += '\0';
    put(int64_t{3});
    put(int8_t{0});
  }
  put(false);  // input not quantized
  put(int64_t{n} + buckets);
  put(int64_t{2});
  for (float x : rows) put(x);
  put(false);  // output not quantized
  put(int64_t{0});
  put(int64_t{2});
  return out;
}

bool Contains(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string_view::npos;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(FuzzRegressionTest, FuzzCaseFiles)

// fuzz_fasttext_bin crash-1024154c: a file whose n-gram row 1 holds 2^127 (finite).
// A word with two n-grams in that row got an infinite vector, which would poison any
// text embedded with it.
BOOST_AUTO_TEST_CASE(FastTextWordWhoseNgramRowsOverflowIsCorruption) {
  const std::string crash(
      "\xba\x16\x4f\x2f\x0c\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00"
      "\x01\x00\x00\x00\x01\x00\x00\x00\x05\x00\x00\x00\x01\x00\x00\x00"
      "\x02\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x03\x00\x00\x00"
      "\x04\x00\x00\x00\x64\x00\x00\x00\x2d\x43\x1c\xeb\xe2\x36\x1a\x3f"
      "\x03\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x0a\x00\x00\x00"
      "\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x0e\x2f\x73\x3e"
      "\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x63\x61\x74\x00\x03\x00"
      "\x00\x00\x00\x00\x00\x00\x00\x5f\x5f\x6c\x61\x62\x65\x6c\x5f\x5f"
      "\x78\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x06\x00\x00\x00"
      "\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f"
      "\x00\x00\x00\x3f\x00\x00\x00\xc0\x00\x00\x80\x3e\x00\x00\x80\x3f"
      "\x00\x00\x80\x3f\x00\x00\x00\x3f\x00\x00\x00\x7f\x00\x00\x80\x3e"
      "\x00\x00\x80\x3e\x00\x00\x00\xc0\x00\x00\x80\x3f\x00\x02\x00\x00"
      "\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"
      "\x3f\x00\x00\x00\x3f\x00\x00\x00\xc0\x00\x00\x80\x3e",
      237);
  const Result<FastTextModel> model = FastTextModel::Read(Write("crash.bin", crash));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  const Result<std::vector<float>> cat = model->WordVector("cat");
  BOOST_TEST_REQUIRE(cat.has_value(), cat.error());
  BOOST_TEST((std::isfinite((*cat)[0]) && std::isfinite((*cat)[1])));
  for (const std::string word : {"catx", "relatedness"}) {
    const Result<std::vector<float>> v = model->WordVector(word);
    BOOST_TEST_REQUIRE(!v.has_value(), word << " got a vector");
    BOOST_TEST(v.error().code() == Status::Code::kCorruption);
    BOOST_TEST(Contains(v.error(), "n-gram rows of \"" + word + "\" add up beyond float32"),
               v.error());
  }
}

// The same overflow in a vocabulary word's vector, which Read computes: the file is
// refused, naming the word and the byte offset of its row.
BOOST_AUTO_TEST_CASE(FastTextVocabularyWordWhoseMeanOverflowsIsRefused) {
  // "ab" has the n-grams "<ab", "ab>" and "<ab>", all in the one bucket row (2^127, 0).
  const std::string bytes = FastTextFile({"ab"}, {1, 1, 0x1p127f, 0}, 1);
  const Result<FastTextModel> model = FastTextModel::Read(Write("overflow.bin", bytes));
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kCorruption);
  // Header 64 bytes, dictionary 28 + 12, the quantized flag, the matrix's rows and
  // columns: row 0 starts at byte 121.
  BOOST_TEST(Contains(model.error(), "overflow.bin: byte 121: the vector of word \"ab\""),
             model.error());
  BOOST_TEST(Contains(model.error(), "is not finite"), model.error());
}

// The same file with a value that does not overflow reads, with the mean fastText gives.
BOOST_AUTO_TEST_CASE(FastTextLargeButAddableRowsAreRead) {
  const std::string bytes = FastTextFile({"ab"}, {1, 1, 0x1p125f, 0}, 1);
  const Result<FastTextModel> model = FastTextModel::Read(Write("large.bin", bytes));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  const std::span<const float> row = model->words().table.Row(0);
  BOOST_TEST(row[0] == (1 + 3 * 0x1p125f) * static_cast<float>(1.0 / 4));
  BOOST_TEST(row[1] == 1 * static_cast<float>(1.0 / 4));
}

BOOST_AUTO_TEST_SUITE_END()
