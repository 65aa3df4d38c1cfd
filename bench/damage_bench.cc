// Damage detection, case by case: random byte flips and truncations of index
// checkpoints, storage table files and backup files, each on a fresh copy of
// one database. For each case it records whether relate noticed (a rebuild, a
// failed check or read, a refused restore) and whether anything it answered
// afterwards differed from what was written: "silently wrong" must stay 0.
// After each storage case, `DB::Repair` runs and must leave only records equal
// to what was written.
//
//   relate_damage_bench [--cases N] [--seed S] [--kinds checkpoint,storage,backup] [--dir D]
//   [--keep]
#include <CLI/CLI.hpp>
#include <map>
#include <mutex>
#include <random>

#include "bench/bench_util.h"
#include "relate/relate.h"

namespace relate::bench {
namespace {

constexpr uint32_t kDim = 16;
constexpr size_t kFlatRecords = 3000, kGraphRecords = 2000, kQueries = 20;

Record MakeRecord(const std::string& key, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  Record r{.key = key, .text = "text of " + key, .metadata = {{"n", int64_t{7}}}};
  for (uint32_t d = 0; d < kDim; ++d) r.vector.push_back(normal(rng));
  return r;
}

struct Reference {
  std::map<std::string, std::map<std::string, Record>> records;  // collection -> key -> record
  std::vector<std::vector<float>> queries;
  std::vector<std::vector<std::string>> answers;  // exact top 10 of "flat" per query
};

std::vector<std::string> Keys(const std::vector<Hit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.key);
  return out;
}

// Builds the pristine database: a Flat and an HNSW collection, written in
// several sessions so storage holds several generations of table files.
Reference Build(const fs::path& dir, std::mt19937& rng) {
  Reference ref;
  const std::pair<const char*, size_t> collections[] = {{"flat", kFlatRecords},
                                                        {"graph", kGraphRecords}};
  {
    auto db = Take(DB::Open(dir, {.create_if_missing = true}), "create");
    Check(db->CreateCollection({.name = "flat", .dimension = kDim}), "create flat");
    Check(db->CreateCollection({.name = "graph", .dimension = kDim, .index_spec = "HNSW16"}),
          "create graph");
  }
  for (size_t session = 0; session < 4; ++session) {
    auto db = Take(DB::Open(dir, {}), "open");
    for (auto [name, n] : collections) {
      std::vector<Record> batch;
      for (size_t i = session * n / 4; i < (session + 1) * n / 4; ++i) {
        batch.push_back(MakeRecord(std::string(name) + std::to_string(i), rng));
        ref.records[name][batch.back().key] = batch.back();
      }
      Check(db->Upsert(name, batch), "upsert");
    }
  }
  auto db = Take(DB::Open(dir, {}), "open");
  for (size_t q = 0; q < kQueries; ++q) {
    ref.queries.push_back(MakeRecord("q", rng).vector);
    ref.answers.push_back(Keys(Take(db->Search("flat", ref.queries.back(), {.k = 10}), "search")));
  }
  return ref;
}

// What a damaged database answered.
struct Outcome {
  bool noticed = false;  // a rebuild logged, a check failed, an open or read refused
  bool wrong = false;    // an answer differed from what was written
};

// Opens the database and compares everything it answers with the reference.
Outcome Examine(const fs::path& dir, const Reference& ref, bool check_storage) {
  Outcome out;
  std::mutex mu;
  Options options{.log = [&](std::string_view line) {
    std::lock_guard lock(mu);
    if (line.find("rebuilding") != std::string_view::npos) out.noticed = true;
  }};
  auto opened = DB::Open(dir, options);
  if (!opened) {
    out.noticed = true;
    return out;
  }
  DB& db = **opened;
  if (check_storage) {
    auto report = db.CheckStorage();
    if (!report || !report->ok()) out.noticed = true;
  }
  for (const auto& [collection, records] : ref.records) {
    auto verified = db.Verify(collection);
    if (!verified) {
      out.noticed = true;
    } else if (!verified->ok()) {
      out.wrong = true;  // Open accepted an index that disagrees with storage
    }
    for (const auto& [key, want] : records) {
      auto got = db.Get(collection, key);
      if (!got) {
        if (got.error().code() == Status::Code::kCorruption)
          out.noticed = true;
        else
          out.wrong = true;  // a record vanished without a word
        continue;
      }
      if (got->text != want.text || got->metadata != want.metadata || got->vector != want.vector) {
        out.wrong = true;
      }
    }
  }
  for (size_t q = 0; q < ref.queries.size(); ++q) {
    auto hits = db.Search("flat", ref.queries[q], {.k = 10});
    if (!hits) {
      out.noticed = true;
    } else if (Keys(*hits) != ref.answers[q]) {
      out.wrong = true;
    }
  }
  return out;
}

// After DB::Repair: every record left equals what was written, and the database agrees with itself.
struct RepairOutcome {
  bool ok = false;
  uint64_t kept = 0;
  std::string why;  // what was wrong, when !ok
};
RepairOutcome RepairAndExamine(const fs::path& dir, const Reference& ref) {
  RepairOutcome out;
  auto fail = [&](std::string why) {
    if (out.why.empty()) out.why = std::move(why);
    out.ok = false;
  };
  auto report = DB::Repair(dir, {.log = [](std::string_view) {}});
  if (!report) {
    fail("repair: " + report.error().ToString());
    return out;
  }
  auto db = DB::Open(dir, {.log = [](std::string_view) {}});
  if (!db) {
    fail("open after repair: " + db.error().ToString());
    return out;
  }
  out.ok = true;
  for (const auto& [collection, records] : ref.records) {
    auto verified = (*db)->Verify(collection);
    if (!verified)
      fail("verify: " + verified.error().ToString());
    else if (!verified->ok())
      fail("verify: " + verified->problems.front());
    for (const auto& [key, want] : records) {
      auto got = (*db)->Get(collection, key);
      if (!got) {
        if (got.error().code() != Status::Code::kNotFound) fail("get: " + got.error().ToString());
        continue;
      }
      ++out.kept;
      if (got->text != want.text || got->metadata != want.metadata || got->vector != want.vector) {
        fail("record " + key + " differs from what was written");
      }
    }
  }
  auto storage = (*db)->CheckStorage();
  if (!storage)
    fail("check: " + storage.error().ToString());
  else if (!storage->ok()) {
    fail("check: " + (storage->damaged_files.empty() ? storage->problems.front()
                                                     : storage->damaged_files.front()));
  }
  return out;
}

std::vector<fs::path> FilesWhere(const fs::path& dir,
                                 const std::function<bool(const fs::path&)>& want) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && want(e.path())) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Flip(const fs::path& file, uint64_t offset, int bit) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  const int c = f.get();
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ (1 << bit)));
  if (!f) Die("flipping a bit of " + file.string());
}

void Copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove_all(to, ec);
  fs::copy(from, to, fs::copy_options::recursive, ec);
  if (ec) Die("copying " + from.string() + ": " + ec.message());
  fs::remove(to / "WRITER", ec);
}

struct Row {
  std::string what;
  size_t cases = 0, noticed = 0, wrong = 0, harmless = 0;
  size_t repaired_ok = 0;
  double kept_fraction = 0;
};

}  // namespace
}  // namespace relate::bench

int main(int argc, char** argv) {
  using namespace relate;
  using namespace relate::bench;
  size_t cases = 100;
  uint32_t seed = 1;
  std::string dir_flag;
  bool keep = false;
  CLI::App app{"relate damage detection benchmark"};
  app.add_option("--cases", cases, "Cases per kind of damage (default 100)");
  app.add_option("--seed", seed, "Random seed (default 1)");
  app.add_option("--dir", dir_flag, "Scratch directory (default /tmp/relate-damage-<pid>)");
  app.add_flag("--keep", keep, "Keep the scratch directory");
  std::string kinds = "checkpoint,storage,backup";
  app.add_option("--kinds", kinds, "Which damage: checkpoint, storage, backup (default all)");
  CLI11_PARSE(app, argc, argv);

  const fs::path root = ScratchDirectory(dir_flag, "relate-damage");
  const fs::path pristine = root / "pristine", work = root / "work", backup = root / "backup";
  std::mt19937 rng(seed);
  const Reference ref = Build(pristine, rng);
  {
    auto db = Take(DB::Open(pristine, {}), "open");
    Take(db->Backup(backup), "backup");
  }
  PrintMachine("relate damage detection");
  std::printf(
      "database:    %zu + %zu records of %u values (Flat and HNSW16), %zu cases per kind, seed "
      "%u\n\n",
      kFlatRecords, kGraphRecords, kDim, cases, seed);

  auto is_checkpoint = [](const fs::path& p) { return p.extension() == ".faiss"; };
  auto is_table = [](const fs::path& p) {
    return p.extension() == ".sst" || p.extension() == ".blob";
  };
  std::vector<Row> rows;
  std::uniform_real_distribution<double> unit;
  auto pick = [&](const std::vector<fs::path>& files) {
    if (files.empty()) Die("no file to damage");
    return files[std::uniform_int_distribution<size_t>(0, files.size() - 1)(rng)];
  };
  auto offset_in = [&](const fs::path& file) {
    return static_cast<uint64_t>(unit(rng) * static_cast<double>(fs::file_size(file)));
  };
  auto tally = [](Row& row, const Outcome& o) {
    ++row.cases;
    row.noticed += o.noticed;
    row.wrong += o.wrong;
    row.harmless += !o.noticed && !o.wrong;
  };

  auto wanted = [&](const char* kind) { return kinds.find(kind) != std::string::npos; };
  // Index checkpoints: a flipped bit anywhere, a file cut anywhere.
  for (const bool truncate : {false, true}) {
    if (!wanted("checkpoint")) break;
    Row row{truncate ? "index checkpoint cut short" : "index checkpoint, one bit flipped"};
    for (size_t i = 0; i < cases; ++i) {
      Copy(pristine, work);
      const fs::path file = pick(FilesWhere(work / "index", is_checkpoint));
      if (truncate) {
        fs::resize_file(file, offset_in(file));
      } else {
        Flip(file, offset_in(file), std::uniform_int_distribution<int>(0, 7)(rng));
      }
      tally(row, Examine(work, ref, false));
    }
    rows.push_back(row);
  }
  // Storage table files: a flipped bit; then repair.
  if (wanted("storage")) {
    Row row{"storage table file, one bit flipped (then repair)"};
    double kept = 0;
    for (size_t i = 0; i < cases; ++i) {
      Copy(pristine, work);
      const fs::path file = pick(FilesWhere(work / "store", is_table));
      const uint64_t offset = offset_in(file);
      Flip(file, offset, std::uniform_int_distribution<int>(0, 7)(rng));
      const Outcome examined = Examine(work, ref, true);
      tally(row, examined);
      if (!examined.noticed && !examined.wrong) {
        std::fprintf(stderr, "case %zu: a bit at byte %llu of %s (%llu bytes) changed nothing\n", i,
                     static_cast<unsigned long long>(offset), file.filename().c_str(),
                     static_cast<unsigned long long>(fs::file_size(file)));
      }
      RepairOutcome repaired = RepairAndExamine(work, ref);
      row.repaired_ok += repaired.ok;
      if (!repaired.ok) {
        std::fprintf(stderr, "case %zu (%s, flipped): after repair: %s\n", i,
                     file.filename().c_str(), repaired.why.c_str());
      }
      kept += static_cast<double>(repaired.kept) / (kFlatRecords + kGraphRecords);
    }
    row.kept_fraction = kept / static_cast<double>(cases);
    rows.push_back(row);
  }
  // Backup files: a flipped bit, a file cut short; RestoreBackup must refuse.
  for (const bool truncate : {false, true}) {
    if (!wanted("backup")) break;
    Row row{truncate ? "backup file cut short (restore)"
                     : "backup file, one bit flipped (restore)"};
    for (size_t i = 0; i < cases; ++i) {
      Copy(backup, work);
      const fs::path file = pick(FilesWhere(work, [](const fs::path&) { return true; }));
      if (truncate) {
        fs::resize_file(file, offset_in(file));
      } else {
        Flip(file, offset_in(file), std::uniform_int_distribution<int>(0, 7)(rng));
      }
      std::error_code ec;
      fs::remove_all(root / "restored", ec);
      Status s = RestoreBackup(work, root / "restored");
      Outcome o;
      if (!s.ok()) {
        o.noticed = true;
      } else {
        o = Examine(root / "restored", ref, true);
      }
      tally(row, o);
    }
    rows.push_back(row);
  }

  std::printf(
      "| damage | cases | noticed | silently wrong (must be 0) | no effect | repaired clean | "
      "records kept by repair |\n");
  std::printf("|---|--:|--:|--:|--:|--:|--:|\n");
  int failures = 0;
  for (const auto& r : rows) {
    const bool repair_row = r.what.find("repair") != std::string::npos;
    std::printf("| %s | %zu | %zu | %zu | %zu | %s | %s |\n", r.what.c_str(), r.cases, r.noticed,
                r.wrong, r.harmless, repair_row ? std::to_string(r.repaired_ok).c_str() : "—",
                repair_row ? fmt::format("{:.1f} %", 100 * r.kept_fraction).c_str() : "—");
    failures += r.wrong > 0 || (repair_row && r.repaired_ok != r.cases);
  }
  RemoveScratchDirectory(root, keep);
  return failures == 0 ? 0 : 1;
}
