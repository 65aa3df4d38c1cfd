// Records: ingest (JSON Lines), get, delete.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ostream>

#include "tools/command.h"
#include "tools/files.h"
#include "tools/jsonl.h"
#include "tools/output.h"
#include "util/quote.h"

namespace relate::tools {
namespace {

using Clock = std::chrono::steady_clock;

// Upserts the records of a JSON Lines file in batches, each one atomic: a bad
// line stops the run with the batches before it stored and nothing after.
class IngestCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("collection", collection_)->required();
    sub.add_option("file", file_, "JSONL file: {\"key\",\"text\",\"metadata\",\"vector\"} a line")
        ->required();
    sub.add_option("--batch", batch_size_, "Records per atomic write (default 1000)");
  }

  void DoCommand(Context& ctx) override {
    ctx_ = &ctx;
    // Closed when the command ends, before its error is printed.
    std::unique_ptr<DB> db = ctx.OpenDb(true);
    db_ = db.get();
    const CollectionSpec spec = Check(db_->DescribeCollection(collection_)).spec;
    InputFile input("ingest", file_);
    name_ = input.name();
    total_bytes_ = input.size();
    if (batch_size_ == 0) throw Failure{kExitUsage, "ingest: --batch must be at least 1"};
    batch_.reserve(batch_size_);
    start_ = Clock::now();
    auto last_draw = start_;
    JsonParser parser;
    std::string line;
    while (std::getline(input.stream(), line)) {
      ++line_no_;
      bytes_read_ += line.size() + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Record record;
      Status s = parser.ParseRecord(line, &record);
      if (s.ok() && record.vector.empty()) s = Embed(spec, record);
      if (s.ok() && !record.vector.empty()) s = ValidateVector(spec, record.vector);
      if (s.ok() && record.key.empty()) s = Status::InvalidArgument("field \"key\" is empty");
      if (!s.ok()) FailAt(line_no_, s, std::string(s.message()));
      batch_.push_back(std::move(record));
      if (batch_.size() >= batch_size_) Commit();
      if (ctx.tty() && Clock::now() - last_draw > std::chrono::milliseconds(200)) {
        last_draw = Clock::now();
        Draw(false);
      }
    }
    if (input.stream().bad()) {
      FailAt(line_no_ + 1, Status::IOError("read"), "cannot read past this line");
    }
    Commit();
    Draw(true);
    Summary("", 0);
  }

 private:
  double Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  // Embeds a record without a vector with the collection's model, here so
  // that an error names its line.
  Status Embed(const CollectionSpec& spec, Record& record) {
    if (spec.model.empty()) {
      return Status::InvalidArgument(
          "missing field \"vector\" (the collection has no model to embed the text)");
    }
    auto v = db_->EmbedText(collection_, record.text);
    if (!v) return v.error();
    record.vector = std::move(*v);
    return Status::OK();
  }

  // The progress line on a terminal: a bar with an ETA when the size is known.
  void Draw(bool final) {
    if (!ctx_->tty()) return;
    const double s = std::max(Seconds(), 1e-9);
    const double rate = static_cast<double>(committed_) / s;
    std::string line;
    if (total_bytes_ > 0) {
      const double frac =
          std::min(1.0, static_cast<double>(bytes_read_) / static_cast<double>(total_bytes_));
      const int width = 30, filled = static_cast<int>(frac * width);
      const double eta = frac > 0 ? s * (1 - frac) / frac : 0;
      line = fmt::format("\r{:3.0f}% [{}{}] {} records  {}/s  ETA {} ", frac * 100,
                         std::string(filled, '#'), std::string(width - filled, ' '),
                         HumanCount(static_cast<double>(committed_)), HumanCount(rate),
                         MinutesSeconds(eta));
    } else {
      line = fmt::format("\r{} records  {}/s ", HumanCount(static_cast<double>(committed_)),
                         HumanCount(rate));
    }
    ctx_->err() << line << (final ? "\n" : "") << std::flush;
  }

  // What was stored: JSON on standard output with --json, and a line on
  // standard error either way; `error` and `failed_line` when it stopped.
  void Summary(const std::string& error, uint64_t failed_line) {
    const double s = Seconds();
    if (ctx_->json()) {
      json j = {{"collection", collection_},
                {"file", name_},
                {"records", committed_},
                {"batches", batches_},
                {"lines_committed", committed_lines_},
                {"seconds", s},
                {"records_per_second", s > 0 ? static_cast<double>(committed_) / s : 0.0}};
      if (!error.empty()) {
        j["error"] = error;
        j["failed_line"] = failed_line;
      }
      ctx_->out() << j.dump() << "\n";
    }
    std::string text = fmt::format(
        "ingest: {} records from {} committed to {} in {} batch(es), {:.2f} s ({} records/s)",
        committed_, name_, util::Quote(collection_), batches_, s,
        HumanCount(s > 0 ? static_cast<double>(committed_) / s : 0));
    if (!error.empty()) {
      text +=
          committed_lines_ == 0
              ? fmt::format("; stopped at line {}: nothing was stored", failed_line)
              : fmt::format("; stopped at line {}: lines 1-{} are stored, nothing from line {} on",
                            failed_line, committed_lines_, committed_lines_ + 1);
    }
    ctx_->err() << text << "\n";
  }

  [[noreturn]] void FailAt(uint64_t line, const Status& s, const std::string& what) {
    Draw(true);
    const std::string message = fmt::format("ingest: {}:{}: {}", name_, line, what);
    ctx_->err() << message << "\n";
    Summary(message, line);
    throw Failure{ExitCodeFor(s), ""};
  }

  void Commit() {
    if (batch_.empty()) return;
    Status s = db_->Upsert(collection_, batch_);
    if (!s.ok()) {
      FailAt(committed_lines_ + 1, s,
             fmt::format("batch of lines {}-{}: {}", committed_lines_ + 1, line_no_, s.ToString()));
    }
    committed_ += batch_.size();
    committed_lines_ = line_no_;
    ++batches_;
    batch_.clear();
  }

  // Flags.
  std::string collection_;
  std::string file_;
  size_t batch_size_ = 1000;

  // The run.
  Context* ctx_ = nullptr;
  DB* db_ = nullptr;  // open while DoCommand runs
  std::string name_;  // of the input, for messages
  uint64_t total_bytes_ = 0;
  std::vector<Record> batch_;
  uint64_t line_no_ = 0, committed_ = 0, committed_lines_ = 0, batches_ = 0, bytes_read_ = 0;
  Clock::time_point start_;
};

class GetCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("collection", collection_)->required();
    sub.add_option("key", key_)->required();
    sub.add_flag("--with-vector", with_vector_, "Print the vector too");
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(false);
    auto r = Check(db->Get(collection_, key_));
    std::ostream& out = ctx.out();
    if (ctx.json()) {
      out << RecordToJson(r, with_vector_).dump() << "\n";
      return;
    }
    out << fmt::format("key       {}\nid        {}\nversion   {}\ntext      {}\nmetadata  {}\n",
                       r.key, r.id, r.version, r.text, MetadataToJson(r.metadata).dump());
    if (with_vector_) out << "vector    " << json(r.vector).dump() << "\n";
  }

 private:
  std::string collection_;
  std::string key_;
  bool with_vector_ = false;
};

class DeleteCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("collection", collection_)->required();
    sub.add_option("keys", keys_)->required();
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    size_t n = Check(db->Delete(collection_, keys_));
    if (ctx.json()) {
      ctx.out() << json{{"deleted", n}, {"requested", keys_.size()}}.dump() << "\n";
    } else {
      ctx.out() << fmt::format("deleted {} of {} records\n", n, keys_.size());
    }
    if (n == 0) {
      throw Failure{kExitNotFound,
                    "delete: none of the keys is in collection " + util::Quote(collection_)};
    }
  }

 private:
  std::string collection_;
  std::vector<std::string> keys_;
};

}  // namespace

void AddRecordCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<IngestCommand>(app, "ingest", "Upsert records from a JSON Lines file (- for stdin)");
  commands.Add<GetCommand>(app, "get", "Print a record");
  commands.Add<DeleteCommand>(app, "delete", "Delete records by key");
}

}  // namespace relate::tools
