// Moving a database's content as a stream of protobuf frames: export, import.
#include <fmt/format.h>

#include <chrono>
#include <ostream>

#include "tools/command.h"
#include "tools/files.h"
#include "tools/output.h"
#include "util/durable_file.h"

namespace relate::tools {
namespace {

using Clock = std::chrono::steady_clock;

class ExportCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("collections", collections_,
                   "Collections to export (default: all, and every model)");
    sub.add_option("-o,--output", output_, "File to write (default -: standard output)");
    sub.add_flag("--force", force_, "Overwrite the file if it exists (a regular file only)");
  }

  void DoCommand(Context& ctx) override {
    const bool to_stdout = output_ == "-";
    if (!to_stdout) Check(CheckOutputFile("export", output_, ctx.DbDir(), force_));
    auto db = ctx.OpenDb(false);  // a reader: exports while another process writes
    ExportOptions options;
    options.collections = collections_;
    const auto start = Clock::now();
    const TransferReport r =
        to_stdout ? Check(db->Export(options, ctx.out())) : ToFile(*db, options);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    // The stream may be on standard output: the summary goes to standard error then.
    std::ostream& summary = to_stdout ? ctx.err() : ctx.out();
    if (ctx.json()) {
      summary << json{{"file", output_},      {"collections", r.collections},
                      {"records", r.records}, {"models", r.models},
                      {"bytes", r.bytes},     {"seconds", seconds}}
                     .dump()
              << "\n";
    } else {
      summary << fmt::format(
          "exported {} collection(s) ({} records) and {} model version(s) to {}: {}, {:.2f} s\n",
          r.collections, r.records, r.models, to_stdout ? "<stdout>" : output_, HumanBytes(r.bytes),
          seconds);
    }
  }

 private:
  // Writes the stream to --output whole or not at all (util/durable_file.h).
  TransferReport ToFile(DB& db, const ExportOptions& options) {
    util::DurableFileWriter writer(output_);
    Check(writer.Open());
    util::DurableOstream file(&writer);
    Result<TransferReport> written = db.Export(options, file);
    file.flush();
    if (written && !file.status().ok()) written = file.status();
    if (written && !file) written = Status::IOError("export: writing " + output_ + " failed");
    if (!written) Fail(written.error());
    Check(writer.Commit());
    return *written;
  }

  std::vector<std::string> collections_;
  std::string output_ = "-";
  bool force_ = false;
};

class ImportCommand : public Command {
 public:
  void AddFlags(CLI::App& sub) override {
    sub.add_option("file", file_, "The stream (- for standard input)")->required();
  }

  void DoCommand(Context& ctx) override {
    auto db = ctx.OpenDb(true);
    InputFile input("import", file_);
    const std::string& name = input.name();
    const auto start = Clock::now();
    Result<TransferReport> r = db->Import(input.stream(), {});
    if (!r) {
      // "import: frame 3 at byte 120: ..." names the stream too.
      std::string message(r.error().message());
      if (message.rfind("import: ", 0) == 0) message.erase(0, 8);
      Fail(Status(r.error().code(), "import: " + name + ": " + message));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (ctx.json()) {
      ctx.out() << json{{"file", name},          {"collections", r->collections},
                        {"records", r->records}, {"models", r->models},
                        {"bytes", r->bytes},     {"seconds", seconds}}
                       .dump()
                << "\n";
    } else {
      ctx.out() << fmt::format(
          "imported {} collection(s) ({} records) and {} model version(s) from {}: {}, {:.2f} s\n",
          r->collections, r->records, r->models, name, HumanBytes(r->bytes), seconds);
    }
  }

 private:
  std::string file_;
};

}  // namespace

void AddTransferCommands(CLI::App& app, CommandSet& commands) {
  commands.Add<ExportCommand>(app, "export",
                              "Write collections with their models (none named: the whole "
                              "database) as a stream of protobuf frames");
  commands.Add<ImportCommand>(app, "import",
                              "Add the collections and models of an export stream, all or nothing");
}

}  // namespace relate::tools
