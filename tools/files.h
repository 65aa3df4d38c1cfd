// The files commands read and write: an input that may be standard input, and
// the checks made before a command writes a file of the user's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>

#include "relate/status.h"

namespace relate::tools {

// What a command reads: the file at a path, or standard input for "-".
class InputFile {
 public:
  // Opens `path` for command `command` (which messages start with). A Failure,
  // not found ("COMMAND: PATH does not exist") or bad input ("COMMAND: cannot
  // read PATH"), when it cannot.
  InputFile(std::string_view command, const std::string& path);

  std::istream& stream() { return *in_; }
  // The path, or "<stdin>": how messages name the input.
  const std::string& name() const { return name_; }
  // The size of the file in bytes; 0 for standard input.
  uint64_t size() const { return size_; }

 private:
  std::ifstream file_;
  std::istream* in_;
  std::string name_;
  uint64_t size_ = 0;
};

// Whether `path` is `dir` or inside it, both resolved (symbolic links, "..").
bool InsideDir(const std::filesystem::path& path, const std::filesystem::path& dir);

// Refuses, before anything is written, a file a command would write (`what`
// names the command) by renaming a temporary file over it: one inside the
// database directory `db_dir` (it would replace a file of the database), a
// symbolic link or anything but a regular file (the rename would replace the
// link or the node itself, not write to it), and without `force` a file that
// exists. InvalidArgument or AlreadyExists saying what to do.
Status CheckOutputFile(const std::string& what, const std::filesystem::path& target,
                       const std::filesystem::path& db_dir, bool force);

}  // namespace relate::tools
