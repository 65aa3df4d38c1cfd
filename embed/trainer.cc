#include "embed/trainer.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

#include "util/durable_file.h"

namespace relate::embed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kBlockWords = 1 << 16;
constexpr uint64_t kLearningRateEvery = 10000;  // words between learning-rate updates
constexpr uint64_t kNoiseTableSize = 10000000;
constexpr uint32_t kMaxDimension = 4096;
constexpr char kCheckpointMagic[8] = {'R', 'L', 'X', 'T', 'R', 'N', '0', '1'};

// The generator word2vec uses: one multiply-add a draw, which matters in the
// inner loop. The high bits are the good ones, so draws use those.
struct Lcg {
  uint64_t state;
  uint32_t Next() {
    state = state * 25214903917ULL + 11;
    return static_cast<uint32_t>(state >> 16);
  }
  // Uniform in [0, 1).
  float Uniform() { return static_cast<float>(Next() >> 8) * (1.0f / 16777216.0f); }
};

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// What one position's update needs, shared by the threads (rows are updated in place).
struct StepContext {
  float* input;
  float* output;
  uint32_t dim;
  uint32_t window;
  uint32_t negative;
  const uint32_t* noise;
  uint64_t noise_size;
  const uint32_t* sub_offsets;  // null without subwords
  const uint32_t* sub_rows;
  bool cbow;
  const SigmoidTable* sigmoid;
};

// Adds the input rows of `word` (its own row, or its word and n-gram rows) to h;
// returns how many it added.
inline uint32_t AddInputRows(const StepContext& c, uint32_t word, float* h) {
  if (c.sub_offsets == nullptr) {
    Axpy(1.0f, c.input + static_cast<size_t>(word) * c.dim, h, c.dim);
    return 1;
  }
  const uint32_t begin = c.sub_offsets[word], end = c.sub_offsets[word + 1];
  for (uint32_t i = begin; i < end; ++i) {
    Axpy(1.0f, c.input + static_cast<size_t>(c.sub_rows[i]) * c.dim, h, c.dim);
  }
  return end - begin;
}

inline void AddToInputRows(const StepContext& c, uint32_t word, const float* grad) {
  if (c.sub_offsets == nullptr) {
    Axpy(1.0f, grad, c.input + static_cast<size_t>(word) * c.dim, c.dim);
    return;
  }
  for (uint32_t i = c.sub_offsets[word]; i < c.sub_offsets[word + 1]; ++i) {
    Axpy(1.0f, grad, c.input + static_cast<size_t>(c.sub_rows[i]) * c.dim, c.dim);
  }
}

// Trains on one sentence. `h` and `grad` are dim floats of scratch. Returns the
// summed loss and adds the number of predictions to `predictions`.
// Cloned for AVX-512 and AVX2 machines; the baseline build runs everywhere.
// Not under ThreadSanitizer: the clones' ifunc resolver runs while the program is
// being relocated, before the TSan runtime starts, and its instrumented entry
// crashes there (every TSan binary linking relate_embed died at load).
#if defined(__SANITIZE_THREAD__)
#define RELATE_TRAIN_CLONES
#else
#define RELATE_TRAIN_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
RELATE_TRAIN_CLONES float TrainSentence(const StepContext& c, const uint32_t* s, size_t n, float lr,
                                        Lcg& rng, float* h, float* grad, uint64_t& predictions) {
  const uint32_t dim = c.dim;
  const size_t window = c.window;
  uint32_t targets[65];
  const size_t n_targets = c.negative + 1;
  float loss = 0;
  for (size_t pos = 0; pos < n; ++pos) {
    const size_t shrink = rng.Next() % window;
    const size_t span = window - shrink;
    const size_t lo = pos >= span ? pos - span : 0;
    const size_t hi = std::min(n - 1, pos + span);
    auto draw_noise = [&] {
      for (size_t k = 1; k < n_targets; ++k) targets[k] = c.noise[rng.Next() % c.noise_size];
    };
    if (c.cbow) {
      std::fill(h, h + dim, 0.0f);
      uint32_t rows = 0;
      for (size_t j = lo; j <= hi; ++j) {
        if (j != pos) rows += AddInputRows(c, s[j], h);
      }
      if (rows == 0) continue;
      const float scale = 1.0f / static_cast<float>(rows);
      for (uint32_t i = 0; i < dim; ++i) h[i] *= scale;
      std::fill(grad, grad + dim, 0.0f);
      targets[0] = s[pos];
      draw_noise();
      loss += NegativeSamplingStep(h, c.output, targets, n_targets, dim, lr, grad, *c.sigmoid);
      ++predictions;
      for (size_t j = lo; j <= hi; ++j) {
        if (j != pos) AddToInputRows(c, s[j], grad);
      }
    } else if (c.sub_offsets != nullptr) {
      // fastText's skip-gram: the centre word's subwords predict each context word.
      std::fill(h, h + dim, 0.0f);
      const uint32_t rows = AddInputRows(c, s[pos], h);
      const float scale = 1.0f / static_cast<float>(rows);
      for (uint32_t i = 0; i < dim; ++i) h[i] *= scale;
      std::fill(grad, grad + dim, 0.0f);
      for (size_t j = lo; j <= hi; ++j) {
        if (j == pos) continue;
        targets[0] = s[j];
        draw_noise();
        loss += NegativeSamplingStep(h, c.output, targets, n_targets, dim, lr, grad, *c.sigmoid);
        ++predictions;
      }
      AddToInputRows(c, s[pos], grad);
    } else {
      // word2vec's skip-gram: each context word's row predicts the centre word.
      for (size_t j = lo; j <= hi; ++j) {
        if (j == pos) continue;
        float* in = c.input + static_cast<size_t>(s[j]) * dim;
        std::fill(grad, grad + dim, 0.0f);
        targets[0] = s[pos];
        draw_noise();
        loss += NegativeSamplingStep(in, c.output, targets, n_targets, dim, lr, grad, *c.sigmoid);
        ++predictions;
        Axpy(1.0f, grad, in, dim);
      }
    }
  }
  return loss;
}

// A little binary writer/reader for the checkpoint.
class Writer {
 public:
  void Bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  template <typename T>
  void Put(T v) {
    Bytes(&v, sizeof v);
  }
  void String(std::string_view s) {
    Put<uint64_t>(s.size());
    Bytes(s.data(), s.size());
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Bytes(void* p, size_t n) {
    if (in_.size() < n) return false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  template <typename T>
  bool Get(T* v) {
    return Bytes(v, sizeof *v);
  }
  bool String(std::string* s) {
    uint64_t n = 0;
    if (!Get(&n) || n > in_.size()) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view in_;
};

void PutOptions(Writer& w, const TrainOptions& o) {
  w.String(o.architecture);
  w.Put(o.dimension);
  w.Put(o.window);
  w.Put(o.negative);
  w.Put(o.sample);
  w.Put(o.min_count);
  w.Put(o.max_words);
  w.Put(o.epochs);
  w.Put(o.learning_rate);
  w.Put(o.threads);
  w.Put(o.seed);
  w.Put(o.min_ngram);
  w.Put(o.max_ngram);
  w.Put(o.buckets);
  w.Put<uint8_t>(o.lowercase);
  w.Put<uint8_t>(o.keep_numbers);
  w.Put<uint8_t>(o.keep_punctuation);
  w.String(o.pooling);
  w.Put(o.counting_limit);
}

bool GetOptions(Reader& r, TrainOptions* o) {
  uint8_t lowercase = 0, numbers = 0, punctuation = 0;
  bool ok = r.String(&o->architecture) && r.Get(&o->dimension) && r.Get(&o->window) &&
            r.Get(&o->negative) && r.Get(&o->sample) && r.Get(&o->min_count) &&
            r.Get(&o->max_words) && r.Get(&o->epochs) && r.Get(&o->learning_rate) &&
            r.Get(&o->threads) && r.Get(&o->seed) && r.Get(&o->min_ngram) && r.Get(&o->max_ngram) &&
            r.Get(&o->buckets) && r.Get(&lowercase) && r.Get(&numbers) && r.Get(&punctuation) &&
            r.String(&o->pooling) && r.Get(&o->counting_limit);
  o->lowercase = lowercase;
  o->keep_numbers = numbers;
  o->keep_punctuation = punctuation;
  return ok;
}

TokenizerOptions TokenizerOf(const TrainOptions& o) {
  TokenizerOptions t;
  t.lowercase = o.lowercase;
  t.keep_numbers = o.keep_numbers;
  t.keep_punctuation = o.keep_punctuation;
  return t;
}

bool Subwords(const TrainOptions& o) { return o.max_ngram > 0; }

// Progress of a pass that reads the corpus.
CorpusProgressFn ReadProgress(const TrainOptions& options, const char* phase) {
  if (!options.progress) return {};
  const auto start = Clock::now();
  return [&options, phase, start](uint64_t words) {
    TrainProgress p;
    p.phase = phase;
    p.epochs = options.epochs;
    p.words_done = words;
    p.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    p.threads = 1;
    if (p.elapsed_seconds > 0) p.words_per_second_per_thread = words / p.elapsed_seconds;
    options.progress(p);
  };
}

}  // namespace

Status ValidateTrainOptions(const TrainOptions& o) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("training: " + m); };
  if (o.architecture != "skipgram" && o.architecture != "cbow") {
    return bad("architecture \"" + o.architecture + "\" is not skipgram or cbow");
  }
  if (o.dimension == 0 || o.dimension > kMaxDimension) {
    return bad("dimension must be 1 to " + std::to_string(kMaxDimension) + ", not " +
               std::to_string(o.dimension));
  }
  if (o.window == 0 || o.window > 1000) {
    return bad("window must be 1 to 1000, not " + std::to_string(o.window));
  }
  if (o.negative == 0 || o.negative > 64) {
    return bad("negative must be 1 to 64, not " + std::to_string(o.negative));
  }
  if (!(o.sample >= 0 && o.sample < 1)) return bad("sample must be in [0, 1)");
  if (o.min_count == 0) return bad("min_count must be at least 1");
  if (o.epochs == 0 || o.epochs > 10000) {
    return bad("epochs must be 1 to 10000, not " + std::to_string(o.epochs));
  }
  if (!(o.learning_rate >= 0 && o.learning_rate <= 10)) {
    return bad("learning rate must be in [0, 10] (0: the default)");
  }
  if (o.threads > 1024) return bad("threads must be at most 1024");
  if (o.min_ngram < 0 || o.max_ngram < 0 || o.max_ngram > 100 ||
      (o.max_ngram > 0 && (o.min_ngram < 1 || o.min_ngram > o.max_ngram)) ||
      (o.max_ngram == 0 && o.min_ngram != 0)) {
    return bad("n-gram lengths must be 0 and 0 (no subwords) or 1 <= min <= max <= 100, not " +
               std::to_string(o.min_ngram) + " and " + std::to_string(o.max_ngram));
  }
  if (Subwords(o) && (o.buckets == 0 || o.buckets > (1u << 30))) {
    return bad("buckets must be 1 to 2^30 with subwords");
  }
  if (o.pooling != "mean" && o.pooling != "sif") {
    return bad("pooling \"" + o.pooling + "\" is not mean or sif");
  }
  if (o.counting_limit < 1000) return bad("counting limit must be at least 1000");
  return Status::OK();
}

Trainer::~Trainer() {
  std::error_code ec;
  if (!corpus_.file.empty()) fs::remove(corpus_.file, ec);
}

Result<std::unique_ptr<Trainer>> Trainer::Prepare(const TextSource& source,
                                                  const TrainOptions& options,
                                                  std::string fingerprint,
                                                  const fs::path& scratch_file) {
  RELATE_RETURN_IF_ERROR(ValidateTrainOptions(options));
  std::unique_ptr<Trainer> t(new Trainer());
  t->options_ = options;
  t->fingerprint_ = std::move(fingerprint);
  CountOptions count{.tokenizer = TokenizerOf(options),
                     .min_count = options.min_count,
                     .max_words = options.max_words,
                     .counting_limit = options.counting_limit};
  RELATE_ASSIGN_OR_RETURN(t->vocabulary_,
                          CountWords(source, count, ReadProgress(t->options_, "counting")));
  RELATE_ASSIGN_OR_RETURN(
      t->corpus_, EncodeCorpus(source, count.tokenizer, t->vocabulary_, scratch_file, kBlockWords,
                               ReadProgress(t->options_, "encoding")));
  RELATE_RETURN_IF_ERROR(t->Initialise());
  // W: uniform in [-0.5, 0.5) / dim, as word2vec; W' starts at zero.
  Lcg rng{SplitMix64(options.seed)};
  const float scale = 1.0f / static_cast<float>(options.dimension);
  for (size_t r = 0; r < t->input_.rows(); ++r) {
    std::span<float> out = t->input_.MutableRow(static_cast<uint32_t>(r));
    for (float& x : out) x = (rng.Uniform() - 0.5f) * scale;
  }
  return t;
}

Status Trainer::Initialise() {
  subwords_ = Subwords(options_);
  cbow_ = options_.architecture == "cbow";
  start_lr_ = options_.learning_rate > 0 ? options_.learning_rate : (cbow_ ? 0.05f : 0.025f);
  const size_t words = vocabulary_.size();
  const size_t rows = words + (subwords_ ? options_.buckets : 0);
  try {
    input_ = EmbeddingTable(rows, options_.dimension);
    output_ = EmbeddingTable(words, options_.dimension);
  } catch (const std::bad_alloc&) {
    return Status::InvalidArgument("training: W of " + std::to_string(rows) + " x " +
                                   std::to_string(options_.dimension) +
                                   " floats does not fit in memory");
  }
  BuildTables();
  return Status::OK();
}

void Trainer::BuildTables() {
  const size_t words = vocabulary_.size();
  uint64_t total = 0;
  for (uint32_t w = 0; w < words; ++w) total += vocabulary_.Count(w);

  keep_probability_.assign(words, 1.0f);
  if (options_.sample > 0) {
    const double threshold = options_.sample * static_cast<double>(total);
    for (uint32_t w = 0; w < words; ++w) {
      const double f = static_cast<double>(vocabulary_.Count(w));
      if (f > 0) {
        keep_probability_[w] = static_cast<float>((std::sqrt(f / threshold) + 1) * threshold / f);
      }
    }
  }

  // Noise words in proportion to count^0.75 (word2vec's table, fastText's size).
  noise_table_.clear();
  noise_table_.reserve(kNoiseTableSize + words);
  double z = 0;
  for (uint32_t w = 0; w < words; ++w)
    z += std::pow(static_cast<double>(vocabulary_.Count(w)), 0.75);
  for (uint32_t w = 0; w < words; ++w) {
    const double share = std::pow(static_cast<double>(vocabulary_.Count(w)), 0.75) / z;
    const auto n = static_cast<uint64_t>(std::ceil(share * kNoiseTableSize));
    noise_table_.insert(noise_table_.end(), n, w);
  }

  subword_offsets_.clear();
  subword_rows_.clear();
  if (subwords_) {
    subword_offsets_.reserve(words + 1);
    for (uint32_t w = 0; w < words; ++w) {
      subword_offsets_.push_back(static_cast<uint32_t>(subword_rows_.size()));
      subword_rows_.push_back(w);
      for (uint32_t b : FastTextModel::SubwordBuckets(vocabulary_.Token(w), options_.min_ngram,
                                                      options_.max_ngram, options_.buckets)) {
        subword_rows_.push_back(static_cast<uint32_t>(words) + b);
      }
    }
    subword_offsets_.push_back(static_cast<uint32_t>(subword_rows_.size()));
  }
}

void Trainer::TrainBlock(uint64_t global_block, std::vector<uint32_t>& ids,
                         std::vector<float>& scratch, double& loss, uint64_t& predictions) {
  const uint64_t blocks = corpus_.blocks();
  const uint64_t block = global_block % blocks;
  const uint64_t begin = corpus_.block_starts[block], end = corpus_.block_starts[block + 1];
  ids.resize(end - begin);
  // The file was written whole before training; a short read means it changed
  // under us, and the block trains on what was read.
  size_t got = 0;
  const size_t want = ids.size() * sizeof(uint32_t);
  while (got < want) {
    const ssize_t n = ::pread(ids_fd_, reinterpret_cast<char*>(ids.data()) + got, want - got,
                              static_cast<off_t>(begin * sizeof(uint32_t) + got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ids.resize(got / sizeof(uint32_t));

  const uint32_t dim = options_.dimension;
  scratch.resize(2 * static_cast<size_t>(dim));
  StepContext c{.input = input_.MutableRow(0).data(),
                .output = output_.MutableRow(0).data(),
                .dim = dim,
                .window = options_.window,
                .negative = options_.negative,
                .noise = noise_table_.data(),
                .noise_size = noise_table_.size(),
                .sub_offsets = subwords_ ? subword_offsets_.data() : nullptr,
                .sub_rows = subwords_ ? subword_rows_.data() : nullptr,
                .cbow = cbow_,
                .sigmoid = &sigmoid_};
  Lcg rng{SplitMix64(options_.seed ^ SplitMix64(global_block + 1))};
  const double total_words = static_cast<double>(options_.epochs) * corpus_.words + 1;
  auto learning_rate = [&] {
    const double done = static_cast<double>(words_done_.load(std::memory_order_relaxed));
    return static_cast<float>(start_lr_ * std::max(1e-4, 1.0 - done / total_words));
  };
  float lr = learning_rate();
  std::vector<uint32_t> sentence;
  sentence.reserve(kMaxSentenceWords);
  uint64_t unreported = 0;
  for (uint32_t id : ids) {
    if (id == EncodedCorpus::kSentenceEnd) {
      if (sentence.size() > 1) {
        loss += TrainSentence(c, sentence.data(), sentence.size(), lr, rng, scratch.data(),
                              scratch.data() + dim, predictions);
      }
      sentence.clear();
      if (unreported >= kLearningRateEvery) {
        words_done_.fetch_add(unreported, std::memory_order_relaxed);
        unreported = 0;
        lr = learning_rate();
      }
      continue;
    }
    ++unreported;
    if (keep_probability_[id] < 1.0f && keep_probability_[id] < rng.Uniform()) continue;
    sentence.push_back(id);
  }
  words_done_.fetch_add(unreported, std::memory_order_relaxed);
}

void Trainer::Work(uint64_t end_block) {
  std::vector<uint32_t> ids;
  std::vector<float> scratch;
  while (!(options_.stop && options_.stop->load(std::memory_order_relaxed))) {
    const uint64_t g = block_counter_.fetch_add(1);
    if (g >= end_block) break;
    double loss = 0;
    uint64_t predictions = 0;
    TrainBlock(g, ids, scratch, loss, predictions);
    loss_sum_.fetch_add(loss, std::memory_order_relaxed);
    predictions_.fetch_add(predictions, std::memory_order_relaxed);
  }
}

Status Trainer::Train(const fs::path& checkpoint) {
  threads_ =
      options_.threads > 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  const uint64_t end_block = static_cast<uint64_t>(options_.epochs) * corpus_.blocks();
  block_counter_ = next_block_;
  // One descriptor for every thread: pread does not move a shared offset.
  ids_fd_ = ::open(corpus_.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (ids_fd_ < 0) {
    return Status::IOError("training scratch file " + corpus_.file.string() +
                           ": cannot open: " + std::strerror(errno));
  }
  const uint64_t words_at_start = words_done_.load();
  const uint64_t words_total = static_cast<uint64_t>(options_.epochs) * corpus_.words;
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  workers.reserve(threads_);
  std::atomic<uint32_t> running = threads_;
  for (uint32_t t = 0; t < threads_; ++t) {
    workers.emplace_back([this, end_block, &running] {
      Work(end_block);
      running.fetch_sub(1);
    });
  }
  // The calling thread reports progress while the workers train.
  auto last_report = start;
  double last_loss = 0;
  uint64_t last_predictions = 0;
  auto report = [&] {
    if (!options_.progress) return;
    const auto now = Clock::now();
    TrainProgress p;
    p.phase = "training";
    p.epochs = options_.epochs;
    p.threads = threads_;
    p.words_done = words_done_.load();
    p.words_total = words_total;
    p.epoch = corpus_.words == 0
                  ? 1
                  : std::min<uint32_t>(options_.epochs,
                                       static_cast<uint32_t>(p.words_done / corpus_.words) + 1);
    p.elapsed_seconds = std::chrono::duration<double>(now - start).count();
    const double rate =
        p.elapsed_seconds > 0 ? (p.words_done - words_at_start) / p.elapsed_seconds : 0;
    p.words_per_second_per_thread = rate / threads_;
    p.eta_seconds = rate > 0 ? (words_total - std::min(words_total, p.words_done)) / rate : 0;
    const double loss = loss_sum_.load();
    const uint64_t predictions = predictions_.load();
    if (predictions > last_predictions) {
      p.loss = (loss - last_loss) / static_cast<double>(predictions - last_predictions);
    }
    last_loss = loss;
    last_predictions = predictions;
    p.learning_rate =
        start_lr_ * std::max(1e-4, 1.0 - static_cast<double>(p.words_done) / (words_total + 1.0));
    options_.progress(p);
    last_report = now;
  };
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (Clock::now() - last_report >= std::chrono::milliseconds(500)) report();
  }
  for (auto& w : workers) w.join();
  ::close(ids_fd_);
  ids_fd_ = -1;
  report();
  stats_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stats_.words = words_done_.load() - words_at_start;
  stats_.threads = threads_;
  stats_.loss = predictions_.load() > 0 ? loss_sum_.load() / predictions_.load() : 0;
  next_block_ = std::min(block_counter_.load(), end_block);
  if (next_block_ < end_block) {
    RELATE_RETURN_IF_ERROR(SaveCheckpoint(checkpoint));
    const uint64_t blocks = corpus_.blocks();
    return Status::Cancelled(
        "training stopped in epoch " + std::to_string(next_block_ / blocks + 1) + " of " +
        std::to_string(options_.epochs) + " (" + std::to_string(100 * next_block_ / end_block) +
        "% done); its state is kept, and resuming continues from there");
  }
  return Status::OK();
}

Status Trainer::SaveCheckpoint(const fs::path& path) const {
  Writer w;
  w.Bytes(kCheckpointMagic, sizeof kCheckpointMagic);
  w.String(fingerprint_);
  PutOptions(w, options_);
  w.Put(next_block_);
  w.Put(words_done_.load());
  w.Put<uint64_t>(vocabulary_.size());
  for (uint32_t id = 0; id < vocabulary_.size(); ++id) {
    w.String(vocabulary_.Token(id));
    w.Put(vocabulary_.Count(id));
  }
  w.Put<uint64_t>(input_.rows());
  w.Bytes(input_.data().data(), input_.data().size() * sizeof(float));
  w.Bytes(output_.data().data(), output_.data().size() * sizeof(float));
  const uint64_t sum = XXH64(w.out().data(), w.out().size(), 0);
  w.Put(sum);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  return util::WriteFileDurably(path, w.out()).WithContext("training checkpoint");
}

Result<std::unique_ptr<Trainer>> Trainer::Resume(const fs::path& checkpoint,
                                                 const TextSource& source,
                                                 const TrainOptions& options,
                                                 const std::string& fingerprint,
                                                 const fs::path& scratch_file) {
  const std::string where = "resuming training from " + checkpoint.string();
  std::error_code ec;
  if (!fs::exists(checkpoint, ec)) {
    return Status::NotFound(where + ": there is no checkpoint (no stopped training to resume)");
  }
  std::string bytes;
  {
    std::ifstream in(checkpoint, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
    if (!in.good() && !in.eof()) return Status::IOError(where + ": cannot read it");
  }
  if (bytes.size() < sizeof kCheckpointMagic + 8 ||
      std::memcmp(bytes.data(), kCheckpointMagic, sizeof kCheckpointMagic) != 0) {
    return Status::Corruption(where + ": not a relate training checkpoint");
  }
  uint64_t stored_sum = 0;
  std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
  if (XXH64(bytes.data(), bytes.size() - 8, 0) != stored_sum) {
    return Status::Corruption(where + ": checksum mismatch (the file is damaged)");
  }
  Reader r(std::string_view(bytes).substr(sizeof kCheckpointMagic,
                                          bytes.size() - 8 - sizeof kCheckpointMagic));
  std::unique_ptr<Trainer> t(new Trainer());
  const auto corrupt = [&] {
    return Status::Corruption(where + ": its contents are inconsistent");
  };
  uint64_t words_done = 0, vocabulary = 0, rows = 0;
  if (!r.String(&t->fingerprint_) || !GetOptions(r, &t->options_) || !r.Get(&t->next_block_) ||
      !r.Get(&words_done) || !r.Get(&vocabulary)) {
    return corrupt();
  }
  if (t->fingerprint_ != fingerprint) {
    return Status::InvalidArgument(where + ": it was trained on " + t->fingerprint_ + ", not on " +
                                   fingerprint);
  }
  RELATE_RETURN_IF_ERROR(ValidateTrainOptions(t->options_).WithContext(where));
  t->options_.progress = options.progress;
  t->options_.stop = options.stop;
  t->options_.corpus = options.corpus;
  t->options_.collection = options.collection;
  t->words_done_ = words_done;
  t->vocabulary_.Reserve(vocabulary);
  for (uint64_t i = 0; i < vocabulary; ++i) {
    std::string token;
    uint64_t count = 0;
    if (!r.String(&token) || !r.Get(&count) || !t->vocabulary_.Add(token, count)) return corrupt();
  }
  RELATE_RETURN_IF_ERROR(t->Initialise());
  if (!r.Get(&rows) || rows != t->input_.rows() ||
      !r.Bytes(t->input_.MutableRow(0).data(), t->input_.data().size() * sizeof(float)) ||
      !r.Bytes(t->output_.MutableRow(0).data(), t->output_.data().size() * sizeof(float))) {
    return corrupt();
  }
  RELATE_ASSIGN_OR_RETURN(
      t->corpus_, EncodeCorpus(source, TokenizerOf(t->options_), t->vocabulary_, scratch_file,
                               kBlockWords, ReadProgress(t->options_, "encoding")));
  if (t->next_block_ > static_cast<uint64_t>(t->options_.epochs) * t->corpus_.blocks()) {
    return Status::InvalidArgument(where + ": the corpus has changed since (fewer blocks)");
  }
  return t;
}

Result<TrainedModel> Trainer::Model() const {
  TrainedModel model;
  const uint32_t dim = options_.dimension;
  WordVectors words;
  words.vocabulary = vocabulary_;
  words.table = EmbeddingTable(vocabulary_.size(), dim);
  for (uint32_t w = 0; w < vocabulary_.size(); ++w) {
    std::span<float> out = words.table.MutableRow(w);
    if (!subwords_) {
      std::span<const float> in = input_.Row(w);
      std::copy(in.begin(), in.end(), out.begin());
      continue;
    }
    // fastText's word vector: the mean of the word's own row and its n-gram rows.
    const uint32_t begin = subword_offsets_[w], end = subword_offsets_[w + 1];
    for (uint32_t i = begin; i < end; ++i) {
      std::span<const float> in = input_.Row(subword_rows_[i]);
      for (uint32_t k = 0; k < dim; ++k) out[k] += in[k];
    }
    for (float& x : out) x /= static_cast<float>(end - begin);
  }
  if (!subwords_) {
    model.plain = std::move(words);
    return model;
  }
  EmbeddingTable buckets(options_.buckets, dim);
  const size_t offset = static_cast<size_t>(vocabulary_.size()) * dim;
  std::copy(input_.data().begin() + static_cast<std::ptrdiff_t>(offset), input_.data().end(),
            buckets.MutableRow(0).begin());
  RELATE_ASSIGN_OR_RETURN(auto ft,
                          FastTextModel::FromParts(std::move(words), std::move(buckets), {},
                                                   options_.min_ngram, options_.max_ngram, false));
  model.fasttext.emplace(std::move(ft));
  return model;
}

}  // namespace relate::embed
