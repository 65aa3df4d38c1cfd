// Models: `model import/list/describe/drop/export/train/apply`, and fit-sif
// (a collection's SIF component under its model).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ostream>

#include "tools/command.h"
#include "tools/files.h"
#include "tools/output.h"
#include "util/quote.h"

namespace relate::tools {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Prints which collections `ApplyModel(model)` re-embedded.
void PrintApplied(const Context& ctx, const std::string& model,
                  const std::vector<std::string>& moved) {
  std::ostream& out = ctx.out();
  if (ctx.json()) {
    out << json{{"applied", moved}}.dump() << "\n";
    return;
  }
  if (moved.empty()) {
    out << "every collection of model " << util::Quote(model) << " is on its newest version\n";
  }
  for (const auto& name : moved) {
    out << "collection " << util::Quote(name) << " re-embedded with model " << util::Quote(model)
        << "\n";
  }
}

class ModelImportCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("file", file_, "The vector file")->required();
    sub.add_option("--name", name_, "Model name")->required();
    sub.add_option("--format", options_.format,
                   "auto (default), word2vec-text, word2vec-binary, glove or fasttext-bin");
    sub.add_flag("--replace", options_.replace, "Replace a model of that name");
    sub.add_option("--pooling", options_.pooling, "mean (default) or sif");
    sub.add_option("--sif-a", options_.sif_a, "SIF's a (default 1e-3)");
    sub.add_option("--activation", options_.activation, "none (default), relu or tanh");
    sub.add_flag("--no-lowercase", no_lowercase_, "Keep the case of text");
    sub.add_flag("!--no-numbers", options_.keep_numbers, "Drop numbers from text");
    sub.add_flag("--punctuation", options_.keep_punctuation, "Keep punctuation as tokens");
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    options_.lowercase = !no_lowercase_;
    const auto start = Clock::now();
    auto last_draw = start;
    if (ctx.tty()) {
      options_.progress = [&](uint64_t done, uint64_t total) {
        if (Clock::now() - last_draw < std::chrono::milliseconds(200) && done < total) return;
        last_draw = Clock::now();
        const double s = SecondsSince(start);
        const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
        const double eta = frac > 0 ? s * (1 - frac) / frac : 0;
        ctx.err() << fmt::format("\rimporting {}: {:3.0f}% of {}  {}/s  ETA {} ", name_, frac * 100,
                                 HumanBytes(total),
                                 HumanBytes(static_cast<uint64_t>(s > 0 ? done / s : 0)),
                                 MinutesSeconds(eta))
                  << std::flush;
      };
    }
    Status s = db->ImportModel(name_, file_, options_);
    if (ctx.tty()) ctx.err() << "\n";
    Check(s);
    auto info = Check(db->DescribeModel(name_));
    const double seconds = SecondsSince(start);
    if (ctx.json()) {
      json j = ModelToJson(info);
      j["seconds"] = seconds;
      ctx.out() << j.dump() << "\n";
    } else {
      ctx.out() << fmt::format("imported {} from {} ({}), {:.2f} s\n", ModelShape(info), file_,
                               info.format, seconds);
    }
  }

 private:
  std::string file_;
  std::string name_;
  ModelOptions options_;
  bool no_lowercase_ = false;
};

class ModelListCommand : public Command {
 public:
  void AddFlags(CLI::App&) override {}

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    auto all = Check(db->ListModels());
    std::ostream& out = ctx.out();
    if (ctx.json()) {
      json arr = json::array();
      for (const auto& m : all) arr.push_back(ModelToJson(m));
      out << arr.dump() << "\n";
      return;
    }
    const size_t name_width = ColumnWidth(all, 24, [](const ModelInfo& m) { return m.name; });
    out << fmt::format("{} {:>7} {:>10} {:>9} {:<16} {:<8}\n", Pad("model", name_width), "version",
                       "words", "dimension", "format", "pooling");
    for (const auto& m : all) {
      out << fmt::format("{} {:>7} {:>10} {:>9} {:<16} {:<8}\n", Pad(OneLine(m.name), name_width),
                         m.version, m.words, m.dimension, m.format, m.pooling);
    }
  }
};

class ModelDescribeCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("name", name_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    auto m = Check(db->DescribeModel(name_));
    if (ctx.json()) {
      ctx.out() << ModelToJson(m).dump() << "\n";
      return;
    }
    ctx.out() << fmt::format(
        "model       {}\nversion     {}\nwords       {}\ndimension   {}\nsubwords    {}\n"
        "format      {}\nsource      {}\ntokenizer   {}, {}, {}\nactivation  {}\npooling     {}\n"
        "created     {}\n",
        m.name, m.version, m.words, m.dimension,
        m.subword_buckets > 0
            ? fmt::format("{} rows, {}-{} characters", m.subword_buckets, m.min_ngram, m.max_ngram)
            : std::string("none"),
        m.format, m.source, m.lowercase ? "lowercase" : "case kept",
        m.keep_numbers ? "numbers kept" : "numbers dropped",
        m.keep_punctuation ? "punctuation kept" : "punctuation dropped", m.activation,
        m.pooling == "sif" ? fmt::format("sif (a = {})", m.sif_a) : m.pooling,
        FormatTime(m.created_unix_ms));
  }

 private:
  std::string name_;
};

class ModelDropCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("name", name_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    Check(db->DropModel(name_));
    if (ctx.json()) {
      ctx.out() << json{{"dropped", name_}}.dump() << "\n";
    } else {
      ctx.out() << fmt::format("dropped model {}\n", util::Quote(name_));
    }
  }

 private:
  std::string name_;
};

class ModelExportCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("name", name_)->required();
    sub.add_option("file", file_)->required();
    sub.add_option("--format", format_, "word2vec-text (default) or word2vec-binary");
    sub.add_flag("--force", force_, "Overwrite FILE if it exists (a regular file only)");
  }

  void DoCommand(Context& ctx) override {
    Check(CheckOutputFile("model export", file_, ctx.DbDir(), force_));
    auto db = ctx.OpenDb(false);
    const std::string format = format_ == "auto" ? "word2vec-text" : format_;
    Check(db->ExportModel(name_, file_, format));
    auto info = Check(db->DescribeModel(name_));
    if (ctx.json()) {
      ctx.out() << json{{"model", name_},
                        {"file", file_},
                        {"format", format},
                        {"words", info.words}}
                       .dump()
                << "\n";
    } else {
      ctx.out() << fmt::format("exported model {} ({} words) to {} as {}\n", util::Quote(name_),
                               info.words, file_, format);
    }
  }

 private:
  std::string name_;
  std::string file_;
  std::string format_ = "auto";
  bool force_ = false;
};

// Set by SIGINT while a training runs: the trainer stops and checkpoints.
std::atomic<bool> g_stop_training{false};

extern "C" void StopTraining(int) {
  g_stop_training.store(true);
  // A second Ctrl-C ends the process the usual way.
  std::signal(SIGINT, SIG_DFL);
}

class ModelTrainCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    TrainOptions& t = options_;
    sub.add_option("--name", name_, "Model name")->required();
    auto* corpus = sub.add_option("--corpus", corpus_, "UTF-8 text files to learn from");
    auto* from = sub.add_option("--collection", t.collection, "Learn from a collection's texts");
    corpus->excludes(from);
    sub.add_option("--arch", t.architecture, "skipgram (default) or cbow");
    sub.add_option("--dim", t.dimension, "Dimension (default 100)");
    sub.add_option("--window", t.window, "Context words each side (default 5)");
    sub.add_option("--negative", t.negative, "Noise words a prediction (default 5)");
    sub.add_option("--sample", t.sample, "Sub-sampling threshold (default 1e-3; 0: none)");
    sub.add_option("--min-count", t.min_count, "Leave out rarer words (default 5)");
    sub.add_option("--max-words", t.max_words, "Keep the most frequent N words (default all)");
    sub.add_option("--epochs", t.epochs, "Passes over the corpus (default 5)");
    sub.add_option("--lr", t.learning_rate, "Start learning rate (default 0.025 sg, 0.05 cbow)");
    sub.add_option("--threads", t.threads, "Threads (default: one per core)");
    sub.add_option("--seed", t.seed, "Random seed (default 1)");
    sub.add_option("--minn", t.min_ngram, "Shortest subword n-gram (default 0: no subwords)");
    sub.add_option("--maxn", t.max_ngram, "Longest subword n-gram (default 0: no subwords)");
    sub.add_option("--buckets", t.buckets, "Subword hash rows (default 2000000)");
    sub.add_option("--pooling", t.pooling, "Pooling of texts: mean (default) or sif");
    sub.add_flag("--no-lowercase", no_lowercase_, "Keep the case of text");
    sub.add_flag("!--no-numbers", t.keep_numbers, "Drop numbers from text");
    sub.add_flag("--punctuation", t.keep_punctuation, "Keep punctuation as tokens");
    sub.add_flag("--resume", t.resume,
                 "Continue a training that Ctrl-C stopped (same corpus; its settings)");
    sub.add_flag("--apply", apply_, "Then re-embed the collections bound to the model");
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    TrainOptions& o = options_;
    o.corpus.assign(corpus_.begin(), corpus_.end());
    o.lowercase = !no_lowercase_;
    o.stop = &g_stop_training;
    TrainProgress last;
    auto last_draw = Clock::now() - std::chrono::seconds(1);
    o.progress = [&](const TrainProgress& p) {
      last = p;
      if (ctx.json()) PrintProgressJson(ctx, p);
      if (!ctx.tty() || Clock::now() - last_draw < std::chrono::milliseconds(200)) return;
      last_draw = Clock::now();
      DrawProgress(ctx, p);
    };
    g_stop_training.store(false);
    auto previous = std::signal(SIGINT, StopTraining);
    const auto start = Clock::now();
    Status s = db->TrainModel(name_, o);
    std::signal(SIGINT, previous == SIG_ERR ? SIG_DFL : previous);
    if (ctx.tty()) ctx.err() << "\n";
    if (s.code() == Status::Code::kCancelled) {
      ctx.err() << "relate: " << s.message() << "\n"
                << "relate: continue with: relate model train --name " << name_ << " "
                << (corpus_.empty() ? "--collection " + options_.collection
                                    : "--corpus " + fmt::format("{}", fmt::join(corpus_, " ")))
                << " --resume\n";
    }
    Check(s);
    const double seconds = SecondsSince(start);
    auto info = Check(db->DescribeModel(name_));
    if (ctx.json()) {
      json j = ModelToJson(info);
      j["seconds"] = seconds;
      j["words_per_second_per_thread"] = last.words_per_second_per_thread;
      j["loss"] = last.loss;
      ctx.out() << j.dump() << "\n";
    } else {
      ctx.out() << fmt::format(
          "trained {}, {} words in {:.1f} s ({:.0f}k words/s/thread on {} threads)\n",
          ModelShape(info), last.words_done, seconds, last.words_per_second_per_thread / 1000,
          last.threads);
    }
    if (apply_) PrintApplied(ctx, name_, Check(db->ApplyModel(name_)));
  }

 private:
  // A line of JSON on standard output for each report of the trainer (--json).
  static void PrintProgressJson(const Context& ctx, const TrainProgress& p) {
    ctx.out() << json{{"phase", p.phase},
                      {"epoch", p.epoch},
                      {"epochs", p.epochs},
                      {"words_done", p.words_done},
                      {"words_total", p.words_total},
                      {"words_per_second_per_thread", p.words_per_second_per_thread},
                      {"loss", p.loss},
                      {"learning_rate", p.learning_rate},
                      {"elapsed_seconds", p.elapsed_seconds},
                      {"eta_seconds", p.eta_seconds}}
                     .dump()
              << "\n"
              << std::flush;
  }

  // The progress line on a terminal.
  void DrawProgress(const Context& ctx, const TrainProgress& p) const {
    if (p.phase != "training") {
      ctx.err() << fmt::format("\r{} the corpus: {} words read, {:.0f}k words/s      ", p.phase,
                               p.words_done, p.words_per_second_per_thread / 1000)
                << std::flush;
      return;
    }
    const double frac = p.words_total > 0 ? static_cast<double>(p.words_done) / p.words_total : 0;
    ctx.err() << fmt::format(
                     "\rtraining {}: epoch {}/{} {:5.1f}%  {:.0f}k words/s/thread  loss {:.4f}  "
                     "lr {:.5f}  ETA {} ",
                     util::Quote(name_), p.epoch, p.epochs, frac * 100,
                     p.words_per_second_per_thread / 1000, p.loss, p.learning_rate,
                     Duration(p.eta_seconds))
              << std::flush;
  }

  std::string name_;
  std::vector<std::string> corpus_;
  TrainOptions options_;
  bool no_lowercase_ = false;
  bool apply_ = false;
};

class ModelApplyCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("name", name_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    PrintApplied(ctx, name_, Check(db->ApplyModel(name_)));
  }

 private:
  std::string name_;
};

class FitSifCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override { sub.add_option("collection", collection_)->required(); }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    Check(db->FitSifComponent(collection_));
    auto info = Check(db->DescribeCollection(collection_));
    if (ctx.json()) {
      ctx.out() << json{{"collection", collection_}, {"records", info.count}}.dump() << "\n";
    } else {
      ctx.out() << fmt::format("fitted the SIF component of {} and re-embedded its texts\n",
                               util::Quote(collection_));
    }
  }

 private:
  std::string collection_;
};

}  // namespace

void AddModelCommands(CLI::App& app, CommandSet& commands) {
  CLI::App* model = app.add_subcommand("model", "Embedding models stored in the database");
  model->require_subcommand(1);
  commands.Add<ModelImportCommand>(*model, "import",
                                   "Import word vectors (word2vec, GloVe, fastText) as a model");
  commands.Add<ModelListCommand>(*model, "list", "List models");
  commands.Add<ModelDescribeCommand>(*model, "describe", "Describe a model");
  commands.Add<ModelDropCommand>(*model, "drop", "Drop a model");
  commands.Add<ModelExportCommand>(*model, "export", "Write a model's words and vectors to a file");
  commands.Add<ModelTrainCommand>(*model, "train",
                                  "Learn a model from text (skip-gram or CBOW, negative "
                                  "sampling), as a new version of NAME");
  commands.Add<ModelApplyCommand>(
      *model, "apply", "Re-embed the collections bound to a model with its newest version");
  commands.Add<FitSifCommand>(
      app, "fit-sif", "SIF: remove the common component of a collection's texts (re-embeds them)");
}

}  // namespace relate::tools
