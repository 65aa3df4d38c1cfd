// `query`: the records most related to a text, a vector or a stored record,
// one query from the command line or a file of them (--batch); the hit table.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <ostream>
#include <utility>

#include "tools/command.h"
#include "tools/files.h"
#include "tools/jsonl.h"
#include "tools/output.h"
#include "util/quote.h"

namespace relate::tools {
namespace {

// The limit of a range search (--min-score) without -k.
constexpr size_t kRangeLimit = 1000;

// The hit table's key column is never narrower than this, its text column
// this wide; a longer key widens its column and takes the room from the text,
// which keeps at least kTextMinWidth.
constexpr size_t kKeyMinWidth = 20, kTextWidth = 48, kTextMinWidth = 16;

// The filter of `expression`; a Failure (bad input) naming `where`, the column
// and showing a caret under it when it does not parse.
Filter ParseWhere(std::string_view expression, const std::string& where) {
  Result<Filter> filter = Filter::Parse(expression);
  if (filter) return std::move(filter).value();
  const std::string_view message = filter.error().message();
  const size_t column = ErrorColumn(message);
  throw Failure{kExitBadInput, where + ": " + std::string(message) +
                                   (column > 0 ? CaretUnder(expression, column) : std::string())};
}

// One query's hits as JSON, or as a table with every key whole.
void PrintHits(const Context& ctx, const std::vector<Hit>& hits, const HitColumns& columns) {
  std::ostream& out = ctx.out();
  if (ctx.json()) {
    out << HitsToJson(hits, columns).dump() << "\n";
    return;
  }
  const size_t key_width = ColumnWidth(hits, kKeyMinWidth, [](const Hit& h) { return h.key; });
  const size_t widened = key_width - kKeyMinWidth;
  const size_t text_width =
      widened + kTextMinWidth < kTextWidth ? kTextWidth - widened : kTextMinWidth;
  // Plain queries keep their table; the extra columns come only with their flags.
  // Keyword ranking's score is the BM25 score: only hybrid ranking shows both parts.
  const bool parts = columns.vector_score, vectors = columns.vector;
  out << fmt::format("{:>4}  {:>8}  {}{}  {}{}  {}\n", "rank", "score",
                     parts ? fmt::format("{:>8}  {:>8}  ", "vector", "keyword") : "",
                     Pad("key", key_width), vectors ? fmt::format("{:<36}  ", "vector") : "",
                     Pad("text", text_width), "metadata");
  for (size_t i = 0; i < hits.size(); ++i) {
    const Hit& h = hits[i];
    out << fmt::format(
        "{:>4}  {:>8.4f}  {}{}  {}{}  {}\n", i + 1, h.score,
        parts ? fmt::format("{:>8.4f}  {:>8.4f}  ", h.vector_score, h.keyword_score) : "",
        Pad(OneLine(h.key), key_width),
        vectors ? fmt::format("{:<36}  ", VectorCell(h.vector)) : "",
        Pad(Cell(h.text, text_width), text_width), MetadataToJson(h.metadata).dump());
  }
}

void PrintExplain(const Context& ctx, const QueryExplain& e) {
  std::ostream& out = ctx.out();
  auto line = [&](std::string_view name, const std::string& value) {
    out << fmt::format("  {:<22} {}\n", name, value);
  };
  out << "explain\n";
  line("plan", e.plan);
  if (!e.why.empty()) line("why", e.why);
  line("filter", e.filter.empty() ? std::string("none") : e.filter);
  line("records", std::to_string(e.records));
  if (e.candidates_counted) line("candidates", std::to_string(e.candidates));
  line("distance computations", std::to_string(e.distance_computations));
  line("widenings", std::to_string(e.widenings));
  std::vector<std::string> knobs;
  if (e.knobs.ef_search) knobs.push_back(fmt::format("ef_search {}", e.knobs.ef_search));
  if (e.knobs.nprobe) knobs.push_back(fmt::format("nprobe {}", e.knobs.nprobe));
  if (e.knobs.refine) knobs.push_back(fmt::format("refine {}", e.knobs.refine));
  line("knobs", knobs.empty() ? std::string("none") : fmt::format("{}", fmt::join(knobs, ", ")));
  const size_t name_width = ColumnWidth(e.stages, 22, [](const QueryStage& st) { return st.name; });
  out << fmt::format("  {} {:>10} {:>10}  {}\n", Pad("stage", name_width), "items", "ms", "detail");
  for (const auto& st : e.stages) {
    out << fmt::format("  {} {:>10} {:>10.3f}  {}\n", Pad(OneLine(st.name), name_width), st.items,
                       st.ms, st.detail);
  }
  out << fmt::format("  {} {:>10} {:>10.3f}\n", Pad("total", name_width), "", e.total_ms);
}

// One line of a --batch file, read and checked.
struct BatchEntry {
  uint64_t line = 0;
  QueryLine query;
  std::string where;  // the expression in force: the line's own, or --where
  Filter filter;
  size_t k = 0;
  std::optional<float> threshold;
};

// A batch query's answer, and the explain of the call that answered it.
struct BatchAnswer {
  std::vector<Hit> hits;
  QueryExplain explain;
};

[[noreturn]] void FailAtLine(const std::string& name, uint64_t line, int code,
                             const std::string& what) {
  throw Failure{code, fmt::format("query: {}:{}: {}", name, line, what)};
}

class QueryCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override;
  void DoCommand(Context& ctx) override;

 private:
  // The search options of the flags (not the TEXT, --vector or --key); sets columns_.
  SearchOptions Options();
  // Answers every query of the --batch file.
  void Batch(Context& ctx, DB& db, const CollectionInfo& info, const SearchOptions& base);
  // Every line of the batch, each checked, before any is answered.
  std::vector<BatchEntry> ReadBatch(InputFile& input, const CollectionSpec& spec,
                                    const SearchOptions& base);
  // Entries [first, end) answered in one call: one hit list each, in order.
  Result<std::vector<std::vector<Hit>>> AnswerGroup(DB& db, const CollectionSpec& spec,
                                                    const std::vector<BatchEntry>& entries,
                                                    size_t first, size_t end,
                                                    const SearchOptions& base,
                                                    QueryExplain* explain);
  // Every entry's answer; the first failure ends the command, naming its line.
  std::vector<BatchAnswer> AnswerAll(DB& db, const CollectionSpec& spec,
                                     const std::vector<BatchEntry>& entries,
                                     const SearchOptions& base);
  // One query's hits, and its explain if --explain.
  void PrintAnswer(const Context& ctx, const std::vector<Hit>& hits, const QueryExplain* explain);

  std::string collection_;
  std::string text_;
  std::string vector_json_;
  std::string key_;
  size_t k_ = 10;
  CLI::Option* k_option_ = nullptr;
  std::string where_;
  float min_score_ = 0;
  CLI::Option* min_score_option_ = nullptr;
  bool with_vector_ = false;
  double mmr_lambda_ = 1;
  CLI::Option* mmr_option_ = nullptr;
  size_t mmr_candidates_ = 0;
  std::string group_by_;
  size_t group_size_ = 1;
  bool keyword_ = false;
  std::string hybrid_;
  CLI::Option* hybrid_option_ = nullptr;
  double hybrid_weight_ = 0.5;
  CLI::Option* hybrid_weight_option_ = nullptr;
  double rrf_k_ = 60;
  CLI::Option* rrf_k_option_ = nullptr;
  size_t hybrid_candidates_ = 0;
  CLI::Option* hybrid_candidates_option_ = nullptr;
  double bm25_k1_ = 1.2;
  double bm25_b_ = 0.75;
  bool explain_ = false;
  std::string batch_;
  SearchKnobs knobs_;
  HitColumns columns_;      // what the hit table shows, from the flags
  std::string input_name_;  // of the --batch input, for messages
};

void QueryCommand::AddFlags(CLI::App& sub) {
  sub.add_option("collection", collection_)->required();
  sub.add_option("text", text_, "Query text (collections with a model)");
  sub.add_option("--vector", vector_json_, "Query vector as a JSON array");
  sub.add_option("--key", key_, "Find records like this stored one (excluding it)");
  k_option_ = sub.add_option("-k", k_, "How many results (default 10; 1000 with --min-score)")
                  ->check(CLI::PositiveNumber);
  sub.add_option("--where", where_,
                 "Only records whose metadata match, e.g. 'year >= 2000 and genre in "
                 "[\"jazz\", \"blues\"]' (==, !=, <, <=, >, >=, in, not in, exists(f), and, "
                 "or, not, parentheses); k hits whenever k records match")
      ->type_name("EXPR");
  min_score_option_ = sub.add_option("--min-score", min_score_,
                                     "Range search: every hit with a score of at least X (l2 "
                                     "collections: a distance of at "
                                     "most X), best first; at most -k of them, 1000 without -k")
                          ->type_name("X");
  sub.add_flag("--with-vector", with_vector_, "Return each hit's stored vector too");
  mmr_option_ =
      sub.add_option("--mmr", mmr_lambda_,
                     "Diversify by maximal marginal relevance: LAMBDA in [0, 1] weighs relevance "
                     "against novelty (1: plain relevance)")
          ->type_name("LAMBDA");
  sub.add_option("--mmr-candidates", mmr_candidates_,
                 "MMR re-ranks this many best hits (default max(4 k, 40))")
      ->check(CLI::PositiveNumber)
      ->needs(mmr_option_);
  auto* group_by =
      sub.add_option("--group-by", group_by_,
                     "At most --group-size hits per value of this metadata field, up to k groups")
          ->type_name("FIELD");
  sub.add_option("--group-size", group_size_, "Hits per group (default 1)")
      ->check(CLI::PositiveNumber)
      ->needs(group_by);
  sub.add_flag("--keyword", keyword_, "Rank by BM25 over the records' text (needs TEXT)");
  hybrid_option_ = sub.add_option("--hybrid", hybrid_,
                                  "Fuse BM25 and vector ranks (needs TEXT): rrf (reciprocal rank "
                                  "fusion, the default when bare) or weighted")
                       ->expected(0, 1)
                       ->type_name("[rrf|weighted]");
  hybrid_weight_option_ = sub.add_option(
      "--hybrid-weight", hybrid_weight_,
      "--hybrid weighted: weight W of the vector score, 1 - W of BM25's (default 0.5)");
  rrf_k_option_ = sub.add_option("--rrf-k", rrf_k_,
                                 "--hybrid rrf: the constant K of 1 / (K + rank) (default 60)");
  hybrid_candidates_option_ =
      sub.add_option("--hybrid-candidates", hybrid_candidates_,
                     "--hybrid: hits taken from each list before fusing (default max(4 k, 50))")
          ->check(CLI::PositiveNumber);
  sub.add_option("--bm25-k1", bm25_k1_, "BM25's k1 (default 1.2)");
  sub.add_option("--bm25-b", bm25_b_, "BM25's b (default 0.75)");
  sub.add_flag("--explain", explain_,
               "Print how the search ran: plan, candidates, distance computations, the time "
               "of each stage");
  sub.add_option("--batch", batch_,
                 "Answer the queries of a JSON Lines FILE (- for stdin), one a line: {\"text\": "
                 "...}, {\"vector\": [...]} or {\"key\": ...}, each with its own \"where\", "
                 "\"k\", \"min_score\" if it likes; prints one answer per line")
      ->type_name("FILE");
  AddKnobFlags(sub, knobs_);
}

void QueryCommand::DoCommand(Context& ctx) {
  // `--hybrid TEXT`: the option's optional value swallowed the query text.
  if (hybrid_option_->count() > 0 && !hybrid_.empty() && hybrid_ != "rrf" &&
      hybrid_ != "weighted" && text_.empty()) {
    text_ = std::exchange(hybrid_, "rrf");
  }
  const int given = int(!vector_json_.empty()) + int(!key_.empty()) + int(!text_.empty());
  if (!batch_.empty() && given != 0) {
    throw Failure{kExitUsage,
                  "query: --batch FILE takes its queries from the file: give no TEXT, --vector "
                  "or --key"};
  }
  if (batch_.empty() && given != 1) {
    throw Failure{kExitUsage, "query: give exactly one of TEXT, --vector JSON and --key KEY"};
  }
  const bool ranks_text = keyword_ || hybrid_option_->count() > 0;
  if (ranks_text && batch_.empty() && text_.empty()) {
    throw Failure{kExitUsage,
                  "query: --keyword and --hybrid rank records by a TEXT: give the query as text"};
  }
  auto db = ctx.OpenDb(false);
  const CollectionInfo info = Check(db->DescribeCollection(collection_));
  SearchOptions options = Options();
  if (!batch_.empty()) {
    Batch(ctx, *db, info, options);
    return;
  }
  QueryExplain explain;
  if (explain_) options.explain = &explain;
  std::vector<Hit> hits;
  if (!key_.empty()) {
    hits = Check(db->SearchByKey(collection_, key_, options));
  } else if (!text_.empty()) {
    hits = Check(db->SearchText(collection_, text_, options));
  } else {
    std::vector<float> vector;
    JsonParser parser;
    Status s = parser.ParseVector(vector_json_, &vector);
    if (!s.ok()) Fail(s.WithContext("query: --vector"));
    hits = Check(db->Search(collection_, vector, options));
  }
  PrintAnswer(ctx, hits, explain_ ? &explain : nullptr);
}

SearchOptions QueryCommand::Options() {
  SearchOptions options;
  options.k = k_;
  options.knobs = knobs_;
  if (!where_.empty()) options.filter = ParseWhere(where_, "query: --where");
  if (min_score_option_->count() > 0) {
    options.threshold = min_score_;
    // Range search asks for everything above the threshold: a higher default limit.
    if (k_option_->count() == 0) options.k = kRangeLimit;
  }
  options.with_vector = with_vector_;
  if (mmr_option_->count() > 0) options.mmr_lambda = mmr_lambda_;
  options.mmr_candidates = mmr_candidates_;
  options.group_by = group_by_;
  options.group_size = group_size_;
  if (keyword_ && hybrid_option_->count() > 0) {
    throw Failure{kExitUsage, "query: give --keyword or --hybrid, not both"};
  }
  if (keyword_) options.ranking = Ranking::kKeyword;
  if (hybrid_option_->count() > 0) {
    if (hybrid_.empty() || hybrid_ == "rrf") {
      options.ranking = Ranking::kHybridRrf;
    } else if (hybrid_ == "weighted") {
      options.ranking = Ranking::kHybridWeighted;
    } else {
      throw Failure{kExitUsage, "query: --hybrid is rrf (the default) or weighted, not " +
                                    util::Quote(hybrid_)};
    }
  }
  const bool hybrid =
      options.ranking == Ranking::kHybridRrf || options.ranking == Ranking::kHybridWeighted;
  if (hybrid_weight_option_->count() > 0 && options.ranking != Ranking::kHybridWeighted) {
    throw Failure{kExitUsage, "query: --hybrid-weight needs --hybrid weighted"};
  }
  if (rrf_k_option_->count() > 0 && options.ranking != Ranking::kHybridRrf) {
    throw Failure{kExitUsage, "query: --rrf-k needs --hybrid rrf"};
  }
  if (hybrid_candidates_option_->count() > 0 && !hybrid) {
    throw Failure{kExitUsage, "query: --hybrid-candidates needs --hybrid"};
  }
  options.bm25_k1 = bm25_k1_;
  options.bm25_b = bm25_b_;
  options.hybrid_weight = hybrid_weight_;
  options.rrf_k = rrf_k_;
  options.hybrid_candidates = hybrid_candidates_;
  columns_.vector = with_vector_;
  columns_.vector_score = hybrid;
  columns_.keyword_score = options.ranking != Ranking::kVector;
  return options;
}

void QueryCommand::PrintAnswer(const Context& ctx, const std::vector<Hit>& hits,
                               const QueryExplain* explain) {
  if (explain == nullptr) {
    PrintHits(ctx, hits, columns_);
    return;
  }
  if (ctx.json()) {
    ctx.out()
        << json{{"hits", HitsToJson(hits, columns_)}, {"explain", ExplainToJson(*explain)}}.dump()
        << "\n";
    return;
  }
  PrintHits(ctx, hits, columns_);
  PrintExplain(ctx, *explain);
}

void QueryCommand::Batch(Context& ctx, DB& db, const CollectionInfo& info,
                         const SearchOptions& base) {
  InputFile input("query", batch_);
  input_name_ = input.name();
  const std::vector<BatchEntry> entries = ReadBatch(input, info.spec, base);
  const std::vector<BatchAnswer> answers = AnswerAll(db, info.spec, entries, base);
  std::ostream& out = ctx.out();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [hits, explain] = answers[i];
    if (ctx.json()) {
      json j = {{"query", entries[i].line}, {"hits", HitsToJson(hits, columns_)}};
      if (explain_) j["explain"] = ExplainToJson(explain);
      out << j.dump() << "\n";
      continue;
    }
    out << fmt::format("query {}\n", entries[i].line);
    PrintHits(ctx, hits, columns_);
    if (explain_) PrintExplain(ctx, explain);
    out << "\n";
  }
}

// Every line is read and checked before the first query is answered, so that
// a mistake on line 900 does not come after 899 answers.
std::vector<BatchEntry> QueryCommand::ReadBatch(InputFile& input, const CollectionSpec& spec,
                                                const SearchOptions& base) {
  const std::string& name = input_name_;
  std::vector<BatchEntry> entries;
  JsonParser parser;
  std::string text;
  uint64_t line_no = 0;
  while (std::getline(input.stream(), text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    BatchEntry e;
    e.line = line_no;
    Status s = parser.ParseQuery(text, &e.query);
    if (!s.ok()) FailAtLine(name, line_no, kExitBadInput, std::string(s.message()));
    const QueryLine& q = e.query;
    if (q.where) {
      e.where = *q.where;
      e.filter = ParseWhere(e.where, fmt::format("query: {}:{}: \"where\"", name, line_no));
    } else {
      e.where = where_;
      e.filter = base.filter;
    }
    e.k = q.k ? static_cast<size_t>(*q.k) : base.k;
    e.threshold = base.threshold;
    if (q.min_score) {
      e.threshold = static_cast<float>(*q.min_score);
      if (!q.k && k_option_->count() == 0) e.k = kRangeLimit;
    }
    if (base.ranking != Ranking::kVector && q.kind != QueryLine::Kind::kText) {
      FailAtLine(name, line_no, kExitUsage,
                 fmt::format("--keyword and --hybrid rank records by text; this line queries by {}",
                             q.kind == QueryLine::Kind::kKey ? "key" : "vector"));
    }
    switch (q.kind) {
      case QueryLine::Kind::kVector:
        if (Status v = ValidateVector(spec, q.vector); !v.ok()) {
          FailAtLine(name, line_no, ExitCodeFor(v), std::string(v.message()));
        }
        break;
      case QueryLine::Kind::kText:
        if (base.ranking == Ranking::kKeyword) break;
        if (spec.model.empty()) {
          FailAtLine(name, line_no, kExitBadInput,
                     fmt::format("a text query needs a model; collection {} has none (query by "
                                 "\"vector\" or \"key\", or rank by --keyword)",
                                 util::Quote(spec.name)));
        }
        break;
      case QueryLine::Kind::kKey:
        break;
    }
    entries.push_back(std::move(e));
  }
  if (input.stream().bad()) {
    FailAtLine(name, line_no + 1, kExitStorage, "cannot read past this line");
  }
  return entries;
}

Result<std::vector<std::vector<Hit>>> QueryCommand::AnswerGroup(
    DB& db, const CollectionSpec& spec, const std::vector<BatchEntry>& entries, size_t first,
    size_t end, const SearchOptions& base, QueryExplain* explain) {
  const BatchEntry& head = entries[first];
  SearchOptions options = base;
  options.filter = head.filter;
  options.k = head.k;
  options.threshold = head.threshold;
  if (explain_) options.explain = explain;
  Result<std::vector<std::vector<Hit>>> answers = std::vector<std::vector<Hit>>();
  switch (head.query.kind) {
    case QueryLine::Kind::kKey: {
      auto hits = db.SearchByKey(collection_, head.query.key, options);
      if (hits) {
        answers->push_back(std::move(*hits));
      } else {
        answers = hits.error();
      }
      break;
    }
    case QueryLine::Kind::kVector: {
      std::vector<float> queries;
      queries.reserve((end - first) * spec.dimension);
      for (size_t i = first; i < end; ++i) {
        queries.insert(queries.end(), entries[i].query.vector.begin(),
                       entries[i].query.vector.end());
      }
      answers = db.SearchBatch(collection_, queries, options);
      break;
    }
    case QueryLine::Kind::kText: {
      std::vector<std::string> texts;
      for (size_t i = first; i < end; ++i) texts.push_back(entries[i].query.text);
      answers = db.SearchTextBatch(collection_, texts, options);
      break;
    }
  }
  if (answers && answers->size() != end - first) {
    throw Failure{kExitInternal, fmt::format("query: {}:{}: {} answers to {} queries", input_name_,
                                             head.line, answers->size(), end - first)};
  }
  return answers;
}

// Every query is answered before the first answer is printed, so that a query
// that fails (a missing key, a text without a known word) stops the run with
// nothing printed, like a malformed line.
std::vector<BatchAnswer> QueryCommand::AnswerAll(DB& db, const CollectionSpec& spec,
                                                 const std::vector<BatchEntry>& entries,
                                                 const SearchOptions& base) {
  // Consecutive queries of one kind (not keys) with the same options go in one call.
  auto same_group = [](const BatchEntry& a, const BatchEntry& b) {
    return a.query.kind == b.query.kind && a.query.kind != QueryLine::Kind::kKey &&
           a.where == b.where && a.k == b.k && a.threshold == b.threshold;
  };
  std::vector<BatchAnswer> answered(entries.size());
  for (size_t first = 0; first < entries.size();) {
    size_t end = first + 1;
    while (end < entries.size() && same_group(entries[first], entries[end])) ++end;
    QueryExplain explain;
    auto answers = AnswerGroup(db, spec, entries, first, end, base, &explain);
    if (!answers) {
      // Which line failed: its group's lines again, one at a time (only on this path).
      for (size_t i = first; i < end; ++i) {
        if (auto one = AnswerGroup(db, spec, entries, i, i + 1, base, nullptr); !one) {
          FailAtLine(input_name_, entries[i].line, ExitCodeFor(one.error()),
                     std::string(one.error().message()));
        }
      }
      FailAtLine(input_name_, entries[first].line, ExitCodeFor(answers.error()),
                 std::string(answers.error().message()));
    }
    for (size_t i = first; i < end; ++i) {
      answered[i] = {std::move((*answers)[i - first]), explain};
    }
    first = end;
  }
  return answered;
}

}  // namespace

void AddQueryCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<QueryCommand>(app, "query",
                             "The records most related to a text, a vector or a stored record");
}

}  // namespace relate::tools
