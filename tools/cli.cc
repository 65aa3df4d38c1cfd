// `relate`: builds the command line from the command groups (command.h), parses
// it and runs the command it names.
#include "tools/cli.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <ostream>
#include <vector>

#include "tools/command.h"

namespace relate::tools {
namespace {

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
  Context ctx(out, err, err_is_terminal);
  CLI::App app{"relate: an embedded vector database for relatedness search", "relate"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand too
  GlobalFlags& flags = ctx.flags();
  app.add_option("--db", flags.db, "Database directory (default: $RELATE_DB)");
  app.add_flag("--create", flags.create, "Create the database if it does not exist");
  app.add_flag("--json", flags.json, "Print JSON for scripts instead of tables");

  CommandSet commands;
  AddCollectionCommands(app, commands);
  AddRecordCommands(app, commands);
  AddQueryCommands(app, commands);
  AddModelCommands(app, commands);
  AddWordCommands(app, commands);
  AddMaintenanceCommands(app, commands);
  AddTransferCommands(app, commands);
  AddReliabilityCommands(app, commands);

  std::vector<const char*> argv{"relate"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << "relate: " << e.what() << "\nrun `relate --help` for usage\n";
    return kExitUsage;
  }
  try {
    Command* command = commands.selected();
    if (command == nullptr) throw std::logic_error("the command line names no command");
    command->DoCommand(ctx);
  } catch (const Failure& f) {
    if (!f.message.empty()) err << "relate: " << f.message << "\n";
    return f.code;
  } catch (const std::exception& e) {
    err << "relate: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitOk;
}

}  // namespace relate::tools
