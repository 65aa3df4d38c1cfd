#include "tools/files.h"

#include <algorithm>
#include <iostream>
#include <iterator>

#include "tools/failure.h"

namespace relate::tools {

namespace fs = std::filesystem;

InputFile::InputFile(std::string_view command, const std::string& path)
    : in_(&std::cin), name_(path == "-" ? "<stdin>" : path) {
  if (path == "-") return;
  const std::string prefix(command);
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Failure{kExitNotFound, prefix + ": " + path + " does not exist"};
  file_.open(path, std::ios::binary);
  if (!file_) throw Failure{kExitBadInput, prefix + ": cannot read " + path};
  in_ = &file_;
  size_ = fs::file_size(path, ec);
}

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

}  // namespace relate::tools
