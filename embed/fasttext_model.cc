// Reading fastText .bin files.
//
// Layout (native byte order, little-endian on every platform fastText ships for):
//   [int32 magic 793712314, int32 version]     absent in files from 2016
//   Args: int32 dim ws epoch minCount neg wordNgrams loss model bucket minn maxn
//         lrUpdateRate, double t
//   Dictionary: int32 size nwords nlabels, int64 ntokens, [int64 pruneidx_size],
//         size x (NUL-terminated word, int64 count, int8 type), [pruneidx_size x
//         (int32, int32)]
//   [bool quant_input], input matrix: int64 m n, m x n float32
//   [bool qout], output matrix: int64 m n, m x n float32
// The bracketed fields are absent in files without the magic number.
//
// Invariants of a FastTextModel: words_.table has one row per vocabulary word;
// buckets_ has `bucket` rows; every n-gram hash is taken modulo buckets_.rows(),
// which is non-zero whenever an n-gram can exist.
#include "embed/fasttext_model.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "util/quote.h"
#include "util/utf8.h"

namespace relate::embed {
namespace {

static_assert(std::endian::native == std::endian::little,
              "fastText files are read as little-endian");

constexpr int32_t kMagic = 793712314;
constexpr int32_t kOldestVersion = 11;
constexpr int32_t kNewestVersion = 12;  // fastText 0.9.x
constexpr std::string_view kEos = "</s>";
// fastText's enums as stored in Args.
constexpr int32_t kModelCbow = 1;
constexpr int32_t kModelSupervised = 3;
constexpr int32_t kLossMin = 1;  // hs
constexpr int32_t kLossMax = 4;  // ova
constexpr int8_t kEntryWord = 0;
constexpr int8_t kEntryLabel = 1;
// Rows read per chunk of the input matrix, between progress calls.
constexpr size_t kChunkBytes = size_t{4} << 20;

struct Args {
  int32_t dim = 0;
  int32_t ws = 0;
  int32_t epoch = 0;
  int32_t min_count = 0;
  int32_t neg = 0;
  int32_t word_ngrams = 0;
  int32_t loss = 0;
  int32_t model = 0;
  int32_t bucket = 0;
  int32_t minn = 0;
  int32_t maxn = 0;
  int32_t lr_update_rate = 0;
  double t = 0;
};

// Whether fastText would hash any n-gram with these settings.
bool NgramsPossible(int32_t minn, int32_t maxn) { return maxn >= 1 && maxn >= minn; }

// fastText's Dictionary::hash: FNV-1a over the bytes taken as *signed* char,
// which is what every released model was trained with.
uint32_t FastTextHash(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint32_t>(static_cast<int8_t>(c));
    h *= 16777619u;
  }
  return h;
}

// Reads a file front to back, keeping its byte offset so that every error can
// say where it is.
class Reader {
 public:
  Reader(std::string name, std::FILE* file, uint64_t size, const FastTextProgressFn& progress)
      : name_(std::move(name)), file_(file), size_(size), progress_(progress) {}

  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - offset_; }

  // "<file>: byte <at>: <message>" with `code`.
  Status Error(Status::Code code, uint64_t at, std::string_view message) const {
    return Status(code, name_ + ": byte " + std::to_string(at) + ": " + std::string(message));
  }
  Status Corrupt(uint64_t at, std::string_view message) const {
    return Error(Status::Code::kCorruption, at, message);
  }
  Status Invalid(uint64_t at, std::string_view message) const {
    return Error(Status::Code::kInvalidArgument, at, message);
  }

  // Reads `n` bytes of `what` into `dst`.
  Status ReadBytes(void* dst, size_t n, std::string_view what) {
    if (n > remaining()) return Truncated(what, n);
    const size_t got = std::fread(dst, 1, n, file_);
    if (got != n) {
      if (std::ferror(file_)) {
        return Error(Status::Code::kIOError, offset_ + got,
                     "reading " + std::string(what) + ": " + std::strerror(errno));
      }
      return Truncated(what, n);
    }
    offset_ += n;
    return Status::OK();
  }

  template <typename T>
  Status Read(T* value, std::string_view what) {
    return ReadBytes(value, sizeof(T), what);
  }

  // Reads a NUL-terminated string of `what`.
  Status ReadCString(std::string* s, std::string_view what) {
    s->clear();
    const uint64_t start = offset_;
    while (true) {
      const int c = std::getc(file_);
      if (c == EOF) {
        if (std::ferror(file_)) {
          return Error(Status::Code::kIOError, offset_,
                       "reading " + std::string(what) + ": " + std::strerror(errno));
        }
        return Corrupt(start, "the file ends inside " + std::string(what) +
                                  " (no terminating NUL byte before byte " + std::to_string(size_) +
                                  "): the file is truncated");
      }
      ++offset_;
      if (c == 0) return Status::OK();
      s->push_back(static_cast<char>(c));
    }
  }

  // Moves past `n` bytes without reading them.
  Status Skip(uint64_t n, std::string_view what) {
    if (n > remaining()) return Truncated(what, n);
    if (::fseeko(file_, static_cast<off_t>(offset_ + n), SEEK_SET) != 0) {
      return Error(Status::Code::kIOError, offset_,
                   "seeking past " + std::string(what) + ": " + std::strerror(errno));
    }
    offset_ += n;
    return Status::OK();
  }

  Status Truncated(std::string_view what, uint64_t needed) const {
    return Corrupt(offset_, std::string(what) + " needs " + std::to_string(needed) +
                                " bytes but the file ends at byte " + std::to_string(size_) +
                                ": the file is truncated");
  }

  void Progress() const {
    if (progress_) progress_(offset_, size_);
  }

 private:
  std::string name_;
  std::FILE* file_;
  uint64_t size_;
  uint64_t offset_ = 0;
  const FastTextProgressFn& progress_;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Reads the Args fields after dim and ws (which the caller has read).
Status ReadArgsTail(Reader& in, Args* a) {
  RELATE_RETURN_IF_ERROR(in.Read(&a->epoch, "args.epoch"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->min_count, "args.minCount"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->neg, "args.neg"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->word_ngrams, "args.wordNgrams"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->loss, "args.loss"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->model, "args.model"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->bucket, "args.bucket"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->minn, "args.minn"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->maxn, "args.maxn"));
  RELATE_RETURN_IF_ERROR(in.Read(&a->lr_update_rate, "args.lrUpdateRate"));
  return in.Read(&a->t, "args.t");
}

// Why `a` cannot be the Args of a fastText model, or empty if it can.
std::string ImplausibleArgs(const Args& a) {
  if (a.dim < 1 || a.dim > (1 << 20)) return "dim = " + std::to_string(a.dim);
  if (a.ws < 0) return "ws = " + std::to_string(a.ws);
  if (a.epoch < 0) return "epoch = " + std::to_string(a.epoch);
  if (a.neg < 0) return "neg = " + std::to_string(a.neg);
  if (a.loss < kLossMin || a.loss > kLossMax) return "loss = " + std::to_string(a.loss);
  if (a.model < kModelCbow || a.model > kModelSupervised) {
    return "model = " + std::to_string(a.model);
  }
  if (a.bucket < 0) return "bucket = " + std::to_string(a.bucket);
  if (a.minn < 0 || a.minn > 1000) return "minn = " + std::to_string(a.minn);
  if (a.maxn < 0 || a.maxn > 1000) return "maxn = " + std::to_string(a.maxn);
  if (!std::isfinite(a.t) || a.t < 0) return "t = " + std::to_string(a.t);
  return "";
}

// acc += row, element by element in float, as fastText's Vector::addRow.
void AddRow(std::span<float> acc, std::span<const float> row) {
  std::transform(acc.begin(), acc.end(), row.begin(), acc.begin(), std::plus<>());
}

// v *= float(1.0 / count), as fastText's Vector::mul(1.0 / ngrams.size()).
void DivideBy(std::span<float> v, size_t count) {
  const auto scale = static_cast<float>(1.0 / static_cast<double>(count));
  std::transform(v.begin(), v.end(), v.begin(), [scale](float x) { return x * scale; });
}

}  // namespace

bool FastTextModel::HasSubwords(std::string_view word) const {
  return buckets_.rows() > 0 && NgramsPossible(minn_, maxn_) && (legacy_ || word != kEos);
}

namespace {

// Dictionary::computeSubwords: n counts UTF-8 characters, continuation bytes
// never start an n-gram. fastText 0.9.x leaves out the 1-grams "<" and ">";
// the 2016 fastText did not.
template <typename Fn>
void ForEachNgram(std::string_view word, int minn, int maxn, uint32_t bucket, bool legacy,
                  Fn&& fn) {
  if (bucket == 0) return;
  std::string w;
  w.reserve(word.size() + 2);
  w += '<';
  w += word;
  w += '>';
  const auto is_continuation = [&w](size_t k) {
    return (static_cast<unsigned char>(w[k]) & 0xC0u) == 0x80u;
  };
  for (size_t i = 0; i < w.size(); ++i) {
    if (is_continuation(i)) continue;
    size_t j = i;
    for (int n = 1; j < w.size() && n <= maxn; ++n) {
      ++j;
      while (j < w.size() && is_continuation(j)) ++j;
      if (n >= minn && (legacy || !(n == 1 && (i == 0 || j == w.size())))) {
        fn(FastTextHash(std::string_view(w).substr(i, j - i)) % bucket);
      }
    }
  }
}

}  // namespace

template <typename Fn>
void FastTextModel::ForEachSubword(std::string_view word, Fn&& fn) const {
  ForEachNgram(word, minn_, maxn_, static_cast<uint32_t>(buckets_.rows()), legacy_,
               std::forward<Fn>(fn));
}

std::vector<uint32_t> FastTextModel::SubwordBuckets(std::string_view word, int minn, int maxn,
                                                    uint32_t buckets) {
  std::vector<uint32_t> out;
  if (!NgramsPossible(minn, maxn)) return out;
  ForEachNgram(word, minn, maxn, buckets, false, [&](uint32_t b) { out.push_back(b); });
  return out;
}

// The parts of a fastText .bin file, read in order; each checks what it reads
// and says where a bad byte is (FastTextModel's friend: it fills the model).
class FastTextReading {
 public:
  // What the dictionary says, for the parts after it.
  struct Dictionary {
    uint64_t at = 0;
    int32_t nwords = 0;
    int32_t nlabels = 0;
    int64_t pruneidx_size = -1;
  };

  // The magic number and version (or, before them, dim and ws) and the args.
  static Status Header(Reader& in, uint64_t file_size, Args* args, uint64_t* args_at,
                       FastTextModel* model) {
    if (file_size < 8) {
      return in.Invalid(
          0, "not a fastText .bin file: it has only " + std::to_string(file_size) + " bytes");
    }
    int32_t first = 0;
    int32_t second = 0;
    RELATE_RETURN_IF_ERROR(in.Read(&first, "the magic number"));
    RELATE_RETURN_IF_ERROR(in.Read(&second, "the version"));
    model->legacy_ = first != kMagic;
    if (model->legacy_) {
      args->dim = first;
      args->ws = second;
    } else {
      if (second > kNewestVersion) {
        return in.Invalid(4, "fastText file format version " + std::to_string(second) +
                                 " is newer than the newest relate reads (" +
                                 std::to_string(kNewestVersion) + ", fastText 0.9.x)");
      }
      if (second < kOldestVersion) {
        return in.Invalid(4, "unknown fastText file format version " + std::to_string(second) +
                                 " (relate reads versions " + std::to_string(kOldestVersion) +
                                 " to " + std::to_string(kNewestVersion) + ")");
      }
      RELATE_RETURN_IF_ERROR(in.Read(&args->dim, "args.dim"));
      RELATE_RETURN_IF_ERROR(in.Read(&args->ws, "args.ws"));
    }
    *args_at = model->legacy_ ? 0 : 8;
    if (Status s = ReadArgsTail(in, args); !s.ok()) {
      if (model->legacy_) {
        return in.Invalid(0,
                          "not a fastText .bin file: it does not start with fastText's "
                          "magic number 793712314 and is too short for a 2016 fastText "
                          "header");
      }
      return s;
    }
    if (const std::string why = ImplausibleArgs(*args); !why.empty()) {
      if (model->legacy_) {
        return in.Invalid(0,
                          "not a fastText .bin file: it does not start with fastText's "
                          "magic number 793712314, and its first bytes are not a 2016 "
                          "fastText header either (they would mean " +
                              why + ")");
      }
      return in.Corrupt(*args_at, "the fastText header is inconsistent: " + why);
    }
    if (args->bucket == 0 && NgramsPossible(args->minn, args->maxn)) {
      return in.Corrupt(*args_at, "args.bucket is 0 but n-grams of " + std::to_string(args->minn) +
                                      " to " + std::to_string(args->maxn) +
                                      " characters need bucket rows");
    }
    model->minn_ = args->minn;
    model->maxn_ = args->maxn;
    return Status::OK();
  }

  // The words (a supervised model's entries are only checked) and the pruned index.
  static Status ReadDictionary(Reader& in, bool supervised, Dictionary* d, FastTextModel* model) {
    d->at = in.offset();
    int32_t size = 0;
    int64_t ntokens = 0;
    RELATE_RETURN_IF_ERROR(in.Read(&size, "dictionary size"));
    RELATE_RETURN_IF_ERROR(in.Read(&d->nwords, "dictionary nwords"));
    RELATE_RETURN_IF_ERROR(in.Read(&d->nlabels, "dictionary nlabels"));
    RELATE_RETURN_IF_ERROR(in.Read(&ntokens, "dictionary ntokens"));
    if (!model->legacy_) {
      RELATE_RETURN_IF_ERROR(in.Read(&d->pruneidx_size, "dictionary pruneidx_size"));
    }
    if (size < 0 || d->nwords < 0 || d->nlabels < 0 || int64_t{d->nwords} + d->nlabels != size) {
      return in.Corrupt(d->at, "the dictionary counts disagree: size " + std::to_string(size) +
                                   ", nwords " + std::to_string(d->nwords) + ", nlabels " +
                                   std::to_string(d->nlabels));
    }
    // Each entry takes at least 10 bytes; checking first keeps a damaged count
    // from reserving gigabytes.
    if (uint64_t{static_cast<uint32_t>(size)} * 10 > in.remaining()) {
      return in.Corrupt(d->at, "the dictionary claims " + std::to_string(size) +
                                   " entries but only " + std::to_string(in.remaining()) +
                                   " bytes follow: the file is truncated or damaged");
    }
    Vocabulary& vocabulary = model->words_.vocabulary;
    vocabulary.Reserve(static_cast<size_t>(d->nwords));
    std::string word;
    for (int32_t i = 0; i < size; ++i) {
      const uint64_t entry_at = in.offset();
      const std::string what = "dictionary entry " + std::to_string(i);
      RELATE_RETURN_IF_ERROR(in.ReadCString(&word, what));
      int64_t count = 0;
      int8_t type = 0;
      RELATE_RETURN_IF_ERROR(in.Read(&count, what + " count"));
      RELATE_RETURN_IF_ERROR(in.Read(&type, what + " type"));
      const int8_t expected_type = i < d->nwords ? kEntryWord : kEntryLabel;
      if (type != expected_type) {
        return in.Corrupt(in.offset() - 1, what + " has type " + std::to_string(type) +
                                               ", expected " + std::to_string(expected_type) +
                                               " (0 word, 1 label)");
      }
      // A supervised model is refused below, once the quantized flag is known.
      if (supervised) continue;
      if (type == kEntryLabel) {
        model->labels_.push_back(word);
        continue;
      }
      if (count < 0) {
        return in.Corrupt(in.offset() - 9, what + " has a negative count " + std::to_string(count));
      }
      if (const auto bad = util::InvalidUtf8At(word)) {
        return in.Invalid(entry_at + *bad,
                          what + " " + util::Quote(word) +
                              " is not UTF-8; relate needs UTF-8 words because fastText hashes "
                              "a word's bytes and relate's tokenizer produces UTF-8 (retrain "
                              "the model on a UTF-8 corpus)");
      }
      Result<uint32_t> id = vocabulary.Add(word, static_cast<uint64_t>(count));
      if (!id.has_value()) {
        return in.Corrupt(entry_at, what + " " + util::Quote(word) + " repeats an earlier word");
      }
      if ((i & 0xFFFF) == 0) in.Progress();
    }
    if (d->pruneidx_size < -1) {
      return in.Corrupt(d->at + 20,
                        "dictionary pruneidx_size is " + std::to_string(d->pruneidx_size));
    }
    if (d->pruneidx_size > 0) {
      if (static_cast<uint64_t>(d->pruneidx_size) > in.remaining() / 8) {
        return in.Truncated("the pruned n-gram index", static_cast<uint64_t>(d->pruneidx_size) * 8);
      }
      RELATE_RETURN_IF_ERROR(
          in.Skip(static_cast<uint64_t>(d->pruneidx_size) * 8, "the pruned n-gram index"));
    }
    return Status::OK();
  }

  // The quantized flag and the input matrix: words' rows, then n-gram buckets.
  static Status InputMatrix(Reader& in, const Args& args, uint64_t args_at, bool supervised,
                            const Dictionary& d, uint64_t* matrix_at, FastTextModel* model) {
    uint8_t quantized = 0;
    const uint64_t quant_at = in.offset();
    if (!model->legacy_) RELATE_RETURN_IF_ERROR(in.Read(&quantized, "the quantized-input flag"));
    std::sort(model->labels_.begin(), model->labels_.end());
    if (supervised) {
      return in.Invalid(
          args_at + 28,
          std::string("this is a supervised fastText model (text classification") +
              (quantized == 1 ? ", quantized .ftz" : "") + ", " + std::to_string(d.nlabels) +
              " labels), not word vectors: relate reads models trained with `fasttext "
              "skipgram` or `fasttext cbow`");
    }
    if (quantized > 1) {
      return in.Corrupt(quant_at, "the quantized-input flag is " + std::to_string(quantized));
    }
    if (quantized == 1) {
      return in.Invalid(quant_at,
                        "this is a quantized fastText model (.ftz): its vectors are "
                        "product-quantized codes, which relate does not read; use the "
                        "model's full .bin file");
    }
    if (d.pruneidx_size >= 0) {
      // fastText itself refuses this ("Invalid model file", its issue #332).
      return in.Corrupt(d.at + 20,
                        "the dictionary is pruned but the input matrix is not quantized; "
                        "fastText refuses such files too: download the model again");
    }
    if (d.nwords == 0) return in.Corrupt(d.at, "the dictionary has no words");
    *matrix_at = in.offset();
    int64_t rows = 0;
    int64_t cols = 0;
    RELATE_RETURN_IF_ERROR(in.Read(&rows, "the input matrix rows"));
    RELATE_RETURN_IF_ERROR(in.Read(&cols, "the input matrix columns"));
    if (cols != args.dim) {
      return in.Corrupt(*matrix_at + 8, "the input matrix has " + std::to_string(cols) +
                                            " columns but args.dim is " + std::to_string(args.dim));
    }
    if (rows != int64_t{d.nwords} + args.bucket) {
      return in.Corrupt(
          *matrix_at, "the input matrix has " + std::to_string(rows) +
                          " rows, expected nwords + bucket = " + std::to_string(d.nwords) + " + " +
                          std::to_string(args.bucket));
    }
    const auto width = static_cast<uint32_t>(args.dim);
    const uint64_t matrix_bytes = static_cast<uint64_t>(rows) * width * sizeof(float);
    // cppcheck-suppress unsignedLessThanZero
    if (in.remaining() < matrix_bytes) {
      return in.Truncated(
          "the input matrix (" + std::to_string(rows) + " x " + std::to_string(width) + " floats)",
          matrix_bytes);
    }
    model->words_.table = EmbeddingTable(static_cast<size_t>(d.nwords), width);
    model->buckets_ = EmbeddingTable(static_cast<size_t>(args.bucket), width);
    const size_t chunk_rows = std::max<size_t>(1, kChunkBytes / (size_t{width} * sizeof(float)));
    for (EmbeddingTable* table : {&model->words_.table, &model->buckets_}) {
      const bool is_words = table == &model->words_.table;
      for (size_t r = 0; r < table->rows(); r += chunk_rows) {
        const size_t n = std::min(chunk_rows, table->rows() - r);
        float* dst = table->MutableRow(static_cast<uint32_t>(r)).data();
        const uint64_t chunk_at = in.offset();
        RELATE_RETURN_IF_ERROR(in.ReadBytes(dst, n * width * sizeof(float), "the input matrix"));
        for (size_t k = 0; k < n * width; ++k) {
          if (!std::isfinite(dst[k])) {
            const size_t row = r + k / width + (is_words ? 0 : static_cast<size_t>(d.nwords));
            return in.Corrupt(chunk_at + k * sizeof(float),
                              "input matrix row " + std::to_string(row) + " holds " +
                                  std::to_string(dst[k]) + ", not a finite number");
          }
        }
        in.Progress();
      }
    }
    return Status::OK();
  }

  // The output matrix: only training needs it; its size is checked and it is skipped.
  static Status OutputMatrix(Reader& in, const Args& args, bool legacy) {
    const auto width = static_cast<uint32_t>(args.dim);
    int64_t rows = 0;
    int64_t cols = 0;
    if (!legacy) {
      uint8_t qout = 0;
      RELATE_RETURN_IF_ERROR(in.Read(&qout, "the quantized-output flag"));
      if (qout > 1) {
        return in.Corrupt(in.offset() - 1, "the quantized-output flag is " + std::to_string(qout));
      }
    }
    const uint64_t output_at = in.offset();
    RELATE_RETURN_IF_ERROR(in.Read(&rows, "the output matrix rows"));
    RELATE_RETURN_IF_ERROR(in.Read(&cols, "the output matrix columns"));
    if (cols != args.dim || rows < 0) {
      return in.Corrupt(output_at, "the output matrix is " + std::to_string(rows) + " x " +
                                       std::to_string(cols) + ", expected " +
                                       std::to_string(args.dim) + " columns");
    }
    const std::string output_what =
        "the output matrix (" + std::to_string(rows) + " x " + std::to_string(width) + " floats)";
    if (static_cast<uint64_t>(rows) > in.remaining() / (uint64_t{width} * sizeof(float))) {
      return in.Corrupt(in.offset(), output_what + " does not fit in the " +
                                         std::to_string(in.remaining()) +
                                         " bytes left: the file is truncated");
    }
    const uint64_t output_bytes = static_cast<uint64_t>(rows) * width * sizeof(float);
    RELATE_RETURN_IF_ERROR(in.Skip(output_bytes, output_what));
    if (in.remaining() != 0) {
      return in.Corrupt(in.offset(), std::to_string(in.remaining()) +
                                         " unexpected bytes after the output matrix");
    }
    return Status::OK();
  }

  // Each word's vector: fastText's getWordVector, in float and in its order
  // (own row, then n-gram rows), scaled by float(1.0 / count).
  static Status WordVectors(Reader& in, uint32_t width, int32_t nwords, uint64_t matrix_at,
                            FastTextModel* model) {
    const Vocabulary& vocabulary = model->words_.vocabulary;
    for (uint32_t id = 0; id < static_cast<uint32_t>(nwords); ++id) {
      const std::string& token = vocabulary.Token(id);
      if (!model->HasSubwords(token)) continue;
      std::span<float> v = model->words_.table.MutableRow(id);
      size_t count = 1;
      model->ForEachSubword(token, [&](uint32_t b) {
        AddRow(v, model->buckets_.Row(b));
        ++count;
      });
      DivideBy(v, count);
      // Finite rows can still add up beyond float32 (a damaged matrix).
      if (!std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); })) {
        return in.Corrupt(matrix_at + 16 + uint64_t{id} * width * sizeof(float),
                          "the vector of word " + util::Quote(token) +
                              " (the mean of its row and n-gram rows) is not finite: the input "
                              "matrix holds values too large to add");
      }
    }
    return Status::OK();
  }
};

Result<FastTextModel> FastTextModel::Read(const std::filesystem::path& path,
                                          const FastTextProgressFn& progress) {
  const std::string name = path.string();
  try {
    std::error_code ec;
    const uint64_t file_size = std::filesystem::file_size(path, ec);
    if (ec) return Status::IOError(name + ": cannot read the fastText model: " + ec.message());
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(name.c_str(), "rb"));
    if (!file) {
      return Status::IOError(name + ": cannot open the fastText model: " + std::strerror(errno));
    }
    Reader in(name, file.get(), file_size, progress);
    in.Progress();

    Args args;
    FastTextModel model;
    uint64_t args_at = 0;
    RELATE_RETURN_IF_ERROR(FastTextReading::Header(in, file_size, &args, &args_at, &model));
    const bool supervised = args.model == kModelSupervised;
    FastTextReading::Dictionary dictionary;
    RELATE_RETURN_IF_ERROR(FastTextReading::ReadDictionary(in, supervised, &dictionary, &model));
    uint64_t matrix_at = 0;
    RELATE_RETURN_IF_ERROR(FastTextReading::InputMatrix(in, args, args_at, supervised, dictionary,
                                                        &matrix_at, &model));
    RELATE_RETURN_IF_ERROR(FastTextReading::OutputMatrix(in, args, model.legacy_));
    RELATE_RETURN_IF_ERROR(FastTextReading::WordVectors(in, static_cast<uint32_t>(args.dim),
                                                        dictionary.nwords, matrix_at, &model));
    in.Progress();
    return model;
  } catch (const std::bad_alloc&) {
    return Status::IOError(name + ": out of memory reading the fastText model");
  } catch (const std::exception& e) {
    return Status::IOError(name + ": reading the fastText model: " + e.what());
  }
}

Result<std::vector<float>> FastTextModel::WordVector(std::string_view word) const {
  if (const auto bad = util::InvalidUtf8At(word)) {
    return Status::InvalidArgument("fastText word vector: the word " + util::Quote(word) +
                                   " is not valid UTF-8 at byte " + std::to_string(*bad));
  }
  if (std::binary_search(labels_.begin(), labels_.end(), word)) {
    return Status::InvalidArgument("fastText word vector: " + util::Quote(word) +
                                   " is one of the model's labels, not a word; fastText has no "
                                   "vector for it (its print-word-vectors aborts)");
  }
  try {
    if (const auto id = words_.vocabulary.Find(word)) {
      const std::span<const float> row = words_.table.Row(*id);
      return std::vector<float>(row.begin(), row.end());
    }
    std::vector<float> v(dim(), 0.0f);
    if (!HasSubwords(word)) return v;
    size_t count = 0;
    ForEachSubword(word, [&](uint32_t b) {
      AddRow(v, buckets_.Row(b));
      ++count;
    });
    if (count > 0) DivideBy(v, count);
    // Finite rows can still add up beyond float32 (damaged n-gram rows).
    if (!std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); })) {
      return Status::Corruption("fastText word vector: the n-gram rows of " + util::Quote(word) +
                                " add up beyond float32 range: the model's n-gram rows are "
                                "damaged");
    }
    return v;
  } catch (const std::bad_alloc&) {
    return Status::Internal("fastText word vector: out of memory");
  }
}

Result<FastTextModel> FastTextModel::FromParts(WordVectors words, EmbeddingTable bucket_rows,
                                               std::vector<std::string> labels, int minn, int maxn,
                                               bool legacy) {
  if (words.vocabulary.size() != words.table.rows()) {
    return Status::InvalidArgument("fastText parts: " + std::to_string(words.vocabulary.size()) +
                                   " words but " + std::to_string(words.table.rows()) + " rows");
  }
  if (bucket_rows.rows() > 0 && bucket_rows.dim() != words.table.dim()) {
    return Status::InvalidArgument("fastText parts: n-gram rows have another dimension");
  }
  if (minn < 0 || maxn < 0 || (maxn > 0 && minn > maxn)) {
    return Status::InvalidArgument("fastText parts: bad n-gram lengths " + std::to_string(minn) +
                                   ".." + std::to_string(maxn));
  }
  FastTextModel m;
  m.words_ = std::move(words);
  m.buckets_ = std::move(bucket_rows);
  m.labels_ = std::move(labels);
  std::sort(m.labels_.begin(), m.labels_.end());
  m.minn_ = minn;
  m.maxn_ = maxn;
  m.legacy_ = legacy;
  return m;
}

}  // namespace relate::embed
