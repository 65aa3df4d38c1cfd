#include "tools/command.h"

#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <utility>

namespace relate::tools {

namespace fs = std::filesystem;

std::string Context::DbDir() const {
  std::string dir = flags_.db;
  if (dir.empty()) {
    const char* env = std::getenv("RELATE_DB");
    if (env != nullptr) dir = env;
  }
  if (dir.empty()) throw Failure{kExitUsage, "no database given: pass --db DIR or set RELATE_DB"};
  return dir;
}

std::unique_ptr<DB> Context::OpenDb(bool write) {
  const std::string dir = DbDir();
  Options options;
  std::error_code ec;
  const bool missing = !fs::exists(dir, ec);
  options.create_if_missing = flags_.create;
  // Commands that only read share the database with a running writer.
  options.read_only = !write && !(flags_.create && missing);
  options.log = LogToErr();
  // A command is a short process: rebuilds its writes started finish before it exits.
  options.finish_rebuilds_on_close = write;
  return Check(DB::Open(dir, options));
}

LogFunction Context::LogToErr() {
  return [this](std::string_view line) {
    std::lock_guard lock(log_mu_);
    err_ << "relate: " << line << "\n";
  };
}

CLI::App* CommandSet::Add(CLI::App& parent, const char* name, const char* help,
                          std::unique_ptr<Command> command) {
  CLI::App* sub = parent.add_subcommand(name, help);
  Command* c = command.get();
  c->AddFlags(*sub);
  sub->callback([this, c] { selected_ = c; });
  commands_.push_back(std::move(command));
  return sub;
}

void AddKnobFlags(CLI::App& sub, SearchKnobs& knobs) {
  sub.add_option("--ef-search", knobs.ef_search, "HNSW: candidates kept while searching")
      ->check(CLI::PositiveNumber);
  sub.add_option("--nprobe", knobs.nprobe, "IVF: lists visited")->check(CLI::PositiveNumber);
  sub.add_option("--refine", knobs.refine,
                 "Re-rank k x N candidates over the stored vectors (indexes of codes)")
      ->check(CLI::PositiveNumber);
}

}  // namespace relate::tools
