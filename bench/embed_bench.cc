// relate_embed_bench: text embedding throughput and the whole text ingest path of
// relate, each next to an anchor measured in the same run, as a ratio.
//
// Data: a synthetic but realistic model (pronounceable lowercase words, Gaussian rows,
// fixed seed) written as word2vec binary and imported with DB::ImportModel, and texts
// of a fixed number of word tokens drawn Zipf-like from the vocabulary, with about 5%
// unknown words and numbers, written as ordinary sentences with punctuation.
//
// Figures and anchors:
// - Model import (MB/s of file, persisted) next to embed::ReadWordVectors parsing the
//   same file in memory: the ratio shows the cost of storing the model.
// - DB::EmbedText on 1 and 2 threads next to a plain loop that, given the texts already
//   split into token ids, sums and normalises the rows: the lookup + pooling lower
//   bound. Tokenizer::Tokenize alone is timed on the same texts, interleaved, to give
//   the share of relate's time spent tokenizing.
// - Text ingest (Upsert of {key, text} in batches, open to close, persisted) next to
//   the same Upsert with the vectors precomputed: the ratio shows what embedding costs
//   inside ingest.
// Systems are interleaved block by block, alternating which goes first; each figure is
// the median over repetitions.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"
#include "embed/embedding_table.h"
#include "embed/tokenizer.h"
#include "embed/vector_readers.h"
#include "relate/relate.h"

namespace {

using namespace relate::bench;

constexpr const char* kModel = "bench-model";
constexpr double kUnknownShare = 0.05;  // tokens that are not in the vocabulary

struct Config {
  size_t texts = 5000;
  size_t words = 100000;
  uint32_t dim = 300;
  size_t tokens = 200;
  size_t reps = 5;
  size_t ingest_records = 20000;
  size_t ingest_batch = 1000;
  size_t ingest_reps = 5;
  size_t import_reps = 3;
  size_t block = 250;
  uint64_t seed = 42;
  std::string dir;
  bool keep = false;
};

// Keeps results alive so the compiler cannot drop the anchor's work.
volatile float g_sink = 0;

// ---------------------------------------------------------------------------
// Data

// Pronounceable lowercase words: syllables of an onset, a vowel and an optional coda.
class WordMaker {
 public:
  explicit WordMaker(std::mt19937_64& rng) : rng_(rng) {}

  std::string Make(size_t syllables) {
    static const char* const kOnsets[] = {
        "b", "c", "d", "f",  "g",  "h",  "j",  "k",  "l",  "m",  "n",  "p",  "r",  "s", "t",
        "v", "w", "z", "ch", "sh", "th", "br", "tr", "st", "pl", "gr", "fl", "cr", "",  ""};
    static const char* const kVowels[] = {"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou"};
    static const char* const kCodas[] = {"", "", "", "n", "r", "s", "t", "l", "m", "nd", "st"};
    std::string w;
    for (size_t s = 0; s < syllables; ++s) {
      w += Pick(kOnsets);
      w += Pick(kVowels);
      w += Pick(kCodas);
    }
    return w;
  }

 private:
  template <size_t N>
  const char* Pick(const char* const (&options)[N]) {
    return options[std::uniform_int_distribution<size_t>(0, N - 1)(rng_)];
  }
  std::mt19937_64& rng_;
};

// The model: `words` unique words, frequent (low-rank) ones shorter, as in real
// vocabularies, with N(0, 1) rows; the file lists them by rank, as word2vec does.
relate::embed::WordVectors MakeModel(const Config& cfg, std::mt19937_64& rng,
                                     std::vector<std::string>* unknown) {
  relate::embed::WordVectors wv;
  wv.vocabulary.Reserve(cfg.words);
  wv.table = relate::embed::EmbeddingTable(0, cfg.dim);
  wv.table.Reserve(cfg.words);
  WordMaker maker(rng);
  std::unordered_set<std::string> seen;
  std::uniform_int_distribution<size_t> extra(0, 1);
  while (wv.vocabulary.size() < cfg.words) {
    const size_t rank = wv.vocabulary.size();
    const size_t syllables = 1 + (rank >= 300) + (rank >= 8000) + extra(rng);
    std::string w = maker.Make(syllables);
    if (!seen.insert(w).second) continue;
    Take(wv.vocabulary.Add(w), "vocabulary");
  }
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> row(cfg.dim);
  for (size_t i = 0; i < cfg.words; ++i) {
    for (float& x : row) x = gauss(rng);
    wv.table.AppendRow(row);
  }
  // Words of the same shape that the model does not have.
  while (unknown->size() < 2000) {
    std::string w = maker.Make(2 + extra(rng));
    if (seen.insert(w).second) unknown->push_back(std::move(w));
  }
  return wv;
}

// Texts of exactly `tokens` word tokens (as the tokenizer counts them): sentences of
// 6-24 words drawn Zipf-like (s = 1) from the vocabulary, about 5% of them unknown
// words or numbers, the first word capitalised, commas now and then, and a full stop,
// question or exclamation mark at the end.
std::vector<std::string> MakeTexts(const Config& cfg, size_t n, const relate::embed::Vocabulary& v,
                                   const std::vector<std::string>& unknown, std::mt19937_64& rng) {
  std::vector<double> cdf(v.size());
  double total = 0;
  for (size_t r = 0; r < v.size(); ++r) cdf[r] = total += 1.0 / static_cast<double>(r + 1);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::uniform_int_distribution<size_t> sentence_len(6, 24);
  std::uniform_int_distribution<size_t> pick_unknown(0, unknown.size() - 1);
  std::uniform_int_distribution<int> number(0, 2100);
  std::vector<std::string> texts(n);
  for (auto& text : texts) {
    size_t left = cfg.tokens;
    while (left > 0) {
      const size_t len = std::min(left, sentence_len(rng));
      for (size_t i = 0; i < len; ++i) {
        std::string w;
        const double u = uni(rng);
        if (u < kUnknownShare / 2) {
          w = unknown[pick_unknown(rng)];
        } else if (u < kUnknownShare) {
          w = std::to_string(number(rng));
        } else {
          const double x = uni(rng) * total;
          const size_t r = std::min<size_t>(
              static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), x) - cdf.begin()),
              v.size() - 1);
          w = v.Token(static_cast<uint32_t>(r));
        }
        if (i == 0 && !w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] = static_cast<char>(w[0] - 32);
        if (!text.empty()) text += ' ';
        text += w;
        if (i + 1 < len && uni(rng) < 0.08) text += ',';
      }
      const double end = uni(rng);
      text += end < 0.85 ? "." : end < 0.95 ? "?" : "!";
      left -= len;
    }
  }
  return texts;
}

// The texts split into the ids of their known tokens, laid end to end.
struct TokenIds {
  std::vector<uint32_t> ids;
  std::vector<size_t> offsets;  // text i is ids[offsets[i], offsets[i + 1])
  size_t tokens = 0;            // all tokens, known or not
  size_t known = 0;
  std::span<const uint32_t> Text(size_t i) const {
    return {ids.data() + offsets[i], offsets[i + 1] - offsets[i]};
  }
};

TokenIds SplitTexts(const std::vector<std::string>& texts, const relate::embed::Vocabulary& v,
                    size_t expected_tokens) {
  relate::embed::Tokenizer tokenizer;
  TokenIds out;
  out.offsets.push_back(0);
  for (size_t i = 0; i < texts.size(); ++i) {
    auto tokens = Take(tokenizer.Tokenize(texts[i]), "tokenize");
    if (tokens.size() != expected_tokens) {
      Die(fmt::format("text {} has {} tokens, not {}: {}", i, tokens.size(), expected_tokens,
                      texts[i].substr(0, 200)));
    }
    out.tokens += tokens.size();
    for (const auto& t : tokens) {
      if (auto id = v.Find(t)) out.ids.push_back(*id);
    }
    out.offsets.push_back(out.ids.size());
  }
  out.known = out.ids.size();
  return out;
}

// The anchor: sum the rows of the known tokens and scale to unit length.
void PoolAnchor(const relate::embed::EmbeddingTable& table, std::span<const uint32_t> ids,
                float* out) {
  const uint32_t dim = table.dim();
  std::fill(out, out + dim, 0.0f);
  for (uint32_t id : ids) {
    const float* row = table.Row(id).data();
    for (uint32_t c = 0; c < dim; ++c) out[c] += row[c];
  }
  float norm = 0;
  for (uint32_t c = 0; c < dim; ++c) norm += out[c] * out[c];
  const float scale = 1.0f / std::sqrt(norm);
  for (uint32_t c = 0; c < dim; ++c) out[c] *= scale;
}

double Dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// ---------------------------------------------------------------------------
// Timing

struct Row {
  std::string figure;
  std::string relate;
  std::string anchor;
  std::string ratio;
  std::string spread;
};

// Per-repetition rates of a figure (higher is better) and of its anchor.
struct Rates {
  std::vector<double> relate, anchor;
  double RelateMedian() const { return Median(relate); }
  double AnchorMedian() const { return Median(anchor); }
  std::string Spread() const {
    std::vector<double> r;
    for (size_t i = 0; i < relate.size(); ++i) r.push_back(relate[i] / anchor[i]);
    return fmt::format("{:.3f}-{:.3f}", *std::min_element(r.begin(), r.end()),
                       *std::max_element(r.begin(), r.end()));
  }
};

Row RateRow(std::string figure, const Rates& r, double scale, const std::string& anchor_label) {
  const double rel = r.RelateMedian() * scale, anc = r.AnchorMedian() * scale;
  return Row{.figure = std::move(figure),
             .relate = Figure(rel),
             .anchor = Figure(anc) + " (" + anchor_label + ")",
             .ratio = fmt::format("{:.3f}", rel / anc),
             .spread = r.Spread()};
}

// Runs fn(i) for i in [lo, hi) on `threads` threads (contiguous shares); seconds taken.
double TimeRange(size_t lo, size_t hi, size_t threads, const std::function<void(size_t)>& fn) {
  auto t0 = Clock::now();
  if (threads <= 1) {
    for (size_t i = lo; i < hi; ++i) fn(i);
  } else {
    std::vector<std::jthread> pool;
    const size_t n = hi - lo;
    for (size_t t = 0; t < threads; ++t) {
      const size_t a = lo + n * t / threads, b = lo + n * (t + 1) / threads;
      pool.emplace_back([a, b, &fn] {
        for (size_t i = a; i < b; ++i) fn(i);
      });
    }
  }
  return Seconds(t0, Clock::now());
}

// One repetition over all texts, in blocks; in each block every system runs once,
// the first system rotating from block to block and repetition to repetition.
// Returns each system's summed seconds.
std::vector<double> Interleave(size_t n, size_t block, size_t rep, size_t threads,
                               const std::vector<std::function<void(size_t)>>& systems) {
  std::vector<double> secs(systems.size(), 0.0);
  for (size_t lo = 0, b = 0; lo < n; lo += block, ++b) {
    const size_t hi = std::min(n, lo + block);
    for (size_t k = 0; k < systems.size(); ++k) {
      const size_t s = (b + rep + k) % systems.size();
      secs[s] += TimeRange(lo, hi, threads, systems[s]);
    }
  }
  return secs;
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf("| figure | relate | anchor | ratio | ratio min-max over reps |\n");
  std::printf("|---|--:|--:|--:|--:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %s | %s | %s | %s |\n", r.figure.c_str(), r.relate.c_str(),
                r.anchor.c_str(), r.ratio.c_str(), r.spread.c_str());
  }
}

struct IngestRep {
  double open_s = 0, upsert_s = 0, close_s = 0, total_s = 0;
};

// One persisted ingest into a fresh copy of the database that holds the model only:
// open, create the collection (bound to the model), upsert in batches, close.
IngestRep IngestOnce(const Config& cfg, const fs::path& template_dir, const fs::path& db_dir,
                     const std::vector<relate::Record>& records) {
  std::error_code ec;
  fs::remove_all(db_dir, ec);
  fs::copy(template_dir, db_dir, fs::copy_options::recursive, ec);
  if (ec) Die("copying " + template_dir.string() + ": " + ec.message());
  ::sync();
  IngestRep r;
  auto t0 = Clock::now();
  auto db = Take(relate::DB::Open(db_dir, {}), "open " + db_dir.string());
  Check(db->CreateCollection({.name = "ingest", .model = kModel}), "create collection");
  auto t1 = Clock::now();
  std::span<const relate::Record> all(records);
  for (size_t start = 0; start < all.size(); start += cfg.ingest_batch) {
    Check(db->Upsert("ingest", all.subspan(start, std::min(cfg.ingest_batch, all.size() - start))),
          "upsert");
  }
  auto t2 = Clock::now();
  db.reset();
  auto t3 = Clock::now();
  r.open_s = Seconds(t0, t1);
  r.upsert_s = Seconds(t1, t2);
  r.close_s = Seconds(t2, t3);
  r.total_s = Seconds(t0, t3);
  return r;
}

int Run(int argc, char** argv) {
  Config cfg;
  CLI::App app{"relate text embedding and text ingest throughput next to their anchors"};
  app.add_option("--texts", cfg.texts, "texts for the embedding figures")->capture_default_str();
  app.add_option("--words", cfg.words, "model vocabulary size")->capture_default_str();
  app.add_option("--dim", cfg.dim, "model dimension")->capture_default_str();
  app.add_option("--tokens", cfg.tokens, "word tokens per text")->capture_default_str();
  app.add_option("--reps", cfg.reps, "embedding repetitions (median reported)")
      ->capture_default_str();
  app.add_option("--ingest-records", cfg.ingest_records, "records per ingest")
      ->capture_default_str();
  app.add_option("--ingest-batch", cfg.ingest_batch, "records per Upsert call")
      ->capture_default_str();
  app.add_option("--ingest-reps", cfg.ingest_reps, "ingest repetitions (median reported)")
      ->capture_default_str();
  app.add_option("--import-reps", cfg.import_reps, "model import repetitions (median reported)")
      ->capture_default_str();
  app.add_option("--block", cfg.block, "texts per interleaving block")->capture_default_str();
  app.add_option("--seed", cfg.seed, "data seed")->capture_default_str();
  app.add_option("--dir", cfg.dir,
                 "scratch directory; must not exist or be empty; removed at the end "
                 "(default /tmp/relate-embed-bench-<pid>)");
  app.add_flag("--keep", cfg.keep, "keep the scratch directory");
  CLI11_PARSE(app, argc, argv);
  if (cfg.texts == 0 || cfg.words == 0 || cfg.dim == 0 || cfg.tokens == 0 || cfg.reps == 0 ||
      cfg.ingest_records == 0 || cfg.ingest_batch == 0 || cfg.ingest_reps == 0 ||
      cfg.import_reps == 0 || cfg.block == 0) {
    Die("every count flag must be positive");
  }

  const fs::path dir = ScratchDirectory(cfg.dir, "relate-embed-bench");
  std::error_code ec;
  PrintMachine("relate_embed_bench: text embedding and text ingest throughput");
#ifdef NDEBUG
  std::printf("build:       optimised (NDEBUG)\n");
#else
  std::printf("build:       assertions on (not NDEBUG): figures are not representative\n");
#endif
  std::printf("scratch:     %s\n", dir.c_str());
  std::fflush(stdout);

  // --- Data ---------------------------------------------------------------
  auto g0 = Clock::now();
  std::mt19937_64 rng(cfg.seed);
  std::vector<std::string> unknown;
  const relate::embed::WordVectors wv = MakeModel(cfg, rng, &unknown);
  const fs::path model_file = dir / "model.bin";
  Check(relate::embed::WriteWord2VecBinary(model_file, wv), "writing the model file");
  const double file_mb = static_cast<double>(fs::file_size(model_file)) / 1e6;
  const size_t n_texts = std::max(cfg.texts, cfg.ingest_records);
  const std::vector<std::string> texts = MakeTexts(cfg, n_texts, wv.vocabulary, unknown, rng);
  const TokenIds split = SplitTexts(texts, wv.vocabulary, cfg.tokens);
  size_t text_bytes = 0;
  for (const auto& t : texts) text_bytes += t.size();
  std::fprintf(stderr, "generated model and %zu texts in %.1f s\n", n_texts,
               Seconds(g0, Clock::now()));
  std::printf(
      "model:       %zu pronounceable lowercase words (1-4 syllables, frequent words shorter), "
      "d=%u, rows N(0,1), seed %llu; word2vec binary file %.1f MB; mean pooling, no activation\n",
      cfg.words, cfg.dim, static_cast<unsigned long long>(cfg.seed), file_mb);
  std::printf(
      "texts:       %zu texts of %zu word tokens (%.0f bytes each on average), words Zipf "
      "(s=1) over the vocabulary by rank, %.1f%% of tokens unknown (made-up words, numbers), "
      "sentences of 6-24 words with capitals, commas and full stops; e.g. \"%s...\"\n",
      n_texts, cfg.tokens, static_cast<double>(text_bytes) / static_cast<double>(n_texts),
      100.0 * static_cast<double>(split.tokens - split.known) / static_cast<double>(split.tokens),
      texts[0].substr(0, 90).c_str());
  std::printf(
      "embedding:   first %zu texts; DB::EmbedText on a collection bound to the model vs the "
      "anchor (sum + L2-normalise the rows of the known token ids, precomputed); "
      "blocks of %zu texts (on 2 threads each thread takes half a block), rotating which "
      "system goes first; shares from a third pass interleaving EmbedText, Tokenizer::Tokenize "
      "alone and Tokenize + Vocabulary::Find; %zu repetitions, median reported\n",
      cfg.texts, cfg.block, cfg.reps);
  std::printf(
      "ingest:      %zu records {key, text} per run, %zu per Upsert, into a fresh copy of a "
      "database holding only the model; timed from DB::Open through CreateCollection(model) "
      "and the upserts to the end of ~DB (index checkpoint written); anchor: the same with "
      "the vectors precomputed by EmbedText; sync() before each, %zu repetitions alternating "
      "which goes first, median reported\n",
      cfg.ingest_records, cfg.ingest_batch, cfg.ingest_reps);
  std::printf(
      "import:      DB::Open(create) + ImportModel + ~DB, vs embed::ReadWordVectors of the "
      "same file (parse into memory only); file in the page cache; %zu repetitions "
      "alternating, median reported\n\n",
      cfg.import_reps);
  std::fflush(stdout);

  std::vector<Row> rows;
  std::vector<std::string> notes;

  // --- Model import -------------------------------------------------------
  const fs::path template_dir = dir / "template";
  Rates import_rates;
  std::vector<double> import_only_s;
  for (size_t rep = 0; rep < cfg.import_reps; ++rep) {
    double relate_s = 0, anchor_s = 0;
    auto run_relate = [&] {
      fs::remove_all(template_dir, ec);
      ::sync();
      relate::Options create;
      create.create_if_missing = true;
      auto t0 = Clock::now();
      auto db = Take(relate::DB::Open(template_dir, create), "open " + template_dir.string());
      auto t1 = Clock::now();
      relate::ModelOptions mo;
      mo.format = "word2vec-binary";
      Check(db->ImportModel(kModel, model_file, mo), "import model");
      import_only_s.push_back(Seconds(t1, Clock::now()));
      db.reset();
      relate_s = Seconds(t0, Clock::now());
    };
    auto run_anchor = [&] {
      ::sync();
      auto t0 = Clock::now();
      auto read = Take(
          relate::embed::ReadWordVectors(model_file, relate::embed::VectorFormat::kWord2VecBinary),
          "read model");
      anchor_s = Seconds(t0, Clock::now());
      if (read.table.rows() != cfg.words) Die("read back a different model");
    };
    if (rep % 2 == 0) {
      run_relate();
      run_anchor();
    } else {
      run_anchor();
      run_relate();
    }
    import_rates.relate.push_back(file_mb / relate_s);
    import_rates.anchor.push_back(file_mb / anchor_s);
  }
  std::fprintf(stderr, "import done\n");

  // --- Embedding ------------------------------------------------------------
  auto db = Take(relate::DB::Open(template_dir, {}), "open " + template_dir.string());
  Check(db->CreateCollection({.name = "embed", .model = kModel}), "create collection");
  auto l0 = Clock::now();
  auto first = Take(db->EmbedText("embed", texts[0]), "embed");
  const double model_load_s = Seconds(l0, Clock::now());
  // Warm-up pass doubling as the equal-work check; the vectors are kept for the
  // ingest anchor.
  std::vector<std::vector<float>> vectors(n_texts);
  std::vector<float> pooled(cfg.dim);
  double min_agree = 1.0, self_min = 1.0, self_max = 0.0, other_sum = 0;
  size_t other_n = 0;
  for (size_t i = 0; i < n_texts; ++i) {
    vectors[i] = Take(db->EmbedText("embed", texts[i]), "embed");
    if (vectors[i].size() != cfg.dim) Die("EmbedText gave a vector of the wrong size");
    PoolAnchor(wv.table, split.Text(i), pooled.data());
    min_agree = std::min(min_agree, Dot(vectors[i], pooled));
    if (i < 100) {
      auto again = Take(db->EmbedText("embed", texts[i]), "embed");
      const double self = Dot(vectors[i], again);
      self_min = std::min(self_min, self);
      self_max = std::max(self_max, self);
      if (i > 0) {
        other_sum += Dot(vectors[i], vectors[i - 1]);
        ++other_n;
      }
    }
  }
  if (min_agree < 0.9999) Die(fmt::format("relate and the anchor disagree: cosine {}", min_agree));
  g_sink = first[0];

  relate::embed::Tokenizer tokenizer;
  auto relate_embed = [&](size_t i) {
    auto v = db->EmbedText("embed", texts[i]);
    if (!v) Die("embed: " + v.error().ToString());
    g_sink = (*v)[0];
  };
  auto anchor_pool = [&](size_t i) {
    thread_local std::vector<float> out;
    out.resize(cfg.dim);
    PoolAnchor(wv.table, split.Text(i), out.data());
    g_sink = out[0];
  };
  auto tokenize = [&](size_t i) {
    auto t = tokenizer.Tokenize(texts[i]);
    if (!t) Die("tokenize: " + t.error().ToString());
    g_sink = static_cast<float>(t->size());
  };
  // Tokenize, then look every token up in the vocabulary: what EmbedText does before
  // it reads a row.
  auto tokenize_lookup = [&](size_t i) {
    auto t = tokenizer.Tokenize(texts[i]);
    if (!t) Die("tokenize: " + t.error().ToString());
    uint32_t sum = 0;
    for (const auto& token : *t) {
      if (auto id = wv.vocabulary.Find(token)) sum += *id;
    }
    g_sink = static_cast<float>(sum);
  };
  // Each comparison is its own interleaved pass, so every pair runs under the same
  // conditions (a third system in a pass evicts the others' cache lines).
  Rates embed1, embed2;
  std::vector<double> tokenize_share, lookup_share, tokenize_rate;
  const double nt = static_cast<double>(cfg.texts);
  for (size_t rep = 0; rep < cfg.reps; ++rep) {
    auto s1 = Interleave(cfg.texts, cfg.block, rep, 1, {relate_embed, anchor_pool});
    embed1.relate.push_back(nt / s1[0]);
    embed1.anchor.push_back(nt / s1[1]);
    auto s2 = Interleave(cfg.texts, cfg.block, rep, 2, {relate_embed, anchor_pool});
    embed2.relate.push_back(nt / s2[0]);
    embed2.anchor.push_back(nt / s2[1]);
    auto s3 = Interleave(cfg.texts, cfg.block, rep, 1, {relate_embed, tokenize, tokenize_lookup});
    tokenize_share.push_back(s3[1] / s3[0]);
    lookup_share.push_back((s3[2] - s3[1]) / s3[0]);
    tokenize_rate.push_back(nt / s3[1]);
    std::fprintf(stderr,
                 "embedding rep %zu: %.0f texts/s (1 thread), %.0f (2 threads); Tokenize %.0f%%, "
                 "lookup %.0f%% of EmbedText\n",
                 rep, nt / s1[0], nt / s2[0], 100 * tokenize_share.back(),
                 100 * lookup_share.back());
  }
  db.reset();
  const double tok = static_cast<double>(cfg.tokens);
  rows.push_back(RateRow("embed texts/s, 1 thread", embed1, 1, "sum + normalise rows"));
  rows.push_back(RateRow("embed tokens/s, 1 thread", embed1, tok, "sum + normalise rows"));
  rows.push_back(RateRow("embed texts/s, 2 threads", embed2, 1, "sum + normalise rows"));
  rows.push_back(RateRow("embed tokens/s, 2 threads", embed2, tok, "sum + normalise rows"));
  auto share_row = [&](std::string figure, std::vector<double> shares, std::string anchor) {
    const double median = Median(shares);
    std::sort(shares.begin(), shares.end());
    rows.push_back(
        Row{.figure = std::move(figure),
            .relate = fmt::format("{:.0f}%", 100 * median),
            .anchor = std::move(anchor),
            .ratio = "",
            .spread = fmt::format("{:.0f}%-{:.0f}%", 100 * shares.front(), 100 * shares.back())});
  };
  share_row("share of EmbedText's time in Tokenizer::Tokenize, 1 thread", tokenize_share,
            Figure(Median(tokenize_rate)) + " texts/s (Tokenize alone)");
  share_row("share of EmbedText's time in Vocabulary::Find, 1 thread", lookup_share,
            "(Tokenize + Find) - Tokenize");

  // --- Ingest ---------------------------------------------------------------
  std::vector<relate::Record> text_records(cfg.ingest_records), vector_records(cfg.ingest_records);
  uint64_t ingest_text_bytes = 0;
  for (size_t i = 0; i < cfg.ingest_records; ++i) {
    text_records[i].key = "t" + std::to_string(i);
    text_records[i].text = texts[i];
    vector_records[i] = text_records[i];
    vector_records[i].vector = vectors[i];
    ingest_text_bytes += texts[i].size();
  }
  const fs::path ingest_dir = dir / "ingest";
  std::vector<IngestRep> text_reps, vector_reps;
  Rates ingest;
  const double nr = static_cast<double>(cfg.ingest_records);
  for (size_t rep = 0; rep < cfg.ingest_reps; ++rep) {
    if (rep % 2 == 0) {
      vector_reps.push_back(IngestOnce(cfg, template_dir, ingest_dir, vector_records));
      text_reps.push_back(IngestOnce(cfg, template_dir, ingest_dir, text_records));
    } else {
      text_reps.push_back(IngestOnce(cfg, template_dir, ingest_dir, text_records));
      vector_reps.push_back(IngestOnce(cfg, template_dir, ingest_dir, vector_records));
    }
    ingest.relate.push_back(nr / text_reps.back().total_s);
    ingest.anchor.push_back(nr / vector_reps.back().total_s);
    std::fprintf(stderr, "ingest rep %zu: %.0f records/s text, %.0f with vectors\n", rep,
                 ingest.relate.back(), ingest.anchor.back());
  }
  rows.push_back(
      RateRow("text ingest records/s, persisted", ingest, 1, "same Upsert, vectors precomputed"));
  rows.push_back(RateRow(fmt::format("model import MB/s of file ({:.0f} MB), persisted", file_mb),
                         import_rates, 1, "ReadWordVectors, parse only"));

  // Quality: the last ingest left the text collection (even reps end with text).
  // Reopen it and search for stored texts by their text.
  if (cfg.ingest_reps % 2 == 0) {
    IngestOnce(cfg, template_dir, ingest_dir, text_records);
  }
  size_t found_first = 0, searched = 0;
  double top_score_min = 1.0;
  {
    auto sdb = Take(relate::DB::Open(ingest_dir, {}), "reopen " + ingest_dir.string());
    const size_t step = std::max<size_t>(1, cfg.ingest_records / 100);
    for (size_t i = 0; i < cfg.ingest_records; i += step) {
      auto hits = Take(sdb->SearchText("ingest", texts[i], {.k = 3}), "search text");
      ++searched;
      if (!hits.empty() && hits[0].key == text_records[i].key) {
        ++found_first;
        top_score_min = std::min(top_score_min, static_cast<double>(hits[0].score));
      }
    }
    const uint64_t count = Take(sdb->Count("ingest"), "count");
    if (count != cfg.ingest_records) Die("ingest stored a different number of records");
  }
  const uint64_t db_bytes = DiskBytes(ingest_dir);

  PrintTable(rows);
  std::printf("\n");
  std::printf("- load average at the end: %s\n", LoadAverage().c_str());
  std::printf(
      "- equal work: for all %zu texts, cosine(EmbedText, anchor) >= %.6f (relate sums in "
      "double, the anchor in float); the anchor pools %.1f%% of the tokens (the known ones), "
      "as relate does\n",
      n_texts, min_agree,
      100.0 * static_cast<double>(split.known) / static_cast<double>(split.tokens));
  std::printf(
      "- quality: cosine of a text with itself embedded twice: %.6f-%.6f over 100 texts "
      "(neighbouring texts: %.3f on average); SearchText of %zu stored texts returned the "
      "text itself first for %zu (top score >= %.6f)\n",
      self_min, self_max, other_sum / static_cast<double>(std::max<size_t>(other_n, 1)), searched,
      found_first, top_score_min);
  std::printf("- 2 threads vs 1: %.2fx for relate, %.2fx for the anchor (median texts/s ratio)\n",
              embed2.RelateMedian() / embed1.RelateMedian(),
              embed2.AnchorMedian() / embed1.AnchorMedian());
  std::printf(
      "- model load on first use after opening (LoadModel from RocksDB, inside the first "
      "EmbedText or text Upsert): %.2f s\n",
      model_load_s);
  std::printf(
      "- model import: DB::ImportModel alone %.2f s (median), %.0f MB/s of file; open + import "
      "+ close %.2f s\n",
      Median(import_only_s), file_mb / Median(import_only_s),
      file_mb / import_rates.RelateMedian());
  auto breakdown = [&](const char* what, std::vector<IngestRep> reps) {
    std::sort(reps.begin(), reps.end(),
              [](const IngestRep& a, const IngestRep& b) { return a.total_s < b.total_s; });
    const IngestRep& m = reps[(reps.size() - 1) / 2];
    std::printf(
        "- ingest %s, the median repetition: %.2f s = open+create %.3f s + upserts %.2f s "
        "(%s records/s) + close %.2f s; records/s over the repetitions %s-%s\n",
        what, m.total_s, m.open_s, m.upsert_s, Figure(nr / m.upsert_s).c_str(), m.close_s,
        Figure(nr / reps.back().total_s).c_str(), Figure(nr / reps.front().total_s).c_str());
  };
  breakdown("of text (embedded inside Upsert)", text_reps);
  breakdown("with precomputed vectors", vector_reps);
  std::printf("- ingest payload: %.1f MB of text; database with model and records: %.0f MB\n",
              static_cast<double>(ingest_text_bytes) / 1e6, static_cast<double>(db_bytes) / 1e6);
  std::fflush(stdout);

  RemoveScratchDirectory(dir, cfg.keep);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    Die(std::string("unexpected exception: ") + e.what());
  }
}
