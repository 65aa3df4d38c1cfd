// How a command ends with an error: it throws a Failure, and Run() prints its
// message as "relate: MESSAGE" and returns its exit code.
#pragma once

#include <string>
#include <utility>

#include "relate/status.h"
#include "tools/cli.h"

namespace relate::tools {

// A failure the command reports and ends with. An empty message prints
// nothing: the command has said what went wrong itself.
struct Failure {
  int code;
  std::string message;
};

// Ends the command with `s`: its exit code, and its text as the message.
[[noreturn]] inline void Fail(const Status& s) { throw Failure{ExitCodeFor(s), s.ToString()}; }

// The value of `r`; ends the command with its error if it has none.
template <typename T>
T Check(Result<T> r) {
  if (!r) Fail(r.error());
  return std::move(r).value();
}

// Ends the command with `s` unless it is OK.
inline void Check(const Status& s) {
  if (!s.ok()) Fail(s);
}

}  // namespace relate::tools
