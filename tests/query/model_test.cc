#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <thread>

#include "embed/fasttext_model.h"
#include "embed/pooling.h"
#include "embed/vector_readers.h"
#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;

namespace {

struct ModelDb {
  testutil::ScratchDir dir;
  std::unique_ptr<DB> db;
  ModelDb() { Open(); }
  void Open() {
    db.reset();
    db = DB::Open(dir.path() / "db", {.create_if_missing = true, .log = [](std::string_view) {}})
             .value();
  }
  std::filesystem::path Write(const std::string& name, const std::string& text) {
    auto path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(ModelTest, ModelDb)

BOOST_AUTO_TEST_CASE(ImportedModelIsListedDescribedAndKeptAcrossReopen) {
  BOOST_TEST(db->ImportModel("small", Write("small.vec", testutil::kSmallModel),
                             {.pooling = "sif", .sif_a = 0.01})
                 .ok());
  auto info = db->DescribeModel("small").value();
  BOOST_TEST(info.dimension == 3u);
  BOOST_TEST(info.words == 4u);
  BOOST_TEST(info.version == 1u);
  BOOST_TEST(info.format == "word2vec-text");
  BOOST_TEST(info.pooling == "sif");
  BOOST_TEST(info.sif_a == 0.01);
  Open();
  auto all = db->ListModels().value();
  BOOST_TEST_REQUIRE(all.size() == 1u);
  BOOST_TEST(all[0].name == "small");
  BOOST_TEST(all[0].words == 4u);
}

BOOST_AUTO_TEST_CASE(ExportAfterReopenGivesBackTheSameWordsAndBits) {
  const auto source = Write("small.vec", testutil::kSmallModel);
  BOOST_TEST(db->ImportModel("small", source).ok());
  Open();  // export reads the model back from storage
  for (const char* format : {"word2vec-text", "word2vec-binary"}) {
    const auto out = dir.path() / (std::string("out.") + format);
    BOOST_TEST_REQUIRE(db->ExportModel("small", out, format).ok());
    auto original = embed::ReadWordVectors(source).value();
    auto exported = embed::ReadWordVectors(out).value();
    BOOST_TEST_REQUIRE(exported.vocabulary.size() == 4u);
    for (uint32_t i = 0; i < 4; ++i) {
      BOOST_TEST(exported.vocabulary.Token(i) == original.vocabulary.Token(i));
    }
    BOOST_TEST(exported.table.data() == original.table.data(), boost::test_tools::per_element());
  }
  BOOST_TEST(db->ExportModel("small", dir.path() / "x", "glove").code() ==
             Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(BadFileImportsNothing) {
  const auto bad = Write("bad.vec", "3 3\nking 1 2 3\nqueen 1 2\napple 1 2 3\n");
  Status s = db->ImportModel("bad", bad);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("bad.vec:3") != std::string::npos, s.message());
  BOOST_TEST(db->ListModels().value().empty());
  BOOST_TEST(db->DescribeModel("bad").error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->ImportModel("m", dir.path() / "missing.vec").code() == Status::Code::kNotFound);
  BOOST_TEST(
      db->ImportModel("m", Write("ok.vec", testutil::kSmallModel), {.format = "pickle"}).code() ==
      Status::Code::kInvalidArgument);
  BOOST_TEST(db->ImportModel("m", Write("ok.vec", testutil::kSmallModel), {.activation = "sigmoid"})
                 .code() == Status::Code::kInvalidArgument);
  BOOST_TEST(db->ListModels().value().empty());
}

BOOST_AUTO_TEST_CASE(NameTakenNeedsReplaceWhichRaisesTheVersion) {
  const auto path = Write("small.vec", testutil::kSmallModel);
  BOOST_TEST(db->ImportModel("small", path).ok());
  BOOST_TEST(db->ImportModel("small", path).code() == Status::Code::kAlreadyExists);
  const auto other = Write("other.vec", "1 3\nplum 1 1 1\n");
  BOOST_TEST(db->ImportModel("small", other, {.replace = true}).ok());
  auto info = db->DescribeModel("small").value();
  BOOST_TEST(info.version == 2u);
  BOOST_TEST(info.words == 1u);
  Open();
  BOOST_TEST(db->DescribeModel("small").value().version == 2u);
  const auto out = dir.path() / "out.vec";
  BOOST_TEST(db->ExportModel("small", out, "word2vec-text").ok());
  BOOST_TEST(embed::ReadWordVectors(out).value().vocabulary.Token(0) == "plum");
}

BOOST_AUTO_TEST_CASE(DroppedModelIsGoneAfterReopen) {
  BOOST_TEST(db->ImportModel("small", Write("small.vec", testutil::kSmallModel)).ok());
  BOOST_TEST(db->DropModel("small").ok());
  BOOST_TEST(db->DropModel("small").code() == Status::Code::kNotFound);
  Open();
  BOOST_TEST(db->ListModels().value().empty());
  BOOST_TEST(db->ImportModel("small", Write("small.vec", testutil::kSmallModel)).ok());
}

BOOST_AUTO_TEST_CASE(CollectionWithAModelEmbedsTextAndAnswersTextQueries) {
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("small.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "small"}).ok());
  auto info = db->DescribeCollection("docs").value();
  BOOST_TEST(info.spec.dimension == 3u);  // from the model
  BOOST_TEST(info.spec.model == "small");
  BOOST_TEST(info.model_version == 1u);
  std::vector<Record> records{{.key = "royal", .text = "The King and the Queen."},
                              {.key = "fruit", .text = "An apple, a pear."},
                              {.key = "given", .vector = {0.5f, 0.5f, -1.0f}}};
  BOOST_TEST_REQUIRE(db->Upsert("docs", records).ok());
  // The stored vector is the text's: the normalised mean of king and queen.
  auto royal = db->Get("docs", "royal").value();
  const double n = std::sqrt(0.25 + 0.25 + 1.0);
  BOOST_TEST(royal.vector.at(0) == 0.5 / n, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(royal.vector.at(2) == -1.0 / n, boost::test_tools::tolerance(1e-6));
  auto hits = db->SearchText("docs", "pear", {.k = 1}).value();
  BOOST_TEST_REQUIRE(hits.size() == 1u);
  BOOST_TEST(hits[0].key == "fruit");
  BOOST_TEST(db->SearchText("docs", "queen", {.k = 3}).value().at(0).key != "fruit");
  Open();  // the binding survives a reopen
  BOOST_TEST(db->SearchText("docs", "apple", {.k = 1}).value().at(0).key == "fruit");
}

BOOST_AUTO_TEST_CASE(TextThatCannotBeEmbeddedIsRefusedAndNothingIsWritten) {
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("small.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "small"}).ok());
  std::vector<Record> records{{.key = "ok", .text = "king"}, {.key = "odd", .text = "zebra"}};
  Status s = db->Upsert("docs", records);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("\"odd\"") != std::string::npos, s.message());
  BOOST_TEST(std::string(s.message()).find("vocabulary") != std::string::npos, s.message());
  BOOST_TEST(db->Count("docs").value() == 0u);
  BOOST_TEST(db->SearchText("docs", "zebra").error().code() == Status::Code::kInvalidArgument);
  std::vector<Record> wrong{{.key = "v", .vector = {1, 2}}};
  BOOST_TEST(db->Upsert("docs", wrong).code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(LargeTextBatchesEmbedInParallelAndReportTheFirstBadRecord) {
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("small.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "small"}).ok());
  const char* texts[] = {"king", "queen apple", "pear king", "apple"};
  std::vector<Record> records;
  for (int i = 0; i < 500; ++i) {
    records.push_back({.key = "k" + std::to_string(i), .text = texts[i % 4]});
  }
  records[300].text = "zebra";
  records[400].text = "unicorn";
  Status s = db->Upsert("docs", records);
  BOOST_TEST(std::string(s.message()).find("record 300 (key \"k300\")") != std::string::npos,
             s.message());
  BOOST_TEST(db->Count("docs").value() == 0u);
  records[300].text = records[400].text = "pear";
  BOOST_TEST_REQUIRE(db->Upsert("docs", records).ok());
  // Every record got its own text's vector: same text, same vector.
  auto a = db->Get("docs", "k1").value().vector;
  auto b = db->Get("docs", "k497").value().vector;  // both "queen apple"
  BOOST_TEST(a == b, boost::test_tools::per_element());
  BOOST_TEST(db->SearchText("docs", "queen apple", {.k = 1}).value().at(0).score == 1.0f,
             boost::test_tools::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(FittedSifComponentIsRemovedFromStoredAndLaterTexts) {
  BOOST_TEST_REQUIRE(
      db->ImportModel("sif", Write("s.vec", testutil::kSmallModel), {.pooling = "sif"}).ok());
  BOOST_TEST_REQUIRE(db->ImportModel("mean", Write("m.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "sif"}).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "plain", .model = "mean"}).ok());
  const std::vector<std::string> texts{"king", "queen",      "king queen", "apple",
                                       "pear", "apple pear", "queen pear"};
  std::vector<Record> records;
  std::vector<float> before;  // the texts' vectors before fitting, for the expected component
  for (size_t i = 0; i < texts.size(); ++i) {
    records.push_back({.key = "t" + std::to_string(i), .text = texts[i]});
    auto v = db->EmbedText("docs", texts[i]).value();
    before.insert(before.end(), v.begin(), v.end());
  }
  records.push_back({.key = "own", .text = "no words of the model", .vector = {1, 2, 3}});
  BOOST_TEST_REQUIRE(db->Upsert("docs", records).ok());
  BOOST_TEST(db->FitSifComponent("plain").code() == Status::Code::kFailedPrecondition);
  BOOST_TEST_REQUIRE(db->FitSifComponent("docs").ok());
  BOOST_TEST(db->DescribeCollection("docs").value().sif_component_fitted);

  const auto pc = embed::FirstPrincipalComponent(before, 3);
  BOOST_TEST_REQUIRE(pc.size() == 3u);
  for (size_t i = 0; i < texts.size(); ++i) {
    auto r = db->Get("docs", "t" + std::to_string(i)).value();
    BOOST_TEST(r.version == 2u);
    const double dot = r.vector[0] * pc[0] + r.vector[1] * pc[1] + r.vector[2] * pc[2];
    BOOST_TEST(dot == 0.0, boost::test_tools::tolerance(1e-4));
  }
  auto own = db->Get("docs", "own").value();  // brought its own vector: untouched
  BOOST_TEST(own.version == 1u);
  BOOST_TEST(own.vector == (std::vector<float>{1, 2, 3}), boost::test_tools::per_element());
  BOOST_TEST(db->Verify("docs").value().ok());
  // Later texts, queries included, get the same treatment, also after a reopen.
  Open();
  auto king = db->EmbedText("docs", "king").value();
  BOOST_TEST(king == db->Get("docs", "t0").value().vector, boost::test_tools::per_element());
  BOOST_TEST(db->SearchText("docs", "king", {.k = 1}).value().at(0).key == "t0");
}

BOOST_AUTO_TEST_CASE(TextWithoutAModelIsRefused) {
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "plain", .dimension = 3}).ok());
  std::vector<Record> records{{.key = "t", .text = "king"}};
  Status s = db->Upsert("plain", records);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("no model") != std::string::npos, s.message());
  BOOST_TEST(db->SearchText("plain", "king").error().code() == Status::Code::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(ModelBindingIsCheckedAtCreationAndProtectsTheModel) {
  BOOST_TEST(db->CreateCollection({.name = "x", .model = "nope"}).code() ==
             Status::Code::kNotFound);
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("small.vec", testutil::kSmallModel)).ok());
  BOOST_TEST(db->CreateCollection({.name = "x", .dimension = 4, .model = "small"}).code() ==
             Status::Code::kInvalidArgument);
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "x", .model = "small"}).ok());
  BOOST_TEST(db->DropModel("small").code() == Status::Code::kFailedPrecondition);
  // Replacing it adds a version; the collection keeps version 1 until applied.
  BOOST_TEST(
      db->ImportModel("small", Write("s2.vec", testutil::kSmallModel), {.replace = true}).ok());
  BOOST_TEST(db->DescribeModel("small").value().version == 2u);
  BOOST_TEST(db->DescribeCollection("x").value().model_version == 1u);
  BOOST_TEST(db->DropModel("small").code() == Status::Code::kFailedPrecondition);
  BOOST_TEST(db->DropCollection("x").ok());
  BOOST_TEST(db->DropModel("small").ok());
  BOOST_TEST(db->ListModels().value().empty());
}

// testutil::kSmallModel with king and queen swapped: the same words, other vectors.
const char* kSmallModelV2 =
    "4 3\n"
    "king 0.5 0.75 -1\n"
    "queen 0.5 0.25 -1\n"
    "apple -2 0 0.125\n"
    "pear -2 0.5 0.25\n";

BOOST_AUTO_TEST_CASE(ANewVersionServesOnlyAfterApplyAndApplySwapsEveryVector) {
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("v1.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "small"}).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "raw", .dimension = 3}).ok());
  std::vector<Record> records{{.key = "k", .text = "king"},
                              {.key = "q", .text = "queen"},
                              {.key = "fruit", .text = "apple pear"},
                              {.key = "own", .vector = {1, 0, 0}}};
  BOOST_TEST_REQUIRE(db->Upsert("docs", records).ok());
  const auto king_v1 = db->Get("docs", "k").value().vector;

  BOOST_TEST_REQUIRE(
      db->ImportModel("small", Write("v2.vec", kSmallModelV2), {.replace = true}).ok());
  // Still version 1: the query "king" is embedded with v1 and finds k.
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 1u);
  BOOST_TEST(db->SearchText("docs", "king", {.k = 1}).value().at(0).key == "k");
  BOOST_TEST(db->Get("docs", "k").value().vector == king_v1, boost::test_tools::per_element());
  // A record written now is embedded with v1 too, like the rest of the collection.
  BOOST_TEST_REQUIRE(db->Upsert("docs", std::vector<Record>{{.key = "k2", .text = "king"}}).ok());
  BOOST_TEST(db->Get("docs", "k2").value().vector == king_v1, boost::test_tools::per_element());

  auto moved = db->ApplyModel("small");
  BOOST_TEST_REQUIRE(moved.has_value(), moved.error());
  BOOST_TEST(moved.value() == std::vector<std::string>{"docs"}, boost::test_tools::per_element());
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 2u);
  // Every text-made vector is v2's now (king's v2 row is v1's queen row), the
  // record without text kept its own, and storage agrees with the index.
  std::vector<float> queen_v1{0.5f, 0.75f, -1};
  BOOST_TEST_REQUIRE(embed::Normalize(queen_v1).ok());
  for (const char* key : {"k", "k2"}) {
    const auto v = db->Get("docs", key).value().vector;
    BOOST_TEST(v.size() == 3u);
    for (size_t i = 0; i < v.size(); ++i) BOOST_TEST(std::abs(v[i] - queen_v1[i]) < 1e-6f);
  }
  BOOST_TEST(db->Get("docs", "own").value().vector == std::vector<float>({1, 0, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(db->Verify("docs").value().ok());
  BOOST_TEST(db->SearchText("docs", "king", {.k = 1}).value().at(0).key != "q");
  // Nothing is left to apply, and version 1 is gone; both survive a reopen.
  BOOST_TEST(db->ApplyModel("small").value().empty());
  Open();
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 2u);
  BOOST_TEST(db->DescribeModel("small").value().version == 2u);
  BOOST_TEST(db->SearchText("docs", "queen", {.k = 2}).value().size() == 2u);
}

BOOST_AUTO_TEST_CASE(SearchesDuringApplySeeAllOldVectorsOrAllNew) {
  // Version 1 points every word along +x, version 2 along -x: a search for +x
  // scores every record above 0 before the apply and below 0 after it.
  const size_t n = 2000;
  std::string v1 = std::to_string(n) + " 3\n", v2 = v1;
  for (size_t i = 0; i < n; ++i) {
    const std::string w = "w" + std::to_string(i), y = std::to_string(0.001 * double(i));
    v1 += w + " 1 " + y + " 0.5\n";
    v2 += w + " -1 " + y + " 0.5\n";
  }
  BOOST_TEST_REQUIRE(db->ImportModel("m", Write("v1.vec", v1)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "m"}).ok());
  std::vector<Record> records;
  for (size_t i = 0; i < n; ++i) {
    records.push_back({.key = "r" + std::to_string(i), .text = "w" + std::to_string(i)});
  }
  BOOST_TEST_REQUIRE(db->Upsert("docs", records).ok());
  BOOST_TEST_REQUIRE(db->ImportModel("m", Write("v2.vec", v2), {.replace = true}).ok());

  std::atomic<bool> done = false;
  std::atomic<size_t> searches = 0, mixed = 0, wrong_text = 0;
  std::thread reader([&] {
    const std::vector<float> x{1, 0, 0};
    while (!done) {
      auto hits = db->Search("docs", x, {.k = n});
      if (!hits || hits->size() != n) {
        ++mixed;
        continue;
      }
      size_t positive = 0;
      for (const auto& h : *hits) positive += h.score > 0;
      mixed += positive != 0 && positive != n;
      // A text query is embedded with the version the vectors it meets came from.
      auto text = db->SearchText("docs", "w7", {.k = 1});
      wrong_text += !text || text->empty() || text->front().key != "r7";
      ++searches;
    }
  });
  auto moved = db->ApplyModel("m");
  done = true;
  reader.join();
  BOOST_TEST_REQUIRE(moved.has_value(), moved.error());
  BOOST_TEST(searches.load() > 0u);
  BOOST_TEST(mixed.load() == 0u);
  BOOST_TEST(wrong_text.load() == 0u);
  const auto after = db->Search("docs", std::vector<float>{1, 0, 0}, {.k = 5}).value();
  BOOST_TEST(after.front().score < 0);
}

BOOST_AUTO_TEST_CASE(ApplyRefusesAVersionOfAnotherDimensionAndKeepsTheOldVectors) {
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("v1.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "small"}).ok());
  BOOST_TEST_REQUIRE(db->Upsert("docs", std::vector<Record>{{.key = "k", .text = "king"}}).ok());
  const auto before = db->Get("docs", "k").value().vector;
  BOOST_TEST_REQUIRE(
      db->ImportModel("small", Write("v2.vec", "1 2\nking 1 0\n"), {.replace = true}).ok());
  auto moved = db->ApplyModel("small");
  BOOST_TEST(moved.error().code() == Status::Code::kFailedPrecondition);
  BOOST_TEST(std::string(moved.error().message()).find("\"docs\"") != std::string::npos,
             moved.error().message());
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 1u);
  BOOST_TEST(db->Get("docs", "k").value().vector == before, boost::test_tools::per_element());
  BOOST_TEST(db->SearchText("docs", "king", {.k = 1}).value().at(0).key == "k");
  BOOST_TEST(db->ApplyModel("nope").error().code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(ApplyRefusesTextTheNewVocabularyCannotEmbed) {
  BOOST_TEST_REQUIRE(db->ImportModel("small", Write("v1.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "small"}).ok());
  BOOST_TEST_REQUIRE(db->Upsert("docs", std::vector<Record>{{.key = "p", .text = "pear"}}).ok());
  BOOST_TEST_REQUIRE(
      db->ImportModel("small", Write("v2.vec", "1 3\nking 1 0 0\n"), {.replace = true}).ok());
  auto moved = db->ApplyModel("small");
  BOOST_TEST(moved.error().code() == Status::Code::kFailedPrecondition);
  BOOST_TEST(std::string(moved.error().message()).find("\"p\"") != std::string::npos,
             moved.error().message());
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 1u);
  BOOST_TEST(db->Verify("docs").value().ok());
}

BOOST_AUTO_TEST_SUITE_END()

// man, woman, king, queen, apple: every cosine below is worked out by hand from
// these rows.
const char* kRoyalModel =
    "5 3\n"
    "man 1 0 0\n"
    "woman 0 1 0\n"
    "king 1 0 1\n"
    "queen 0 1 1\n"
    "apple 0 0 -1\n";

BOOST_FIXTURE_TEST_SUITE(WordOpsTest, ModelDb)

BOOST_AUTO_TEST_CASE(NeighboursAreRankedByCosineWithoutTheWordItself) {
  BOOST_TEST_REQUIRE(db->ImportModel("r", Write("r.vec", kRoyalModel)).ok());
  auto hits = db->SimilarWords("r", "king", 4).value();
  BOOST_TEST_REQUIRE(hits.size() == 4u);
  // cos(king, man) = 1/sqrt2, (king, queen) = 1/2, (king, woman) = 0, (king, apple) = -1/sqrt2
  BOOST_TEST(hits[0].word == "man");
  BOOST_TEST(hits[0].score == 1 / std::sqrt(2.0f), boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(hits[1].word == "queen");
  BOOST_TEST(hits[1].score == 0.5f, boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(hits[2].word == "woman");
  BOOST_TEST(hits[3].word == "apple");
  BOOST_TEST(db->SimilarWords("r", "zebra").error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->SimilarWords("nope", "king").error().code() == Status::Code::kNotFound);
  BOOST_TEST(db->SimilarWords("r", "KING", 1).value().at(0).word == "man");  // lower-cased
}

BOOST_AUTO_TEST_CASE(AnalogiesExcludeTheirInputsWithBothMethods) {
  BOOST_TEST_REQUIRE(db->ImportModel("r", Write("r.vec", kRoyalModel)).ok());
  auto add = db->Analogy("r", "man", "king", "woman", 2).value();
  BOOST_TEST_REQUIRE(!add.empty());
  BOOST_TEST(add[0].word == "queen");
  // Unit vectors: target = king/sqrt2 - man + woman = (1/sqrt2 - 1, 1, 1/sqrt2).
  const double r = 1 / std::sqrt(2.0);
  BOOST_TEST(add[0].score == (r + 0.5) / std::sqrt((r - 1) * (r - 1) + 1.5),
             boost::test_tools::tolerance(1e-5));
  for (const auto& h : add) BOOST_TEST((h.word != "man" && h.word != "king" && h.word != "woman"));
  auto mul = db->Analogy("r", "man", "king", "woman", 2, AnalogyMethod::kCosMul).value();
  BOOST_TEST_REQUIRE(!mul.empty());
  BOOST_TEST(mul[0].word == "queen");
  // (0.75 * (1 + 1/sqrt2) / 2) / (0.5 + 0.001)
  BOOST_TEST(mul[0].score == 0.75 * (1 + 1 / std::sqrt(2.0)) / 2 / 0.501,
             boost::test_tools::tolerance(1e-4));
  BOOST_TEST(db->Analogy("r", "man", "king", "unicorn").error().code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(OddOneOutAndTextSimilarity) {
  BOOST_TEST_REQUIRE(db->ImportModel("r", Write("r.vec", kRoyalModel)).ok());
  std::vector<std::string> words{"king", "queen", "man", "apple"};
  BOOST_TEST(db->OddOneOut("r", words).value() == "apple");
  std::vector<std::string> two{"king", "queen"};
  BOOST_TEST(db->OddOneOut("r", two).error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(db->TextSimilarity("r", "the king", "King!").value() == 1.0f,
             boost::test_tools::tolerance(1e-5f));
  // mean(man, woman) = (1,1,0)/2 against apple (0,0,-1): orthogonal.
  BOOST_TEST(db->TextSimilarity("r", "man and woman", "apple").value() == 0.0f,
             boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(db->TextSimilarity("r", "zebra", "apple").error().code() ==
             Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(WordSimilarityIsSpearmanOverCoveredPairs) {
  BOOST_TEST_REQUIRE(db->ImportModel("r", Write("r.vec", kRoyalModel)).ok());
  // Human scores in the order of the model's cosines: rho = 1; one pair missed.
  auto perfect = db->EvaluateWordSim("r", Write("ws.txt",
                                                "king\tman\t9\nking\tqueen\t7\nking\tapple\t1\n"
                                                "king\tzebra\t5\n"))
                     .value();
  BOOST_TEST(perfect.pairs == 4u);
  BOOST_TEST(perfect.covered == 3u);
  BOOST_TEST(perfect.spearman == 1.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST_REQUIRE(perfect.missed.size() == 1u);
  BOOST_TEST(perfect.missed[0] == "zebra");
  // Reversed human order: rho = -1.
  auto reversed =
      db->EvaluateWordSim("r", Write("ws2.txt", "king man 1\nking queen 7\nking apple 9\n"))
          .value();
  BOOST_TEST(reversed.spearman == -1.0, boost::test_tools::tolerance(1e-9));
  // Ties get their mean rank: x = (1, 0.5, 0) as ranks (3, 2, 1); y = (5, 5, 1) as (2.5, 2.5, 1).
  auto tied = db->EvaluateWordSim("r", Write("ws3.txt", "king man 5\nking queen 5\nking woman 1\n"))
                  .value();
  BOOST_TEST(tied.spearman == std::sqrt(3.0) / 2, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(db->EvaluateWordSim("r", Write("bad.txt", "king man\n")).error().code() ==
             Status::Code::kInvalidArgument);
}

// Fewer than two covered pairs, or tied scores, leave rho undefined: NaN, not 0.
// Directories, endless lines and unnamed sections are refused naming the file.
BOOST_AUTO_TEST_CASE(EvaluationsRefuseWhatIsNotAnEvaluationFile) {
  BOOST_TEST_REQUIRE(db->ImportModel("r", Write("r.vec", kRoyalModel)).ok());
  for (const std::string pairs : {"king man 9\n", "", "king zebra 1\nking man 2\n",
                                  "king man 5\nking queen 5\nking apple 5\n"}) {
    auto r = db->EvaluateWordSim("r", Write("ws.txt", pairs)).value();
    BOOST_TEST(std::isnan(r.spearman), pairs);
  }
  for (const std::filesystem::path& bad : {dir.path(), std::filesystem::path("/dev/zero"),
                                           Write("long.txt", std::string(3 << 20, 'x'))}) {
    const Status ws = db->EvaluateWordSim("r", bad).error();
    const Status an = db->EvaluateAnalogies("r", bad).error();
    for (const Status& s : {ws, an}) {
      BOOST_TEST(s.code() == Status::Code::kInvalidArgument, s.ToString());
      BOOST_TEST(std::string(s.message()).find(bad.string()) != std::string::npos, s.ToString());
    }
  }
  BOOST_TEST(db->EvaluateWordSim("r", dir.path() / "none.txt").error().code() ==
             Status::Code::kNotFound);
  const Status unnamed =
      db->EvaluateAnalogies("r", Write("q.txt", ": \nman king woman queen\n")).error();
  BOOST_TEST(std::string(unnamed.message()).find("q.txt:1: a section line needs a name") !=
                 std::string::npos,
             unnamed.ToString());
}

BOOST_AUTO_TEST_CASE(AnalogyAccuracyCountsAsWord2VecDoes) {
  BOOST_TEST_REQUIRE(db->ImportModel("r", Write("r.vec", kRoyalModel)).ok());
  const auto file = Write("q.txt",
                          ": royal\n"
                          "Man King Woman Queen\n"  // right (case-insensitive)
                          "man king woman apple\n"  // wrong: queen comes first
                          "man king woman zebra\n"  // skipped: zebra is unknown
                          ": swapped\n"
                          "king man queen woman\n");  // man - king + queen = woman: right
  auto all = db->EvaluateAnalogies("r", file).value();
  BOOST_TEST_REQUIRE(all.sections.size() == 2u);
  BOOST_TEST(all.sections[0].name == "royal");
  BOOST_TEST(all.sections[0].questions == 3u);
  BOOST_TEST(all.sections[0].answered == 2u);
  BOOST_TEST(all.sections[0].correct == 1u);
  BOOST_TEST(all.sections[1].correct == 1u);
  BOOST_TEST(all.questions == 4u);
  BOOST_TEST(all.answered == 3u);
  BOOST_TEST(all.correct == 2u);
  // Restricted to the 3 most frequent words (man, woman, king): queen is out, so
  // every question that needs it is skipped.
  auto restricted = db->EvaluateAnalogies("r", file, 3).value();
  BOOST_TEST(restricted.answered == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(ModelFastTextTest, ModelDb)

BOOST_AUTO_TEST_CASE(FastTextModelKeepsItsSubwordsInTheDatabase) {
  const std::filesystem::path file = RELATE_TEST_DATA "/vectors/gensim-testdata/toy-model.bin";
  BOOST_TEST_REQUIRE(db->ImportModel("toy", file).ok());
  auto info = db->DescribeModel("toy").value();
  BOOST_TEST(info.format == "fasttext-bin");
  BOOST_TEST(info.subword_buckets == 100u);  // toy-model.bin was trained with -bucket 100
  Open();
  // Export reloads words and n-gram rows from storage; the words' vectors must
  // be the ones fastText gives.
  const auto out = dir.path() / "toy.vec";
  BOOST_TEST_REQUIRE(db->ExportModel("toy", out, "word2vec-text").ok());
  auto original = embed::FastTextModel::Read(file).value();
  auto exported = embed::ReadWordVectors(out).value();
  BOOST_TEST(exported.vocabulary.size() == original.words().vocabulary.size());
  BOOST_TEST(exported.table.data() == original.words().table.data(),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(UnseenWordsEmbedThroughFastTextSubwords) {
  const std::filesystem::path file = RELATE_TEST_DATA "/vectors/gensim-testdata/toy-model.bin";
  BOOST_TEST_REQUIRE(db->ImportModel("toy", file).ok());
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "c", .model = "toy"}).ok());
  auto original = embed::FastTextModel::Read(file).value();
  const std::string unseen = "relatedness";
  BOOST_TEST_REQUIRE(!original.words().vocabulary.Find(unseen).has_value());
  std::vector<Record> records{{.key = "u", .text = unseen}};
  BOOST_TEST_REQUIRE(db->Upsert("c", records).ok());
  auto expected = original.WordVector(unseen).value();
  double norm = 0;
  for (float x : expected) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  auto stored = db->Get("c", "u").value().vector;
  BOOST_TEST_REQUIRE(stored.size() == expected.size());
  for (size_t i = 0; i < stored.size(); ++i) {
    BOOST_TEST(stored[i] == expected[i] / norm, boost::test_tools::tolerance(1e-5));
  }
}

BOOST_AUTO_TEST_SUITE_END()
