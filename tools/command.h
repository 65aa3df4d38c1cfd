// The commands of `relate`, after RocksDB's ldb: each command is a class that
// owns its arguments and flags (AddFlags binds them to its own fields) and
// runs with DoCommand. The commands come in groups, one file each
// (cmd_collections.cc, cmd_records.cc, ...); cli.cc builds the command line
// from the groups and runs the command it names.
//
// Thread-safety: a command runs on one thread; only Context::LogToErr's sink
// may be called from others (background index rebuilds log from their own).
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "relate/relate.h"
#include "tools/failure.h"

namespace relate::tools {

// The options every command takes.
struct GlobalFlags {
  std::string db;       // --db: the database directory ($RELATE_DB when empty)
  bool create = false;  // --create: create the database if it does not exist
  bool json = false;    // --json: JSON for scripts instead of tables
};

// What a command runs with: where to write, the global flags, the database.
class Context {
 public:
  Context(std::ostream& out, std::ostream& err, bool err_is_terminal)
      : out_(out), err_(err), tty_(err_is_terminal) {}

  std::ostream& out() const { return out_; }  // results
  std::ostream& err() const { return err_; }  // messages and progress
  // Whether standard error is a terminal: progress is drawn only then.
  bool tty() const { return tty_; }
  bool json() const { return flags_.json; }
  GlobalFlags& flags() { return flags_; }

  // The database directory named by --db or $RELATE_DB; a usage Failure without one.
  std::string DbDir() const;
  // Opens the database, to write or only to read (a reader shares the database
  // with a running writer). A Failure when it cannot be opened.
  std::unique_ptr<DB> OpenDb(bool write);
  // A log sink writing "relate: LINE" to standard error; it locks, so any
  // thread may call it.
  LogFunction LogToErr();

 private:
  std::ostream& out_;
  std::ostream& err_;
  const bool tty_;
  GlobalFlags flags_;
  std::mutex log_mu_;
};

// One command of `relate`.
class Command {
 public:
  virtual ~Command() = default;
  // Adds the command's arguments and flags to its subcommand, bound to the
  // command's own fields.
  virtual void AddFlags(CLI::App& sub) = 0;
  // Runs the command with the flags the parse filled in. Results go to
  // ctx.out(); a Failure ends the command.
  virtual void DoCommand(Context& ctx) = 0;
};

// The commands of one command line, and the one its parse selected.
class CommandSet {
 public:
  // Adds `command` as subcommand `name` of `parent`, with its flags; a parse
  // that ends in that subcommand selects the command. Returns the subcommand.
  CLI::App* Add(CLI::App& parent, const char* name, const char* help,
                std::unique_ptr<Command> command);
  template <typename C>
  CLI::App* Add(CLI::App& parent, const char* name, const char* help) {
    return Add(parent, name, help, std::make_unique<C>());
  }
  // The command to run, or nullptr before a parse selects one.
  Command* selected() const { return selected_; }

 private:
  std::vector<std::unique_ptr<Command>> commands_;
  Command* selected_ = nullptr;
};

// Adds the search knobs' flags (--ef-search, --nprobe, --refine) to `sub`, bound to `knobs`.
void AddKnobFlags(CLI::App& sub, SearchKnobs& knobs);

// The command groups, in the order `relate --help` lists them; each adds its
// commands to `app`.
void AddCollectionCommands(CLI::App& app, CommandSet& commands);   // cmd_collections.cc
void AddRecordCommands(CLI::App& app, CommandSet& commands);       // cmd_records.cc
void AddQueryCommands(CLI::App& app, CommandSet& commands);        // cmd_query.cc
void AddModelCommands(CLI::App& app, CommandSet& commands);        // cmd_models.cc
void AddWordCommands(CLI::App& app, CommandSet& commands);         // cmd_words.cc
void AddMaintenanceCommands(CLI::App& app, CommandSet& commands);  // cmd_maintenance.cc
void AddTransferCommands(CLI::App& app, CommandSet& commands);     // cmd_transfer.cc
void AddReliabilityCommands(CLI::App& app, CommandSet& commands);  // cmd_reliability.cc

}  // namespace relate::tools
