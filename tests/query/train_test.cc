#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;
namespace fs = std::filesystem;

namespace {

struct TrainDb {
  testutil::ScratchDir dir;
  std::unique_ptr<DB> db;
  TrainDb() { Open(); }
  void Open(bool read_only = false) {
    db.reset();
    db = DB::Open(
             dir.path() / "db",
             {.create_if_missing = true, .read_only = read_only, .log = [](std::string_view) {}})
             .value();
  }
  fs::path TopicCorpus(size_t n, uint32_t seed) const {
    const auto path = dir.path() / ("topics" + std::to_string(seed) + ".txt");
    std::ofstream(path) << testutil::TopicText(n, seed);
    return path;
  }
  static TrainOptions Small() {
    TrainOptions o;
    o.dimension = 16;
    o.epochs = 3;
    o.threads = 1;
    o.min_count = 1;
    return o;
  }
};

// How many of `word`'s k nearest words share its topic.
size_t SameTopic(DB& db, const std::string& model, const std::string& word, size_t k) {
  const std::string topic = word.substr(0, word.find('w'));
  size_t same = 0;
  const auto hits = db.SimilarWords(model, word, k);
  BOOST_TEST_REQUIRE(hits.has_value(), hits.error());
  for (const auto& hit : *hits) {
    same += hit.word.substr(0, hit.word.find('w')) == topic;
  }
  return same;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(TrainTest, TrainDb)

BOOST_AUTO_TEST_CASE(AModelTrainedOnFilesAnswersWithWordsOfTheSameTopic) {
  TrainOptions o = Small();
  o.corpus = {TopicCorpus(4000, 1)};
  Status s = db->TrainModel("topics", o);
  BOOST_TEST_REQUIRE(s.ok(), s);
  ModelInfo info = db->DescribeModel("topics").value();
  BOOST_TEST(info.version == 1u);
  BOOST_TEST(info.words == 300u);
  BOOST_TEST(info.dimension == 16u);
  BOOST_TEST(info.format == "trained");
  BOOST_TEST(info.source.find("skipgram") != std::string::npos, info.source);
  BOOST_TEST(SameTopic(*db, "topics", "t3w7", 10) >= 9u);
  // It embeds texts at once, and survives a reopen.
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "topics"}).ok());
  std::vector<Record> records{{.key = "a", .text = "t1w1 t1w2 t1w3"},
                              {.key = "b", .text = "t2w1 t2w2 t2w3"}};
  BOOST_TEST_REQUIRE(db->Upsert("docs", records).ok());
  BOOST_TEST(db->SearchText("docs", "t2w4 t2w9", {.k = 1}).value().at(0).key == "b");
  Open();
  BOOST_TEST(db->SearchText("docs", "t1w7", {.k = 1}).value().at(0).key == "a");
  // Nothing is left in the scratch folder.
  size_t scratch_files = 0;
  for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path() / "db" / "training")) {
    ++scratch_files;
  }
  BOOST_TEST(scratch_files == 0u);
}

BOOST_AUTO_TEST_CASE(ACollectionsTextsAreACorpusAndRetrainingAddsAVersionToApply) {
  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "notes", .dimension = 2}).ok());
  std::vector<Record> notes;
  std::istringstream sentences(testutil::TopicText(4000, 2));
  std::string line;
  for (size_t i = 0; std::getline(sentences, line); ++i) {
    notes.push_back({.key = std::to_string(i), .text = line, .vector = {1, float(i)}});
  }
  BOOST_TEST_REQUIRE(db->Upsert("notes", notes).ok());
  TrainOptions o = Small();
  o.collection = "notes";
  BOOST_TEST_REQUIRE(db->TrainModel("topics", o).ok());
  BOOST_TEST(db->DescribeModel("topics").value().words == 300u);
  BOOST_TEST(SameTopic(*db, "topics", "t5w1", 10) >= 9u);

  BOOST_TEST_REQUIRE(db->CreateCollection({.name = "docs", .model = "topics"}).ok());
  BOOST_TEST_REQUIRE(db->Upsert("docs", std::vector<Record>{{.key = "x", .text = "t4w4"}}).ok());
  const auto before = db->Get("docs", "x").value().vector;
  o.seed = 99;  // another model of the same words
  BOOST_TEST_REQUIRE(db->TrainModel("topics", o).ok());
  BOOST_TEST(db->DescribeModel("topics").value().version == 2u);
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 1u);
  BOOST_TEST(db->EmbedText("docs", "t4w4").value() == before, boost::test_tools::per_element());
  BOOST_TEST(db->ApplyModel("topics").value() == std::vector<std::string>{"docs"},
             boost::test_tools::per_element());
  BOOST_TEST(db->DescribeCollection("docs").value().model_version == 2u);
  const auto after = db->Get("docs", "x").value().vector;
  BOOST_TEST(after == db->EmbedText("docs", "t4w4").value(), boost::test_tools::per_element());
  BOOST_TEST(!(after == before));
  BOOST_TEST(db->Verify("docs").value().ok());
}

BOOST_AUTO_TEST_CASE(BadRequestsAreRefusedAndStoreNothing) {
  const auto corpus = TopicCorpus(100, 3);
  TrainOptions o = Small();
  Status none = db->TrainModel("m", o);
  BOOST_TEST(none.code() == Status::Code::kInvalidArgument);
  o.corpus = {corpus};
  o.collection = "notes";
  BOOST_TEST(db->TrainModel("m", o).code() == Status::Code::kInvalidArgument);
  o.collection.clear();
  o.corpus = {dir.path() / "missing.txt"};
  Status missing = db->TrainModel("m", o);
  BOOST_TEST(missing.code() == Status::Code::kNotFound);
  BOOST_TEST(std::string(missing.message()).find("missing.txt") != std::string::npos);
  o.corpus.clear();
  o.collection = "nope";
  BOOST_TEST(db->TrainModel("m", o).code() == Status::Code::kNotFound);
  o.collection.clear();
  const auto empty = dir.path() / "empty.txt";
  std::ofstream(empty) << "\n \n";
  o.corpus = {empty};
  Status empty_status = db->TrainModel("m", o);
  BOOST_TEST(empty_status.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(empty_status.message()).find("no words") != std::string::npos,
             empty_status.message());
  o.corpus = {corpus};
  o.min_count = 1000000;
  Status rare = db->TrainModel("m", o);
  BOOST_TEST(rare.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(rare.message()).find("min_count") != std::string::npos, rare.message());
  o.min_count = 1;
  o.dimension = 0;
  BOOST_TEST(db->TrainModel("m", o).code() == Status::Code::kInvalidArgument);
  o.dimension = 8;
  BOOST_TEST(db->TrainModel("", o).code() == Status::Code::kInvalidArgument);
  BOOST_TEST(db->ListModels().value().empty());
  Open(/*read_only=*/true);
  BOOST_TEST(db->TrainModel("m", o).code() == Status::Code::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(AStoppedTrainingKeepsNothingButACheckpointAndResumes) {
  TrainOptions o = Small();
  o.corpus = {TopicCorpus(20000, 4)};
  o.epochs = 8;
  std::atomic<bool> stop = false;
  o.stop = &stop;
  Status busy;
  o.progress = [&](const TrainProgress& p) {
    // The same name cannot be trained twice at once.
    if (p.phase == "counting" && busy.ok()) {
      TrainOptions other = Small();
      other.corpus = o.corpus;
      busy = db->TrainModel("topics", other);
    }
    if (p.phase == "training") stop = true;
  };
  Status s = db->TrainModel("topics", o);
  BOOST_TEST_REQUIRE(s.code() == Status::Code::kCancelled, s);
  BOOST_TEST(busy.code() == Status::Code::kBusy);
  BOOST_TEST(db->DescribeModel("topics").error().code() == Status::Code::kNotFound);
  // A reopen keeps the checkpoint and removes scratch files a crash left behind;
  // resume needs only the corpus.
  const fs::path scratch = dir.path() / "db" / "training";
  std::ofstream(scratch / "model-0123456789abcdef.ids") << "left by a crash";
  Open();
  size_t checkpoints = 0, others = 0;
  for (const auto& f : fs::directory_iterator(scratch)) {
    (f.path().extension() == ".ckpt" ? checkpoints : others) += 1;
  }
  BOOST_TEST(checkpoints == 1u);
  BOOST_TEST(others == 0u);
  TrainOptions resume;
  resume.corpus = o.corpus;
  resume.resume = true;
  Status resumed = db->TrainModel("topics", resume);
  BOOST_TEST_REQUIRE(resumed.ok(), resumed);
  const ModelInfo info = db->DescribeModel("topics").value();
  BOOST_TEST(info.dimension == 16u);
  BOOST_TEST(info.source.find("epochs 8") != std::string::npos, info.source);
  BOOST_TEST(SameTopic(*db, "topics", "t7w2", 10) >= 9u);
  // Nothing is left to resume.
  BOOST_TEST(db->TrainModel("topics", resume).code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_SUITE_END()

// Real text: the first 10 MB of the shared Gutenberg corpus. Labelled slow (ctest
// train_quality), since it trains a real model.
BOOST_FIXTURE_TEST_SUITE(TrainQualityTest, TrainDb)

BOOST_AUTO_TEST_CASE(TrainingOnRealTextBeatsRandomVectorsOnWordSim353) {
  const fs::path corpus = dir.path() / "corpus.txt";
  const std::string command = "xz -dc '" RELATE_TEST_DATA
                              "/corpus/gutenberg-text8style-10MB.txt.xz' > '" +
                              corpus.string() + "'";
  BOOST_TEST_REQUIRE(std::system(command.c_str()) == 0, command);
  const fs::path ws353 = RELATE_TEST_DATA "/wordsim/EN-WS-353-ALL.txt";
  TrainOptions o;
  o.corpus = {corpus};
  o.threads = 2;
  o.seed = 1;
  Status s = db->TrainModel("gutenberg", o);
  BOOST_TEST_REQUIRE(s.ok(), s);
  const WordSimReport trained = db->EvaluateWordSim("gutenberg", ws353).value();

  // The same vocabulary with random rows: what no learning gives.
  const fs::path exported = dir.path() / "trained.vec";
  BOOST_TEST_REQUIRE(db->ExportModel("gutenberg", exported, "word2vec-text").ok());
  const fs::path random = dir.path() / "random.vec";
  {
    std::ifstream in(exported);
    std::ofstream out(random);
    std::string line;
    std::getline(in, line);
    out << line << "\n";
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    while (std::getline(in, line)) {
      out << line.substr(0, line.find(' '));
      for (int i = 0; i < 100; ++i) out << ' ' << normal(rng);
      out << "\n";
    }
  }
  BOOST_TEST_REQUIRE(db->ImportModel("random", random).ok());
  const WordSimReport baseline = db->EvaluateWordSim("random", ws353).value();
  BOOST_TEST_MESSAGE("WS-353: trained " << trained.spearman << ", random " << baseline.spearman
                                        << " over " << trained.covered << " pairs");
  BOOST_TEST(trained.covered == baseline.covered);
  BOOST_TEST(trained.covered > 200u);
  BOOST_TEST(std::abs(baseline.spearman) < 0.15);
  BOOST_TEST(trained.spearman > 0.2);
  BOOST_TEST(trained.spearman > baseline.spearman + 0.15);
}

BOOST_AUTO_TEST_SUITE_END()
