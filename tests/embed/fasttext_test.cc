// FastTextModel against fastText itself: vectors computed by fastText 0.9.2 for
// the gensim test models are embedded below, so the test needs no fastText.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "embed/fasttext_model.h"
#include "tests/testutil/testutil.h"

namespace relate::embed {
namespace {

using testutil::ScratchDir;

std::filesystem::path Data(const std::string& name) {
  return std::filesystem::path(RELATE_TEST_DATA) / "vectors" / "gensim-testdata" / name;
}

std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

double Norm(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  return std::sqrt(n);
}

// `got` has the norm `norm` and starts with `first`, to 1e-5 of the norm.
void CheckVector(const std::vector<float>& got, std::vector<float> first, double norm) {
  BOOST_TEST_REQUIRE(got.size() >= first.size());
  BOOST_TEST(std::abs(Norm(got) - norm) <= 1e-5 * norm);
  for (size_t i = 0; i < first.size(); ++i) {
    BOOST_TEST_INFO("value " << i);
    BOOST_TEST(std::abs(got[i] - first[i]) <= 1e-5 * norm);
  }
}

struct Expected {
  std::string word;
  bool in_vocabulary;
  std::vector<float> first;
  double norm;
};

void CheckModel(const std::string& file, const std::vector<Expected>& expected) {
  Result<FastTextModel> model = FastTextModel::Read(Data(file));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  for (const Expected& e : expected) {
    BOOST_TEST_INFO(file << ": " << e.word);
    BOOST_TEST(model->words().vocabulary.Find(e.word).has_value() == e.in_vocabulary);
    Result<std::vector<float>> v = model->WordVector(e.word);
    BOOST_TEST_REQUIRE(v.has_value(), v.error());
    BOOST_TEST(v->size() == model->dim());
    CheckVector(*v, e.first, e.norm);
  }
}

// Reads a .vec file that fastText wrote next to its .bin: word -> values.
std::map<std::string, std::vector<float>> ReadVec(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::map<std::string, std::vector<float>> vectors;
  std::string line;
  std::getline(in, line);  // "<count> <dim>"
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string word;
    fields >> word;
    std::vector<float>& v = vectors[word];
    float x = 0;
    while (fields >> x) v.push_back(x);
  }
  return vectors;
}

// A small fastText 0.9.x file built by hand, for cases the test data lacks.
struct Synthetic {
  int32_t dim = 2;
  int32_t model = 2;  // skipgram
  int32_t bucket = 1;
  int32_t minn = 3;
  int32_t maxn = 3;
  std::vector<std::string> words;
  std::vector<std::string> labels;
  std::vector<float> input;  // (words + bucket) x dim

  std::string Bytes() const {
    std::string out;
    const auto put = [&out](const auto& value) {
      out.append(reinterpret_cast<const char*>(&value), sizeof(value));
    };
    put(int32_t{793712314});
    put(int32_t{12});
    for (int32_t field : {dim, 5, 5, 1, 5, 1, 2, model, bucket, minn, maxn, 100}) put(field);
    put(1e-4);
    put(static_cast<int32_t>(words.size() + labels.size()));
    put(static_cast<int32_t>(words.size()));
    put(static_cast<int32_t>(labels.size()));
    put(int64_t{100});  // ntokens
    put(int64_t{-1});   // pruneidx_size: not pruned
    for (const auto* list : {&words, &labels}) {
      for (const std::string& w : *list) {
        out += w;
        out += '\0';
        put(int64_t{7});
        put(static_cast<int8_t>(list == &labels ? 1 : 0));
      }
    }
    put(false);  // quantized input
    put(static_cast<int64_t>(words.size()) + bucket);
    put(int64_t{dim});
    for (float x : input) put(x);
    put(false);  // quantized output
    put(static_cast<int64_t>(words.size()));
    put(int64_t{dim});
    for (size_t i = 0; i < words.size() * static_cast<size_t>(dim); ++i) put(0.0f);
    return out;
  }
};

// The vector of `word`, or an empty vector (failing the test) on error.
std::vector<float> VectorOf(const FastTextModel& model, std::string_view word) {
  Result<std::vector<float>> v = model.WordVector(word);
  BOOST_TEST(v.has_value(), v.error());
  return v.has_value() ? *v : std::vector<float>();
}

Result<FastTextModel> ReadBytesAsModel(const ScratchDir& dir, std::string_view bytes) {
  const std::filesystem::path path = dir.path() / "model.bin";
  WriteBytes(path, bytes);
  return FastTextModel::Read(path);
}

// toy-model.bin's layout: header and args end at 64, the dictionary at 399,
// the quantized flag is byte 399, the input matrix header 400-415 and its
// 122 x 5 floats 416-2855, then the output matrix, up to 3313 bytes.
constexpr uint64_t kToyQuantFlagAt = 399;
constexpr uint64_t kToyInputDataAt = 416;
constexpr uint64_t kToySize = 3313;

bool Contains(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string_view::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(FastTextModelTest)

// Expected values: fastText 0.9.2 (Debian's fasttext and python3-fasttext),
//   python3 -c 'import fasttext; m = fasttext.load_model(FILE); v = m.get_word_vector(WORD);
//               print(v[:5], numpy.linalg.norm(v))'
// which `fasttext print-word-vectors FILE < words.txt` confirms to its five
// printed digits.
BOOST_AUTO_TEST_CASE(VectorsMatchFastTextForKnownAndUnknownWords) {
  CheckModel("toy-model.bin",
             {
                 {"the",
                  true,
                  {0.0688108802f, 0.26619029f, 0.0266224518f, -0.258803993f, -0.000444012054f},
                  0.378524328},
                 {"relatedness",
                  false,
                  {0.0477688499f, 0.103349768f, 0.0199297275f, -0.0915796384f, 0.00954738352f},
                  0.147777584},
                 {"zzzqqq",
                  false,
                  {0.00299949991f, 0.10168834f, 0.0881421864f, -0.0997144952f, 0.0388450697f},
                  0.171960695},
                 {"naïveté",
                  false,
                  {0.0135211311f, 0.0920480415f, 0.0964488164f, -0.169857785f, -0.00849781837f},
                  0.216522325},
             });
  // Cyrillic n-grams step over UTF-8 characters; fastText 0.9.x gives "</s>"
  // its own row only.
  CheckModel("crime-and-punishment.bin",
             {
                 {"останавливаться",
                  true,
                  {-0.0242401175f, 0.0506886654f, 0.0207618568f, 0.0858633593f, 0.0265466012f},
                  0.108005635},
                 {"Достоевский",
                  false,
                  {0.00263581262f, 0.0434325673f, 0.0310242586f, 0.0663961321f, 0.047356464f},
                  0.0975034413},
                 {"</s>",
                  true,
                  {0.196481019f, 0.148838013f, 0.069312185f, 0.0363001898f, -0.0971795917f},
                  0.276266721},
             });
  // Format version 11.
  CheckModel("lee_fasttext_new.bin",
             {
                 {"the",
                  true,
                  {-0.330221593f, -0.31812048f, 0.100511827f, -1.0400604f, 0.0878058448f},
                  1.48581353},
                 {"relatedness",
                  false,
                  {-0.204279497f, -0.113112703f, 0.0432687141f, -0.905803084f, 0.223901525f},
                  1.48617283},
             });
  // A 2016 file without the magic number (fastText 0.9.2 refuses it): values
  // from fastText 0.9.2 on the same bytes rewritten in the version-11 layout
  // (magic, version 11, pruneidx_size -1 and the two quantized flags inserted).
  CheckModel("non_ascii_fasttext.bin",
             {
                 {"který", true, {-0.992110729f, 1.49966764f}, 1.79813424},
                 {"příliš", false, {-0.576961517f, 0.740512848f}, 0.938745903},
                 {"😀", false, {-0.213095456f, 0.257393092f}, 0.334156965},
             });
}

// The .vec files in the test data were written by the fastText that trained
// each model, five significant digits a value; words() must give every one.
BOOST_AUTO_TEST_CASE(WordsMatchTheVecFileFastTextWrote) {
  for (const char* stem : {"toy-model", "crime-and-punishment", "lee_fasttext"}) {
    BOOST_TEST_INFO(stem);
    Result<FastTextModel> model = FastTextModel::Read(Data(std::string(stem) + ".bin"));
    BOOST_TEST_REQUIRE(model.has_value(), model.error());
    const auto vec = ReadVec(Data(std::string(stem) + ".vec"));
    const WordVectors& words = model->words();
    BOOST_TEST(words.vocabulary.size() == vec.size());
    BOOST_TEST(words.table.rows() == vec.size());
    size_t outside = 0;
    for (uint32_t id = 0; id < words.vocabulary.size(); ++id) {
      const auto it = vec.find(words.vocabulary.Token(id));
      BOOST_TEST_REQUIRE((it != vec.end()), words.vocabulary.Token(id));
      BOOST_TEST_REQUIRE(it->second.size() == model->dim());
      const std::span<const float> row = words.table.Row(id);
      for (uint32_t k = 0; k < model->dim(); ++k) {
        const float want = it->second[k];
        if (std::abs(row[k] - want) > 5.01e-5f * std::abs(want) + 1e-9f) ++outside;
      }
    }
    BOOST_TEST(outside == 0u);
  }
}

BOOST_AUTO_TEST_CASE(ReadGivesSettingsAndVocabularyWithCounts) {
  Result<FastTextModel> model = FastTextModel::Read(Data("toy-model.bin"));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  BOOST_TEST(model->dim() == 5u);
  BOOST_TEST(model->minn() == 3);
  BOOST_TEST(model->maxn() == 6);
  BOOST_TEST(model->buckets() == 100u);
  BOOST_TEST(model->words().vocabulary.size() == 22u);
  BOOST_TEST(model->words().vocabulary.Token(0) == "the");
  BOOST_TEST(model->words().vocabulary.Count(0) > 0u);

  Result<FastTextModel> legacy = FastTextModel::Read(Data("lee_fasttext.bin"));
  BOOST_TEST_REQUIRE(legacy.has_value(), legacy.error());
  BOOST_TEST(legacy->dim() == 10u);
  BOOST_TEST(legacy->buckets() == 1000u);
  BOOST_TEST(legacy->words().vocabulary.size() == 1762u);
}

BOOST_AUTO_TEST_CASE(KnownWordVectorIsItsRowOfWords) {
  Result<FastTextModel> model = FastTextModel::Read(Data("crime-and-punishment.bin"));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  const WordVectors& words = model->words();
  for (uint32_t id = 0; id < words.vocabulary.size(); ++id) {
    Result<std::vector<float>> v = model->WordVector(words.vocabulary.Token(id));
    BOOST_TEST_REQUIRE(v.has_value(), v.error());
    const std::span<const float> row = words.table.Row(id);
    BOOST_TEST(std::equal(row.begin(), row.end(), v->begin(), v->end()));
  }
}

BOOST_AUTO_TEST_CASE(WordWithoutNgramsGetsTheZeroVectorAsInFastText) {
  Result<FastTextModel> model = FastTextModel::Read(Data("toy-model.bin"));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  Result<std::vector<float>> empty = model->WordVector("");  // "<>": shorter than minn 3
  BOOST_TEST_REQUIRE(empty.has_value(), empty.error());
  BOOST_TEST(*empty == std::vector<float>(5, 0.0f), boost::test_tools::per_element());

  // minn = maxn = 4 and a single bucket row b: "<ab>" has one 4-gram, "<a>" none.
  ScratchDir dir;
  Synthetic s{.minn = 4, .maxn = 4, .words = {"known"}, .input = {1, 2, 3, 5}};
  Result<FastTextModel> small = ReadBytesAsModel(dir, s.Bytes());
  BOOST_TEST_REQUIRE(small.has_value(), small.error());
  BOOST_TEST(VectorOf(*small, "ab") == std::vector<float>({3, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(VectorOf(*small, "a") == std::vector<float>({0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(KnownWordAveragesItsRowAndNgramRows) {
  // One bucket row b = (3, 6): every n-gram lands on it. "ab" has the 3-grams
  // "<ab" and "ab>", so its vector is (row + 2 b) / 3.
  ScratchDir dir;
  Synthetic s{.words = {"ab"}, .input = {3, 0, 3, 6}};
  Result<FastTextModel> model = ReadBytesAsModel(dir, s.Bytes());
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  const std::span<const float> row = model->words().table.Row(0);
  BOOST_TEST(std::vector<float>(row.begin(), row.end()) == std::vector<float>({3, 4}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ModelWithoutSubwordsGivesRowsAndZeroForUnknownWords) {
  ScratchDir dir;
  Synthetic s{.bucket = 0, .minn = 0, .maxn = 0, .words = {"a", "b"}, .input = {1, 2, 3, 4}};
  Result<FastTextModel> model = ReadBytesAsModel(dir, s.Bytes());
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  BOOST_TEST(model->buckets() == 0u);
  BOOST_TEST(VectorOf(*model, "b") == std::vector<float>({3, 4}), boost::test_tools::per_element());
  BOOST_TEST(VectorOf(*model, "c") == std::vector<float>({0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(LabelsOfAnUnsupervisedModelAreNotWords) {
  // `fasttext skipgram` on text with "__label__" tokens keeps them as labels.
  ScratchDir dir;
  Synthetic s{.words = {"a"}, .labels = {"__label__x"}, .input = {1, 1, 2, 2}};
  Result<FastTextModel> model = ReadBytesAsModel(dir, s.Bytes());
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  BOOST_TEST(model->words().vocabulary.size() == 1u);
  Result<std::vector<float>> label = model->WordVector("__label__x");
  BOOST_TEST(label.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(Contains(label.error(), "label"));
}

BOOST_AUTO_TEST_CASE(InvalidUtf8WordIsRefused) {
  Result<FastTextModel> model = FastTextModel::Read(Data("toy-model.bin"));
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  Result<std::vector<float>> v = model->WordVector("ab\xC3");
  BOOST_TEST(v.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(Contains(v.error(), "byte 2"), v.error());
}

BOOST_AUTO_TEST_CASE(ProgressGoesFromZeroToTheFileSize) {
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  Result<FastTextModel> model =
      FastTextModel::Read(Data("lee_fasttext_new.bin"),
                          [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  BOOST_TEST_REQUIRE(model.has_value(), model.error());
  const uint64_t size = std::filesystem::file_size(Data("lee_fasttext_new.bin"));
  BOOST_TEST_REQUIRE(calls.size() >= 2u);
  BOOST_TEST(calls.front().first == 0u);
  BOOST_TEST(calls.back().first == size);
  for (size_t i = 0; i < calls.size(); ++i) {
    BOOST_TEST(calls[i].second == size);
    if (i > 0) BOOST_TEST(calls[i].first >= calls[i - 1].first);
  }
}

BOOST_AUTO_TEST_CASE(SupervisedModelIsRefusedSayingSo) {
  Result<FastTextModel> model = FastTextModel::Read(Data("pang_lee_polarity_fasttext.bin"));
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(Contains(model.error(), "supervised"), model.error());
  BOOST_TEST(Contains(model.error(), "pang_lee_polarity_fasttext.bin: byte 36"), model.error());
}

BOOST_AUTO_TEST_CASE(QuantizedModelIsRefusedSayingSo) {
  std::string bytes = ReadBytes(Data("toy-model.bin"));
  BOOST_TEST_REQUIRE(bytes.size() == kToySize);
  bytes[kToyQuantFlagAt] = 1;
  ScratchDir dir;
  Result<FastTextModel> model = ReadBytesAsModel(dir, bytes);
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(Contains(model.error(), "quantized"), model.error());
  BOOST_TEST(Contains(model.error(), "byte 399"), model.error());
}

BOOST_AUTO_TEST_CASE(NonUtf8VocabularyIsRefusedAtTheFirstBadByte) {
  // cp852: "který" is stored as "kter\xEC"; entry 1 starts at byte 88.
  Result<FastTextModel> model = FastTextModel::Read(Data("cp852_fasttext.bin"));
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(Contains(model.error(), "byte 92"), model.error());
  BOOST_TEST(Contains(model.error(), "not UTF-8"), model.error());
}

BOOST_AUTO_TEST_CASE(TruncatedFileFailsWithTheByteOffset) {
  const std::string bytes = ReadBytes(Data("toy-model.bin"));
  BOOST_TEST_REQUIRE(bytes.size() == kToySize);
  ScratchDir dir;
  for (size_t cut : {size_t{0}, size_t{5}, size_t{40}, size_t{70}, size_t{120}, size_t{398},
                     size_t{400}, size_t{1000}, size_t{2856}, size_t{2870}, kToySize - 1}) {
    BOOST_TEST_INFO("cut at " << cut);
    Result<FastTextModel> model = ReadBytesAsModel(dir, std::string_view(bytes).substr(0, cut));
    BOOST_TEST_REQUIRE(!model.has_value());
    const Status s = model.error();
    BOOST_TEST(
        (s.code() == Status::Code::kCorruption || s.code() == Status::Code::kInvalidArgument));
    BOOST_TEST(Contains(s, "model.bin: byte "), s);
  }
  Result<FastTextModel> model = ReadBytesAsModel(dir, std::string_view(bytes).substr(0, 1000));
  BOOST_TEST(model.error().code() == Status::Code::kCorruption);
  BOOST_TEST(Contains(model.error(), "byte " + std::to_string(kToyInputDataAt)), model.error());
  BOOST_TEST(Contains(model.error(), "truncated"), model.error());
}

BOOST_AUTO_TEST_CASE(BytesAfterTheEndAreRefused) {
  ScratchDir dir;
  Result<FastTextModel> model = ReadBytesAsModel(dir, ReadBytes(Data("toy-model.bin")) + "x");
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kCorruption);
  BOOST_TEST(Contains(model.error(), "byte 3313"), model.error());
}

BOOST_AUTO_TEST_CASE(NonFiniteValueIsRefused) {
  ScratchDir dir;
  Synthetic s{.words = {"a"}, .input = {1, std::numeric_limits<float>::quiet_NaN(), 2, 2}};
  Result<FastTextModel> model = ReadBytesAsModel(dir, s.Bytes());
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kCorruption);
  BOOST_TEST(Contains(model.error(), "row 0"), model.error());
}

BOOST_AUTO_TEST_CASE(OtherFilesAreRefusedAsNotFastText) {
  ScratchDir dir;
  for (const std::string& bytes :
       {std::string(), std::string("hello world, this is not a fastText model at all\n"),
        ReadBytes(Data("euclidean_vectors.bin"))}) {
    BOOST_TEST_INFO(bytes.size() << " bytes");
    Result<FastTextModel> model = ReadBytesAsModel(dir, bytes);
    BOOST_TEST_REQUIRE(!model.has_value());
    BOOST_TEST(model.error().code() == Status::Code::kInvalidArgument);
    BOOST_TEST(Contains(model.error(), "not a fastText .bin file"), model.error());
  }
  Result<FastTextModel> missing = FastTextModel::Read(dir.path() / "missing.bin");
  BOOST_TEST(missing.error().code() == Status::Code::kIOError);
}

BOOST_AUTO_TEST_CASE(NewerFormatVersionIsRefused) {
  std::string bytes = ReadBytes(Data("toy-model.bin"));
  const int32_t version = 13;
  std::memcpy(bytes.data() + 4, &version, sizeof(version));
  ScratchDir dir;
  Result<FastTextModel> model = ReadBytesAsModel(dir, bytes);
  BOOST_TEST_REQUIRE(!model.has_value());
  BOOST_TEST(model.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(Contains(model.error(), "version 13"), model.error());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace relate::embed
