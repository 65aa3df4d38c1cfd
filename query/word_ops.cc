// Word-level operations on a model: neighbours, analogies, odd one out, text
// similarity, and the standard evaluations (word similarity, analogies).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "embed/embedder.h"
#include "query/db_impl.h"

namespace relate::query {
namespace {

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// The id of `word` in the model: as written, or lower-cased for a lower-casing model.
std::optional<uint32_t> FindWord(const LoadedModel& model, std::string_view word) {
  const auto& vocabulary = model.words().vocabulary;
  if (auto id = vocabulary.Find(word)) return id;
  if (model.meta.info.lowercase) return vocabulary.Find(AsciiLower(word));
  return std::nullopt;
}

// The unit vector of `word`: its row, or for a fastText model its subword vector.
Result<std::vector<float>> UnitVector(const LoadedModel& model, std::string_view word) {
  std::vector<float> v;
  if (auto id = FindWord(model, word)) {
    auto row = model.words().table.Row(*id);
    v.assign(row.begin(), row.end());
  } else if (model.fasttext) {
    auto built = model.fasttext->WordVector(model.meta.info.lowercase ? AsciiLower(word)
                                                                      : std::string(word));
    if (built) v = std::move(*built);
  }
  if (v.empty() || !embed::Normalize(v).ok()) {
    return Status::NotFound("model " + Quote(model.meta.info.name) + " has no vector for " +
                            Quote(word));
  }
  return v;
}

// Average ranks (1-based), ties sharing their mean rank.
std::vector<double> Ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t t = i; t <= j; ++t) ranks[order[t]] = rank;
    i = j + 1;
  }
  return ranks;
}

double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  // Undefined (NaN) when either side is constant: no order to correlate.
  return sxx == 0 || syy == 0 ? std::numeric_limits<double>::quiet_NaN()
                              : sxy / std::sqrt(sxx * syy);
}

// The longest line an evaluation file may have (real ones hold a few words):
// a file without newlines, /dev/zero say, is not read into memory whole.
constexpr size_t kMaxEvalLineBytes = size_t{1} << 20;

// Opens an evaluation file. NotFound if it does not exist, InvalidArgument if
// it is a directory, IOError if it cannot be opened.
Status OpenEvalFile(const std::filesystem::path& file, std::ifstream& in) {
  std::error_code ec;
  const std::filesystem::file_type type = std::filesystem::status(file, ec).type();
  if (type == std::filesystem::file_type::not_found) {
    return Status::NotFound(file.string() + " does not exist");
  }
  if (type == std::filesystem::file_type::directory) {
    return Status::InvalidArgument(file.string() + " is a directory; name the evaluation file");
  }
  errno = 0;
  in.open(file, std::ios::binary);
  if (!in) {
    return Status::IOError(file.string() + " cannot be read" +
                           (errno != 0 ? std::string(": ") + std::strerror(errno) : ""));
  }
  return Status::OK();
}

// Reads line `line_no` of `file` into `line`, without its newline; false at
// the end. InvalidArgument for a line longer than kMaxEvalLineBytes.
Result<bool> ReadEvalLine(std::istream& in, const std::filesystem::path& file, size_t line_no,
                          std::string& line) {
  line.clear();
  std::streambuf& buf = *in.rdbuf();
  for (;;) {
    const int c = buf.sbumpc();
    if (c == std::char_traits<char>::eof()) return !line.empty();
    if (c == '\n') return true;
    if (line.size() == kMaxEvalLineBytes) {
      return Status::InvalidArgument(file.string() + ":" + std::to_string(line_no) +
                                     ": line longer than " + std::to_string(kMaxEvalLineBytes) +
                                     " bytes; is it an evaluation file?");
    }
    line.push_back(static_cast<char>(c));
  }
}

}  // namespace

Result<std::shared_ptr<const WordIndex>> DBImpl::WordIndexFor(ModelEntry& entry,
                                                              const LoadedModel& model) {
  util::MutexLock lock(&entry.load_mu);
  if (entry.word_index) return entry.word_index;
  const auto& table = model.words().table;
  RELATE_ASSIGN_OR_RETURN(auto index,
                          index::VectorIndex::Create(table.dim(), Metric::kCosine, "Flat"));
  constexpr size_t kChunk = 4096;
  std::vector<uint64_t> ids;
  std::vector<float> rows;
  for (size_t begin = 0; begin < table.rows(); begin += kChunk) {
    const size_t end = std::min(table.rows(), begin + kChunk);
    ids.clear();
    rows.clear();
    for (size_t id = begin; id < end; ++id) {
      auto row = table.Row(static_cast<uint32_t>(id));
      // A zero row has no direction: such a word is never anyone's neighbour.
      if (std::all_of(row.begin(), row.end(), [](float x) { return x == 0.0f; })) continue;
      ids.push_back(id);
      rows.insert(rows.end(), row.begin(), row.end());
    }
    index::PrepareVectors(Metric::kCosine, table.dim(), rows);
    RELATE_RETURN_IF_ERROR(index->Add(ids, rows));
  }
  auto word_index = std::make_shared<WordIndex>();
  word_index->index = std::move(index);
  entry.word_index = std::move(word_index);
  return entry.word_index;
}

Result<std::vector<WordHit>> DBImpl::SimilarWords(std::string_view model_name,
                                                  std::string_view word, size_t k) {
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(model_name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  RELATE_ASSIGN_OR_RETURN(auto words, WordIndexFor(*entry, *model));
  RELATE_ASSIGN_OR_RETURN(auto query, UnitVector(*model, word));
  const auto self = FindWord(*model, word);
  RELATE_ASSIGN_OR_RETURN(auto nb, words->index->Search(query, k + 1));
  std::vector<WordHit> out;
  for (size_t j = 0; j < nb.ids.size() && out.size() < k; ++j) {
    if (nb.ids[j] < 0 || (self && static_cast<uint32_t>(nb.ids[j]) == *self)) continue;
    out.push_back(
        {model->words().vocabulary.Token(static_cast<uint32_t>(nb.ids[j])), nb.scores[j]});
  }
  return out;
}

Result<std::vector<WordHit>> DBImpl::Analogy(std::string_view model_name, std::string_view a,
                                             std::string_view b, std::string_view c, size_t k,
                                             AnalogyMethod method) {
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(model_name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  RELATE_ASSIGN_OR_RETURN(auto words, WordIndexFor(*entry, *model));
  RELATE_ASSIGN_OR_RETURN(auto va, UnitVector(*model, a));
  RELATE_ASSIGN_OR_RETURN(auto vb, UnitVector(*model, b));
  RELATE_ASSIGN_OR_RETURN(auto vc, UnitVector(*model, c));
  std::vector<uint32_t> inputs;
  for (auto w : {a, b, c}) {
    if (auto id = FindWord(*model, w)) inputs.push_back(*id);
  }
  auto excluded = [&](int64_t id) {
    return id < 0 ||
           std::find(inputs.begin(), inputs.end(), static_cast<uint32_t>(id)) != inputs.end();
  };
  const auto& vocabulary = model->words().vocabulary;
  std::vector<WordHit> out;
  if (method == AnalogyMethod::kCosAdd) {
    std::vector<float> target(va.size());
    for (size_t i = 0; i < target.size(); ++i) target[i] = vb[i] - va[i] + vc[i];
    if (!embed::Normalize(target).ok()) return out;
    RELATE_ASSIGN_OR_RETURN(auto nb, words->index->Search(target, k + inputs.size()));
    for (size_t j = 0; j < nb.ids.size() && out.size() < k; ++j) {
      if (excluded(nb.ids[j])) continue;
      out.push_back({vocabulary.Token(static_cast<uint32_t>(nb.ids[j])), nb.scores[j]});
    }
    return out;
  }
  // 3CosMul needs every word's cosine to a, b and c: one exhaustive search each.
  const size_t n = words->index->size();
  std::vector<float> queries;
  for (const auto* v : {&va, &vb, &vc}) queries.insert(queries.end(), v->begin(), v->end());
  RELATE_ASSIGN_OR_RETURN(auto nb, words->index->Search(queries, n));
  std::unordered_map<int64_t, std::array<float, 3>> cos;
  for (size_t q = 0; q < 3; ++q) {
    for (size_t j = 0; j < n; ++j) {
      const int64_t id = nb.ids[q * n + j];
      if (id >= 0) cos[id][q] = (nb.scores[q * n + j] + 1) / 2;
    }
  }
  std::vector<WordHit> scored;
  for (const auto& [id, c3] : cos) {
    if (excluded(id)) continue;
    scored.push_back(
        {vocabulary.Token(static_cast<uint32_t>(id)), c3[1] * c3[2] / (c3[0] + 0.001f)});
  }
  const size_t keep = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<ptrdiff_t>(keep), scored.end(),
                    [](const WordHit& x, const WordHit& y) { return x.score > y.score; });
  scored.resize(keep);
  return scored;
}

Result<std::string> DBImpl::OddOneOut(std::string_view model_name,
                                      std::span<const std::string> words) {
  if (words.size() < 3) {
    return Status::InvalidArgument("odd one out needs at least three words, not " +
                                   std::to_string(words.size()));
  }
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(model_name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  std::vector<std::vector<float>> vectors;
  std::vector<float> mean(model->words().table.dim(), 0.0f);
  for (const auto& w : words) {
    RELATE_ASSIGN_OR_RETURN(auto v, UnitVector(*model, w));
    for (size_t i = 0; i < v.size(); ++i) mean[i] += v[i];
    vectors.push_back(std::move(v));
  }
  RELATE_RETURN_IF_ERROR(embed::Normalize(mean));
  size_t worst = 0;
  float worst_score = 2;
  for (size_t w = 0; w < vectors.size(); ++w) {
    float dot = 0;
    for (size_t i = 0; i < mean.size(); ++i) dot += vectors[w][i] * mean[i];
    if (dot < worst_score) {
      worst_score = dot;
      worst = w;
    }
  }
  return words[worst];
}

Result<float> DBImpl::TextSimilarity(std::string_view model_name, std::string_view a,
                                     std::string_view b) {
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(model_name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  RELATE_ASSIGN_OR_RETURN(auto embedder, MakeEmbedder(*model));
  auto va = embedder->Embed(a);
  if (!va) return va.error().WithContext("text a");
  auto vb = embedder->Embed(b);
  if (!vb) return vb.error().WithContext("text b");
  double dot = 0;
  for (size_t i = 0; i < va->size(); ++i) dot += static_cast<double>((*va)[i]) * (*vb)[i];
  return static_cast<float>(dot);
}

Result<WordSimReport> DBImpl::EvaluateWordSim(std::string_view model_name,
                                              const std::filesystem::path& file) {
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(model_name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  std::ifstream in;
  RELATE_RETURN_IF_ERROR(OpenEvalFile(file, in));
  WordSimReport report;
  std::vector<double> human, predicted;
  std::string line;
  for (size_t line_no = 1;; ++line_no) {
    RELATE_ASSIGN_OR_RETURN(const bool more, ReadEvalLine(in, file, line_no, line));
    if (!more) break;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string w1, w2;
    double score;
    if (!(fields >> w1 >> w2 >> score)) {
      return Status::InvalidArgument(file.string() + ":" + std::to_string(line_no) +
                                     ": expected \"word TAB word TAB score\"");
    }
    ++report.pairs;
    auto v1 = UnitVector(*model, w1);
    auto v2 = UnitVector(*model, w2);
    if (!v1 || !v2 || !FindWord(*model, w1) || !FindWord(*model, w2)) {
      const std::string& missing = !FindWord(*model, w1) ? w1 : w2;
      if (report.missed.size() < 20 &&
          std::find(report.missed.begin(), report.missed.end(), missing) == report.missed.end()) {
        report.missed.push_back(missing);
      }
      continue;
    }
    double dot = 0;
    for (size_t i = 0; i < v1->size(); ++i) dot += static_cast<double>((*v1)[i]) * (*v2)[i];
    human.push_back(score);
    predicted.push_back(dot);
    ++report.covered;
  }
  report.spearman = report.covered >= 2 ? Pearson(Ranks(human), Ranks(predicted))
                                        : std::numeric_limits<double>::quiet_NaN();
  return report;
}

Result<AnalogyReport> DBImpl::EvaluateAnalogies(std::string_view model_name,
                                                const std::filesystem::path& file,
                                                size_t restrict) {
  RELATE_ASSIGN_OR_RETURN(auto entry, FindModel(model_name));
  RELATE_ASSIGN_OR_RETURN(auto model, LoadModel(*entry));
  const auto& vocabulary = model->words().vocabulary;
  const auto& table = model->words().table;
  const size_t limit = restrict == 0 ? vocabulary.size() : std::min(restrict, vocabulary.size());
  // Case-insensitive, as word2vec's compute-accuracy: the first (most frequent)
  // spelling of each lower-cased word among the allowed ones.
  std::unordered_map<std::string, uint32_t> allowed;
  for (uint32_t id = 0; id < limit; ++id) allowed.emplace(AsciiLower(vocabulary.Token(id)), id);

  std::ifstream in;
  RELATE_RETURN_IF_ERROR(OpenEvalFile(file, in));
  struct Question {
    size_t section;
    uint32_t a, b, c, d;
  };
  AnalogyReport report;
  std::vector<Question> questions;
  std::string line;
  for (size_t line_no = 1;; ++line_no) {
    RELATE_ASSIGN_OR_RETURN(const bool more, ReadEvalLine(in, file, line_no, line));
    if (!more) break;
    if (line.empty()) continue;
    if (line[0] == ':') {
      const size_t name = line.find_first_not_of(": \t\r");
      if (name == std::string::npos) {
        return Status::InvalidArgument(file.string() + ":" + std::to_string(line_no) +
                                       ": a section line needs a name after \":\"");
      }
      report.sections.push_back({line.substr(name), 0, 0, 0});
      continue;
    }
    if (report.sections.empty()) report.sections.push_back({"(no section)", 0, 0, 0});
    std::istringstream fields(line);
    std::string w[4];
    if (!(fields >> w[0] >> w[1] >> w[2] >> w[3])) {
      return Status::InvalidArgument(file.string() + ":" + std::to_string(line_no) +
                                     ": expected four words");
    }
    ++report.sections.back().questions;
    uint32_t ids[4];
    bool known = true;
    for (int i = 0; i < 4 && known; ++i) {
      auto it = allowed.find(AsciiLower(w[i]));
      known = it != allowed.end();
      if (known) ids[i] = it->second;
    }
    if (!known) continue;
    ++report.sections.back().answered;
    questions.push_back({report.sections.size() - 1, ids[0], ids[1], ids[2], ids[3]});
  }

  // The allowed rows, unit length, in one FAISS index; all questions in batches.
  RELATE_ASSIGN_OR_RETURN(auto index,
                          index::VectorIndex::Create(table.dim(), Metric::kCosine, "Flat"));
  {
    std::vector<uint64_t> ids(limit);
    std::iota(ids.begin(), ids.end(), 0);
    std::vector<float> rows(table.data().begin(),
                            table.data().begin() + static_cast<ptrdiff_t>(limit * table.dim()));
    index::PrepareVectors(Metric::kCosine, table.dim(), rows);
    RELATE_RETURN_IF_ERROR(index->Add(ids, rows));
  }
  auto unit = [&](uint32_t id) {
    std::vector<float> v(table.Row(id).begin(), table.Row(id).end());
    (void)embed::Normalize(v);
    return v;
  };
  constexpr size_t kBatch = 1024;
  for (size_t begin = 0; begin < questions.size(); begin += kBatch) {
    const size_t end = std::min(questions.size(), begin + kBatch);
    std::vector<float> targets;
    for (size_t q = begin; q < end; ++q) {
      auto a = unit(questions[q].a), b = unit(questions[q].b), c = unit(questions[q].c);
      for (size_t i = 0; i < a.size(); ++i) targets.push_back(b[i] - a[i] + c[i]);
    }
    index::PrepareVectors(Metric::kCosine, table.dim(), targets);
    RELATE_ASSIGN_OR_RETURN(auto nb, index->Search(targets, 4));
    for (size_t q = begin; q < end; ++q) {
      const Question& question = questions[q];
      for (size_t j = 0; j < 4; ++j) {
        const int64_t id = nb.ids[(q - begin) * 4 + j];
        if (id < 0 || id == question.a || id == question.b || id == question.c) continue;
        if (id == question.d) ++report.sections[question.section].correct;
        break;
      }
    }
  }
  for (const auto& s : report.sections) {
    report.questions += s.questions;
    report.answered += s.answered;
    report.correct += s.correct;
  }
  return report;
}

}  // namespace relate::query
