// Read-only handles beside a writer, backups and restore, storage damage found
// by checks and recovered by repair.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kDim = 8;

// Record "<prefix><i>" with a vector from (seed, i) and text naming both.
Record Rec(const std::string& prefix, size_t i, uint32_t seed) {
  auto v = testutil::RandomVectors(1, kDim, seed * 100003u + static_cast<uint32_t>(i));
  return Record{.key = prefix + std::to_string(i),
                .text = "text " + std::to_string(seed) + "/" + std::to_string(i),
                .metadata = {{"seed", int64_t{seed}}},
                .vector = v};
}

std::vector<Record> Recs(const std::string& prefix, size_t begin, size_t end, uint32_t seed) {
  std::vector<Record> out;
  for (size_t i = begin; i < end; ++i) out.push_back(Rec(prefix, i, seed));
  return out;
}

Options Quiet(Options o = {}) {
  o.log = [](std::string_view) {};
  return o;
}

std::unique_ptr<DB> OpenOrDie(const fs::path& dir, const Options& options) {
  auto db = DB::Open(dir, options);
  BOOST_TEST_REQUIRE(db.has_value(), db.error().ToString());
  return std::move(*db);
}

// The record stored under `key` equals `want` (text, metadata, vector bit-exact).
bool Holds(DB& db, const std::string& collection, const Record& want) {
  auto got = db.Get(collection, want.key);
  return got && got->text == want.text && got->metadata == want.metadata &&
         got->vector == want.vector;
}

void FlipByte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(f.get());
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

struct TwoHandles {
  testutil::ScratchDir dir;
  fs::path path = dir.path() / "db";
  std::unique_ptr<DB> writer = OpenOrDie(path, Quiet({.create_if_missing = true}));
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(ReadOnlyTest, TwoHandles)

// A read-only handle opened beside a writer sees what the writer committed
// before it opened (its index: the checkpoint plus the change log replayed),
// keeps that view, and a handle opened later sees the later writes, deletes,
// collections and knobs, also after the writer truncated the change log.
BOOST_AUTO_TEST_CASE(ReaderSeesTheDatabaseAsOfItsOpening) {
  BOOST_TEST_REQUIRE(writer->CreateCollection({.name = "c", .dimension = kDim}).ok());
  BOOST_TEST_REQUIRE(writer->Upsert("c", Recs("a", 0, 10, 1)).ok());
  BOOST_TEST_REQUIRE(writer->Checkpoint().ok());
  BOOST_TEST_REQUIRE(writer->Upsert("c", Recs("b", 0, 20, 2)).ok());  // in the change log only
  auto reader = OpenOrDie(path, Quiet({.read_only = true}));
  BOOST_TEST(reader->Count("c").value() == 30u);
  BOOST_TEST(reader->Verify("c").value().ok());
  for (size_t i = 0; i < 20; ++i) {
    auto hits = reader->Search("c", Rec("b", i, 2).vector, {.k = 1}).value();
    BOOST_TEST(hits.at(0).key == "b" + std::to_string(i));
  }
  BOOST_TEST(reader->Upsert("c", Recs("x", 0, 1, 1)).code() == Status::Code::kFailedPrecondition);

  BOOST_TEST_REQUIRE(writer->Delete("c", std::vector<std::string>{"a1", "a2"}).value() == 2u);
  BOOST_TEST_REQUIRE(
      writer->CreateCollection({.name = "g", .dimension = kDim, .index_spec = "HNSW16"}).ok());
  BOOST_TEST_REQUIRE(writer->Upsert("g", Recs("g", 0, 50, 3)).ok());
  BOOST_TEST_REQUIRE(writer->SetSearchKnobs("g", {.ef_search = 77}).ok());
  BOOST_TEST(reader->Count("c").value() == 30u);  // its view does not move
  BOOST_TEST(Holds(*reader, "c", Rec("a", 1, 1)));

  auto later = OpenOrDie(path, Quiet({.read_only = true}));
  BOOST_TEST(later->Count("c").value() == 28u);
  BOOST_TEST(later->Get("c", "a1").error().code() == Status::Code::kNotFound);
  const auto all = later->Search("c", Rec("a", 1, 1).vector, {.k = 28}).value();
  BOOST_TEST(all.size() == 28u);
  for (const auto& h : all) BOOST_TEST((h.key != "a1" && h.key != "a2"));
  BOOST_TEST(later->Count("g").value() == 50u);
  BOOST_TEST(later->Stats("g").value().knobs.ef_search == 77u);
  BOOST_TEST(later->Search("g", Rec("g", 9, 3).vector, {.k = 1}).value().at(0).key == "g9");
  BOOST_TEST(later->Verify("g").value().ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(BackupTest, TwoHandles)

// A backup taken while a writer writes holds every write acknowledged before
// it started, each record whole, and restores into a database whose index
// agrees with its storage.
BOOST_AUTO_TEST_CASE(BackupWhileWritingRestoresEveryAcknowledgedWrite) {
  BOOST_TEST_REQUIRE(
      writer->CreateCollection({.name = "c", .dimension = kDim, .index_spec = "HNSW16"}).ok());
  BOOST_TEST_REQUIRE(writer->Upsert("c", Recs("a", 0, 300, 1)).ok());
  BOOST_TEST_REQUIRE(writer->Checkpoint().ok());
  std::atomic<size_t> acknowledged = 0;
  std::atomic<bool> stop = false;
  std::thread writing([&] {
    for (size_t i = 0; !stop; ++i) {
      if (!writer->Upsert("c", Recs("w", i, i + 1, 2), {.sync = true}).ok()) return;
      acknowledged = i + 1;
    }
  });
  while (acknowledged < 20) std::this_thread::yield();
  const size_t before = acknowledged;
  auto report = writer->Backup(dir.path() / "backup");
  while (acknowledged < before + 20) std::this_thread::yield();  // writes went on
  stop = true;
  writing.join();
  BOOST_TEST_REQUIRE(report.has_value(), report.error().ToString());
  BOOST_TEST(report->collections == 1u);
  BOOST_TEST(report->files > 3u);

  BOOST_TEST_REQUIRE(RestoreBackup(dir.path() / "backup", dir.path() / "restored").ok());
  auto restored = OpenOrDie(dir.path() / "restored", Quiet());
  const uint64_t count = restored->Count("c").value();
  BOOST_TEST(count >= 300u + before);
  BOOST_TEST(count <= 300u + acknowledged);
  for (size_t i = 0; i < 300; i += 7) BOOST_TEST(Holds(*restored, "c", Rec("a", i, 1)));
  for (size_t i = 0; i < count - 300; ++i) BOOST_TEST(Holds(*restored, "c", Rec("w", i, 2)));
  BOOST_TEST(restored->Get("c", "w" + std::to_string(count - 300)).error().code() ==
             Status::Code::kNotFound);
  BOOST_TEST(restored->Verify("c").value().ok());
  BOOST_TEST(restored->CheckStorage().value().ok());
  BOOST_TEST(restored->Search("c", Rec("a", 5, 1).vector, {.k = 1}).value().at(0).key == "a5");
}

// A read-only handle backs up what it sees while another handle writes.
BOOST_AUTO_TEST_CASE(ReadOnlyHandleBacksUpWhatItSees) {
  BOOST_TEST_REQUIRE(writer->CreateCollection({.name = "c", .dimension = kDim}).ok());
  BOOST_TEST_REQUIRE(writer->Upsert("c", Recs("a", 0, 100, 1)).ok());
  auto reader = OpenOrDie(path, Quiet({.read_only = true}));
  BOOST_TEST_REQUIRE(writer->Upsert("c", Recs("b", 0, 10, 2)).ok());
  BOOST_TEST_REQUIRE(reader->Backup(dir.path() / "backup").has_value());
  BOOST_TEST_REQUIRE(RestoreBackup(dir.path() / "backup", dir.path() / "restored").ok());
  auto restored = OpenOrDie(dir.path() / "restored", Quiet());
  BOOST_TEST(restored->Count("c").value() == 100u);  // the reader's view: before the b records
  BOOST_TEST(Holds(*restored, "c", Rec("a", 99, 1)));
  BOOST_TEST(restored->Get("c", "b0").error().code() == Status::Code::kNotFound);
  BOOST_TEST(restored->Verify("c").value().ok());
}

// Damaged or incomplete backups are refused, naming the file, and nothing is restored.
BOOST_AUTO_TEST_CASE(DamagedBackupIsRefusedAndNothingIsRestored) {
  BOOST_TEST_REQUIRE(writer->CreateCollection({.name = "c", .dimension = kDim}).ok());
  BOOST_TEST_REQUIRE(writer->Upsert("c", Recs("a", 0, 50, 1)).ok());
  BOOST_TEST_REQUIRE(writer->Checkpoint().ok());
  const fs::path backup = dir.path() / "backup";
  BOOST_TEST_REQUIRE(writer->Backup(backup).has_value());
  BOOST_TEST(writer->Backup(backup).error().code() == Status::Code::kAlreadyExists);

  auto refused = [&](const std::string& want) {
    Status s = RestoreBackup(backup, dir.path() / "restored");
    BOOST_TEST(s.code() == Status::Code::kCorruption, s.ToString());
    BOOST_TEST(std::string(s.message()).find(want) != std::string::npos, s.ToString());
    BOOST_TEST(!fs::exists(dir.path() / "restored"));
  };
  // A flipped byte in the index checkpoint.
  fs::path checkpoint;
  for (const auto& e : fs::directory_iterator(backup / "index")) checkpoint = e.path();
  BOOST_TEST_REQUIRE(!checkpoint.empty());
  FlipByte(checkpoint, fs::file_size(checkpoint) / 2);
  refused(checkpoint.filename().string() + " fails its checksum");
  FlipByte(checkpoint, fs::file_size(checkpoint) / 2);  // back as it was
  // A file cut short, a file missing, a manifest cut short.
  fs::path some_file;
  for (const auto& e : fs::directory_iterator(backup / "store")) {
    if (e.path().filename().string().rfind("MANIFEST", 0) == 0) some_file = e.path();
  }
  BOOST_TEST_REQUIRE(!some_file.empty());
  const auto size = fs::file_size(some_file);
  fs::copy_file(some_file, dir.path() / "saved");
  fs::resize_file(some_file, size - 1);
  refused("manifest says " + std::to_string(size));
  fs::remove(some_file);
  refused(some_file.filename().string() + " is missing");
  fs::copy_file(dir.path() / "saved", some_file);
  BOOST_TEST_REQUIRE(RestoreBackup(backup, dir.path() / "restored").ok());  // whole again
  fs::remove_all(dir.path() / "restored");
  {
    std::ifstream in(backup / "BACKUP");
    std::string all((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(backup / "BACKUP", std::ios::trunc) << all.substr(0, all.size() / 2);
  }
  refused("cut short");
  // Not into a database that exists.
  BOOST_TEST(RestoreBackup(backup, path).code() == Status::Code::kAlreadyExists);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(DamageTest)

// A flipped byte in a storage file: CheckStorage names the file, reads that hit
// it say so and point at repair; Repair keeps every record that is still whole
// (unchanged) and the database agrees with itself again.
BOOST_AUTO_TEST_CASE(DamagedStorageFileIsReportedAndRepairRecoversTheRest) {
  testutil::ScratchDir dir;
  const fs::path path = dir.path() / "db";
  constexpr size_t kRecords = 2000;
  BOOST_TEST_REQUIRE(OpenOrDie(path, Quiet({.create_if_missing = true}))
                         ->CreateCollection({.name = "c", .dimension = kDim})
                         .ok());
  for (size_t b = 0; b < kRecords; b += 500) {
    // Each reopen flushes the log into new table files: 4 generations of files.
    auto db = OpenOrDie(path, Quiet());
    BOOST_TEST_REQUIRE(db->Upsert("c", Recs("a", b, b + 500, 1)).ok());
  }
  OpenOrDie(path, Quiet()).reset();
  std::vector<std::pair<uintmax_t, fs::path>> tables;
  for (const auto& e : fs::directory_iterator(path / "store")) {
    if (e.path().extension() == ".sst") tables.emplace_back(fs::file_size(e.path()), e.path());
  }
  std::sort(tables.rbegin(), tables.rend());
  BOOST_TEST_REQUIRE(!tables.empty());
  const fs::path damaged = tables.front().second;
  FlipByte(damaged, tables.front().first / 3);

  size_t unreadable = 0;
  {
    auto db = OpenOrDie(path, Quiet());
    StorageReport check = db->CheckStorage().value();
    BOOST_TEST(!check.ok());
    BOOST_TEST_REQUIRE(check.damaged_files.size() == 1u);
    BOOST_TEST(check.damaged_files[0].find(damaged.filename().string()) != std::string::npos,
               check.damaged_files[0]);
    for (size_t i = 0; i < kRecords; ++i) {
      auto got = db->Get("c", "a" + std::to_string(i));
      if (got) continue;
      ++unreadable;
      BOOST_TEST(got.error().code() == Status::Code::kCorruption);
      BOOST_TEST(std::string(got.error().message()).find("relate repair") != std::string::npos);
    }
    BOOST_TEST(unreadable > 0u);
  }
  auto report = DB::Repair(path, Quiet());
  BOOST_TEST_REQUIRE(report.has_value(), report.error().ToString());
  // RocksDB sets the damaged file aside whole: the records with a part in it
  // (one generation of vectors) are lost, named in the report; the others stay.
  BOOST_TEST_REQUIRE(report->damaged_files.size() == 1u);
  BOOST_TEST(report->damaged_files[0].find(damaged.filename().string()) != std::string::npos);
  BOOST_TEST(report->records_lost >= unreadable);
  BOOST_TEST(report->records + report->records_lost == kRecords);
  BOOST_TEST(report->records >= kRecords / 2);
  BOOST_TEST(report->problems.size() >= report->records_lost);
  auto db = OpenOrDie(path, Quiet());
  const uint64_t kept = db->Count("c").value();
  BOOST_TEST(kept == report->records);
  size_t whole = 0;
  for (size_t i = 0; i < kRecords; ++i) {
    auto got = db->Get("c", "a" + std::to_string(i));
    if (!got) {
      BOOST_TEST(got.error().code() == Status::Code::kNotFound);
      continue;
    }
    ++whole;
    BOOST_TEST(Holds(*db, "c", Rec("a", i, 1)));
  }
  BOOST_TEST(whole == kept);
  BOOST_TEST(db->Verify("c").value().ok());
  BOOST_TEST(db->CheckStorage().value().ok());
}

BOOST_AUTO_TEST_SUITE_END()
