// The `relate` command line, as a function tests can call.
#pragma once

#include <iosfwd>
#include <span>
#include <string>

#include "relate/status.h"

namespace relate::tools {

// Exit codes of `relate`; `relate --help` lists them.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,       // a bug in relate
  kExitUsage = 2,          // the command line is wrong
  kExitBadInput = 3,       // bad data or a request that conflicts with what exists
  kExitNotFound = 4,       // no such database, collection or key
  kExitStorage = 5,        // storage failed or disagrees with the index (verify)
  kExitInUse = 6,          // another process has the database open for writing
  kExitInterrupted = 130,  // stopped by Ctrl-C (SIGINT); what was done is kept
};

// The exit code for a failed status.
int ExitCodeFor(const Status& status);

// Runs `relate` with `args` (without the program name), writing results to `out`
// and messages to `err`. `err_is_terminal` turns on the ingest progress bar.
// Returns the exit code.
int Run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
        bool err_is_terminal = false);

}  // namespace relate::tools
