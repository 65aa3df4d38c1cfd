#define BOOST_TEST_MODULE util
#include "util/durable_file.h"

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "tests/testutil/testutil.h"

using namespace relate;
namespace fs = std::filesystem;

namespace {

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

size_t FilesIn(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(DurableFileTest)

BOOST_AUTO_TEST_CASE(CommitReplacesTheFileAndSyncsItAndItsDirectory) {
  testutil::ScratchDir dir;
  const fs::path target = dir.path() / "f";
  { std::ofstream(target) << "old"; }
  auto& d = util::Durability();
  const uint64_t files = d.file_syncs, renames = d.renames, dirs = d.directory_syncs;
  BOOST_TEST_REQUIRE(util::WriteFileDurably(target, "new contents").ok());
  BOOST_TEST(ReadAll(target) == "new contents");
  BOOST_TEST(d.file_syncs == files + 1);
  BOOST_TEST(d.renames == renames + 1);
  BOOST_TEST(d.directory_syncs == dirs + 1);
  BOOST_TEST(FilesIn(dir.path()) == 1u);  // no temporary left
}

BOOST_AUTO_TEST_CASE(UncommittedWriterLeavesTheTargetAsItWas) {
  testutil::ScratchDir dir;
  const fs::path target = dir.path() / "f";
  { std::ofstream(target) << "old"; }
  {
    util::DurableFileWriter w(target);
    BOOST_TEST_REQUIRE(w.Open().ok());
    BOOST_TEST_REQUIRE(w.Append(std::string(3 << 20, 'x')).ok());  // past one chunk: written out
    BOOST_TEST(FilesIn(dir.path()) == 2u);
  }
  BOOST_TEST(ReadAll(target) == "old");
  BOOST_TEST(FilesIn(dir.path()) == 1u);
}

BOOST_AUTO_TEST_CASE(LargeFileComesBackWhole) {
  testutil::ScratchDir dir;
  const fs::path target = dir.path() / "big";
  std::string bytes;
  for (uint32_t i = 0; i < 700000; ++i) bytes += static_cast<char>(i * 7919u % 251u);
  util::DurableFileWriter w(target);
  BOOST_TEST_REQUIRE(w.Open().ok());
  for (size_t at = 0; at < bytes.size(); at += 4093) {
    BOOST_TEST_REQUIRE(w.Append(std::string_view(bytes).substr(at, 4093)).ok());
  }
  BOOST_TEST_REQUIRE(w.Commit().ok());
  BOOST_TEST((ReadAll(target) == bytes));
}

BOOST_AUTO_TEST_CASE(StreamWritesGoThroughTheWriter) {
  testutil::ScratchDir dir;
  const fs::path target = dir.path() / "s";
  util::DurableFileWriter w(target);
  BOOST_TEST_REQUIRE(w.Open().ok());
  util::DurableOstream out(&w);
  out << "line " << 42 << '\n' << std::string(2 << 20, 'y');
  out.flush();
  BOOST_TEST(out.good());
  BOOST_TEST(out.status().ok());
  BOOST_TEST_REQUIRE(w.Commit().ok());
  BOOST_TEST((ReadAll(target) == "line 42\n" + std::string(2 << 20, 'y')));
  // A writer that was never opened: the stream goes bad and says why.
  util::DurableFileWriter unopened(dir.path() / "u");
  util::DurableOstream bad(&unopened);
  bad << "x";
  BOOST_TEST(!bad.good());
  BOOST_TEST(bad.status().code() == Status::Code::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(MissingDirectoryIsAnErrorNamingTheFile) {
  testutil::ScratchDir dir;
  const fs::path target = dir.path() / "no" / "such" / "f";
  Status s = util::WriteFileDurably(target, "x");
  BOOST_TEST(s.code() == Status::Code::kNotFound);
  BOOST_TEST(std::string(s.message()).find(target.string()) != std::string::npos, s.ToString());
  BOOST_TEST(util::SyncDirectory(dir.path() / "no").code() == Status::Code::kNotFound);
  util::DurableFileWriter unopened(dir.path() / "g");
  BOOST_TEST(unopened.Append("x").code() == Status::Code::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(MoveSyncsTheDirectoriesOnBothSides) {
  testutil::ScratchDir dir;
  fs::create_directories(dir.path() / "a" / "built");
  { std::ofstream(dir.path() / "a" / "built" / "x") << "x"; }
  fs::create_directories(dir.path() / "b");
  auto& d = util::Durability();
  const uint64_t renames = d.renames, dirs = d.directory_syncs;
  // A directory into another directory: both parents are synced.
  BOOST_TEST_REQUIRE(util::MoveDurably(dir.path() / "a" / "built", dir.path() / "b" / "db").ok());
  BOOST_TEST(ReadAll(dir.path() / "b" / "db" / "x") == "x");
  BOOST_TEST(!fs::exists(dir.path() / "a" / "built"));
  BOOST_TEST(d.renames == renames + 1);
  BOOST_TEST(d.directory_syncs == dirs + 2);
  // Within one directory: synced once.
  BOOST_TEST_REQUIRE(util::MoveDurably(dir.path() / "b" / "db", dir.path() / "b" / "db2").ok());
  BOOST_TEST(d.directory_syncs == dirs + 3);
}

BOOST_AUTO_TEST_CASE(MoveOfAMissingPathIsNotFoundAndNamesBoth) {
  testutil::ScratchDir dir;
  const Status s = util::MoveDurably(dir.path() / "nothing", dir.path() / "there");
  BOOST_TEST((s.code() == Status::Code::kNotFound));
  BOOST_TEST(s.message().find("nothing") != std::string::npos);
  BOOST_TEST(s.message().find("there") != std::string::npos);
  BOOST_TEST(!fs::exists(dir.path() / "there"));
}

BOOST_AUTO_TEST_SUITE_END()
