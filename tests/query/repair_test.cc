// Repair over the damage matrix: every file kind of store/ and index/
// deleted, truncated and flipped; and repair of a whole database.
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <set>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;
namespace fs = std::filesystem;

namespace {

Options Quiet(Options o = {}) {
  o.log = [](std::string_view) {};
  return o;
}

// Record "<prefix><i>" of dimension `dim` from (seed, i).
Record Rec(const std::string& prefix, size_t i, uint32_t dim, uint32_t seed) {
  return Record{.key = prefix + std::to_string(i),
                .text = "text of " + prefix + std::to_string(i),
                .metadata = {{"n", int64_t(i % 7)}},
                .vector = testutil::RandomVectors(1, dim, seed * 7919u + static_cast<uint32_t>(i))};
}

// What a database holds: key -> (text, vector) per collection.
using Contents = std::map<std::string, std::map<std::string, Record>>;

struct Layout {
  std::string name;
  uint32_t dim;
  size_t records;
};
// 768-d vectors live in RocksDB's blob files, 8-d ones inline in the tables.
const Layout kLayouts[] = {{"wide", 768, 120}, {"narrow", 8, 300}};

// A database whose records sit in table files, blob files and (the last batch
// of each collection) the write-ahead log only; returns what it holds.
Contents MakeDatabase(const fs::path& path) {
  Contents want;
  {
    auto db = DB::Open(path, Quiet({.create_if_missing = true})).value();
    for (const auto& l : kLayouts) {
      BOOST_TEST_REQUIRE(
          db->CreateCollection(
                {.name = l.name, .dimension = l.dim, .filterable = {"n"}, .keyword_index = true})
              .ok());
    }
  }
  for (int generation = 0; generation < 2; ++generation) {
    // Each reopen moves what the log held into table files.
    auto db = DB::Open(path, Quiet({.checkpoint_on_close = generation == 0})).value();
    for (const auto& l : kLayouts) {
      const size_t half = l.records / 2;
      for (size_t b = generation * half; b < (generation + 1) * half; b += half / 3) {
        std::vector<Record> batch;
        for (size_t i = b; i < std::min((generation + 1) * half, b + half / 3); ++i) {
          batch.push_back(Rec(l.name, i, l.dim, generation));
          want[l.name][batch.back().key] = batch.back();
        }
        BOOST_TEST_REQUIRE(db->Upsert(l.name, batch).ok());
      }
    }
  }
  return want;
}

// Every record `db` holds equals the one written; returns how many it holds.
size_t CheckHeld(DB& db, const Contents& want, const std::string& what) {
  size_t held = 0;
  for (const auto& [collection, records] : want) {
    for (const auto& [key, rec] : records) {
      auto got = db.Get(collection, key);
      if (!got) {
        BOOST_TEST(got.error().code() == Status::Code::kNotFound,
                   what << ": " << got.error().ToString());
        continue;
      }
      ++held;
      BOOST_TEST(
          (got->text == rec.text && got->metadata == rec.metadata && got->vector == rec.vector),
          what << ": record " << key << " came back different");
    }
  }
  return held;
}

void Damage(const fs::path& file, const std::string& how) {
  const auto size = fs::file_size(file);
  if (how == "delete") {
    fs::remove(file);
  } else if (how == "truncate") {
    fs::resize_file(file, size / 2);
  } else if (size > 0) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    const char c = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put(static_cast<char>(c ^ 0x5a));
  }
}

std::map<std::string, std::string> FileBytes(const fs::path& dir, const std::string& ext) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ext) continue;
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().filename().string()] = std::string((std::istreambuf_iterator<char>(in)), {});
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(RepairTest)

// The defect: RocksDB's repair dropped every blob file from the MANIFEST, so
// repair of a whole database lost every vector of 64+ dimensions.
BOOST_AUTO_TEST_CASE(RepairOfAWholeDatabaseChangesNothing) {
  testutil::ScratchDir dir;
  const fs::path path = dir.path() / "db";
  const Contents want = MakeDatabase(path);
  const auto tables = FileBytes(path / "store", ".sst");
  const auto blobs = FileBytes(path / "store", ".blob");
  const auto checkpoints = FileBytes(path / "index", ".faiss");
  BOOST_TEST_REQUIRE(!blobs.empty());
  auto report = DB::Repair(path, Quiet());
  BOOST_TEST_REQUIRE(report.has_value(), report.error().ToString());
  BOOST_TEST(report->ok());
  BOOST_TEST(report->actions.empty());
  BOOST_TEST(report->set_aside.empty());
  BOOST_TEST(report->records_lost == 0u);
  BOOST_TEST(report->entries_fixed == 0u);
  BOOST_TEST(!fs::exists(path / "store" / "lost"));
  // Every table and blob file is still there, byte for byte; so are the checkpoints.
  const auto tables_after = FileBytes(path / "store", ".sst");
  for (const auto& [name, bytes] : tables) {
    BOOST_TEST((tables_after.count(name) && tables_after.at(name) == bytes), name);
  }
  const auto blobs_after = FileBytes(path / "store", ".blob");
  for (const auto& [name, bytes] : blobs) {
    BOOST_TEST((blobs_after.count(name) && blobs_after.at(name) == bytes), name);
  }
  // Checkpoints are kept (the open after repair may write newer ones, as any open does).
  for (const auto& [name, bytes] : checkpoints) BOOST_TEST(fs::exists(path / "index" / name), name);
  auto db = DB::Open(path, Quiet()).value();
  size_t total = 0;
  for (const auto& [c, r] : want) total += r.size();
  BOOST_TEST(CheckHeld(*db, want, "after repair") == total);
  BOOST_TEST(db->CheckStorage().value().ok());
}

// A flipped byte in the write-ahead log: open says so (it used to drop the
// records after it without a word), and repair keeps what is before it.
BOOST_AUTO_TEST_CASE(DamagedLogFailsOpenAndRepairKeepsWhatPrecedesIt) {
  testutil::ScratchDir dir;
  const fs::path path = dir.path() / "db";
  {
    auto db = DB::Open(path, Quiet({.create_if_missing = true})).value();
    BOOST_TEST_REQUIRE(db->CreateCollection({.name = "c", .dimension = 8}).ok());
  }
  Contents want;
  {
    auto db = DB::Open(path, Quiet({.checkpoint_on_close = false})).value();
    for (size_t b = 0; b < 200; b += 50) {
      std::vector<Record> batch;
      for (size_t i = b; i < b + 50; ++i) {
        batch.push_back(Rec("c", i, 8, 1));
        want["c"][batch.back().key] = batch.back();
      }
      BOOST_TEST_REQUIRE(db->Upsert("c", batch).ok());
    }
  }
  fs::path log;
  for (const auto& e : fs::directory_iterator(path / "store")) {
    if (e.path().extension() == ".log" && fs::file_size(e.path()) > 1000) log = e.path();
  }
  BOOST_TEST_REQUIRE(!log.empty());
  Damage(log, "flip");
  auto opened = DB::Open(path, Quiet());
  BOOST_TEST_REQUIRE(!opened.has_value());
  BOOST_TEST(opened.error().code() == Status::Code::kCorruption);
  BOOST_TEST(std::string(opened.error().message()).find("relate repair") != std::string::npos);
  auto report = DB::Repair(path, Quiet());
  BOOST_TEST_REQUIRE(report.has_value(), report.error().ToString());
  BOOST_TEST(!report->actions.empty());
  BOOST_TEST(fs::exists(fs::path(report->set_aside) / log.filename()));
  auto db = DB::Open(path, Quiet()).value();
  // The damaged batch (the third) is lost whole; the others are kept, the one
  // after the damage too (RocksDB's reader drops the rest of the block).
  BOOST_TEST(CheckHeld(*db, want, "after repair") == 150u);
  for (size_t i = 0; i < 200; ++i) {
    BOOST_TEST(db->Get("c", "c" + std::to_string(i)).has_value() == (i < 100 || i >= 150), i);
  }
  BOOST_TEST(db->CheckStorage().value().ok());
  BOOST_TEST(db->Verify("c").value().ok());
}

// A MANIFEST cut short at a record's end still opens, as the store was before
// its last edits, and a writer's open used to delete the newer files as
// obsolete: the newest records were gone without a word. The open now keeps
// them aside and says so, and repair puts them back.
BOOST_AUTO_TEST_CASE(FilesAWriterWouldDeleteAreKeptAndRepairUsesThem) {
  testutil::ScratchDir dir;
  const fs::path base = dir.path() / "base";
  Contents want = MakeDatabase(base);
  DB::Open(base, Quiet()).value().reset();  // the log's batches into table files too
  size_t total = 0;
  for (const auto& [c, r] : want) total += r.size();
  fs::path manifest;
  for (const auto& e : fs::directory_iterator(base / "store")) {
    if (e.path().filename().string().rfind("MANIFEST-", 0) == 0) manifest = e.path().filename();
  }
  size_t exercised = 0;
  for (int eighths = 1; eighths < 8; ++eighths) {
    const fs::path path = dir.path() / "case";
    fs::remove_all(path);
    fs::copy(base, path, fs::copy_options::recursive);
    fs::resize_file(path / "store" / manifest,
                    fs::file_size(path / "store" / manifest) * eighths / 8);
    std::vector<std::string> log;
    Options options = Quiet();
    options.log = [&](std::string_view line) { log.emplace_back(line); };
    auto db = DB::Open(path, options);
    if (!db) continue;  // a cut inside the first edits: the open fails, as it should
    bool kept = false;
    for (const auto& line : log) kept |= line.find("relate repair") != std::string::npos;
    if (!kept) continue;  // this cut lost no table file
    ++exercised;
    Record extra = Rec("extra", 0, 8, 9);
    BOOST_TEST_REQUIRE((*db)->Upsert("narrow", std::vector<Record>{extra}).ok());
    db->reset();
    auto report = DB::Repair(path, Quiet());
    BOOST_TEST_REQUIRE(report.has_value(), report.error().ToString());
    auto repaired = DB::Open(path, Quiet()).value();
    BOOST_TEST(CheckHeld(*repaired, want, "cut at " + std::to_string(eighths) + "/8") == total);
    BOOST_TEST(repaired->Get("narrow", extra.key).has_value());
    BOOST_TEST(repaired->CheckStorage().value().ok());
  }
  BOOST_TEST(exercised > 0u);
}

// Every file kind, three kinds of damage: repair succeeds, what it keeps is
// exactly what was written, the database then passes every check, and files
// that hold no record's only copy lose nothing.
BOOST_AUTO_TEST_CASE(DamageMatrixKeepsEveryRecordWhosePartsSurvive,
                     *boost::unit_test::label("slow")) {
  testutil::ScratchDir dir;
  const fs::path base = dir.path() / "base";
  const Contents want = MakeDatabase(base);
  size_t total = 0;
  for (const auto& [c, r] : want) total += r.size();
  std::vector<fs::path> files;
  for (const char* sub : {"store", "index"}) {
    for (const auto& e : fs::directory_iterator(base / sub)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || name == "LOCK" || name.rfind("LOG", 0) == 0) continue;
      files.push_back(fs::relative(e.path(), base));
    }
  }
  std::set<std::string> kinds;
  for (const auto& rel : files) {
    const std::string name = rel.filename().string();
    const std::string ext = rel.extension().string();
    kinds.insert(ext.empty() ? name.substr(0, name.find('-')) : ext);
    for (const std::string how : {"delete", "truncate", "flip"}) {
      const std::string what = rel.string() + " " + how;
      const fs::path path = dir.path() / "case";
      fs::remove_all(path);
      fs::copy(base, path, fs::copy_options::recursive);
      Damage(path / rel, how);
      auto report = DB::Repair(path, Quiet());
      BOOST_TEST_REQUIRE(report.has_value(), what << ": " << report.error().ToString());
      auto db = DB::Open(path, Quiet());
      BOOST_TEST_REQUIRE(db.has_value(), what << ": " << db.error().ToString());
      const size_t held = CheckHeld(**db, want, what);
      auto check = (*db)->CheckStorage();
      BOOST_TEST_REQUIRE(check.has_value());
      BOOST_TEST(check->ok(), what << ": storage check fails after repair");
      for (const auto& l : kLayouts) {
        auto verified = (*db)->Verify(l.name);
        BOOST_TEST_REQUIRE(verified.has_value(), what << ": " << verified.error().ToString());
        BOOST_TEST(verified->ok(), what << ": collection " << l.name << " fails Verify");
      }
      BOOST_TEST(held + report->records_lost <= total, what);
      // Files whose loss costs no record: every record is still there.
      const bool holds_data = ext == ".sst" || ext == ".blob" || ext == ".log";
      if (!holds_data)
        BOOST_TEST(held == total, what << ": " << held << " of " << total << " kept");
      // One flipped byte costs at most what one block holds.
      if (how == "flip" && holds_data && ext != ".log") {
        BOOST_TEST(held >= total / 2, what << ": " << held << " of " << total << " kept");
      }
    }
  }
  // The matrix covered every kind of file a database has.
  for (const char* kind : {".sst", ".blob", ".log", ".faiss", "CURRENT", "MANIFEST", "OPTIONS"}) {
    BOOST_TEST(kinds.count(kind) == 1u, kind);
  }
}

// A damaged model blob passed CheckStorage (only a query of the model failed):
// now it is named, and repair keeps what it can and says so.
BOOST_AUTO_TEST_CASE(DamagedModelDataIsReportedByCheckStorage) {
  testutil::ScratchDir dir;
  const fs::path path = dir.path() / "db";
  const fs::path vectors = dir.path() / "words.txt";
  {
    std::ofstream out(vectors);
    out << "40 96\n";
    auto rows = testutil::RandomVectors(40, 96, 5);
    for (size_t w = 0; w < 40; ++w) {
      out << "word" << w;
      for (size_t d = 0; d < 96; ++d) out << " " << rows[w * 96 + d];
      out << "\n";
    }
  }
  {
    auto db = DB::Open(path, Quiet({.create_if_missing = true})).value();
    BOOST_TEST_REQUIRE(db->ImportModel("m", vectors).ok());
  }
  DB::Open(path, Quiet()).value().reset();  // the model's data moves into table and blob files
  std::vector<fs::path> blobs;
  for (const auto& e : fs::directory_iterator(path / "store")) {
    if (e.path().extension() == ".blob") blobs.push_back(e.path());
  }
  BOOST_TEST_REQUIRE(blobs.size() == 1u);
  {
    auto db = DB::Open(path, Quiet()).value();
    BOOST_TEST(db->CheckStorage().value().ok());
    BOOST_TEST(db->SimilarWords("m", "word1", 3).has_value());
  }
  Damage(blobs[0], "flip");
  {
    auto db = DB::Open(path, Quiet()).value();
    auto check = db->CheckStorage().value();
    BOOST_TEST(!check.ok());
    bool named = false;
    for (const auto& p : check.problems) named |= p.find("model \"m\"") != std::string::npos;
    BOOST_TEST(named);
  }
  auto report = DB::Repair(path, Quiet());
  BOOST_TEST_REQUIRE(report.has_value(), report.error().ToString());
  BOOST_TEST(!report->actions.empty());
  bool named = false;
  for (const auto& p : report->problems) named |= p.find("model \"m\"") != std::string::npos;
  BOOST_TEST(named);
}

BOOST_AUTO_TEST_SUITE_END()
