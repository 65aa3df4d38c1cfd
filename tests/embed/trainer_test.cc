#include "embed/trainer.h"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "embed/corpus.h"
#include "embed/sgns.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::embed;
namespace fs = std::filesystem;

namespace {

// L = -log s(h.w0) - sum_i log s(-h.wi), in double precision.
double Loss(const std::vector<double>& h, const std::vector<double>& w, size_t targets,
            size_t dim) {
  double loss = 0;
  for (size_t t = 0; t < targets; ++t) {
    double f = 0;
    for (size_t k = 0; k < dim; ++k) f += h[k] * w[t * dim + k];
    loss += std::log1p(std::exp(t == 0 ? -f : f));
  }
  return loss;
}

struct GradientCase {
  static constexpr size_t kDim = 8, kTargets = 4;
  std::vector<float> h, w;
  GradientCase() {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0, 0.5f);
    h.resize(kDim);
    w.resize(kTargets * kDim);
    for (auto& x : h) x = normal(rng);
    for (auto& x : w) x = normal(rng);
  }
  // dL/dx by central differences, x = h[k] (row < 0) or w[row][k].
  double Numeric(int row, size_t k) const {
    std::vector<double> hd(h.begin(), h.end()), wd(w.begin(), w.end());
    const double eps = 1e-5;
    double& x = row < 0 ? hd[k] : wd[static_cast<size_t>(row) * kDim + k];
    const double x0 = x;
    x = x0 + eps;
    const double up = Loss(hd, wd, kTargets, kDim);
    x = x0 - eps;
    const double down = Loss(hd, wd, kTargets, kDim);
    return (up - down) / (2 * eps);
  }
  // Runs one step with `sigmoid` and checks every gradient component against
  // the finite differences, within `tolerance`; also checks the reported loss.
  template <typename Sigmoid>
  void Check(const Sigmoid& sigmoid, double tolerance) const {
    const float lr = 0.1f;
    std::vector<float> out = w, grad_h(kDim, 0.0f);
    const uint32_t targets[kTargets] = {0, 1, 2, 3};
    const float loss = NegativeSamplingStep(h.data(), out.data(), targets, kTargets, kDim, lr,
                                            grad_h.data(), sigmoid);
    std::vector<double> hd(h.begin(), h.end()), wd(w.begin(), w.end());
    BOOST_TEST(std::abs(loss - Loss(hd, wd, kTargets, kDim)) < 20 * tolerance);
    for (size_t k = 0; k < kDim; ++k) {
      // grad_h holds -lr dL/dh; each row moved by -lr dL/dw.
      BOOST_TEST(std::abs(grad_h[k] / -lr - Numeric(-1, k)) < tolerance, "dL/dh[" << k << "]");
      for (size_t t = 0; t < kTargets; ++t) {
        const double moved = (out[t * kDim + k] - w[t * kDim + k]) / -lr;
        BOOST_TEST(std::abs(moved - Numeric(static_cast<int>(t), k)) < tolerance,
                   "dL/dw" << t << "[" << k << "]");
      }
    }
  }
};

fs::path WriteTopicCorpus(const fs::path& path, size_t sentences, uint32_t seed) {
  std::ofstream(path) << testutil::TopicText(sentences, seed);
  return path;
}

TrainOptions SmallOptions() {
  TrainOptions o;
  o.dimension = 16;
  o.epochs = 3;
  o.threads = 1;
  o.seed = 42;
  o.min_count = 1;
  return o;
}

std::unique_ptr<Trainer> Prepared(const fs::path& corpus, const TrainOptions& options,
                                  const fs::path& ids) {
  auto t = Trainer::Prepare(FileTextSource({corpus}), options, "corpus", ids);
  BOOST_TEST_REQUIRE(t.has_value(), t.error());
  return std::move(*t);
}

double Cosine(std::span<const float> a, std::span<const float> b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(TrainerTest)

BOOST_AUTO_TEST_CASE(OneStepMatchesFiniteDifferencesOfTheLoss) {
  GradientCase c;
  c.Check(ExactSigmoid{}, 1e-4);
  // The table the trainer uses is a close approximation of the same gradient.
  c.Check(SigmoidTable{}, 5e-3);
}

BOOST_AUTO_TEST_CASE(OneThreadAndOneSeedGiveTheSameModelTwice) {
  testutil::ScratchDir dir;
  const auto corpus = WriteTopicCorpus(dir.path() / "c.txt", 3000, 1);
  for (const char* arch : {"skipgram", "cbow"}) {
    TrainOptions o = SmallOptions();
    o.architecture = arch;
    auto a = Prepared(corpus, o, dir.path() / "a.ids");
    auto b = Prepared(corpus, o, dir.path() / "b.ids");
    BOOST_TEST_REQUIRE(a->Train(dir.path() / "a.ckpt").ok());
    BOOST_TEST_REQUIRE(b->Train(dir.path() / "b.ckpt").ok());
    BOOST_TEST(a->input_table().data() == b->input_table().data());
    BOOST_TEST(a->output_table().data() == b->output_table().data());
    // Training moved W' away from its zero start.
    double norm = 0;
    for (float x : a->output_table().data()) norm += double{x} * x;
    BOOST_TEST(norm > 1.0);
    // Another seed gives another model.
    o.seed = 43;
    auto c = Prepared(corpus, o, dir.path() / "c.ids");
    BOOST_TEST_REQUIRE(c->Train(dir.path() / "c.ckpt").ok());
    BOOST_TEST(!(a->input_table().data() == c->input_table().data()));
  }
}

BOOST_AUTO_TEST_CASE(WordsOfOneTopicEndUpNearerThanWordsOfTwo) {
  testutil::ScratchDir dir;
  const auto corpus = WriteTopicCorpus(dir.path() / "c.txt", 6000, 2);
  for (const char* arch : {"skipgram", "cbow"}) {
    TrainOptions o = SmallOptions();
    o.architecture = arch;
    o.epochs = 5;
    auto t = Prepared(corpus, o, dir.path() / "t.ids");
    BOOST_TEST_REQUIRE(t->Train(dir.path() / "t.ckpt").ok());
    auto model = t->Model().value();
    const WordVectors& w = model.plain;
    auto row = [&](const char* token) { return w.table.Row(w.vocabulary.Find(token).value()); };
    double same = 0, other = 0;
    for (int i = 0; i < 10; ++i) {
      const std::string a = "t" + std::to_string(i) + "w0", b = "t" + std::to_string(i) + "w1";
      const std::string c = "t" + std::to_string(i + 10) + "w1";
      same += Cosine(row(a.c_str()), row(b.c_str()));
      other += Cosine(row(a.c_str()), row(c.c_str()));
    }
    BOOST_TEST(same / 10 > other / 10 + 0.3,
               arch << ": same " << same / 10 << " other " << other / 10);
  }
}

BOOST_AUTO_TEST_CASE(AStoppedTrainingResumesToTheModelOfAnUninterruptedOne) {
  testutil::ScratchDir dir;
  const auto corpus = WriteTopicCorpus(dir.path() / "c.txt", 20000, 3);
  TrainOptions o = SmallOptions();
  o.epochs = 8;
  auto whole = Prepared(corpus, o, dir.path() / "w.ids");
  BOOST_TEST_REQUIRE(whole->Train(dir.path() / "w.ckpt").ok());

  std::atomic<bool> stop = false;
  o.stop = &stop;
  o.progress = [&](const TrainProgress& p) {
    if (p.phase == "training") stop = true;
  };
  auto first = Prepared(corpus, o, dir.path() / "f.ids");
  const fs::path checkpoint = dir.path() / "f.ckpt";
  Status s = first->Train(checkpoint);
  BOOST_TEST_REQUIRE(s.code() == Status::Code::kCancelled, s);
  BOOST_TEST(fs::exists(checkpoint));
  first.reset();

  TrainOptions again;  // a resume takes every setting from the checkpoint
  auto resumed =
      Trainer::Resume(checkpoint, FileTextSource({corpus}), again, "corpus", dir.path() / "r.ids");
  BOOST_TEST_REQUIRE(resumed.has_value(), resumed.error());
  BOOST_TEST((*resumed)->options().epochs == 8u);
  BOOST_TEST_REQUIRE((*resumed)->Train(dir.path() / "r.ckpt").ok());
  BOOST_TEST((*resumed)->input_table().data() == whole->input_table().data());
  BOOST_TEST((*resumed)->output_table().data() == whole->output_table().data());

  // Another corpus, or a damaged checkpoint, is refused.
  auto other =
      Trainer::Resume(checkpoint, FileTextSource({corpus}), again, "another", dir.path() / "x.ids");
  BOOST_TEST(other.error().code() == Status::Code::kInvalidArgument);
  {
    std::fstream f(checkpoint, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  auto damaged =
      Trainer::Resume(checkpoint, FileTextSource({corpus}), again, "corpus", dir.path() / "x.ids");
  BOOST_TEST(damaged.error().code() == Status::Code::kCorruption);
  auto missing = Trainer::Resume(dir.path() / "none.ckpt", FileTextSource({corpus}), again,
                                 "corpus", dir.path() / "x.ids");
  BOOST_TEST(missing.error().code() == Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(SubwordsGiveUnseenWordsVectorsNearTheirRelatives) {
  testutil::ScratchDir dir;
  // Each topic's words share a long stem, so n-grams carry the topic.
  std::mt19937 rng(5);
  const auto corpus = dir.path() / "c.txt";
  {
    std::ofstream out(corpus);
    const char* stems[] = {"alphabetical", "zoological", "mechanically", "photographs"};
    for (int s = 0; s < 8000; ++s) {
      const int topic = static_cast<int>(rng() % 4);
      for (int i = 0; i < 10; ++i) out << stems[topic] << char('a' + rng() % 8) << ' ';
      out << "\n";
    }
  }
  TrainOptions o = SmallOptions();
  o.min_ngram = 3;
  o.max_ngram = 5;
  o.buckets = 50000;
  o.epochs = 3;
  auto t = Prepared(corpus, o, dir.path() / "t.ids");
  BOOST_TEST_REQUIRE(t->Train(dir.path() / "t.ckpt").ok());
  auto model = t->Model().value();
  BOOST_TEST_REQUIRE(model.fasttext.has_value());
  const FastTextModel& ft = *model.fasttext;
  BOOST_TEST(ft.buckets() == 50000u);
  BOOST_TEST(!ft.words().vocabulary.Find("zoologicalz"));
  const auto unseen = ft.WordVector("zoologicalz").value();
  const auto kin = ft.WordVector("zoologicala").value();
  const auto stranger = ft.WordVector("photographsa").value();
  BOOST_TEST(Cosine(unseen, kin) > Cosine(unseen, stranger) + 0.2);
}

BOOST_AUTO_TEST_CASE(BadOptionsAreRefusedNamingTheField) {
  auto refused = [](auto change, const std::string& field) {
    TrainOptions o;
    change(o);
    Status s = ValidateTrainOptions(o);
    BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
    BOOST_TEST(std::string(s.message()).find(field) != std::string::npos, s.message());
  };
  refused([](TrainOptions& o) { o.architecture = "glove"; }, "architecture");
  refused([](TrainOptions& o) { o.dimension = 0; }, "dimension");
  refused([](TrainOptions& o) { o.window = 0; }, "window");
  refused([](TrainOptions& o) { o.negative = 0; }, "negative");
  refused([](TrainOptions& o) { o.sample = -1; }, "sample");
  refused([](TrainOptions& o) { o.epochs = 0; }, "epochs");
  refused([](TrainOptions& o) { o.learning_rate = std::nanf(""); }, "learning rate");
  refused([](TrainOptions& o) { o.min_ngram = 4, o.max_ngram = 3; }, "n-gram");
  refused([](TrainOptions& o) { o.min_ngram = 3, o.max_ngram = 6, o.buckets = 0; }, "buckets");
  refused([](TrainOptions& o) { o.pooling = "max"; }, "pooling");
  BOOST_TEST(ValidateTrainOptions(TrainOptions{}).ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(CorpusTest)

BOOST_AUTO_TEST_CASE(ALineLongerThanAChunkIsCutBetweenWords) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "long.txt";
  std::string line;
  for (int i = 0; i < 400000; ++i) line += "w" + std::to_string(i % 1000) + " ";  // ~2.3 MB
  std::ofstream(path) << line << "\nlast line\n";
  std::vector<size_t> pieces;
  size_t words = 0, longest = 0;
  Status s = FileTextSource({path})([&](std::string_view piece) {
    pieces.push_back(piece.size());
    longest = std::max(longest, piece.size());
    for (size_t i = 0; i < piece.size(); ++i) words += piece[i] == 'w';
    // Every piece of the long line starts at a word.
    if (pieces.size() > 1 && piece != "last line") BOOST_TEST(piece.front() == 'w');
    return Status::OK();
  });
  BOOST_TEST_REQUIRE(s.ok(), s);
  BOOST_TEST(words == 400000u);
  BOOST_TEST(pieces.size() >= 3u);
  BOOST_TEST(longest <= (2u << 20));
}

BOOST_AUTO_TEST_CASE(CountingKeepsFrequentWordsWithinItsBound) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "c.txt";
  {
    std::ofstream out(path);
    for (int i = 0; i < 20000; ++i) out << "common rare" << i << " often\n";
  }
  CountOptions options{.min_count = 5, .counting_limit = 1000};
  auto v = CountWords(FileTextSource({path}), options);
  BOOST_TEST_REQUIRE(v.has_value(), v.error());
  // 20,002 distinct words were seen, never more than ~1000 held at once; the
  // frequent words survive pruning with their exact counts.
  BOOST_TEST(v->size() == 2u);
  BOOST_TEST(v->Count(v->Find("common").value()) == 20000u);
  BOOST_TEST(v->Count(v->Find("often").value()) == 20000u);
}

BOOST_AUTO_TEST_CASE(EmptyCorporaAndRareWordsAreClearErrors) {
  testutil::ScratchDir dir;
  const auto empty = dir.path() / "empty.txt";
  std::ofstream(empty) << "  \n\n ... \n";
  auto none = CountWords(FileTextSource({empty}), {});
  BOOST_TEST(none.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(none.error().message()).find("no words") != std::string::npos);
  const auto rare = dir.path() / "rare.txt";
  std::ofstream(rare) << "one two three\nfour five\n";
  auto few = CountWords(FileTextSource({rare}), {.min_count = 2});
  BOOST_TEST(few.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(few.error().message()).find("min_count") != std::string::npos,
             few.error().message());
  auto missing = CountWords(FileTextSource({dir.path() / "nope.txt"}), {});
  BOOST_TEST(missing.error().code() == Status::Code::kNotFound);
  BOOST_TEST(std::string(missing.error().message()).find("nope.txt") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(BadBytesAreReplacedAndTheWordsAroundThemKept) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "bad.txt";
  std::ofstream(path, std::ios::binary) << "caf\xC3\xA9 ok\xFF"
                                           "fine ok \xC3\n";
  auto v = CountWords(FileTextSource({path}), {.min_count = 1});
  BOOST_TEST_REQUIRE(v.has_value(), v.error());
  BOOST_TEST(v->Find("café").has_value());
  BOOST_TEST(v->Find("fine").has_value());
  BOOST_TEST(v->Count(v->Find("ok").value()) == 2u);
  for (uint32_t i = 0; i < v->size(); ++i) {
    BOOST_TEST(v->Token(i).find('\xFF') == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(EncodingWritesSentenceAlignedBlocks) {
  testutil::ScratchDir dir;
  const auto path = WriteTopicCorpus(dir.path() / "c.txt", 500, 4);
  auto v = CountWords(FileTextSource({path}), {.min_count = 1}).value();
  auto corpus = EncodeCorpus(FileTextSource({path}), {}, v, dir.path() / "ids", 1000);
  BOOST_TEST_REQUIRE(corpus.has_value(), corpus.error());
  BOOST_TEST(corpus->words == 500u * 12);
  BOOST_TEST(corpus->blocks() >= 5u);
  std::ifstream in(dir.path() / "ids", std::ios::binary);
  std::vector<uint32_t> ids(corpus->block_starts.back());
  in.read(reinterpret_cast<char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
  BOOST_TEST_REQUIRE(in.good());
  for (size_t b = 1; b < corpus->block_starts.size(); ++b) {
    BOOST_TEST(ids[corpus->block_starts[b] - 1] == EncodedCorpus::kSentenceEnd);
  }
}

BOOST_AUTO_TEST_SUITE_END()
