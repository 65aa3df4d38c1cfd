// Reliability: backups and their restore, storage checks and repair, and the
// check of a collection's index against its records (Verify).
//
// Backups: a directory holding a copy of storage (a RocksDB checkpoint, or for
// a read-only handle a copy of every entry), the index checkpoints, the RELATE
// marker, and a manifest ("BACKUP") with the size and xxh64 of every file. It
// is written under a temporary name and renamed when whole, so a directory by
// the backup's name is always a whole backup. While Backup copies storage and
// the index checkpoints it holds checkpoint_mu_: no index checkpoint is written
// and no change log truncated meanwhile, so each copied checkpoint plus the
// copied change log gives exactly the copied records.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_set>

#include "query/db_impl.h"
#include "query/writer_lock.h"
#include "util/durable_file.h"

namespace relate::query {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestName = "BACKUP";
constexpr const char* kManifestMagic = "relate-backup 1";

// The xxh64 of a file's bytes and its size.
Status HashFile(const fs::path& path, uint64_t* hash, uint64_t* size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("reading " + path.string() + ": " + std::strerror(errno));
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  std::vector<char> buf(1 << 20);
  *size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    XXH64_update(state, buf.data(), n);
    *size += n;
  }
  const bool failed = in.bad();
  *hash = XXH64_digest(state);
  XXH64_freeState(state);
  if (failed) return Status::IOError("reading " + path.string());
  return Status::OK();
}

// Every regular file under `root`, as paths relative to it, sorted.
std::vector<fs::path> FilesUnder(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) out.push_back(fs::relative(it->path(), root, ec));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A hard link to `from` at `to` (the file never changes in place: checkpoints
// are replaced by rename), or a copy where links cannot go.
Status LinkOrCopy(const fs::path& from, const fs::path& to, bool* linked) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  *linked = !ec;
  if (!ec) return Status::OK();
  fs::copy_file(from, to, ec);
  if (ec)
    return Status::IOError("copying " + from.string() + " to " + to.string() + ": " + ec.message());
  return util::SyncPath(to);
}

// Writes the manifest of every file under `root` and syncs them all.
Status WriteManifest(const fs::path& root, BackupReport* report) {
  std::ostringstream manifest;
  manifest << kManifestMagic << "\n";
  const auto files = FilesUnder(root);
  for (const auto& rel : files) {
    uint64_t hash = 0, size = 0;
    RELATE_RETURN_IF_ERROR(HashFile(root / rel, &hash, &size));
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    manifest << hex << " " << size << " " << rel.string() << "\n";
    struct stat st {};
    if (::stat((root / rel).c_str(), &st) == 0 && st.st_nlink > 1) ++report->linked;
    ++report->files;
    report->bytes += size;
    RELATE_RETURN_IF_ERROR(util::SyncPath(root / rel));
  }
  manifest << "end " << files.size() << "\n";
  RELATE_RETURN_IF_ERROR(util::WriteFileDurably(root / kManifestName, manifest.str()));
  for (const fs::path& d : {paths::Store(root), paths::Index(root), root}) {
    std::error_code ec;
    if (fs::is_directory(d, ec)) RELATE_RETURN_IF_ERROR(util::SyncPath(d));
  }
  return Status::OK();
}

struct ManifestEntry {
  uint64_t hash = 0, size = 0;
  fs::path path;
};

// Reads and checks the backup's manifest against its files.
Result<std::vector<ManifestEntry>> CheckBackup(const fs::path& backup) {
  const fs::path path = backup / kManifestName;
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound(backup.string() + " is not a relate backup (it has no " +
                            kManifestName + " manifest)");
  }
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  std::vector<ManifestEntry> entries;
  std::string line;
  size_t line_no = 0;
  auto bad = [&](const std::string& what) {
    return Status::Corruption(path.string() + ":" + std::to_string(line_no) + ": " + what +
                              " (the backup is damaged)");
  };
  if (text.empty() || text.back() != '\n') {
    line_no = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return bad("the manifest is cut short");
  }
  std::istringstream lines(text);
  bool ended = false;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line_no == 1) {
      if (line != kManifestMagic) return bad("not a relate backup manifest");
      continue;
    }
    if (ended) return bad("text after the end line");
    if (line.rfind("end ", 0) == 0) {
      if (line != "end " + std::to_string(entries.size()))
        return bad("the end line's count is wrong");
      ended = true;
      continue;
    }
    std::istringstream fields(line);
    std::string hex, rel;
    ManifestEntry e;
    if (!(fields >> hex >> e.size) || hex.size() != 16 || !std::getline(fields >> std::ws, rel) ||
        rel.empty()) {
      return bad("malformed line");
    }
    char* end = nullptr;
    e.hash = std::strtoull(hex.c_str(), &end, 16);
    e.path = rel;
    if (end != hex.c_str() + 16 || e.path.is_absolute() ||
        std::find(e.path.begin(), e.path.end(), "..") != e.path.end()) {
      return bad("malformed line");
    }
    entries.push_back(std::move(e));
  }
  if (!ended) return bad("the manifest is cut short (no end line)");
  for (const auto& e : entries) {
    uint64_t hash = 0, size = 0;
    std::error_code ec;
    if (!fs::is_regular_file(backup / e.path, ec)) {
      return Status::Corruption("backup file " + e.path.string() + " is missing from " +
                                backup.string());
    }
    RELATE_RETURN_IF_ERROR(HashFile(backup / e.path, &hash, &size));
    if (size != e.size) {
      return Status::Corruption("backup file " + (backup / e.path).string() + " has " +
                                std::to_string(size) + " bytes, the manifest says " +
                                std::to_string(e.size) + " (the backup is damaged)");
    }
    if (hash != e.hash) {
      return Status::Corruption("backup file " + (backup / e.path).string() +
                                " fails its checksum (the backup is damaged)");
    }
  }
  return entries;
}

// A sibling of `dir` to build into before renaming it into place.
fs::path Scratch(const fs::path& dir, const char* what) {
  fs::path clean = dir;
  if (clean.filename().empty()) clean = clean.parent_path();
  return clean.parent_path() /
         ("." + clean.filename().string() + "." + what + "-" + std::to_string(::getpid()));
}

}  // namespace

// Backups.

Result<BackupReport> DBImpl::Backup(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    return Status::AlreadyExists("backup directory " + dir.string() +
                                 " exists; a backup goes into a new directory");
  }
  const fs::path tmp = Scratch(dir, "backup");
  fs::remove_all(tmp, ec);
  fs::create_directories(paths::Index(tmp), ec);
  if (ec) return Status::IOError("creating " + tmp.string() + ": " + ec.message());
  BackupReport report;
  Status s = [&]() -> Status {
    {
      // No index checkpoint is written and no change log truncated until both
      // storage and the checkpoints are copied; a read-only handle's view does
      // not move meanwhile.
      util::MutexLock checkpoint(&checkpoint_mu_);
      RELATE_RETURN_IF_ERROR(store_->CopyTo(paths::Store(tmp)));
      std::error_code it_ec;
      for (const auto& entry : fs::directory_iterator(paths::Index(dir_), it_ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("collection-", 0) != 0 || entry.path().extension() != ".faiss") continue;
        bool linked = false;
        RELATE_RETURN_IF_ERROR(LinkOrCopy(entry.path(), paths::Index(tmp) / name, &linked));
      }
      if (it_ec && fs::exists(paths::Index(dir_))) {
        return Status::IOError("listing " + paths::Index(dir_).string() + ": " + it_ec.message());
      }
    }
    std::error_code copy_ec;
    fs::copy_file(paths::Marker(dir_), paths::Marker(tmp), copy_ec);
    if (copy_ec) return Status::IOError("copying the RELATE marker: " + copy_ec.message());
    RELATE_RETURN_IF_ERROR(WriteManifest(tmp, &report));
    return util::MoveDurably(tmp, dir);
  }();
  if (!s.ok()) {
    fs::remove_all(tmp, ec);
    return s.WithContext("backup to " + dir.string());
  }
  util::SharedLock catalog(&catalog_mu_);
  report.collections = collections_.size();
  return report;
}

// Storage checks and repair.

namespace {

// A report's counts from the storage layer's findings.
void AddFindings(const storage::ConsistencyReport& found, StorageReport* report) {
  report->records += found.records;
  report->records_lost += found.bad_records + found.duplicate_keys;
  report->entries_fixed += found.dangling_keys + found.missing_keys + found.orphan_vectors +
                           found.orphan_entries + found.recounted + found.dangling_entries +
                           found.extra_entries + found.missing_entries + found.dangling_postings +
                           found.extra_postings + found.missing_postings;
  report->problems.insert(report->problems.end(), found.problems.begin(), found.problems.end());
}

// The keyword terms of a stored record, as writes compute them, for the
// storage layer's check of the keyword index.
const storage::Store::TermsOf kKeywordTerms = [](uint32_t, const StoredRecord& record,
                                                 uint32_t* length) {
  *length = 0;
  if (record.text.empty()) return std::vector<storage::TermCount>();
  auto terms = KeywordTermsOf(record.text, length);
  if (!terms) {
    *length = 0;
    return std::vector<storage::TermCount>();
  }
  return std::move(*terms);
};

}  // namespace

Result<StorageReport> DBImpl::CheckStorage() {
  // No write changes storage under the check (a read-only handle's view does not move).
  if (store_->read_only()) return CheckQuietStorage();
  // An import writes under ids no catalog entry names until it commits: its
  // data would look like orphans.
  util::MutexLock no_import(&import_mu_);
  util::MutexLock quiet(&write_mu_);
  return CheckQuietStorage();
}

Result<StorageReport> DBImpl::CheckQuietStorage() {
  StorageReport report;
  if (Status s = store_->VerifyChecksums(); !s.ok()) {
    if (s.code() != Status::Code::kCorruption) return s;
    report.damaged_files.push_back(std::string(s.message()));
  }
  auto found = store_->CheckConsistency(false, &kKeywordTerms);
  if (!found) {
    if (found.error().code() != Status::Code::kCorruption) return found.error();
    report.problems.push_back("reading storage failed: " + found.error().ToString());
    return report;
  }
  AddFindings(*found, &report);
  // Every model's data is read back whole (RocksDB checks each chunk's
  // checksum, blob files included) and decoded, as a search by text would.
  std::vector<std::shared_ptr<ModelEntry>> models;
  {
    util::SharedLock catalog(&catalog_mu_);
    for (const auto& [name, versions] : models_) {
      for (const auto& [version, entry] : versions) models.push_back(entry);
    }
  }
  for (const auto& entry : models) {
    ModelEntry fresh;
    fresh.meta = entry->meta;
    auto loaded = LoadModel(fresh);
    if (!loaded) {
      if (loaded.error().code() != Status::Code::kCorruption &&
          loaded.error().code() != Status::Code::kInvalidArgument) {
        return loaded.error();
      }
      report.problems.push_back(
          "model " + Quote(entry->meta.info.name) + " version " +
          std::to_string(entry->meta.info.version) +
          " is damaged (drop it, or import it again): " + loaded.error().ToString());
    }
  }
  return report;
}

Result<VerifyReport> DBImpl::Verify(std::string_view collection) {
  RELATE_ASSIGN_OR_RETURN(auto c, Find(collection));
  const CollectionSpec& spec = c->meta.spec;
  constexpr size_t kMaxProblems = 50;
  VerifyReport report;
  auto problem = [&](std::string p) {
    if (report.problems.size() < kMaxProblems) report.problems.push_back(std::move(p));
  };
  // Holding the write lock gives a view no write can change half-way.
  util::MutexLock write(&write_mu_);
  IndexReadLock lock(&c->index_mu);
  const index::VectorIndex& index = *c->index;
  if (Status s = index.CheckUsable(); !s.ok()) {
    // One problem, not one a record: the index cannot hold them.
    problem(std::string(s.message()));
    return report;
  }
  report.indexed = index.size();
  std::unordered_set<uint64_t> stored;
  const bool exact = index.keeps_exact_vectors();
  RELATE_RETURN_IF_ERROR(store_->ScanRecords(c->meta.id, true, [&](StoredRecord&& r) -> Status {
    ++report.records;
    stored.insert(r.id);
    if (r.vector.size() != spec.dimension) {
      problem("record " + Quote(r.key) + " has " + std::to_string(r.vector.size()) +
              " values, expected " + std::to_string(spec.dimension));
      return Status::OK();
    }
    if (!index.Contains(r.id)) {
      problem("record " + Quote(r.key) + " (id " + std::to_string(r.id) + ") is not in the index");
      return Status::OK();
    }
    if (!exact) return Status::OK();
    auto got = index.Reconstruct(r.id);
    if (!got) {
      problem("record " + Quote(r.key) + ": " + got.error().ToString());
      return Status::OK();
    }
    index::PrepareVectors(spec.metric, spec.dimension, r.vector);
    ++report.vectors_checked;
    for (size_t i = 0; i < r.vector.size(); ++i) {
      const float tolerance = 1e-6f * std::max(1.0f, std::abs(r.vector[i]));
      if (std::abs((*got)[i] - r.vector[i]) > tolerance) {
        problem("record " + Quote(r.key) + ": index value " + std::to_string(i) + " is " +
                std::to_string((*got)[i]) + ", storage says " + std::to_string(r.vector[i]));
        break;
      }
    }
    return Status::OK();
  }));
  for (uint64_t id : index.Ids()) {
    if (!stored.count(id)) problem("index id " + std::to_string(id) + " has no record in storage");
  }
  const uint64_t counted = c->Meta().count;
  if (counted != report.records) {
    problem("the catalog counts " + std::to_string(counted) + " records, storage holds " +
            std::to_string(report.records));
  }
  return report;
}

}  // namespace relate::query

namespace relate {

namespace fs = std::filesystem;

Result<StorageReport> DB::Repair(const fs::path& dir, const Options& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound("no database at " + dir.string());
  if (!fs::exists(query::paths::Marker(dir), ec)) {
    return Status::InvalidArgument(dir.string() +
                                   " is not a relate database (it has no RELATE file)");
  }
  StorageReport report;
  {
    RELATE_ASSIGN_OR_RETURN(auto lock, query::WriterLock::Acquire(dir));
    const fs::path store_dir = query::paths::Store(dir);
    RELATE_ASSIGN_OR_RETURN(auto repaired, storage::Store::Repair(store_dir));
    report.damaged_files = repaired.damaged_files;
    report.actions = repaired.actions;
    report.set_aside = repaired.set_aside;
    RELATE_ASSIGN_OR_RETURN(auto store, storage::Store::Open(store_dir, {}));
    RELATE_ASSIGN_OR_RETURN(auto found, store->CheckConsistency(true, &query::kKeywordTerms));
    query::AddFindings(found, &report);
    if (repaired.rebuilt) {
      // A rebuilt store may keep a table whose damage is in a block its scans do
      // not read (table properties, say): rewriting every table leaves none.
      RELATE_RETURN_IF_ERROR(store->CompactAll());
      if (Status s = store->VerifyChecksums(); !s.ok()) {
        report.problems.push_back("storage still fails its checksums after repair: " +
                                  s.ToString());
      }
    }
    store.reset();
    // Checkpoints may hold records that are gone now: every index is rebuilt.
    // (A checkpoint of a whole database is kept; Open rebuilds a damaged one.)
    if (repaired.rebuilt || !found.clean()) {
      for (const auto& entry : fs::directory_iterator(query::paths::Index(dir), ec)) {
        fs::remove(entry.path(), ec);
      }
    }
  }
  Options open_options = options;
  open_options.read_only = false;
  open_options.create_if_missing = false;
  RELATE_ASSIGN_OR_RETURN(auto db, DB::Open(dir, open_options));
  RELATE_ASSIGN_OR_RETURN(auto collections, db->ListCollections());
  for (const auto& info : collections) {
    RELATE_ASSIGN_OR_RETURN(auto verified, db->Verify(info.spec.name));
    for (auto& p : verified.problems) {
      report.problems.push_back("collection " + query::Quote(info.spec.name) +
                                " after repair: " + p);
    }
  }
  RELATE_ASSIGN_OR_RETURN(auto models, db->ListModels());
  for (const auto& m : models) {
    // A model whose data lost a part no longer loads: say so (it is kept; drop
    // it or import it again).
    if (auto r = db->SimilarWords(m.name, "", 1);
        !r && r.error().code() == Status::Code::kCorruption) {
      report.problems.push_back("model " + query::Quote(m.name) +
                                " is damaged: " + r.error().ToString());
    }
  }
  return report;
}

}  // namespace relate

namespace relate {

Status RestoreBackup(const fs::path& backup_dir, const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    return Status::AlreadyExists("restore: " + dir.string() +
                                 " exists and is not empty; restore into a new directory");
  }
  RELATE_ASSIGN_OR_RETURN(auto entries, query::CheckBackup(backup_dir));
  const fs::path tmp = query::Scratch(dir, "restore");
  fs::remove_all(tmp, ec);
  Status s = [&]() -> Status {
    for (const auto& e : entries) {
      std::error_code copy_ec;
      fs::create_directories((tmp / e.path).parent_path(), copy_ec);
      fs::copy_file(backup_dir / e.path, tmp / e.path, copy_ec);
      if (copy_ec) {
        return Status::IOError("copying " + (backup_dir / e.path).string() + ": " +
                               copy_ec.message());
      }
      RELATE_RETURN_IF_ERROR(util::SyncPath(tmp / e.path));
    }
    for (const fs::path& d : {query::paths::Store(tmp), query::paths::Index(tmp), tmp}) {
      if (fs::is_directory(d, ec)) RELATE_RETURN_IF_ERROR(util::SyncPath(d));
    }
    // The copy must open (and holds what the backup held) before it takes the name.
    auto db = DB::Open(tmp, {.log = [](std::string_view) {}});
    if (!db) return db.error().WithContext("opening the restored copy");
    db->reset();
    if (fs::exists(dir, ec)) fs::remove(dir, ec);  // an empty directory the restore goes into
    return util::MoveDurably(tmp, dir);
  }();
  if (!s.ok()) {
    fs::remove_all(tmp, ec);
    return s.WithContext("restore from " + backup_dir.string());
  }
  return Status::OK();
}

}  // namespace relate
