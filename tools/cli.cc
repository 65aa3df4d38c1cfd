#include "tools/cli.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <csignal>
#include <optional>
#include <utility>

#include "relate/relate.h"
#include "tools/jsonl.h"
#include "util/durable_file.h"

namespace relate::tools {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  internal error (a bug in relate)\n"
    "  2  usage error (the command line is wrong)\n"
    "  3  bad input (malformed or invalid data, a collection that exists, ...)\n"
    "  4  not found (database, collection, key or file)\n"
    "  5  storage error (I/O, corruption, or `verify` found a disagreement)\n"
    "  6  database in use by another process\n"
    "  130  stopped by Ctrl-C; a training keeps a checkpoint (continue with --resume)\n"
    "\n"
    "The database is --db DIR, or $RELATE_DB when --db is not given.\n";

// What every command shares.
struct Global {
  std::string db;
  bool create = false;
  bool json = false;
};

// A failure the command reports and ends with.
struct Failure {
  int code;
  std::string message;
};

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// The limit of a range search (--min-score) without -k.
constexpr size_t kRangeLimit = 1000;

// Whether `path` is `dir` or inside it, both resolved (symbolic links, "..").
bool InsideDir(const fs::path& path, const fs::path& dir) {
  auto resolved = [](const fs::path& p) {
    std::error_code ec;
    fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
    return ec ? fs::absolute(p, ec).lexically_normal() : r;
  };
  const fs::path inner = resolved(path), outer = resolved(dir);
  auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end() || (std::next(o) == outer.end() && o->empty());
}

// Refuses, before anything is written, a file a command would write (`what`
// names the command) by renaming a temporary file over it: one inside the
// database directory `db_dir` (it would replace a file of the database), a
// symbolic link or anything but a regular file (the rename would replace the
// link or the node itself, not write to it), and without `force` a file that
// exists. InvalidArgument or AlreadyExists saying what to do.
Status CheckOutputFile(const std::string& what, const fs::path& target, const fs::path& db_dir,
                       bool force) {
  const std::string where = what + ": " + target.string();
  if (InsideDir(target, db_dir)) {
    return Status::InvalidArgument(where + " is inside the database directory " + db_dir.string() +
                                   "; write the file outside it");
  }
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(target, ec);
  switch (st.type()) {
    case fs::file_type::not_found:
      return Status::OK();
    case fs::file_type::regular:
      if (force) return Status::OK();
      return Status::AlreadyExists(where + " exists; pass --force to overwrite it");
    case fs::file_type::symlink:
      return Status::InvalidArgument(
          where + " is a symbolic link; name the file itself, or remove the link");
    case fs::file_type::directory:
      return Status::InvalidArgument(where + " is a directory; name a file to write");
    case fs::file_type::none:
      return Status::IOError(where + ": " + ec.message());
    default:
      return Status::InvalidArgument(where +
                                     " is not a regular file (a device, FIFO or socket); name a "
                                     "new file or a regular one");
  }
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

// What a hit list shows beyond key, score, distance, text and metadata.
struct HitColumns {
  bool vector = false;         // the stored vector (--with-vector)
  bool vector_score = false;   // the vector search's score (--hybrid)
  bool keyword_score = false;  // the BM25 score (--hybrid, --keyword)
};

json HitsToJson(const std::vector<Hit>& hits, const HitColumns& columns = {}) {
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

// The column N of an error message "column N: what" (Filter::Parse), or 0.
size_t ErrorColumn(std::string_view message) {
  constexpr std::string_view kColumn = "column ";
  if (message.substr(0, kColumn.size()) != kColumn) return 0;
  size_t n = 0, i = kColumn.size();
  for (; i < message.size() && message[i] >= '0' && message[i] <= '9'; ++i) {
    n = n * 10 + static_cast<size_t>(message[i] - '0');
  }
  return i < message.size() && message[i] == ':' ? n : 0;
}

// Two lines to print under an error: the expression, indented two spaces and
// with line breaks and tabs shown as spaces, and a caret under character
// `column` (counted in UTF-8 code points from 1, as Filter::Parse counts).
std::string CaretUnder(std::string_view expression, size_t column) {
  std::string shown;
  for (char ch : expression) shown.push_back(ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch);
  return "\n  " + shown + "\n  " + std::string(column > 0 ? column - 1 : 0, ' ') + "^";
}

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

// "[0.1200, -0.0300, 0.5000, ...]": the first values of a vector, for a table.
std::string VectorCell(const std::vector<float>& v) {
  constexpr size_t kShown = 3;
  std::string s = "[";
  for (size_t i = 0; i < v.size() && i < kShown; ++i) {
    s += fmt::format("{}{:.4f}", i == 0 ? "" : ", ", v[i]);
  }
  if (v.size() > kShown) s += ", ...";
  return s + "]";
}

// "model "name" version 2: 50130 words x 100 dimensions[, 2000000 subword rows]"
std::string ModelShape(const ModelInfo& m) {
  return fmt::format(
      "model {} version {}: {} words x {} dimensions{}", Quote(m.name), m.version, m.words,
      m.dimension,
      m.subword_buckets > 0 ? fmt::format(", {} subword rows", m.subword_buckets) : "");
}

// "year, genre": the fields a collection keeps a secondary index of.
std::string FilterableText(const CollectionSpec& spec) {
  return fmt::format("{}", fmt::join(spec.filterable, ", "));
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

// Shortens text for a table cell, on a UTF-8 character boundary, one line.
std::string Cell(std::string_view text, size_t width) {
  std::string s;
  for (char ch : text) s.push_back(ch == '\n' || ch == '\t' || ch == '\r' ? ' ' : ch);
  if (s.size() <= width) return s;
  size_t cut = width - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

std::string FormatTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

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

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err, bool err_is_terminal)
      : out_(out), err_(err), tty_(err_is_terminal) {}

  int Main(std::span<const std::string> args);

 private:
  // The database directory named by --db or $RELATE_DB; a usage error without one.
  std::string DbDir() const;
  // Opens the database named by --db or $RELATE_DB.
  std::unique_ptr<DB> OpenDb(bool write);
  // A log sink writing "relate: LINE" to standard error; background index
  // rebuilds log from their own thread, so it locks.
  LogFunction LogToErr() {
    return [this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      err_ << "relate: " << line << "\n";
    };
  }
  [[noreturn]] void Fail(const Status& s) { throw Failure{ExitCodeFor(s), s.ToString()}; }
  template <typename T>
  T Check(Result<T> r) {
    if (!r) Fail(r.error());
    return std::move(r).value();
  }
  void Check(const Status& s) {
    if (!s.ok()) Fail(s);
  }

  void Create();
  void List();
  void Describe();
  void Drop();
  void Ingest();
  void Get();
  void DeleteKeys();
  void Query();
  void Stats();
  void Verify();
  void BackupCommand();
  void RestoreCommand();
  void RepairCommand();
  void Tune();
  void Compact();
  void ModelImport();
  void FitSif();
  void Similar();
  void AnalogyCommand();
  void OddOneOutCommand();
  void SimilarityCommand();
  void EvalWordSim();
  void EvalAnalogy();
  void PrintWords(const std::vector<WordHit>& hits);
  void ModelList();
  void ModelDescribe();
  void ModelDrop();
  void ModelExport();
  void ModelTrain();
  void ModelApply();
  void PrintApplied(const std::vector<std::string>& moved);

  // The search options of the query's flags (not its TEXT, --vector or --key).
  SearchOptions QueryOptions();
  // Answers every query of the --batch file.
  void QueryBatch(DB& db, const CollectionInfo& info, const SearchOptions& base);
  // One query's hits (and explain, if asked) as a table or as JSON.
  void PrintAnswer(const std::vector<Hit>& hits, const QueryExplain* explain);
  void PrintHits(const std::vector<Hit>& hits);
  void PrintExplain(const QueryExplain& e);

  std::ostream& out_;
  std::ostream& err_;
  std::mutex log_mu_;
  const bool tty_;
  Global g_;

  // Arguments of the subcommands, bound by Main.
  std::string collection_;
  std::string backup_dir_;  // backup, restore
  uint32_t dimension_ = 0;
  std::string metric_ = "cosine";
  std::string index_spec_ = "Flat";
  std::string file_;
  size_t batch_ = 1000;
  std::string key_;
  std::vector<std::string> keys_;
  std::string vector_json_;
  size_t k_ = 10;
  bool with_vector_ = false;
  std::string model_;
  std::string text_;
  std::vector<std::string> words_;
  std::string method_ = "3cosadd";
  size_t restrict_ = 0;
  std::string format_ = "auto";
  ModelOptions model_options_;
  bool no_lowercase_ = false;
  TrainOptions train_options_;
  std::vector<std::string> corpus_;
  bool apply_ = false;
  SearchKnobs knobs_;
  TuneOptions tune_options_;

  // Create.
  std::vector<std::string> filterable_;
  bool keyword_index_ = false;

  // Query: filter, range, diversity, ranking, explain, batches.
  CLI::Option* k_option_ = nullptr;
  std::string where_;
  float min_score_ = 0;
  CLI::Option* min_score_option_ = nullptr;
  double mmr_lambda_ = 1;
  CLI::Option* mmr_option_ = nullptr;
  size_t mmr_candidates_ = 0;
  std::string group_by_;
  size_t group_size_ = 1;
  CLI::Option* group_size_option_ = nullptr;
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
  std::string query_batch_;
  HitColumns columns_;  // what PrintHits shows, from the query's flags

  // Export / import.
  void ExportCommand();
  void ImportCommand();
  std::vector<std::string> export_collections_;
  std::string output_ = "-";
  bool force_ = false;  // export, model export: overwrite an existing file
};

std::string Cli::DbDir() const {
  std::string dir = g_.db;
  if (dir.empty()) {
    const char* env = std::getenv("RELATE_DB");
    if (env != nullptr) dir = env;
  }
  if (dir.empty()) throw Failure{kExitUsage, "no database given: pass --db DIR or set RELATE_DB"};
  return dir;
}

std::unique_ptr<DB> Cli::OpenDb(bool write) {
  const std::string dir = DbDir();
  Options options;
  std::error_code ec;
  const bool missing = !fs::exists(dir, ec);
  options.create_if_missing = g_.create;
  // Commands that only read share the database with a running writer.
  options.read_only = !write && !(g_.create && missing);
  options.log = LogToErr();
  // A command is a short process: rebuilds its writes started finish before it exits.
  options.finish_rebuilds_on_close = write;
  return Check(DB::Open(dir, options));
}

void Cli::Create() {
  auto db = OpenDb(true);
  CollectionSpec spec;
  spec.name = collection_;
  spec.dimension = dimension_;
  spec.model = model_;
  if (dimension_ == 0 && model_.empty()) {
    throw Failure{kExitUsage, "create: give --dim N, or --model NAME to take it from a model"};
  }
  spec.metric = Check(ParseMetric(metric_));
  spec.index_spec = index_spec_;
  for (const auto& field : filterable_) {
    if (field.empty()) throw Failure{kExitUsage, "create: --filterable: an empty field name"};
    if (std::find(spec.filterable.begin(), spec.filterable.end(), field) == spec.filterable.end()) {
      spec.filterable.push_back(field);
    }
  }
  spec.keyword_index = keyword_index_;
  Check(db->CreateCollection(spec));
  auto info = Check(db->DescribeCollection(collection_));
  if (g_.json) {
    out_ << InfoToJson(info).dump() << "\n";
  } else {
    out_ << fmt::format(
        "created collection {} ({} dimensions, {}, index {}{}{}{})\n", Quote(info.spec.name),
        info.spec.dimension, MetricName(info.spec.metric), info.spec.index_spec,
        info.spec.model.empty() ? std::string() : ", model " + Quote(info.spec.model),
        info.spec.filterable.empty()
            ? std::string()
            : fmt::format(", filterable {}", fmt::join(info.spec.filterable, ", ")),
        info.spec.keyword_index ? "" : ", no keyword index");
  }
}

void Cli::List() {
  auto db = OpenDb(false);
  auto all = Check(db->ListCollections());
  if (g_.json) {
    json arr = json::array();
    for (const auto& c : all) arr.push_back(InfoToJson(c));
    out_ << arr.dump() << "\n";
    return;
  }
  out_ << fmt::format("{:<24} {:>9} {:<7} {:<16} {:>12}  {:<8}  {}\n", "collection", "dimension",
                      "metric", "index", "records", "keywords", "filterable");
  for (const auto& c : all) {
    out_ << fmt::format("{:<24} {:>9} {:<7} {:<16} {:>12}  {:<8}  {}\n", Cell(c.spec.name, 24),
                        c.spec.dimension, MetricName(c.spec.metric), Cell(c.spec.index_spec, 16),
                        c.count, c.spec.keyword_index ? "on" : "off",
                        c.spec.filterable.empty() ? "-" : Cell(FilterableText(c.spec), 40));
  }
}

void Cli::Describe() {
  auto db = OpenDb(false);
  auto c = Check(db->DescribeCollection(collection_));
  if (g_.json) {
    out_ << InfoToJson(c).dump() << "\n";
    return;
  }
  out_ << fmt::format(
      "collection  {}\ndimension   {}\nmetric      {}\nindex       {}\nrecords     {}\n"
      "created     {}\nfilterable  {}\nkeywords    {}\n",
      c.spec.name, c.spec.dimension, MetricName(c.spec.metric), c.spec.index_spec, c.count,
      FormatTime(c.created_unix_ms),
      c.spec.filterable.empty() ? std::string("none") : FilterableText(c.spec),
      c.spec.keyword_index ? "on (BM25 index of the text: query --keyword, --hybrid)" : "off");
  if (c.spec.model.empty()) return;
  auto model = db->DescribeModel(c.spec.model);
  const bool stale = model && model->version != c.model_version;
  out_ << fmt::format("model       {} version {}{}\n", c.spec.model, c.model_version,
                      stale ? fmt::format(" (version {} is newer: `relate model apply {}` "
                                          "re-embeds)",
                                          model->version, c.spec.model)
                            : std::string());
}

void Cli::Drop() {
  auto db = OpenDb(true);
  auto info = Check(db->DescribeCollection(collection_));
  Check(db->DropCollection(collection_));
  if (g_.json) {
    out_ << json{{"dropped", collection_}, {"records", info.count}}.dump() << "\n";
  } else {
    out_ << fmt::format("dropped collection {} ({} records)\n", Quote(collection_), info.count);
  }
}

void Cli::Ingest() {
  auto db = OpenDb(true);
  const CollectionSpec spec = Check(db->DescribeCollection(collection_)).spec;
  std::ifstream file;
  std::istream* in = &std::cin;
  const std::string name = file_ == "-" ? "<stdin>" : file_;
  uint64_t total_bytes = 0;
  if (file_ != "-") {
    std::error_code ec;
    if (!fs::exists(file_, ec))
      throw Failure{kExitNotFound, "ingest: " + file_ + " does not exist"};
    file.open(file_, std::ios::binary);
    if (!file) throw Failure{kExitBadInput, "ingest: cannot read " + file_};
    in = &file;
    total_bytes = fs::file_size(file_, ec);
  }
  if (batch_ == 0) throw Failure{kExitUsage, "ingest: --batch must be at least 1"};

  JsonParser parser;
  std::vector<Record> batch;
  batch.reserve(batch_);
  uint64_t line_no = 0, committed = 0, committed_lines = 0, batches = 0, bytes_read = 0;
  const auto start = Clock::now();
  auto last_draw = start;
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  auto draw = [&](bool final) {
    if (!tty_) return;
    const double s = std::max(seconds(), 1e-9);
    const double rate = static_cast<double>(committed) / s;
    std::string line;
    if (total_bytes > 0) {
      const double frac =
          std::min(1.0, static_cast<double>(bytes_read) / static_cast<double>(total_bytes));
      const int width = 30, filled = static_cast<int>(frac * width);
      const double eta = frac > 0 ? s * (1 - frac) / frac : 0;
      line = fmt::format("\r{:3.0f}% [{}{}] {} records  {}/s  ETA {}:{:02d} ", frac * 100,
                         std::string(filled, '#'), std::string(width - filled, ' '),
                         HumanCount(static_cast<double>(committed)), HumanCount(rate),
                         static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
    } else {
      line = fmt::format("\r{} records  {}/s ", HumanCount(static_cast<double>(committed)),
                         HumanCount(rate));
    }
    err_ << line << (final ? "\n" : "") << std::flush;
  };
  auto summary = [&](const std::string& error, uint64_t failed_line) {
    const double s = seconds();
    if (g_.json) {
      json j = {{"collection", collection_},
                {"file", name},
                {"records", committed},
                {"batches", batches},
                {"lines_committed", committed_lines},
                {"seconds", s},
                {"records_per_second", s > 0 ? static_cast<double>(committed) / s : 0.0}};
      if (!error.empty()) {
        j["error"] = error;
        j["failed_line"] = failed_line;
      }
      out_ << j.dump() << "\n";
    }
    std::string text = fmt::format(
        "ingest: {} records from {} committed to {} in {} batch(es), {:.2f} s ({} records/s)",
        committed, name, Quote(collection_), batches, s,
        HumanCount(s > 0 ? static_cast<double>(committed) / s : 0));
    if (!error.empty()) {
      text +=
          committed_lines == 0
              ? fmt::format("; stopped at line {}: nothing was stored", failed_line)
              : fmt::format("; stopped at line {}: lines 1-{} are stored, nothing from line {} on",
                            failed_line, committed_lines, committed_lines + 1);
    }
    err_ << text << "\n";
  };
  auto fail_at = [&](uint64_t line, const Status& s, const std::string& what) {
    draw(true);
    const std::string message = fmt::format("ingest: {}:{}: {}", name, line, what);
    err_ << message << "\n";
    summary(message, line);
    throw Failure{ExitCodeFor(s), ""};
  };
  auto commit = [&] {
    if (batch.empty()) return;
    Status s = db->Upsert(collection_, batch);
    if (!s.ok()) {
      fail_at(committed_lines + 1, s,
              fmt::format("batch of lines {}-{}: {}", committed_lines + 1, line_no, s.ToString()));
    }
    committed += batch.size();
    committed_lines = line_no;
    ++batches;
    batch.clear();
  };

  std::string line;
  while (std::getline(*in, line)) {
    ++line_no;
    bytes_read += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Record record;
    Status s = parser.ParseRecord(line, &record);
    if (s.ok() && record.vector.empty()) {
      if (spec.model.empty()) {
        s = Status::InvalidArgument(
            "missing field \"vector\" (the collection has no model to embed the text)");
      } else if (auto v = db->EmbedText(collection_, record.text); v) {
        record.vector = std::move(*v);  // embedded here so that an error names its line
      } else {
        s = v.error();
      }
    }
    if (s.ok() && !record.vector.empty()) s = ValidateVector(spec, record.vector);
    if (s.ok() && record.key.empty()) s = Status::InvalidArgument("field \"key\" is empty");
    if (!s.ok()) fail_at(line_no, s, std::string(s.message()));
    batch.push_back(std::move(record));
    if (batch.size() >= batch_) commit();
    if (tty_ && Clock::now() - last_draw > std::chrono::milliseconds(200)) {
      last_draw = Clock::now();
      draw(false);
    }
  }
  if (in->bad()) {
    fail_at(line_no + 1, Status::IOError("read"), "cannot read past this line");
  }
  commit();
  draw(true);
  summary("", 0);
}

void Cli::Get() {
  auto db = OpenDb(false);
  auto r = Check(db->Get(collection_, key_));
  if (g_.json) {
    out_ << RecordToJson(r, with_vector_).dump() << "\n";
    return;
  }
  out_ << fmt::format("key       {}\nid        {}\nversion   {}\ntext      {}\nmetadata  {}\n",
                      r.key, r.id, r.version, r.text, MetadataToJson(r.metadata).dump());
  if (with_vector_) out_ << "vector    " << json(r.vector).dump() << "\n";
}

void Cli::DeleteKeys() {
  auto db = OpenDb(true);
  size_t n = Check(db->Delete(collection_, keys_));
  if (g_.json) {
    out_ << json{{"deleted", n}, {"requested", keys_.size()}}.dump() << "\n";
  } else {
    out_ << fmt::format("deleted {} of {} records\n", n, keys_.size());
  }
  if (n == 0) {
    throw Failure{kExitNotFound, "delete: none of the keys is in collection " + Quote(collection_)};
  }
}

void Cli::PrintHits(const std::vector<Hit>& hits) {
  if (g_.json) {
    out_ << HitsToJson(hits, columns_).dump() << "\n";
    return;
  }
  // Plain queries keep their table; the extra columns come only with their flags.
  // Keyword ranking's score is the BM25 score: only hybrid ranking shows both parts.
  const bool parts = columns_.vector_score, vectors = columns_.vector;
  out_ << fmt::format("{:>4}  {:>8}  {}{:<20}  {}{:<48}  {}\n", "rank", "score",
                      parts ? fmt::format("{:>8}  {:>8}  ", "vector", "keyword") : "", "key",
                      vectors ? fmt::format("{:<36}  ", "vector") : "", "text", "metadata");
  for (size_t i = 0; i < hits.size(); ++i) {
    const Hit& h = hits[i];
    out_ << fmt::format(
        "{:>4}  {:>8.4f}  {}{:<20}  {}{:<48}  {}\n", i + 1, h.score,
        parts ? fmt::format("{:>8.4f}  {:>8.4f}  ", h.vector_score, h.keyword_score) : "",
        Cell(h.key, 20), vectors ? fmt::format("{:<36}  ", VectorCell(h.vector)) : "",
        Cell(h.text, 48), MetadataToJson(h.metadata).dump());
  }
}

void Cli::PrintExplain(const QueryExplain& e) {
  auto line = [&](std::string_view name, const std::string& value) {
    out_ << fmt::format("  {:<22} {}\n", name, value);
  };
  out_ << "explain\n";
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
  out_ << fmt::format("  {:<22} {:>10} {:>10}  {}\n", "stage", "items", "ms", "detail");
  for (const auto& st : e.stages) {
    out_ << fmt::format("  {:<22} {:>10} {:>10.3f}  {}\n", Cell(st.name, 22), st.items, st.ms,
                        st.detail);
  }
  out_ << fmt::format("  {:<22} {:>10} {:>10.3f}\n", "total", "", e.total_ms);
}

void Cli::PrintAnswer(const std::vector<Hit>& hits, const QueryExplain* explain) {
  if (explain == nullptr) {
    PrintHits(hits);
    return;
  }
  if (g_.json) {
    out_ << json{{"hits", HitsToJson(hits, columns_)}, {"explain", ExplainToJson(*explain)}}.dump()
         << "\n";
    return;
  }
  PrintHits(hits);
  PrintExplain(*explain);
}

SearchOptions Cli::QueryOptions() {
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
      throw Failure{kExitUsage,
                    "query: --hybrid is rrf (the default) or weighted, not " + Quote(hybrid_)};
    }
  }
  if (hybrid_weight_option_->count() > 0 && options.ranking != Ranking::kHybridWeighted) {
    throw Failure{kExitUsage, "query: --hybrid-weight needs --hybrid weighted"};
  }
  if (rrf_k_option_->count() > 0 && options.ranking != Ranking::kHybridRrf) {
    throw Failure{kExitUsage, "query: --rrf-k needs --hybrid rrf"};
  }
  if (hybrid_candidates_option_->count() > 0 && options.ranking != Ranking::kHybridRrf &&
      options.ranking != Ranking::kHybridWeighted) {
    throw Failure{kExitUsage, "query: --hybrid-candidates needs --hybrid"};
  }
  options.bm25_k1 = bm25_k1_;
  options.bm25_b = bm25_b_;
  options.hybrid_weight = hybrid_weight_;
  options.rrf_k = rrf_k_;
  options.hybrid_candidates = hybrid_candidates_;
  columns_.vector = with_vector_;
  columns_.vector_score =
      options.ranking == Ranking::kHybridRrf || options.ranking == Ranking::kHybridWeighted;
  columns_.keyword_score = options.ranking != Ranking::kVector;
  return options;
}

void Cli::Query() {
  // `--hybrid TEXT`: the option's optional value swallowed the query text.
  if (hybrid_option_->count() > 0 && !hybrid_.empty() && hybrid_ != "rrf" &&
      hybrid_ != "weighted" && text_.empty()) {
    text_ = std::exchange(hybrid_, "rrf");
  }
  const int given = int(!vector_json_.empty()) + int(!key_.empty()) + int(!text_.empty());
  if (!query_batch_.empty() && given != 0) {
    throw Failure{kExitUsage,
                  "query: --batch FILE takes its queries from the file: give no TEXT, --vector "
                  "or --key"};
  }
  if (query_batch_.empty() && given != 1) {
    throw Failure{kExitUsage, "query: give exactly one of TEXT, --vector JSON and --key KEY"};
  }
  const bool ranks_text = keyword_ || hybrid_option_->count() > 0;
  if (ranks_text && query_batch_.empty() && text_.empty()) {
    throw Failure{kExitUsage,
                  "query: --keyword and --hybrid rank records by a TEXT: give the query as text"};
  }
  auto db = OpenDb(false);
  const CollectionInfo info = Check(db->DescribeCollection(collection_));
  SearchOptions options = QueryOptions();
  if (!query_batch_.empty()) {
    QueryBatch(*db, info, options);
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
  PrintAnswer(hits, explain_ ? &explain : nullptr);
}

void Cli::QueryBatch(DB& db, const CollectionInfo& info, const SearchOptions& base) {
  std::ifstream file;
  std::istream* in = &std::cin;
  const std::string name = query_batch_ == "-" ? "<stdin>" : query_batch_;
  if (query_batch_ != "-") {
    std::error_code ec;
    if (!fs::exists(query_batch_, ec)) {
      throw Failure{kExitNotFound, "query: " + query_batch_ + " does not exist"};
    }
    file.open(query_batch_, std::ios::binary);
    if (!file) throw Failure{kExitBadInput, "query: cannot read " + query_batch_};
    in = &file;
  }
  const CollectionSpec& spec = info.spec;

  // Every line is read and checked before the first query is answered, so that
  // a mistake on line 900 does not come after 899 answers.
  struct Entry {
    uint64_t line = 0;
    QueryLine query;
    std::string where;  // the expression in force: the line's own, or --where
    Filter filter;
    size_t k = 0;
    std::optional<float> threshold;
  };
  std::vector<Entry> entries;
  JsonParser parser;
  std::string text;
  uint64_t line_no = 0;
  auto fail_at = [&](uint64_t line, int code, const std::string& what) {
    throw Failure{code, fmt::format("query: {}:{}: {}", name, line, what)};
  };
  while (std::getline(*in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Entry e;
    e.line = line_no;
    Status s = parser.ParseQuery(text, &e.query);
    if (!s.ok()) fail_at(line_no, kExitBadInput, std::string(s.message()));
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
      fail_at(line_no, kExitUsage,
              fmt::format("--keyword and --hybrid rank records by text; this line queries by {}",
                          q.kind == QueryLine::Kind::kKey ? "key" : "vector"));
    }
    switch (q.kind) {
      case QueryLine::Kind::kVector:
        if (Status v = ValidateVector(spec, q.vector); !v.ok()) {
          fail_at(line_no, ExitCodeFor(v), std::string(v.message()));
        }
        break;
      case QueryLine::Kind::kText:
        if (base.ranking == Ranking::kKeyword) break;
        if (spec.model.empty()) {
          fail_at(line_no, kExitBadInput,
                  fmt::format("a text query needs a model; collection {} has none (query by "
                              "\"vector\" or \"key\", or rank by --keyword)",
                              Quote(spec.name)));
        }
        break;
      case QueryLine::Kind::kKey:
        break;
    }
    entries.push_back(std::move(e));
  }
  if (in->bad()) fail_at(line_no + 1, kExitStorage, "cannot read past this line");

  auto same_group = [](const Entry& a, const Entry& b) {
    return a.query.kind == b.query.kind && a.query.kind != QueryLine::Kind::kKey &&
           a.where == b.where && a.k == b.k && a.threshold == b.threshold;
  };
  // Entries [first, end) answered in one call; one hit list each, in order.
  auto answer = [&](size_t first, size_t end, QueryExplain* explain) {
    const Entry& head = entries[first];
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
      throw Failure{kExitInternal, fmt::format("query: {}:{}: {} answers to {} queries", name,
                                               head.line, answers->size(), end - first)};
    }
    return answers;
  };
  // Every query is answered before the first answer is printed, so that a
  // query that fails (a missing key, a text without a known word) stops the
  // run with nothing printed, like a malformed line.
  struct Answered {
    std::vector<Hit> hits;
    QueryExplain explain;  // of the call that answered it
  };
  std::vector<Answered> answered(entries.size());
  for (size_t first = 0; first < entries.size();) {
    size_t end = first + 1;
    while (end < entries.size() && same_group(entries[first], entries[end])) ++end;
    QueryExplain explain;
    auto answers = answer(first, end, &explain);
    if (!answers) {
      // Which line failed: its group's lines again, one at a time (only on this path).
      for (size_t i = first; i < end; ++i) {
        if (auto one = answer(i, i + 1, nullptr); !one) {
          fail_at(entries[i].line, ExitCodeFor(one.error()), std::string(one.error().message()));
        }
      }
      fail_at(entries[first].line, ExitCodeFor(answers.error()),
              std::string(answers.error().message()));
    }
    for (size_t i = first; i < end; ++i) {
      answered[i] = {std::move((*answers)[i - first]), explain};
    }
    first = end;
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& [hits, explain] = answered[i];
    if (g_.json) {
      json j = {{"query", entries[i].line}, {"hits", HitsToJson(hits, columns_)}};
      if (explain_) j["explain"] = ExplainToJson(explain);
      out_ << j.dump() << "\n";
      continue;
    }
    out_ << fmt::format("query {}\n", entries[i].line);
    PrintHits(hits);
    if (explain_) PrintExplain(explain);
    out_ << "\n";
  }
}

void Cli::Stats() {
  auto db = OpenDb(false);
  std::vector<CollectionInfo> all;
  if (collection_.empty()) {
    all = Check(db->ListCollections());
  } else {
    all.push_back(Check(db->DescribeCollection(collection_)));
  }
  std::vector<CollectionStats> stats;
  for (const auto& c : all) stats.push_back(Check(db->Stats(c.spec.name)));
  std::string dir = g_.db.empty() ? std::getenv("RELATE_DB") : g_.db;
  const SpaceUsage space = Check(db->SpaceUsed());
  const uint64_t store_bytes = space.storage_bytes;
  const uint64_t index_bytes = space.index_checkpoint_bytes;
  if (g_.json) {
    json arr = json::array();
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& c = all[i];
      const auto& st = stats[i];
      json j = InfoToJson(c);
      j["changes_since_checkpoint"] = c.last_change - c.index_checkpoint;
      j["index"] = json{{"spec", st.index_spec},
                        {"in_use", st.index_in_use},
                        {"trained", st.trained},
                        {"live", st.live},
                        {"dead", st.dead},
                        {"dead_fraction", st.dead_fraction},
                        {"memory_bytes", st.memory_bytes},
                        {"knobs", KnobsToJson(st.knobs)},
                        {"tuned_recall", st.tuned_recall},
                        {"tuned_target", st.tuned_target},
                        {"tuned_unix_ms", st.tuned_unix_ms},
                        {"rebuilding", st.rebuilding},
                        {"last_rebuild", st.last_rebuild}};
      arr.push_back(j);
    }
    out_ << json{{"database", dir},
                 {"storage_bytes", store_bytes},
                 {"index_checkpoint_bytes", index_bytes},
                 {"collections", arr}}
                .dump()
         << "\n";
    return;
  }
  out_ << fmt::format("database {}: storage {}, index checkpoints {}\n", dir,
                      HumanBytes(store_bytes), HumanBytes(index_bytes));
  out_ << fmt::format("{:<20} {:>10} {:<16} {:<8} {:>6} {:>10} {:>10} {:<22} {}\n", "collection",
                      "records", "index", "trained", "dead", "memory", "unckpt", "knobs",
                      "tuned recall");
  auto knob_text = [](const SearchKnobs& k) {
    std::string t;
    if (k.ef_search) t += fmt::format("ef {} ", k.ef_search);
    if (k.nprobe) t += fmt::format("nprobe {} ", k.nprobe);
    if (k.refine > 1) t += fmt::format("refine {} ", k.refine);
    return t.empty() ? std::string("defaults") : t.substr(0, t.size() - 1);
  };
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& c = all[i];
    const auto& st = stats[i];
    const std::string index = st.index_spec == st.index_in_use
                                  ? st.index_in_use
                                  : st.index_spec + ":" + st.index_in_use;
    const std::string tuned =
        st.tuned_unix_ms == 0
            ? "never"
            : fmt::format("{:.3f} (target {:.2f}, {})", st.tuned_recall, st.tuned_target,
                          FormatTime(st.tuned_unix_ms));
    out_ << fmt::format("{:<20} {:>10} {:<16} {:<8} {:>5.1f}% {:>10} {:>10} {:<22} {}\n",
                        Cell(c.spec.name, 20), c.count, Cell(index, 16),
                        st.trained ? "yes" : "no", 100 * st.dead_fraction,
                        HumanBytes(st.memory_bytes), c.last_change - c.index_checkpoint,
                        knob_text(st.knobs), tuned);
    out_ << fmt::format("  filterable: {}; keyword index: {}\n",
                        c.spec.filterable.empty() ? std::string("none") : FilterableText(c.spec),
                        c.spec.keyword_index ? "on" : "off");
    if (st.rebuilding) out_ << "  rebuilding its index now\n";
    if (!st.last_rebuild.empty()) out_ << "  last rebuild: " << st.last_rebuild << "\n";
  }
}

void Cli::Tune() {
  const bool set = knobs_.ef_search || knobs_.nprobe || knobs_.refine;
  if (set == (tune_options_.target_recall > 0)) {
    throw Failure{kExitUsage,
                  "tune: give --recall TARGET to measure, or knobs (--ef-search, --nprobe, "
                  "--refine) to set them"};
  }
  auto db = OpenDb(true);
  if (set) {
    Check(db->SetSearchKnobs(collection_, knobs_));
    if (!g_.json) out_ << "set the default knobs of " << collection_ << "\n";
    return;
  }
  const TuneReport r = Check(db->Tune(collection_, tune_options_));
  if (g_.json) {
    json trials = json::array();
    for (const auto& t : r.trials) {
      trials.push_back({{"knobs", KnobsToJson(t.knobs)},
                        {"recall", t.recall},
                        {"ms_per_query", t.ms_per_query}});
    }
    out_ << json{{"knobs", KnobsToJson(r.knobs)},
                 {"recall", r.recall},
                 {"ms_per_query", r.ms_per_query},
                 {"reached", r.reached},
                 {"trials", trials}}
                .dump()
         << "\n";
  } else {
    out_ << fmt::format("{:>10} {:>8} {:>8} {:>10} {:>12}\n", "ef_search", "nprobe", "refine",
                        "recall@" + std::to_string(tune_options_.k), "ms/query");
    for (const auto& t : r.trials) {
      out_ << fmt::format("{:>10} {:>8} {:>8} {:>10.4f} {:>12.3f}\n", t.knobs.ef_search,
                          t.knobs.nprobe, t.knobs.refine, t.recall, t.ms_per_query);
    }
    out_ << fmt::format(
        "{} {}: ef_search {}, nprobe {}, refine {} (recall@{} {:.4f}, {:.3f} ms per query), "
        "stored as its defaults\n",
        r.reached ? "reached the target with" : "NO setting reached the target; best recall with",
        collection_, r.knobs.ef_search, r.knobs.nprobe, r.knobs.refine, tune_options_.k, r.recall,
        r.ms_per_query);
  }
  if (!r.reached) throw Failure{kExitBadInput, ""};
}

void Cli::Compact() {
  auto db = OpenDb(true);
  Check(db->Compact(collection_));
  const CollectionStats st = Check(db->Stats(collection_));
  if (g_.json) {
    out_ << json{{"collection", collection_},
                 {"live", st.live},
                 {"dead", st.dead},
                 {"memory_bytes", st.memory_bytes},
                 {"index", st.index_in_use}}
                .dump()
         << "\n";
  } else {
    out_ << fmt::format("compacted {}: {} vectors in {} ({})\n", collection_, st.live,
                        st.index_in_use, HumanBytes(st.memory_bytes));
  }
}

void Cli::Verify() {
  auto db = OpenDb(false);
  std::vector<std::string> names;
  bool all_ok = true;
  json storage;  // null unless the whole database is checked
  if (collection_.empty()) {
    // The whole database: every storage file's checksums and every record first.
    StorageReport r = Check(db->CheckStorage());
    all_ok = r.ok();
    if (g_.json) {
      storage = {{"ok", r.ok()},
                 {"records", r.records},
                 {"records_lost", r.records_lost},
                 {"damaged_files", r.damaged_files},
                 {"problems", r.problems}};
    } else {
      out_ << fmt::format("storage: {} (checksums of every file, {} whole records)\n",
                          r.ok() ? "ok" : "DAMAGED", r.records);
      for (const auto& f : r.damaged_files) out_ << "  damaged: " << f << "\n";
      for (const auto& p : r.problems) out_ << "  " << p << "\n";
    }
    for (const auto& c : Check(db->ListCollections())) names.push_back(c.spec.name);
  } else {
    names.push_back(collection_);
  }
  json arr = json::array();
  for (const auto& name : names) {
    VerifyReport r = Check(db->Verify(name));
    all_ok = all_ok && r.ok();
    if (g_.json) {
      arr.push_back({{"collection", name},
                     {"ok", r.ok()},
                     {"records", r.records},
                     {"indexed", r.indexed},
                     {"vectors_checked", r.vectors_checked},
                     {"problems", r.problems}});
      continue;
    }
    out_ << fmt::format("{}: {} ({} records, {} indexed, {} vectors compared)\n", name,
                        r.ok() ? "ok" : "PROBLEMS", r.records, r.indexed, r.vectors_checked);
    for (const auto& p : r.problems) out_ << "  " << p << "\n";
  }
  if (g_.json) out_ << json{{"storage", storage}, {"collections", arr}}.dump() << "\n";
  if (!all_ok) {
    throw Failure{kExitStorage,
                  "verify: the database has problems (listed above); `relate repair` recovers "
                  "what storage still holds, or restore a backup"};
  }
}

void Cli::BackupCommand() {
  if (InsideDir(backup_dir_, DbDir())) {
    throw Failure{kExitBadInput, "backup: " + backup_dir_ + " is inside the database directory " +
                                     DbDir() + "; a backup goes outside it"};
  }
  auto db = OpenDb(false);  // a reader: backs up while another process writes
  BackupReport r = Check(db->Backup(backup_dir_));
  if (g_.json) {
    out_ << json{{"backup", backup_dir_},
                 {"files", r.files},
                 {"bytes", r.bytes},
                 {"linked", r.linked},
                 {"collections", r.collections}}
                .dump()
         << "\n";
    return;
  }
  out_ << fmt::format("backed up {} collection{} to {}: {} files, {} ({} hard-linked)\n",
                      r.collections, r.collections == 1 ? "" : "s", backup_dir_, r.files,
                      HumanBytes(r.bytes), r.linked);
}

void Cli::RestoreCommand() {
  const std::string dir = DbDir();
  Check(RestoreBackup(backup_dir_, dir));
  if (g_.json) {
    out_ << json{{"restored", dir}, {"from", backup_dir_}}.dump() << "\n";
  } else {
    out_ << "restored " << backup_dir_ << " into " << dir << "\n";
  }
}

void Cli::RepairCommand() {
  const std::string dir = DbDir();
  Options options;
  options.log = LogToErr();
  StorageReport r = Check(DB::Repair(dir, options));
  if (g_.json) {
    out_ << json{{"records_kept", r.records},
                 {"records_lost", r.records_lost},
                 {"entries_fixed", r.entries_fixed},
                 {"damaged_files", r.damaged_files},
                 {"actions", r.actions},
                 {"set_aside", r.set_aside},
                 {"problems", r.problems}}
                .dump()
         << "\n";
    return;
  }
  if (r.actions.empty()) {
    out_ << fmt::format("{}: storage files are whole and were not touched; {} records, {} lost, {} "
                        "entries fixed\n",
                        dir, r.records, r.records_lost, r.entries_fixed);
  } else {
    out_ << fmt::format("repaired {}: {} records kept, {} lost, {} entries fixed\n", dir,
                        r.records, r.records_lost, r.entries_fixed);
  }
  for (const auto& f : r.damaged_files) out_ << "  damaged: " << f << "\n";
  for (const auto& a : r.actions) out_ << "  done: " << a << "\n";
  if (!r.set_aside.empty()) {
    out_ << "  the files as they were before repair are in " << r.set_aside
         << " (delete them once the database has what you need)\n";
  }
  for (const auto& p : r.problems) out_ << "  " << p << "\n";
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

void Cli::ModelImport() {
  auto db = OpenDb(true);
  model_options_.lowercase = !no_lowercase_;
  const auto start = Clock::now();
  auto last_draw = start;
  if (tty_) {
    model_options_.progress = [&](uint64_t done, uint64_t total) {
      if (Clock::now() - last_draw < std::chrono::milliseconds(200) && done < total) return;
      last_draw = Clock::now();
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
      const double eta = frac > 0 ? s * (1 - frac) / frac : 0;
      err_ << fmt::format("\rimporting {}: {:3.0f}% of {}  {}/s  ETA {}:{:02d} ", model_,
                          frac * 100, HumanBytes(total),
                          HumanBytes(static_cast<uint64_t>(s > 0 ? done / s : 0)),
                          static_cast<int>(eta) / 60, static_cast<int>(eta) % 60)
           << std::flush;
    };
  }
  Status s = db->ImportModel(model_, file_, model_options_);
  if (tty_) err_ << "\n";
  Check(s);
  auto info = Check(db->DescribeModel(model_));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (g_.json) {
    json j = ModelToJson(info);
    j["seconds"] = seconds;
    out_ << j.dump() << "\n";
  } else {
    out_ << fmt::format("imported {} from {} ({}), {:.2f} s\n", ModelShape(info), file_,
                        info.format, seconds);
  }
}

void Cli::ModelList() {
  auto db = OpenDb(false);
  auto all = Check(db->ListModels());
  if (g_.json) {
    json arr = json::array();
    for (const auto& m : all) arr.push_back(ModelToJson(m));
    out_ << arr.dump() << "\n";
    return;
  }
  out_ << fmt::format("{:<24} {:>7} {:>10} {:>9} {:<16} {:<8}\n", "model", "version", "words",
                      "dimension", "format", "pooling");
  for (const auto& m : all) {
    out_ << fmt::format("{:<24} {:>7} {:>10} {:>9} {:<16} {:<8}\n", Cell(m.name, 24), m.version,
                        m.words, m.dimension, m.format, m.pooling);
  }
}

void Cli::ModelDescribe() {
  auto db = OpenDb(false);
  auto m = Check(db->DescribeModel(model_));
  if (g_.json) {
    out_ << ModelToJson(m).dump() << "\n";
    return;
  }
  out_ << fmt::format(
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

void Cli::ModelDrop() {
  auto db = OpenDb(true);
  Check(db->DropModel(model_));
  if (g_.json) {
    out_ << json{{"dropped", model_}}.dump() << "\n";
  } else {
    out_ << fmt::format("dropped model {}\n", Quote(model_));
  }
}

// Set by SIGINT while a training runs: the trainer stops and checkpoints.
std::atomic<bool> g_stop_training{false};

extern "C" void StopTraining(int) {
  g_stop_training.store(true);
  // A second Ctrl-C ends the process the usual way.
  std::signal(SIGINT, SIG_DFL);
}

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

void Cli::ModelTrain() {
  auto db = OpenDb(true);
  TrainOptions& o = train_options_;
  o.corpus.assign(corpus_.begin(), corpus_.end());
  o.lowercase = !no_lowercase_;
  o.stop = &g_stop_training;
  TrainProgress last;
  auto last_draw = Clock::now() - std::chrono::seconds(1);
  o.progress = [&](const TrainProgress& p) {
    last = p;
    if (g_.json) {
      out_ << json{{"phase", p.phase},
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
    if (!tty_ || Clock::now() - last_draw < std::chrono::milliseconds(200)) return;
    last_draw = Clock::now();
    if (p.phase != "training") {
      err_ << fmt::format("\r{} the corpus: {} words read, {:.0f}k words/s      ", p.phase,
                          p.words_done, p.words_per_second_per_thread / 1000)
           << std::flush;
      return;
    }
    const double frac = p.words_total > 0 ? static_cast<double>(p.words_done) / p.words_total : 0;
    err_ << fmt::format(
                "\rtraining {}: epoch {}/{} {:5.1f}%  {:.0f}k words/s/thread  loss {:.4f}  "
                "lr {:.5f}  ETA {} ",
                Quote(model_), p.epoch, p.epochs, frac * 100,
                p.words_per_second_per_thread / 1000, p.loss, p.learning_rate,
                Duration(p.eta_seconds))
         << std::flush;
  };
  g_stop_training.store(false);
  auto previous = std::signal(SIGINT, StopTraining);
  const auto start = Clock::now();
  Status s = db->TrainModel(model_, o);
  std::signal(SIGINT, previous == SIG_ERR ? SIG_DFL : previous);
  if (tty_) err_ << "\n";
  if (s.code() == Status::Code::kCancelled) {
    err_ << "relate: " << s.message() << "\n"
         << "relate: continue with: relate model train --name " << model_ << " "
         << (corpus_.empty() ? "--collection " + train_options_.collection
                             : "--corpus " + fmt::format("{}", fmt::join(corpus_, " ")))
         << " --resume\n";
  }
  Check(s);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto info = Check(db->DescribeModel(model_));
  if (g_.json) {
    json j = ModelToJson(info);
    j["seconds"] = seconds;
    j["words_per_second_per_thread"] = last.words_per_second_per_thread;
    j["loss"] = last.loss;
    out_ << j.dump() << "\n";
  } else {
    out_ << fmt::format("trained {}, {} words in {:.1f} s ({:.0f}k words/s/thread on {} threads)\n",
                        ModelShape(info), last.words_done, seconds,
                        last.words_per_second_per_thread / 1000, last.threads);
  }
  if (apply_) PrintApplied(Check(db->ApplyModel(model_)));
}

void Cli::PrintApplied(const std::vector<std::string>& moved) {
  if (g_.json) {
    out_ << json{{"applied", moved}}.dump() << "\n";
    return;
  }
  if (moved.empty()) {
    out_ << "every collection of model " << Quote(model_) << " is on its newest version\n";
  }
  for (const auto& name : moved) {
    out_ << "collection " << Quote(name) << " re-embedded with model " << Quote(model_) << "\n";
  }
}

void Cli::ModelApply() {
  auto db = OpenDb(true);
  PrintApplied(Check(db->ApplyModel(model_)));
}

void Cli::ModelExport() {
  Check(CheckOutputFile("model export", file_, DbDir(), force_));
  auto db = OpenDb(false);
  const std::string format = format_ == "auto" ? "word2vec-text" : format_;
  Check(db->ExportModel(model_, file_, format));
  auto info = Check(db->DescribeModel(model_));
  if (g_.json) {
    out_ << json{{"model", model_}, {"file", file_}, {"format", format}, {"words", info.words}}
                .dump()
         << "\n";
  } else {
    out_ << fmt::format("exported model {} ({} words) to {} as {}\n", Quote(model_), info.words,
                        file_, format);
  }
}

void Cli::FitSif() {
  auto db = OpenDb(true);
  Check(db->FitSifComponent(collection_));
  auto info = Check(db->DescribeCollection(collection_));
  if (g_.json) {
    out_ << json{{"collection", collection_}, {"records", info.count}}.dump() << "\n";
  } else {
    out_ << fmt::format("fitted the SIF component of {} and re-embedded its texts\n",
                        Quote(collection_));
  }
}

void Cli::PrintWords(const std::vector<WordHit>& hits) {
  if (g_.json) {
    json arr = json::array();
    for (const auto& h : hits) arr.push_back({{"word", h.word}, {"score", h.score}});
    out_ << arr.dump() << "\n";
    return;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    out_ << fmt::format("{:>4}  {:>8.4f}  {}\n", i + 1, hits[i].score, hits[i].word);
  }
}

void Cli::Similar() {
  auto db = OpenDb(false);
  PrintWords(Check(db->SimilarWords(model_, key_, k_)));
}

void Cli::AnalogyCommand() {
  // "king - man + woman": b - a + c.
  if (words_.size() != 5 || words_[1] != "-" || words_[3] != "+") {
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
  auto db = OpenDb(false);
  PrintWords(Check(db->Analogy(model_, words_[2], words_[0], words_[4], k_, method)));
}

void Cli::OddOneOutCommand() {
  auto db = OpenDb(false);
  std::string odd = Check(db->OddOneOut(model_, words_));
  if (g_.json) {
    out_ << json{{"odd_one_out", odd}}.dump() << "\n";
  } else {
    out_ << odd << "\n";
  }
}

void Cli::SimilarityCommand() {
  if (words_.size() != 2) throw Failure{kExitUsage, "similarity: give two texts"};
  auto db = OpenDb(false);
  float cos = Check(db->TextSimilarity(model_, words_[0], words_[1]));
  if (g_.json) {
    out_ << json{{"cosine", cos}}.dump() << "\n";
  } else {
    out_ << fmt::format("{:.4f}\n", cos);
  }
}

void Cli::EvalWordSim() {
  auto db = OpenDb(false);
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
  if (g_.json) {
    out_ << json{{"spearman", r.spearman},
                 {"pairs", r.pairs},
                 {"covered", r.covered},
                 {"missed", r.missed}}
                .dump()
         << "\n";
    return;
  }
  out_ << fmt::format("Spearman rho {:.4f} over {} of {} pairs", r.spearman, r.covered, r.pairs);
  if (!r.missed.empty()) {
    out_ << " (missing words include " << r.missed[0];
    for (size_t i = 1; i < std::min<size_t>(5, r.missed.size()); ++i) out_ << ", " << r.missed[i];
    out_ << ")";
  }
  out_ << "\n";
}

void Cli::EvalAnalogy() {
  auto db = OpenDb(false);
  AnalogyReport r = Check(db->EvaluateAnalogies(model_, file_, restrict_));
  if (r.answered == 0) {
    throw Failure{kExitBadInput,
                  fmt::format("eval analogy: {}: accuracy is undefined: none of its {} "
                              "questions has all four words among the model's {}words",
                              file_, r.questions,
                              restrict_ ? fmt::format("{} most frequent ", restrict_) : "")};
  }
  auto pct = [](size_t c, size_t a) { return a == 0 ? 0.0 : 100.0 * c / a; };
  if (g_.json) {
    json sections = json::array();
    for (const auto& s : r.sections) {
      sections.push_back({{"name", s.name},
                          {"questions", s.questions},
                          {"answered", s.answered},
                          {"correct", s.correct}});
    }
    out_ << json{{"questions", r.questions},
                 {"answered", r.answered},
                 {"correct", r.correct},
                 {"accuracy", r.accuracy()},
                 {"sections", sections}}
                .dump()
         << "\n";
    return;
  }
  out_ << fmt::format("{:<32} {:>9} {:>9} {:>8} {:>8}\n", "section", "questions", "answered",
                      "correct", "accuracy");
  for (const auto& s : r.sections) {
    out_ << fmt::format("{:<32} {:>9} {:>9} {:>8} {:>7.2f}%\n", Cell(s.name, 32), s.questions,
                        s.answered, s.correct, pct(s.correct, s.answered));
  }
  out_ << fmt::format("{:<32} {:>9} {:>9} {:>8} {:>7.2f}%\n", "total", r.questions, r.answered,
                      r.correct, pct(r.correct, r.answered));
}

void Cli::ExportCommand() {
  const bool to_stdout = output_ == "-";
  if (!to_stdout) Check(CheckOutputFile("export", output_, DbDir(), force_));
  auto db = OpenDb(false);  // a reader: exports while another process writes
  ExportOptions options;
  options.collections = export_collections_;
  const auto start = Clock::now();
  TransferReport r;
  if (to_stdout) {
    r = Check(db->Export(options, out_));
  } else {
    // Written whole or not at all (util/durable_file.h).
    util::DurableFileWriter writer(output_);
    Check(writer.Open());
    util::DurableOstream file(&writer);
    Result<TransferReport> written = db->Export(options, file);
    file.flush();
    if (written && !file.status().ok()) written = file.status();
    if (written && !file) written = Status::IOError("export: writing " + output_ + " failed");
    if (!written) Fail(written.error());
    Check(writer.Commit());
    r = *written;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // The stream may be on standard output: the summary goes to standard error then.
  std::ostream& summary = to_stdout ? err_ : out_;
  if (g_.json) {
    summary << json{{"file", output_},
                    {"collections", r.collections},
                    {"records", r.records},
                    {"models", r.models},
                    {"bytes", r.bytes},
                    {"seconds", seconds}}
                   .dump()
            << "\n";
  } else {
    summary << fmt::format(
        "exported {} collection(s) ({} records) and {} model version(s) to {}: {}, {:.2f} s\n",
        r.collections, r.records, r.models, to_stdout ? "<stdout>" : output_, HumanBytes(r.bytes),
        seconds);
  }
}

void Cli::ImportCommand() {
  auto db = OpenDb(true);
  std::ifstream file;
  std::istream* in = &std::cin;
  const std::string name = file_ == "-" ? "<stdin>" : file_;
  if (file_ != "-") {
    std::error_code ec;
    if (!fs::exists(file_, ec)) throw Failure{kExitNotFound, "import: " + file_ + " does not exist"};
    file.open(file_, std::ios::binary);
    if (!file) throw Failure{kExitBadInput, "import: cannot read " + file_};
    in = &file;
  }
  const auto start = Clock::now();
  Result<TransferReport> r = db->Import(*in, {});
  if (!r) {
    // "import: frame 3 at byte 120: ..." names the stream too.
    std::string message(r.error().message());
    if (message.rfind("import: ", 0) == 0) message.erase(0, 8);
    Fail(Status(r.error().code(), "import: " + name + ": " + message));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (g_.json) {
    out_ << json{{"file", name},
                 {"collections", r->collections},
                 {"records", r->records},
                 {"models", r->models},
                 {"bytes", r->bytes},
                 {"seconds", seconds}}
                .dump()
         << "\n";
  } else {
    out_ << fmt::format(
        "imported {} collection(s) ({} records) and {} model version(s) from {}: {}, {:.2f} s\n",
        r->collections, r->records, r->models, name, HumanBytes(r->bytes), seconds);
  }
}

int Cli::Main(std::span<const std::string> args) {
  CLI::App app{"relate: an embedded vector database for relatedness search", "relate"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
  app.add_option("--db", g_.db, "Database directory (default: $RELATE_DB)");
  app.add_flag("--create", g_.create, "Create the database if it does not exist");
  app.add_flag("--json", g_.json, "Print JSON for scripts instead of tables");

  std::function<void()> action;
  auto sub = [&](const char* name, const char* help, void (Cli::*fn)()) {
    CLI::App* s = app.add_subcommand(name, help);
    s->callback([&action, this, fn] { action = [this, fn] { (this->*fn)(); }; });
    return s;
  };
  auto* create = sub("create", "Create a collection", &Cli::Create);
  create->add_option("collection", collection_, "Collection name")->required();
  create->add_option("--dim", dimension_, "Vector dimension (taken from --model if given)")
      ->check(CLI::PositiveNumber);
  create->add_option("--model", model_, "Embedding model that turns text into vectors");
  create->add_option("--metric", metric_, "cosine (default), ip or l2");
  create->add_option("--index", index_spec_, "FAISS index_factory string or auto (default Flat)");
  create
      ->add_option("--filterable", filterable_,
                   "Metadata fields to keep a secondary index of, for fast --where filters "
                   "(comma-separated; repeatable)")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("FIELD[,FIELD...]");
  create->add_flag("--keyword-index", keyword_index_,
                   "Keep an inverted index of the text for query --keyword and --hybrid "
                   "(ingest writes a key per distinct word: several times slower)");

  sub("list", "List collections", &Cli::List);
  sub("describe", "Describe a collection", &Cli::Describe)
      ->add_option("collection", collection_)
      ->required();
  sub("drop", "Drop a collection and all its records", &Cli::Drop)
      ->add_option("collection", collection_)
      ->required();

  auto* ingest = sub("ingest", "Upsert records from a JSON Lines file (- for stdin)", &Cli::Ingest);
  ingest->add_option("collection", collection_)->required();
  ingest->add_option("file", file_, "JSONL file: {\"key\",\"text\",\"metadata\",\"vector\"} a line")
      ->required();
  ingest->add_option("--batch", batch_, "Records per atomic write (default 1000)");

  auto* get = sub("get", "Print a record", &Cli::Get);
  get->add_option("collection", collection_)->required();
  get->add_option("key", key_)->required();
  get->add_flag("--with-vector", with_vector_, "Print the vector too");

  auto* del = sub("delete", "Delete records by key", &Cli::DeleteKeys);
  del->add_option("collection", collection_)->required();
  del->add_option("keys", keys_)->required();

  auto* query =
      sub("query", "The records most related to a text, a vector or a stored record", &Cli::Query);
  query->add_option("collection", collection_)->required();
  query->add_option("text", text_, "Query text (collections with a model)");
  query->add_option("--vector", vector_json_, "Query vector as a JSON array");
  query->add_option("--key", key_, "Find records like this stored one (excluding it)");
  k_option_ = query->add_option("-k", k_, "How many results (default 10; 1000 with --min-score)")
                  ->check(CLI::PositiveNumber);
  query
      ->add_option("--where", where_,
                   "Only records whose metadata match, e.g. 'year >= 2000 and genre in "
                   "[\"jazz\", \"blues\"]' (==, !=, <, <=, >, >=, in, not in, exists(f), and, "
                   "or, not, parentheses); k hits whenever k records match")
      ->type_name("EXPR");
  min_score_option_ = query
                          ->add_option("--min-score", min_score_,
                                       "Range search: every hit with a score of at least X (l2 "
                                       "collections: a distance of at "
                                       "most X), best first; at most -k of them, 1000 without -k")
                          ->type_name("X");
  query->add_flag("--with-vector", with_vector_, "Return each hit's stored vector too");
  mmr_option_ =
      query
          ->add_option(
              "--mmr", mmr_lambda_,
              "Diversify by maximal marginal relevance: LAMBDA in [0, 1] weighs relevance against "
              "novelty (1: plain relevance)")
          ->type_name("LAMBDA");
  query
      ->add_option("--mmr-candidates", mmr_candidates_,
                   "MMR re-ranks this many best hits (default max(4 k, 40))")
      ->check(CLI::PositiveNumber)
      ->needs(mmr_option_);
  auto* group_by =
      query
          ->add_option("--group-by", group_by_,
                       "At most --group-size hits per value of this metadata field, up to k groups")
          ->type_name("FIELD");
  group_size_option_ = query->add_option("--group-size", group_size_, "Hits per group (default 1)")
                           ->check(CLI::PositiveNumber)
                           ->needs(group_by);
  query->add_flag("--keyword", keyword_, "Rank by BM25 over the records' text (needs TEXT)");
  hybrid_option_ =
      query
          ->add_option("--hybrid", hybrid_,
                       "Fuse BM25 and vector ranks (needs TEXT): rrf (reciprocal rank fusion, "
                       "the default when bare) or weighted")
          ->expected(0, 1)
          ->type_name("[rrf|weighted]");
  hybrid_weight_option_ = query->add_option(
      "--hybrid-weight", hybrid_weight_,
      "--hybrid weighted: weight W of the vector score, 1 - W of BM25's (default 0.5)");
  rrf_k_option_ = query->add_option("--rrf-k", rrf_k_,
                                    "--hybrid rrf: the constant K of 1 / (K + rank) (default 60)");
  hybrid_candidates_option_ =
      query
          ->add_option("--hybrid-candidates", hybrid_candidates_,
                       "--hybrid: hits taken from each list before fusing (default max(4 k, 50))")
          ->check(CLI::PositiveNumber);
  query->add_option("--bm25-k1", bm25_k1_, "BM25's k1 (default 1.2)");
  query->add_option("--bm25-b", bm25_b_, "BM25's b (default 0.75)");
  query->add_flag("--explain", explain_,
                  "Print how the search ran: plan, candidates, distance computations, the time "
                  "of each stage");
  query
      ->add_option(
          "--batch", query_batch_,
          "Answer the queries of a JSON Lines FILE (- for stdin), one a line: {\"text\": ...}, "
          "{\"vector\": [...]} or {\"key\": ...}, each with its own \"where\", \"k\", "
          "\"min_score\" if it likes; prints one answer per line")
      ->type_name("FILE");
  auto knob_options = [this](CLI::App* s) {
    s->add_option("--ef-search", knobs_.ef_search, "HNSW: candidates kept while searching")
        ->check(CLI::PositiveNumber);
    s->add_option("--nprobe", knobs_.nprobe, "IVF: lists visited")->check(CLI::PositiveNumber);
    s->add_option("--refine", knobs_.refine,
                  "Re-rank k x N candidates over the stored vectors (indexes of codes)")
        ->check(CLI::PositiveNumber);
  };
  knob_options(query);

  CLI::App* model = app.add_subcommand("model", "Embedding models stored in the database");
  model->require_subcommand(1);
  auto model_sub = [&](const char* name, const char* help, void (Cli::*fn)()) {
    CLI::App* s = model->add_subcommand(name, help);
    s->callback([&action, this, fn] { action = [this, fn] { (this->*fn)(); }; });
    return s;
  };
  auto* import = model_sub("import", "Import word vectors (word2vec, GloVe, fastText) as a model",
                           &Cli::ModelImport);
  import->add_option("file", file_, "The vector file")->required();
  import->add_option("--name", model_, "Model name")->required();
  import->add_option("--format", model_options_.format,
                     "auto (default), word2vec-text, word2vec-binary, glove or fasttext-bin");
  import->add_flag("--replace", model_options_.replace, "Replace a model of that name");
  import->add_option("--pooling", model_options_.pooling, "mean (default) or sif");
  import->add_option("--sif-a", model_options_.sif_a, "SIF's a (default 1e-3)");
  import->add_option("--activation", model_options_.activation, "none (default), relu or tanh");
  import->add_flag("--no-lowercase", no_lowercase_, "Keep the case of text");
  import->add_flag("!--no-numbers", model_options_.keep_numbers, "Drop numbers from text");
  import->add_flag("--punctuation", model_options_.keep_punctuation, "Keep punctuation as tokens");
  model_sub("list", "List models", &Cli::ModelList);
  model_sub("describe", "Describe a model", &Cli::ModelDescribe)
      ->add_option("name", model_)
      ->required();
  model_sub("drop", "Drop a model", &Cli::ModelDrop)->add_option("name", model_)->required();
  auto* exp = model_sub("export", "Write a model's words and vectors to a file", &Cli::ModelExport);
  exp->add_option("name", model_)->required();
  exp->add_option("file", file_)->required();
  exp->add_option("--format", format_, "word2vec-text (default) or word2vec-binary");
  exp->add_flag("--force", force_, "Overwrite FILE if it exists (a regular file only)");
  auto* train = model_sub("train",
                          "Learn a model from text (skip-gram or CBOW, negative sampling), as a "
                          "new version of NAME",
                          &Cli::ModelTrain);
  TrainOptions& t = train_options_;
  train->add_option("--name", model_, "Model name")->required();
  auto* corpus = train->add_option("--corpus", corpus_, "UTF-8 text files to learn from");
  auto* from = train->add_option("--collection", t.collection, "Learn from a collection's texts");
  corpus->excludes(from);
  train->add_option("--arch", t.architecture, "skipgram (default) or cbow");
  train->add_option("--dim", t.dimension, "Dimension (default 100)");
  train->add_option("--window", t.window, "Context words each side (default 5)");
  train->add_option("--negative", t.negative, "Noise words a prediction (default 5)");
  train->add_option("--sample", t.sample, "Sub-sampling threshold (default 1e-3; 0: none)");
  train->add_option("--min-count", t.min_count, "Leave out rarer words (default 5)");
  train->add_option("--max-words", t.max_words, "Keep the most frequent N words (default all)");
  train->add_option("--epochs", t.epochs, "Passes over the corpus (default 5)");
  train->add_option("--lr", t.learning_rate, "Start learning rate (default 0.025 sg, 0.05 cbow)");
  train->add_option("--threads", t.threads, "Threads (default: one per core)");
  train->add_option("--seed", t.seed, "Random seed (default 1)");
  train->add_option("--minn", t.min_ngram, "Shortest subword n-gram (default 0: no subwords)");
  train->add_option("--maxn", t.max_ngram, "Longest subword n-gram (default 0: no subwords)");
  train->add_option("--buckets", t.buckets, "Subword hash rows (default 2000000)");
  train->add_option("--pooling", t.pooling, "Pooling of texts: mean (default) or sif");
  train->add_flag("--no-lowercase", no_lowercase_, "Keep the case of text");
  train->add_flag("!--no-numbers", t.keep_numbers, "Drop numbers from text");
  train->add_flag("--punctuation", t.keep_punctuation, "Keep punctuation as tokens");
  train->add_flag("--resume", t.resume,
                  "Continue a training that Ctrl-C stopped (same corpus; its settings)");
  train->add_flag("--apply", apply_, "Then re-embed the collections bound to the model");
  model_sub("apply", "Re-embed the collections bound to a model with its newest version",
            &Cli::ModelApply)
      ->add_option("name", model_)
      ->required();

  sub("fit-sif", "SIF: remove the common component of a collection's texts (re-embeds them)",
      &Cli::FitSif)
      ->add_option("collection", collection_)
      ->required();
  auto* similar = sub("similar", "The words of a model nearest to a word", &Cli::Similar);
  similar->add_option("model", model_)->required();
  similar->add_option("word", key_)->required();
  similar->add_option("-k", k_, "How many (default 10)")->check(CLI::PositiveNumber);
  auto* analogy = sub("analogy", "Solve B - A + C, e.g. king - man + woman", &Cli::AnalogyCommand);
  analogy->add_option("model", model_)->required();
  analogy->add_option("terms", words_, "B - A + C")->required();
  analogy->add_option("-k", k_, "How many (default 10)")->check(CLI::PositiveNumber);
  analogy->add_option("--method", method_, "3cosadd (default) or 3cosmul");
  auto* odd =
      sub("odd-one-out", "The word that fits least with the others", &Cli::OddOneOutCommand);
  odd->add_option("model", model_)->required();
  odd->add_option("words", words_)->required();
  auto* similarity =
      sub("similarity", "Cosine similarity of two texts under a model", &Cli::SimilarityCommand);
  similarity->add_option("model", model_)->required();
  similarity->add_option("texts", words_)->required();
  CLI::App* eval = app.add_subcommand("eval", "Evaluate a model on gold data");
  eval->require_subcommand(1);
  auto eval_sub = [&](const char* name, const char* help, void (Cli::*fn)()) {
    CLI::App* s = eval->add_subcommand(name, help);
    s->callback([&action, this, fn] { action = [this, fn] { (this->*fn)(); }; });
    s->add_option("model", model_)->required();
    s->add_option("file", file_)->required();
    return s;
  };
  eval_sub("wordsim", "Spearman rho against word-pair scores (w1 TAB w2 TAB score)",
           &Cli::EvalWordSim);
  eval_sub("analogy", "Accuracy on analogy questions (word2vec's questions-words format)",
           &Cli::EvalAnalogy)
      ->add_option("--restrict", restrict_, "Only the N most frequent words (default: all)");

  sub("stats", "Counts, sizes and index state (kind, trained, dead, memory, knobs, recall)",
      &Cli::Stats)
      ->add_option("collection", collection_);
  auto* tune = sub("tune",
                   "Measure recall against exact search and store the cheapest knobs that reach "
                   "--recall (or set knobs)",
                   &Cli::Tune);
  tune->add_option("collection", collection_)->required();
  tune_options_.target_recall = 0;
  tune->add_option("--recall", tune_options_.target_recall, "Recall@k to reach, e.g. 0.95")
      ->check(CLI::Range(0.0, 1.0));
  tune->add_option("-k", tune_options_.k, "Recall at k (default 10)")->check(CLI::PositiveNumber);
  tune->add_option("--sample", tune_options_.sample,
                   "Stored vectors used as queries (default 200)")
      ->check(CLI::PositiveNumber);
  tune->add_option("--seed", tune_options_.seed, "Seed of the sample (default 1)");
  knob_options(tune);
  sub("compact", "Rebuild a collection's index now, without deleted vectors", &Cli::Compact)
      ->add_option("collection", collection_)
      ->required();
  auto* db_export = sub("export",
                        "Write collections with their models (none named: the whole database) "
                        "as a stream of protobuf frames",
                        &Cli::ExportCommand);
  db_export->add_option("collections", export_collections_,
                        "Collections to export (default: all, and every model)");
  db_export->add_option("-o,--output", output_, "File to write (default -: standard output)");
  db_export->add_flag("--force", force_, "Overwrite the file if it exists (a regular file only)");
  sub("import", "Add the collections and models of an export stream, all or nothing",
      &Cli::ImportCommand)
      ->add_option("file", file_, "The stream (- for standard input)")
      ->required();
  sub("verify", "Check storage (checksums, whole records) and that the index agrees with it",
      &Cli::Verify)
      ->add_option("collection", collection_);
  sub("backup", "Write a consistent backup of the database (writes may go on)",
      &Cli::BackupCommand)
      ->add_option("dir", backup_dir_, "New directory for the backup")
      ->required();
  sub("restore", "Restore a backup as a new database (--db DIR)", &Cli::RestoreCommand)
      ->add_option("backup", backup_dir_, "Directory written by `relate backup`")
      ->required();
  sub("repair", "Recover what damaged storage still holds and rebuild the indexes",
      &Cli::RepairCommand);

  std::vector<const char*> argv{"relate"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out_ << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err_ << "relate: " << e.what() << "\nrun `relate --help` for usage\n";
    return kExitUsage;
  }
  try {
    action();
  } catch (const Failure& f) {
    if (!f.message.empty()) err_ << "relate: " << f.message << "\n";
    return f.code;
  } catch (const std::exception& e) {
    err_ << "relate: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitOk;
}

}  // namespace

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk:
      return kExitOk;
    case Status::Code::kInvalidArgument:
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
      return kExitBadInput;
    case Status::Code::kNotFound:
      return kExitNotFound;
    case Status::Code::kBusy:
      return kExitInUse;
    case Status::Code::kCorruption:
    case Status::Code::kIOError:
      return kExitStorage;
    case Status::Code::kInternal:
      return kExitInternal;
    case Status::Code::kCancelled:
      return kExitInterrupted;
  }
  return kExitInternal;
}

int Run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
        bool err_is_terminal) {
  Cli cli(out, err, err_is_terminal);
  return cli.Main(args);
}

}  // namespace relate::tools
