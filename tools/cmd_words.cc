// Words under a model: similar, analogy, odd-one-out, similarity, and
// `eval wordsim/analogy` against gold data.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ostream>

#include "tools/command.h"
#include "tools/output.h"

namespace relate::tools {
namespace {

void PrintWords(const Context& ctx, const std::vector<WordHit>& hits) {
  std::ostream& out = ctx.out();
  if (ctx.json()) {
    json arr = json::array();
    for (const auto& h : hits) arr.push_back({{"word", h.word}, {"score", h.score}});
    out << arr.dump() << "\n";
    return;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    out << fmt::format("{:>4}  {:>8.4f}  {}\n", i + 1, hits[i].score, hits[i].word);
  }
}

class SimilarCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("model", model_)->required();
    sub.add_option("word", word_)->required();
    sub.add_option("-k", k_, "How many (default 10)")->check(CLI::PositiveNumber);
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    PrintWords(ctx, Check(db->SimilarWords(model_, word_, k_)));
  }

 private:
  std::string model_;
  std::string word_;
  size_t k_ = 10;
};

class AnalogyCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("model", model_)->required();
    sub.add_option("terms", terms_, "B - A + C")->required();
    sub.add_option("-k", k_, "How many (default 10)")->check(CLI::PositiveNumber);
    sub.add_option("--method", method_, "3cosadd (default) or 3cosmul");
  }

  void DoCommand(Context& ctx) override {
    // "king - man + woman": b - a + c.
    if (terms_.size() != 5 || terms_[1] != "-" || terms_[3] != "+") {
      throw Failure{kExitUsage, "analogy: write it as B - A + C, e.g. king - man + woman"};
    }
    AnalogyMethod method;
    if (method_ == "3cosadd") {
      method = AnalogyMethod::kCosAdd;
    } else if (method_ == "3cosmul") {
      method = AnalogyMethod::kCosMul;
    } else {
      throw Failure{kExitUsage, "analogy: --method is 3cosadd or 3cosmul"};
    }
    auto db = ctx.OpenDb(false);
    PrintWords(ctx, Check(db->Analogy(model_, terms_[2], terms_[0], terms_[4], k_, method)));
  }

 private:
  std::string model_;
  std::vector<std::string> terms_;
  size_t k_ = 10;
  std::string method_ = "3cosadd";
};

class OddOneOutCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("model", model_)->required();
    sub.add_option("words", words_)->required();
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    std::string odd = Check(db->OddOneOut(model_, words_));
    if (ctx.json()) {
      ctx.out() << json{{"odd_one_out", odd}}.dump() << "\n";
    } else {
      ctx.out() << odd << "\n";
    }
  }

 private:
  std::string model_;
  std::vector<std::string> words_;
};

class SimilarityCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("model", model_)->required();
    sub.add_option("texts", texts_)->required();
  }

  void DoCommand(Context& ctx) override {
    if (texts_.size() != 2) throw Failure{kExitUsage, "similarity: give two texts"};
    auto db = ctx.OpenDb(false);
    float cos = Check(db->TextSimilarity(model_, texts_[0], texts_[1]));
    if (ctx.json()) {
      ctx.out() << json{{"cosine", cos}}.dump() << "\n";
    } else {
      ctx.out() << fmt::format("{:.4f}\n", cos);
    }
  }

 private:
  std::string model_;
  std::vector<std::string> texts_;
};

// What every `eval` command takes: a model and a file of gold data.
class EvalCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("model", model_)->required();
    sub.add_option("file", file_)->required();
  }

 protected:
  std::string model_;
  std::string file_;
};

class EvalWordSimCommand : public EvalCommand {
 public:
  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    WordSimReport r = Check(db->EvaluateWordSim(model_, file_));
    if (std::isnan(r.spearman)) {
      std::string why;
      if (r.covered < 2) {
        why = fmt::format("the model has both words of {} of its {} pairs, and rho needs two",
                          r.covered, r.pairs);
      } else {
        why = fmt::format(
            "the human scores or the model's similarities of its {} covered pairs are all equal",
            r.covered);
      }
      if (!r.missed.empty()) why += " (missing words include " + r.missed[0] + ")";
      throw Failure{kExitBadInput,
                    "eval wordsim: " + file_ + ": Spearman's rho is undefined: " + why};
    }
    std::ostream& out = ctx.out();
    if (ctx.json()) {
      out << json{{"spearman", r.spearman},
                  {"pairs", r.pairs},
                  {"covered", r.covered},
                  {"missed", r.missed}}
                 .dump()
          << "\n";
      return;
    }
    out << fmt::format("Spearman rho {:.4f} over {} of {} pairs", r.spearman, r.covered, r.pairs);
    if (!r.missed.empty()) {
      out << " (missing words include " << r.missed[0];
      for (size_t i = 1; i < std::min<size_t>(5, r.missed.size()); ++i) out << ", " << r.missed[i];
      out << ")";
    }
    out << "\n";
  }
};

class EvalAnalogyCommand : public EvalCommand {
 public:
  void AddFlags(CLI::App& sub) override {
    EvalCommand::AddFlags(sub);
    sub.add_option("--restrict", restrict_, "Only the N most frequent words (default: all)");
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    AnalogyReport r = Check(db->EvaluateAnalogies(model_, file_, restrict_));
    if (r.answered == 0) {
      throw Failure{kExitBadInput,
                    fmt::format("eval analogy: {}: accuracy is undefined: none of its {} "
                                "questions has all four words among the model's {}words",
                                file_, r.questions,
                                restrict_ ? fmt::format("{} most frequent ", restrict_) : "")};
    }
    if (ctx.json()) {
      PrintJson(ctx, r);
      return;
    }
    auto pct = [](size_t c, size_t a) { return a == 0 ? 0.0 : 100.0 * c / a; };
    const size_t name_width =
        ColumnWidth(r.sections, 32, [](const AnalogyReport::Section& s) { return s.name; });
    std::ostream& out = ctx.out();
    out << fmt::format("{} {:>9} {:>9} {:>8} {:>8}\n", Pad("section", name_width), "questions",
                       "answered", "correct", "accuracy");
    for (const auto& s : r.sections) {
      out << fmt::format("{} {:>9} {:>9} {:>8} {:>7.2f}%\n", Pad(OneLine(s.name), name_width),
                         s.questions, s.answered, s.correct, pct(s.correct, s.answered));
    }
    out << fmt::format("{} {:>9} {:>9} {:>8} {:>7.2f}%\n", Pad("total", name_width), r.questions,
                       r.answered, r.correct, pct(r.correct, r.answered));
  }

 private:
  static void PrintJson(const Context& ctx, const AnalogyReport& r) {
    json sections = json::array();
    for (const auto& s : r.sections) {
      sections.push_back({{"name", s.name},
                          {"questions", s.questions},
                          {"answered", s.answered},
                          {"correct", s.correct}});
    }
    ctx.out() << json{{"questions", r.questions},
                      {"answered", r.answered},
                      {"correct", r.correct},
                      {"accuracy", r.accuracy()},
                      {"sections", sections}}
                     .dump()
              << "\n";
  }

  size_t restrict_ = 0;
};

}  // namespace

void AddWordCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<SimilarCommand>(app, "similar", "The words of a model nearest to a word");
  commands.Add<AnalogyCommand>(app, "analogy", "Solve B - A + C, e.g. king - man + woman");
  commands.Add<OddOneOutCommand>(app, "odd-one-out", "The word that fits least with the others");
  commands.Add<SimilarityCommand>(app, "similarity",
                                  "Cosine similarity of two texts under a model");
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a model on gold data");
  eval->require_subcommand(1);
  commands.Add<EvalWordSimCommand>(*eval, "wordsim",
                                   "Spearman rho against word-pair scores (w1 TAB w2 TAB score)");
  commands.Add<EvalAnalogyCommand>(
      *eval, "analogy", "Accuracy on analogy questions (word2vec's questions-words format)");
}

}  // namespace relate::tools
