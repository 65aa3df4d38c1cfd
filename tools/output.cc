#include "tools/output.h"

#include <fmt/format.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <ctime>
#include <limits>
#include <variant>

#include "util/quote.h"

namespace relate::tools {
namespace {

// The columns of code point `c`; a negative `c` is a byte that is not UTF-8,
// which a terminal shows as one replacement character.
size_t CodePointWidth(UChar32 c) {
  if (c < 0) return 1;
  switch (u_charType(c)) {
    case U_CONTROL_CHAR:
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_FORMAT_CHAR:
      return 0;
    default:
      break;
  }
  // Hangul vowels and final consonants join the syllable before them.
  const int syllable = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
  if (syllable == U_HST_VOWEL_JAMO || syllable == U_HST_TRAILING_JAMO) return 0;
  const int east_asian = u_getIntPropertyValue(c, UCHAR_EAST_ASIAN_WIDTH);
  return east_asian == U_EA_WIDE || east_asian == U_EA_FULLWIDTH ? 2 : 1;
}

// Calls `visit(end, width)` for each character of `text`, with the offset just
// past it and its columns, until `visit` returns false.
template <typename Visit>
void ForEachCharacter(std::string_view text, Visit visit) {
  // ICU indexes with int32_t: longer text is measured up to that length.
  const auto n =
      static_cast<int32_t>(std::min<size_t>(text.size(), std::numeric_limits<int32_t>::max()));
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  for (int32_t i = 0; i < n;) {
    UChar32 c = 0;
    U8_NEXT(s, i, n, c);
    if (!visit(static_cast<size_t>(i), CodePointWidth(c))) return;
  }
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string HumanCount(double n) {
  if (n >= 1e6) return fmt::format("{:.2f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.1f}k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string FormatTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

std::string MinutesSeconds(double seconds) {
  const int s = static_cast<int>(seconds);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

size_t DisplayWidth(std::string_view text) {
  size_t width = 0;
  ForEachCharacter(text, [&](size_t, size_t w) {
    width += w;
    return true;
  });
  return width;
}

std::string OneLine(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (char ch : text) s.push_back(ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch);
  return s;
}

std::string Cell(std::string_view text, size_t width) {
  std::string s = OneLine(text);
  if (DisplayWidth(s) <= width) return s;
  const size_t room = width > 3 ? width - 3 : 0;
  size_t used = 0, cut = 0;
  ForEachCharacter(s, [&](size_t end, size_t w) {
    if (used + w > room) return false;
    used += w;
    cut = end;  // a combining mark (no columns) stays with its letter
    return true;
  });
  s.resize(cut);
  return s + "...";
}

std::string Pad(std::string_view text, size_t width) {
  std::string s(text);
  const size_t w = DisplayWidth(text);
  if (w < width) s.append(width - w, ' ');
  return s;
}

std::string VectorCell(const std::vector<float>& v) {
  constexpr size_t kShown = 3;
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < kShown; ++i) {
    s += fmt::format("{}{:.4f}", i == 0 ? "" : ", ", v[i]);
  }
  if (v.size() > kShown) s += ", ...";
  return s + "]";
}

std::string ModelShape(const ModelInfo& m) {
  return fmt::format(
      "model {} version {}: {} words x {} dimensions{}", util::Quote(m.name), m.version, m.words,
      m.dimension,
      m.subword_buckets > 0 ? fmt::format(", {} subword rows", m.subword_buckets) : "");
}

std::string FilterableText(const CollectionSpec& spec) {
  return fmt::format("{}", fmt::join(spec.filterable, ", "));
}

size_t ErrorColumn(std::string_view message) {
  constexpr std::string_view kColumn = "column ";
  if (message.substr(0, kColumn.size()) != kColumn) return 0;
  size_t n = 0, i = kColumn.size();
  for (; i < message.size() && message[i] >= '0' && message[i] <= '9'; ++i) {
    n = n * 10 + static_cast<size_t>(message[i] - '0');
  }
  return i < message.size() && message[i] == ':' ? n : 0;
}

std::string CaretUnder(std::string_view expression, size_t column) {
  return "\n  " + OneLine(expression) + "\n  " + std::string(column > 0 ? column - 1 : 0, ' ') +
         "^";
}

json MetadataToJson(const Metadata& metadata) {
  json out = json::object();
  for (const auto& entry : metadata) {
    std::visit([&](const auto& v) { out[entry.first] = v; }, entry.second);
  }
  return out;
}

json RecordToJson(const StoredRecord& r, bool with_vector) {
  json out = {{"key", r.key},
              {"id", r.id},
              {"version", r.version},
              {"text", r.text},
              {"metadata", MetadataToJson(r.metadata)}};
  if (with_vector) out["vector"] = r.vector;
  return out;
}

json HitsToJson(const std::vector<Hit>& hits, const HitColumns& columns) {
  json out = json::array();
  for (const auto& h : hits) {
    json j = {{"key", h.key},
              {"score", h.score},
              {"distance", h.distance},
              {"text", h.text},
              {"metadata", MetadataToJson(h.metadata)}};
    if (columns.vector_score) j["vector_score"] = h.vector_score;
    if (columns.keyword_score) j["keyword_score"] = h.keyword_score;
    if (columns.vector) j["vector"] = h.vector;
    out.push_back(std::move(j));
  }
  return out;
}

json KnobsToJson(const SearchKnobs& k) {
  return json{{"ef_search", k.ef_search}, {"nprobe", k.nprobe}, {"refine", k.refine}};
}

json ExplainToJson(const QueryExplain& e) {
  json stages = json::array();
  for (const auto& st : e.stages) {
    stages.push_back(
        {{"name", st.name}, {"items", st.items}, {"ms", st.ms}, {"detail", st.detail}});
  }
  json j = {{"plan", e.plan},
            {"why", e.why},
            {"filter", e.filter},
            {"records", e.records},
            {"candidates", e.candidates_counted ? json(e.candidates) : json(nullptr)},
            {"distance_computations", e.distance_computations},
            {"widenings", e.widenings},
            {"knobs", KnobsToJson(e.knobs)},
            {"stages", stages},
            {"total_ms", e.total_ms}};
  return j;
}

json InfoToJson(const CollectionInfo& c) {
  json j = {{"name", c.spec.name},
            {"dimension", c.spec.dimension},
            {"metric", std::string(MetricName(c.spec.metric))},
            {"index", c.spec.index_spec},
            {"records", c.count},
            {"created_unix_ms", c.created_unix_ms},
            {"index_vectors", c.index_size},
            {"last_change", c.last_change},
            {"index_checkpoint", c.index_checkpoint},
            {"filterable", c.spec.filterable},
            {"keyword_index", c.spec.keyword_index}};
  if (!c.spec.model.empty()) {
    j["model"] = c.spec.model;
    j["model_version"] = c.model_version;
    j["sif_component_fitted"] = c.sif_component_fitted;
  }
  return j;
}

json ModelToJson(const ModelInfo& m) {
  return {{"name", m.name},
          {"version", m.version},
          {"dimension", m.dimension},
          {"words", m.words},
          {"subword_buckets", m.subword_buckets},
          {"min_ngram", m.min_ngram},
          {"max_ngram", m.max_ngram},
          {"format", m.format},
          {"source", m.source},
          {"created_unix_ms", m.created_unix_ms},
          {"lowercase", m.lowercase},
          {"keep_numbers", m.keep_numbers},
          {"keep_punctuation", m.keep_punctuation},
          {"activation", m.activation},
          {"pooling", m.pooling},
          {"sif_a", m.sif_a}};
}

}  // namespace relate::tools
