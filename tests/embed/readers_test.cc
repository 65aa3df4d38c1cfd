#include <boost/test/unit_test.hpp>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "embed/vector_readers.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::embed;
namespace fs = std::filesystem;

namespace {

const fs::path kGensim = RELATE_TEST_DATA "/vectors/gensim-testdata";

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The little-endian float32 at `offset` of `bytes`.
float FloatAt(const std::string& bytes, size_t offset) {
  uint32_t bits = 0;
  for (int i = 3; i >= 0; --i) bits = (bits << 8) | static_cast<unsigned char>(bytes[offset + i]);
  float f = 0;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

std::vector<float> RowOf(const WordVectors& v, std::string_view token) {
  const auto id = v.vocabulary.Find(token);
  BOOST_TEST_REQUIRE(id.has_value(), "no token " << token);
  const auto row = v.table.Row(*id);
  return {row.begin(), row.end()};
}

// A word2vec binary row: "token " + little-endian float32 values (+ '\n').
std::string BinaryRow(std::string_view token, const std::vector<float>& values,
                      bool newline = true) {
  std::string s(token);
  s += ' ';
  for (float v : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    for (int i = 0; i < 4; ++i) s += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
  if (newline) s += '\n';
  return s;
}

void ExpectSameVectors(const WordVectors& a, const WordVectors& b) {
  BOOST_TEST_REQUIRE(a.vocabulary.size() == b.vocabulary.size());
  for (uint32_t id = 0; id < a.vocabulary.size(); ++id) {
    BOOST_TEST_REQUIRE(a.vocabulary.Token(id) == b.vocabulary.Token(id));
  }
  BOOST_TEST_REQUIRE(a.table.dim() == b.table.dim());
  BOOST_TEST_REQUIRE(a.table.data().size() == b.table.data().size());
  // Bit-identical, so -0.0 and 0.0 differ and NaN would not compare equal to itself.
  BOOST_TEST(std::memcmp(a.table.data().data(), b.table.data().data(),
                         a.table.data().size() * sizeof(float)) == 0);
}

// A scratch directory to write small vector files into.
struct ScratchFiles {
  testutil::ScratchDir dir;

  fs::path Write(const std::string& name, std::string_view bytes) const {
    fs::path path = dir.path() / name;
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  // The message of the InvalidArgument that reading `bytes` as `format` fails with.
  std::string ReadError(std::string_view bytes, VectorFormat format = VectorFormat::kAuto,
                        const std::string& name = "bad.txt") const {
    const fs::path path = Write(name, bytes);
    const Result<WordVectors> r = ReadWordVectors(path, format);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument, r.error());
    return std::string(r.error().message());
  }

  std::string Prefix(const std::string& name = "bad.txt") const {
    return (dir.path() / name).string();
  }

  size_t FileCount() const {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir.path()), {}));
  }
};

WordVectors MakeVectors(const std::vector<std::pair<std::string, std::vector<float>>>& rows) {
  WordVectors v;
  v.table = EmbeddingTable(0, static_cast<uint32_t>(rows.front().second.size()));
  for (const auto& [token, values] : rows) {
    BOOST_TEST_REQUIRE(v.vocabulary.Add(token).has_value());
    v.table.AppendRow(values);
  }
  return v;
}

// Values a float32 writer gets wrong if it loses a bit: signed zero, subnormals, the
// extremes, thirds, and Gaussian noise.
WordVectors TrickyVectors() {
  const uint32_t dim = 8;
  const std::vector<std::string> tokens = {"the", "ö", "日本語", "a.b-c_d", "</s>", "x"};
  const std::vector<float> noise = testutil::RandomVectors(tokens.size(), dim, 11);
  WordVectors v;
  v.table = EmbeddingTable(0, dim);
  for (size_t i = 0; i < tokens.size(); ++i) {
    BOOST_TEST_REQUIRE(v.vocabulary.Add(tokens[i]).has_value());
    std::vector<float> row(noise.begin() + static_cast<ptrdiff_t>(i * dim),
                           noise.begin() + static_cast<ptrdiff_t>((i + 1) * dim));
    v.table.AppendRow(row);
  }
  const float special[] = {
      -0.0f,  0.0f,    FLT_MIN,     -FLT_MIN, FLT_MAX,   -FLT_MAX, FLT_TRUE_MIN,  1.0f / 3.0f,
      1e-42f, -1e-38f, 16777217.0f, 0.1f,     123456.7f, -2.5e-9f, 3.4028233e38f, 7.0f};
  for (size_t k = 0; k < std::size(special); ++k) {
    v.table.MutableRow(static_cast<uint32_t>(k / dim))[k % dim] = special[k];
  }
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(DetectVectorFormatTest)

BOOST_AUTO_TEST_CASE(GensimFilesAreDetectedAsTheirFormats) {
  const std::pair<const char*, VectorFormat> cases[] = {
      {"test_glove.txt", VectorFormat::kGloveText},
      {"word2vec_pre_kv_c", VectorFormat::kWord2VecText},
      {"euclidean_vectors.bin", VectorFormat::kWord2VecBinary},
      {"lee_fasttext.vec", VectorFormat::kWord2VecText},
      {"toy-model.vec", VectorFormat::kWord2VecText},
      {"crime-and-punishment.vec", VectorFormat::kWord2VecText},
      {"pang_lee_polarity_fasttext.vec", VectorFormat::kWord2VecText},
      {"high_precision.kv.txt", VectorFormat::kWord2VecText},
      {"high_precision.kv.bin", VectorFormat::kWord2VecBinary},
      {"EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", VectorFormat::kWord2VecText},
  };
  for (const auto& [name, format] : cases) {
    const Result<VectorFormat> detected = DetectVectorFormat(kGensim / name);
    BOOST_TEST_REQUIRE(detected.has_value(), name << ": " << detected.error());
    BOOST_TEST(VectorFormatName(*detected) == VectorFormatName(format), name);
  }
}

BOOST_AUTO_TEST_CASE(WrittenFilesAreDetectedAsTheirFormats) {
  ScratchFiles files;
  const WordVectors v = TrickyVectors();
  const fs::path text = files.dir.path() / "v.txt";
  const fs::path binary = files.dir.path() / "v.bin";
  BOOST_TEST_REQUIRE(WriteWord2VecText(text, v).ok());
  BOOST_TEST_REQUIRE(WriteWord2VecBinary(binary, v).ok());
  BOOST_TEST((DetectVectorFormat(text).value() == VectorFormat::kWord2VecText));
  BOOST_TEST((DetectVectorFormat(binary).value() == VectorFormat::kWord2VecBinary));
}

BOOST_AUTO_TEST_CASE(EmptyFileIsRejectedNamingIt) {
  ScratchFiles files;
  const fs::path path = files.Write("empty.txt", "");
  const Result<VectorFormat> r = DetectVectorFormat(path);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(r.error().message() == path.string() + ": file is empty");
}

BOOST_AUTO_TEST_CASE(MissingFileIsNotFound) {
  ScratchFiles files;
  const Result<VectorFormat> r = DetectVectorFormat(files.dir.path() / "nope.vec");
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == Status::Code::kNotFound);
  BOOST_TEST(ReadWordVectors(files.dir.path() / "nope.vec").error().code() ==
             Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(FastTextModelIsRejectedWithAHint) {
  const fs::path path = kGensim / "toy-model.bin";
  const Result<WordVectors> r = ReadWordVectors(path);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);
  const std::string m(r.error().message());
  BOOST_TEST(m.find(path.string() + ": is a fastText model, not a word-vector file") == 0u, m);
}

BOOST_AUTO_TEST_CASE(ProseIsRejectedAsNeitherFormat) {
  ScratchFiles files;
  const std::string m = files.ReadError("hello world, these are not vectors\n");
  BOOST_TEST(m.find(files.Prefix() + ":1: neither a word2vec header") == 0u, m);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ReadWordVectorsTest)

BOOST_AUTO_TEST_CASE(ReadGloveGivesEveryRowWithTheFileValues) {
  const Result<WordVectors> r = ReadWordVectors(kGensim / "test_glove.txt");
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 76u);
  BOOST_TEST(r->table.rows() == 76u);
  BOOST_TEST(r->table.dim() == 50u);
  // Values copied from the file with `head` and `sed -n 76p`.
  BOOST_TEST(r->vocabulary.Token(0) == "the");
  BOOST_TEST(r->vocabulary.Count(0) == 0u);
  BOOST_TEST(r->table.Row(0)[0] == 0.418f);
  BOOST_TEST(r->table.Row(0)[1] == 0.24968f);
  BOOST_TEST(r->table.Row(0)[2] == -0.41242f);
  BOOST_TEST(r->table.Row(0)[49] == -0.78581f);
  BOOST_TEST(r->vocabulary.Token(1) == "ö");
  BOOST_TEST(r->table.Row(1)[0] == 0.013441f);
  BOOST_TEST(r->vocabulary.Token(75) == "into");
  BOOST_TEST(r->table.Row(75)[0] == 0.66749f);
  BOOST_TEST(r->table.Row(75)[49] == -1.1741f);
}

BOOST_AUTO_TEST_CASE(ReadWord2VecTextGivesTheRowsItsHeaderCounts) {
  // The file's header is "1750 10": it holds 10-dimensional vectors.
  const Result<WordVectors> r = ReadWordVectors(kGensim / "word2vec_pre_kv_c");
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 1750u);
  BOOST_TEST(r->table.rows() == 1750u);
  BOOST_TEST(r->table.dim() == 10u);
  BOOST_TEST(r->vocabulary.Token(0) == "the");
  BOOST_TEST(r->table.Row(0)[0] == -0.561106f);
  BOOST_TEST(r->table.Row(0)[9] == -1.416105f);
  BOOST_TEST(r->vocabulary.Token(1749) == "indonesian");
  BOOST_TEST(r->table.Row(1749)[9] == -0.132753f);
}

BOOST_AUTO_TEST_CASE(ReadWord2VecBinaryGivesTheBitsOfTheFile) {
  const fs::path path = kGensim / "euclidean_vectors.bin";
  const std::string bytes = ReadBytes(path);
  const Result<WordVectors> r = ReadWordVectors(path);
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 2747u);
  BOOST_TEST(r->table.rows() == 2747u);
  BOOST_TEST(r->table.dim() == 10u);
  // "2747 10\n" then "the " then its 10 floats: rows are not separated by newlines here.
  BOOST_TEST(r->vocabulary.Token(0) == "the");
  BOOST_TEST(r->vocabulary.Token(1) == "to");
  BOOST_TEST(r->vocabulary.Token(2746) == "fly");
  for (size_t k = 0; k < 10; ++k) {
    BOOST_TEST(r->table.Row(0)[k] == FloatAt(bytes, 12 + 4 * k));
    BOOST_TEST(r->table.Row(2746)[k] == FloatAt(bytes, bytes.size() - 40 + 4 * k));
  }
}

BOOST_AUTO_TEST_CASE(ReadFastTextVecFilesAsWord2VecText) {
  const Result<WordVectors> lee = ReadWordVectors(kGensim / "lee_fasttext.vec");
  BOOST_TEST_REQUIRE(lee.has_value(), lee.error());
  BOOST_TEST(lee->vocabulary.size() == 1762u);
  BOOST_TEST(lee->table.dim() == 10u);
  BOOST_TEST(RowOf(*lee, "the")[0] == -0.65992f);
  BOOST_TEST(lee->vocabulary.Token(1761) == "hundred");
  BOOST_TEST(lee->table.Row(1761)[9] == 0.060007f);

  const Result<WordVectors> toy = ReadWordVectors(kGensim / "toy-model.vec");
  BOOST_TEST_REQUIRE(toy.has_value(), toy.error());
  BOOST_TEST(toy->vocabulary.size() == 22u);
  BOOST_TEST(toy->table.dim() == 5u);
  const std::vector<float> the = {0.068811f, 0.26619f, 0.026622f, -0.2588f, -0.00044401f};
  BOOST_TEST(RowOf(*toy, "the") == the, boost::test_tools::per_element());
  BOOST_TEST(toy->vocabulary.Token(21) == "by");
  BOOST_TEST(toy->table.Row(21)[4] == 0.006166f);
}

BOOST_AUTO_TEST_CASE(ReadCyrillicVecKeepsUtf8Tokens) {
  const Result<WordVectors> r = ReadWordVectors(kGensim / "crime-and-punishment.vec");
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 291u);
  BOOST_TEST(r->table.dim() == 5u);
  BOOST_TEST(r->vocabulary.Token(0) == "и");
  BOOST_TEST(r->table.Row(0)[0] == -0.11189f);
  BOOST_TEST(r->table.Row(0)[4] == -0.022506f);
}

BOOST_AUTO_TEST_CASE(ReadLatin1VecFailsNamingTheFirstNonUtf8Token) {
  // This gensim file's tokens are cp1252 ("clich\xe9s"); line 150 is an em dash, 0x97.
  const fs::path path = kGensim / "pang_lee_polarity_fasttext.vec";
  const Result<WordVectors> r = ReadWordVectors(path);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(r.error().message() ==
             path.string() + R"(:150: token "\x97" is not valid UTF-8 (byte 0))");
}

BOOST_AUTO_TEST_CASE(ReadFloat64TextRoundsToTheNearestFloat32) {
  const Result<WordVectors> r = ReadWordVectors(kGensim / "high_precision.kv.txt");
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 2u);
  BOOST_TEST(r->table.dim() == 2u);
  BOOST_TEST(RowOf(*r, "kangaroo.n.01")[0] == -0.0007369244245224787f);
  BOOST_TEST(RowOf(*r, "kangaroo.n.01")[1] == -8.269973595356034e-05f);
  BOOST_TEST(RowOf(*r, "horse.n.01")[0] == -0.0008546282343595379f);
  BOOST_TEST(RowOf(*r, "horse.n.01")[1] == 0.0007694142576316829f);

  const Result<WordVectors> wide =
      ReadWordVectors(kGensim / "EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt");
  BOOST_TEST_REQUIRE(wide.has_value(), wide.error());
  BOOST_TEST(wide->vocabulary.size() == 20u);
  BOOST_TEST(wide->table.dim() == 300u);
  BOOST_TEST(RowOf(*wide, "one")[0] == -1.671300083398818970e-02f);
  BOOST_TEST(RowOf(*wide, "one")[1] == 7.239600270986557007e-02f);
}

BOOST_AUTO_TEST_CASE(ReadHighPrecisionBinaryGivesTheFileBits) {
  const fs::path path = kGensim / "high_precision.kv.bin";
  const std::string bytes = ReadBytes(path);
  const Result<WordVectors> r = ReadWordVectors(path);
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 2u);
  BOOST_TEST(r->table.dim() == 2u);
  // "2 2\n" "kangaroo.n.01 " (offset 4, floats at 18) "horse.n.01 " (floats at 37).
  BOOST_TEST(RowOf(*r, "kangaroo.n.01")[0] == FloatAt(bytes, 18));
  BOOST_TEST(RowOf(*r, "kangaroo.n.01")[1] == FloatAt(bytes, 22));
  BOOST_TEST(RowOf(*r, "horse.n.01")[0] == FloatAt(bytes, 37));
  BOOST_TEST(RowOf(*r, "horse.n.01")[1] == FloatAt(bytes, 41));
  // The binary file stores the text file's values at reduced precision.
  const WordVectors text = ReadWordVectors(kGensim / "high_precision.kv.txt").value();
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(std::abs(r->table.data()[i] - text.table.data()[i]) < 1e-6f);
  }
}

BOOST_AUTO_TEST_CASE(ReadGloveAsWord2VecTextFailsAtTheHeader) {
  const fs::path path = kGensim / "test_glove.txt";
  const Result<WordVectors> r = ReadWordVectors(path, VectorFormat::kWord2VecText);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument);
  const std::string m(r.error().message());
  BOOST_TEST(m.find(path.string() + ":1: expected a word2vec header") == 0u, m);
}

BOOST_AUTO_TEST_CASE(ProgressIsReportedUpToTheFileSize) {
  for (const char* name : {"lee_fasttext.vec", "test_glove.txt", "euclidean_vectors.bin"}) {
    const uint64_t size = fs::file_size(kGensim / name);
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    const Result<WordVectors> r =
        ReadWordVectors(kGensim / name, VectorFormat::kAuto,
                        [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
    BOOST_TEST_REQUIRE(r.has_value(), r.error());
    BOOST_TEST_REQUIRE(!calls.empty(), name);
    for (size_t i = 0; i < calls.size(); ++i) {
      BOOST_TEST(calls[i].second == size);
      BOOST_TEST(calls[i].first <= size);
      if (i > 0) BOOST_TEST(calls[i].first >= calls[i - 1].first);
    }
    BOOST_TEST(calls.back().first == size, name);
  }
}

BOOST_AUTO_TEST_CASE(ByteOrderMarkCrlfTabsAndTrailingBlankLinesAreAccepted) {
  ScratchFiles files;
  const fs::path path = files.Write("crlf.txt",
                                    "\xef\xbb\xbf"
                                    "2 3\r\nhello\t1 2.5 -3 \r\nworld 4\t5 6\r\n\r\n\n");
  const Result<WordVectors> r = ReadWordVectors(path);
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 2u);
  const std::vector<float> hello = {1.0f, 2.5f, -3.0f};
  const std::vector<float> world = {4.0f, 5.0f, 6.0f};
  BOOST_TEST(RowOf(*r, "hello") == hello, boost::test_tools::per_element());
  BOOST_TEST(RowOf(*r, "world") == world, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(TinyValuesUnderflowAndPlusSignsParse) {
  ScratchFiles files;
  const fs::path path = files.Write("tiny.txt", "a 1e-50 -1e-50 1e-40 +1.5 .25\n");
  const Result<WordVectors> r = ReadWordVectors(path);
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  const std::vector<float> a = RowOf(*r, "a");
  BOOST_TEST(a[0] == 0.0f);
  BOOST_TEST(!std::signbit(a[0]));
  BOOST_TEST(a[1] == 0.0f);
  BOOST_TEST(std::signbit(a[1]));
  BOOST_TEST(a[2] == 1e-40f);
  BOOST_TEST(a[3] == 1.5f);
  BOOST_TEST(a[4] == 0.25f);
}

BOOST_AUTO_TEST_CASE(EmptyHeaderCountGivesEmptyVectors) {
  ScratchFiles files;
  const Result<WordVectors> r = ReadWordVectors(files.Write("none.txt", "0 300\n"));
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST(r->vocabulary.size() == 0u);
  BOOST_TEST(r->table.dim() == 300u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(WriteWordVectorsTest)

BOOST_AUTO_TEST_CASE(WriteTextThenReadGivesIdenticalVocabularyAndBits) {
  ScratchFiles files;
  const WordVectors v = TrickyVectors();
  const fs::path path = files.dir.path() / "out.txt";
  BOOST_TEST_REQUIRE(WriteWord2VecText(path, v).ok());
  const Result<WordVectors> back = ReadWordVectors(path, VectorFormat::kWord2VecText);
  BOOST_TEST_REQUIRE(back.has_value(), back.error());
  ExpectSameVectors(v, *back);
}

BOOST_AUTO_TEST_CASE(WriteBinaryThenReadGivesIdenticalVocabularyAndBits) {
  ScratchFiles files;
  const WordVectors v = TrickyVectors();
  const fs::path path = files.dir.path() / "out.bin";
  BOOST_TEST_REQUIRE(WriteWord2VecBinary(path, v).ok());
  const Result<WordVectors> back = ReadWordVectors(path, VectorFormat::kWord2VecBinary);
  BOOST_TEST_REQUIRE(back.has_value(), back.error());
  ExpectSameVectors(v, *back);
}

BOOST_AUTO_TEST_CASE(GensimFilesSurviveWriteAndReadInBothFormats) {
  ScratchFiles files;
  for (const char* name : {"lee_fasttext.vec", "euclidean_vectors.bin", "test_glove.txt"}) {
    const WordVectors v = ReadWordVectors(kGensim / name).value();
    const fs::path text = files.dir.path() / "copy.txt";
    const fs::path binary = files.dir.path() / "copy.bin";
    BOOST_TEST_REQUIRE(WriteWord2VecText(text, v).ok());
    BOOST_TEST_REQUIRE(WriteWord2VecBinary(binary, v).ok());
    ExpectSameVectors(v, ReadWordVectors(text).value());
    ExpectSameVectors(v, ReadWordVectors(binary).value());
  }
}

BOOST_AUTO_TEST_CASE(FilesLargerThanTheReadBufferRoundTrip) {
  // Several MiB, so rows straddle the reader's 1 MiB chunks, plus one row longer than a
  // chunk, which makes the buffer grow.
  ScratchFiles files;
  const uint32_t dim = 100;
  const size_t rows = 4000;
  const std::vector<float> values = testutil::RandomVectors(rows, dim, 5);
  WordVectors v;
  v.table = EmbeddingTable(0, dim);
  for (size_t i = 0; i < rows; ++i) {
    BOOST_TEST_REQUIRE(v.vocabulary.Add("w" + std::to_string(i)).has_value());
    v.table.AppendRow(std::span<const float>(values.data() + i * dim, dim));
  }
  WordVectors wide;
  wide.table = EmbeddingTable(0, 300000);
  BOOST_TEST_REQUIRE(wide.vocabulary.Add("wide").has_value());
  wide.table.AppendRow(testutil::RandomVectors(1, 300000, 6));
  for (const WordVectors* w : {&v, &wide}) {
    const fs::path text = files.dir.path() / "big.txt";
    const fs::path binary = files.dir.path() / "big.bin";
    BOOST_TEST_REQUIRE(WriteWord2VecText(text, *w).ok());
    BOOST_TEST_REQUIRE(WriteWord2VecBinary(binary, *w).ok());
    BOOST_TEST(fs::file_size(binary) > (size_t{1} << 20));
    ExpectSameVectors(*w, ReadWordVectors(text).value());
    ExpectSameVectors(*w, ReadWordVectors(binary).value());
    // The same rows without the header are GloVe.
    const std::string bytes = ReadBytes(text);
    const fs::path glove = files.Write("big.glove", bytes.substr(bytes.find('\n') + 1));
    ExpectSameVectors(*w, ReadWordVectors(glove).value());
  }
}

BOOST_AUTO_TEST_CASE(WriteTextProducesWord2VecTextLayout) {
  ScratchFiles files;
  const fs::path path = files.dir.path() / "small.txt";
  BOOST_TEST_REQUIRE(
      WriteWord2VecText(path, MakeVectors({{"a", {1.0f, 0.5f}}, {"b", {-2.0f, 0.1f}}})).ok());
  BOOST_TEST(ReadBytes(path) == "2 2\na 1 0.5\nb -2 0.1\n");
}

BOOST_AUTO_TEST_CASE(WriteBinaryProducesWord2VecCLayout) {
  ScratchFiles files;
  const fs::path path = files.dir.path() / "small.bin";
  BOOST_TEST_REQUIRE(
      WriteWord2VecBinary(path, MakeVectors({{"a", {1.0f, 0.5f}}, {"bc", {-2.0f, 0.1f}}})).ok());
  BOOST_TEST(ReadBytes(path) ==
             "2 2\n" + BinaryRow("a", {1.0f, 0.5f}) + BinaryRow("bc", {-2.0f, 0.1f}));
}

BOOST_AUTO_TEST_CASE(WriteReplacesAnExistingFileAndLeavesNoTemporary) {
  ScratchFiles files;
  const fs::path path = files.Write("out.txt", "old contents");
  BOOST_TEST_REQUIRE(WriteWord2VecText(path, MakeVectors({{"a", {1.0f}}})).ok());
  BOOST_TEST(ReadBytes(path) == "1 1\na 1\n");
  BOOST_TEST(files.FileCount() == 1u);
}

BOOST_AUTO_TEST_CASE(WriteRefusesUnreadableTokensAndLeavesTheTargetAlone) {
  ScratchFiles files;
  const fs::path path = files.Write("out.txt", "old contents");
  for (const char* token : {"two words", "tab\there", "new\nline", "bad\xff"}) {
    const WordVectors v = MakeVectors({{"ok", {1.0f}}, {token, {2.0f}}});
    for (const Status& s : {WriteWord2VecText(path, v), WriteWord2VecBinary(path, v)}) {
      BOOST_TEST(s.code() == Status::Code::kInvalidArgument, s);
      const std::string m(s.message());
      BOOST_TEST(m.find("cannot write " + path.string() + ": row 2: token") == 0u, m);
    }
  }
  BOOST_TEST(ReadBytes(path) == "old contents");
  BOOST_TEST(files.FileCount() == 1u);
}

BOOST_AUTO_TEST_CASE(WriteRefusesNonFiniteValuesAndWritesNothing) {
  ScratchFiles files;
  const fs::path path = files.dir.path() / "out.bin";
  const WordVectors v =
      MakeVectors({{"a", {1.0f, 2.0f}}, {"b", {3.0f, std::numeric_limits<float>::quiet_NaN()}}});
  const Status s = WriteWord2VecBinary(path, v);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(s.message() ==
             "cannot write " + path.string() + ": value 2 of row 2 (\"b\") is not finite");
  BOOST_TEST(files.FileCount() == 0u);
}

BOOST_AUTO_TEST_CASE(WriteRefusesAVocabularyThatDoesNotMatchTheTable) {
  ScratchFiles files;
  WordVectors v = MakeVectors({{"a", {1.0f, 2.0f}}});
  BOOST_TEST_REQUIRE(v.vocabulary.Add("b").has_value());
  const Status s = WriteWord2VecText(files.dir.path() / "out.txt", v);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("2 tokens but the table 1 rows") != std::string::npos,
             s);
  BOOST_TEST(files.FileCount() == 0u);
}

BOOST_AUTO_TEST_CASE(WriteIntoAMissingDirectoryFailsAndCreatesNothing) {
  ScratchFiles files;
  const Status s =
      WriteWord2VecText(files.dir.path() / "no" / "such" / "out.txt", MakeVectors({{"a", {1}}}));
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.code() == Status::Code::kNotFound, s);
  BOOST_TEST(files.FileCount() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(BadVectorFileTest)

BOOST_AUTO_TEST_CASE(HeaderCountAboveRowsNamesTheLastLine) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("3 2\na 1 2\nb 3 4\n") ==
             f.Prefix() + ":3: file ends after 2 rows, header says 3");
}

BOOST_AUTO_TEST_CASE(HeaderCountBelowRowsNamesTheFirstExtraLine) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("1 2\na 1 2\nb 3 4\n") ==
             f.Prefix() + ":3: more rows than the header says (1)");
}

BOOST_AUTO_TEST_CASE(RowWithTooFewOrTooManyValuesNamesItsLine) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("2 3\na 1 2 3\nb 1 2\n") ==
             f.Prefix() + ":3: row has 2 values, header says 3");
  BOOST_TEST(f.ReadError("2 3\na 1 2 3\nb 1 2 3 4\n") ==
             f.Prefix() + ":3: row has 4 values, header says 3");
  BOOST_TEST(f.ReadError("a 1 2\nb 1 2\nc 1 2 3\n") ==
             f.Prefix() + ":3: row has 3 values, line 1 has 2");
}

BOOST_AUTO_TEST_CASE(UnparsableValueNamesItsLineAndText) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("1 2\na 1 0.5x\n") == f.Prefix() + ":2: value 2 \"0.5x\" is not a number");
  // A decimal comma is refused whatever the locale.
  BOOST_TEST(f.ReadError("a 1 2\nb 1,5 2\n") == f.Prefix() + ":2: value 1 \"1,5\" is not a number");
  BOOST_TEST(f.ReadError("1 2\na 0x10 1\n", VectorFormat::kWord2VecText) ==
             f.Prefix() + ":2: value 1 \"0x10\" is not a number");
}

BOOST_AUTO_TEST_CASE(NanInfinityAndOverflowAreRejected) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("2 2\na 1 2\nb nan 2\n") == f.Prefix() + ":3: value 1 \"nan\" is NaN");
  BOOST_TEST(f.ReadError("2 2\na 1 2\nb 1 -Infinity\n") ==
             f.Prefix() + ":3: value 2 \"-Infinity\" is infinite");
  BOOST_TEST(f.ReadError("a 1 2\nb 1 1e39\n") ==
             f.Prefix() + ":2: value 2 \"1e39\" is out of float32 range");
}

BOOST_AUTO_TEST_CASE(DuplicateTokenNamesBothLines) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("3 1\na 1\nb 2\na 3\n") ==
             f.Prefix() + ":4: token \"a\" appears twice: also on line 2");
  BOOST_TEST(f.ReadError("a 1\nb 2\nb 3\n") ==
             f.Prefix() + ":3: token \"b\" appears twice: also on line 2");
}

BOOST_AUTO_TEST_CASE(InvalidUtf8TokenNamesItsLine) {
  ScratchFiles f;
  const std::pair<const char*, const char*> cases[] = {
      {"\xff", R"("\xff" is not valid UTF-8 (byte 0))"},
      {"ab\xc0\xaf", R"("ab\xc0\xaf" is not valid UTF-8 (byte 2))"},      // overlong '/'
      {"\xed\xa0\x80", R"("\xed\xa0\x80" is not valid UTF-8 (byte 0))"},  // surrogate
      {"caf\xc3", R"("caf\xc3" is not valid UTF-8 (byte 3))"},            // cut short
  };
  for (const auto& [token, what] : cases) {
    BOOST_TEST(f.ReadError("2 1\nok 1\n" + std::string(token) + " 2\n") ==
               f.Prefix() + ":3: token " + what);
  }
}

BOOST_AUTO_TEST_CASE(EmptyLineBetweenRowsIsRejected) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("2 1\na 1\n\nb 2\n") == f.Prefix() + ":3: empty line between rows");
}

BOOST_AUTO_TEST_CASE(BadHeaderIsRejectedAtLineOne) {
  ScratchFiles f;
  BOOST_TEST(f.ReadError("two 2\na 1 2\n", VectorFormat::kWord2VecText) ==
             f.Prefix() + ":1: expected a word2vec header \"<rows> <dimension>\", found \"two 2\"");
  BOOST_TEST(f.ReadError("1 0\na\n") ==
             f.Prefix() + ":1: header says dimension 0, expected 1 to 16777216");
  BOOST_TEST(
      f.ReadError("99999999999 2\na 1 2\n") ==
      f.Prefix() +
          ":1: header says 99999999999 rows, more than the 4294967295 a vocabulary can hold");
}

BOOST_AUTO_TEST_CASE(TruncatedBinaryNamesTheRowAndItsByteOffset) {
  ScratchFiles f;
  // "2747 10\n" (8 bytes), "the " + 40 bytes, then "to " at byte 52: cut 17 bytes into it.
  const std::string bytes = ReadBytes(kGensim / "euclidean_vectors.bin").substr(0, 52 + 3 + 17);
  BOOST_TEST(f.ReadError(bytes, VectorFormat::kAuto, "cut.bin") ==
             f.Prefix("cut.bin") +
                 ": byte 52: row 2 (\"to\") is cut short: the file ends 17 bytes into its 40 "
                 "value bytes (header says 10 float32 values)");
  BOOST_TEST(f.ReadError(bytes.substr(0, 53), VectorFormat::kWord2VecBinary, "cut.bin") ==
             f.Prefix("cut.bin") +
                 ": byte 52: file ends inside the token of row 2, header says 2747 rows");
}

BOOST_AUTO_TEST_CASE(BinaryHeaderCountAboveRowsNamesTheEndOffset) {
  ScratchFiles f;
  const std::string bytes = "3 2\n" + BinaryRow("a", {1, 2}) + BinaryRow("b", {3, 4});
  BOOST_TEST(f.ReadError(bytes, VectorFormat::kWord2VecBinary, "short.bin") ==
             f.Prefix("short.bin") + ": byte " + std::to_string(bytes.size()) +
                 ": file ends after 2 rows, header says 3");
}

BOOST_AUTO_TEST_CASE(BinaryDataAfterTheHeaderCountIsRejected) {
  ScratchFiles f;
  const std::string head = "1 2\n" + BinaryRow("a", {1, 2});
  BOOST_TEST(f.ReadError(head + BinaryRow("b", {3, 4}), VectorFormat::kWord2VecBinary, "x.bin") ==
             f.Prefix("x.bin") + ": byte " + std::to_string(head.size()) +
                 ": data after the 1 rows the header says (header count too small, or rows "
                 "misaligned)");
}

BOOST_AUTO_TEST_CASE(BinaryNanValueNamesItsByteOffset) {
  ScratchFiles f;
  const std::string head = "2 2\n" + BinaryRow("a", {1, 2}, false);
  const std::string bytes =
      head + BinaryRow("bb", {3, std::numeric_limits<float>::infinity()}, false);
  BOOST_TEST(f.ReadError(bytes, VectorFormat::kWord2VecBinary, "x.bin") ==
             f.Prefix("x.bin") + ": byte " + std::to_string(head.size() + 3 + 4) +
                 ": value 2 of row 2 (\"bb\") is infinite");
}

BOOST_AUTO_TEST_CASE(BinaryDuplicateAndInvalidTokensNameTheirByteOffset) {
  ScratchFiles f;
  const std::string head = "2 1\n" + BinaryRow("a", {1});
  BOOST_TEST(f.ReadError(head + BinaryRow("a", {2}), VectorFormat::kWord2VecBinary, "x.bin") ==
             f.Prefix("x.bin") + ": byte " + std::to_string(head.size()) +
                 ": row 2 (\"a\"): token appears twice: also row 1");
  BOOST_TEST(f.ReadError(head + BinaryRow("z\xff", {2}), VectorFormat::kWord2VecBinary, "x.bin") ==
             f.Prefix("x.bin") + ": byte " + std::to_string(head.size()) +
                 R"(: row 2: token "z\xff" is not valid UTF-8 (byte 1))");
}

BOOST_AUTO_TEST_CASE(BinaryWithTooSmallHeaderDimensionIsRejected) {
  ScratchFiles f;
  // Rows hold 3 values but the header says 2: the fourth value lands in the next token.
  const std::string bytes = "2 2\n" + BinaryRow("a", {1, 2, 0.5f}) + BinaryRow("b", {3, 4, 5});
  const std::string m = f.ReadError(bytes, VectorFormat::kWord2VecBinary, "x.bin");
  BOOST_TEST(m.find(f.Prefix("x.bin") + ": byte 14: row 2: token") == 0u, m);
}

BOOST_AUTO_TEST_SUITE_END()
