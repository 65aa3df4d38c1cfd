// Repair of a store's files (Store::Repair). The logical repair, records whose
// parts did not survive and index entries of no record, is CheckConsistency's.
//
// Invariants:
// - A store that opens strictly (families.h: StoreDbOptions) and whose every
//   table and blob file passes its checksums is never written to.
// - Before anything is changed, every file of the store is set aside, as it
//   was, in lost/repair-<unix ms>/ (hard links for the immutable table and blob
//   files, copies of the rest): whatever repair gets wrong, the original bytes
//   are still there.
// - RocksDB's RepairDB (7.8) knows nothing of blob files: the MANIFEST it
//   writes names none, so every value kept in one becomes "Invalid blob file
//   number" and the files are deleted at the next open (facebook/rocksdb#13090,
//   #13884). Here it never sees them: they are moved out first, and a full
//   compaction then copies each value a table points at back out of the moved
//   file (checked against both of the record's checksums and its key).
// - RepairDB also drops the log entries of every family that has no table file
//   yet (it learns families from table properties alone): before it runs, each
//   family gets a one-entry table that names it, removed again afterwards.
#include <fcntl.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/wal_filter.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

#include "storage/blob_files.h"
#include "storage/families.h"
#include "storage/log_salvage.h"
#include "storage/rocks_format.h"
#include "storage/store.h"
#include "util/durable_file.h"

namespace relate::storage {
namespace {
namespace fs = std::filesystem;

// A key no relate key encoding produces (they start with a 4-byte collection
// id, or are short names in the default family), for the tables that name
// each family to RepairDB.
constexpr std::string_view kPlaceholderKey = "\xff\xff\xff\xff relate repair: family placeholder";

struct Handle {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  Handle() = default;
  Handle(Handle&&) = default;
  Handle& operator=(Handle&&) = default;
  ~Handle() { Close().PermitUncheckedError(); }
  rocksdb::Status Close() {
    if (!db) return rocksdb::Status::OK();
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    handles.clear();
    rocksdb::Status s = db->Close();
    db.reset();
    return s;
  }
};

rocksdb::Status OpenStore(const fs::path& path, const rocksdb::DBOptions& options,
                          const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors,
                          Handle* out) {
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  try {
    s = rocksdb::DB::Open(options, path.string(), descriptors, &out->handles, &db);
  } catch (const std::exception& e) {
    s = rocksdb::Status::Corruption(e.what());
  }
  if (s.ok()) out->db.reset(db);
  return s;
}

std::string FileKind(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string ext = p.extension().string();
  if (ext == ".sst") return "table";
  if (ext == ".blob") return "blob";
  if (ext == ".log") return "log";
  if (name.rfind("MANIFEST-", 0) == 0) return "manifest";
  if (name == "CURRENT") return "current";
  if (name.rfind("OPTIONS-", 0) == 0) return "options";
  return "other";
}

// Corruption unless the store's MANIFEST names every table and blob file in
// its directory. A MANIFEST that lost its last edits (cut short at a record's
// end, say) still opens, as the store was before them, and the open then
// deletes the newer files as obsolete.
Status EveryFileIsNamed(const fs::path& path, const Handle& h) {
  std::set<std::string> named;
  for (auto* handle : h.handles) {
    rocksdb::ColumnFamilyMetaData meta;
    h.db->GetColumnFamilyMetaData(handle, &meta);
    for (const auto& level : meta.levels) {
      for (const auto& f : level.files) named.insert(fs::path(f.name).filename().string());
    }
    for (const auto& b : meta.blob_files) {
      named.insert(fs::path(b.blob_file_name).filename().string());
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string ext = e.path().extension().string();
    if ((ext == ".sst" || ext == ".blob") && !named.count(e.path().filename().string())) {
      return Status::Corruption("the MANIFEST does not name " + e.path().filename().string() +
                                ": it lost edits, or the file is left from a crash");
    }
  }
  return Status::OK();
}

// Opens the store read-only (nothing written, nothing deleted) with the
// families its MANIFEST has.
rocksdb::Status OpenReadOnly(const fs::path& path, const rocksdb::DBOptions& options, Handle* out) {
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, path.string(), &names);
  if (!s.ok()) return s;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto& d : FamilyDescriptors(rocksdb::NewLRUCache(8 << 20))) {
    if (std::find(names.begin(), names.end(), d.name) != names.end()) descriptors.push_back(d);
  }
  rocksdb::DB* db = nullptr;
  try {
    s = rocksdb::DB::OpenForReadOnly(rocksdb::Options(options, {}), path.string(), descriptors,
                                     &out->handles, &db);
  } catch (const std::exception& e) {
    s = rocksdb::Status::Corruption(e.what());
  }
  if (s.ok()) out->db.reset(db);
  return s;
}

// The lost/unnamed-* directories of the store that hold files (OpenGuard).
std::vector<fs::path> UnnamedDirs(const fs::path& path) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path / kLostDir, ec)) {
    if (e.is_directory() && e.path().filename().string().rfind(kUnnamedPrefix, 0) == 0 &&
        !fs::is_empty(e.path(), ec)) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The first problem of a strict look at the store: open, every table's
// checksums, every blob file's records. OK when the store is whole.
Status Inspect(const fs::path& path, std::vector<std::string>* damaged) {
  auto cache = rocksdb::NewLRUCache(8 << 20);
  Handle h;
  rocksdb::DBOptions options = StoreDbOptions();
  // Read-only, so a look at a whole store writes nothing.
  if (rocksdb::Status s = OpenReadOnly(path, options, &h); !s.ok()) {
    return FromRocks(s, "opening storage");
  }
  for (const auto& dir : UnnamedDirs(path)) {
    damaged->push_back(dir.string() + ": files a MANIFEST did not name, kept by an open");
  }
  Status first = EveryFileIsNamed(path, h);
  if (!first.ok()) damaged->push_back(path.string() + ": " + std::string(first.message()));
  if (first.ok() && !damaged->empty()) first = Status::Corruption(damaged->front());
  // Every table the store uses, one at a time, so each damaged one is named.
  std::vector<rocksdb::LiveFileMetaData> live;
  h.db->GetLiveFilesMetaData(&live);
  std::set<std::string> live_tables;
  for (const auto& f : live) {
    const fs::path table = path / fs::path(f.name).filename();
    live_tables.insert(table.filename().string());
    rocksdb::SstFileReader reader(rocksdb::Options(options, FamilyOptions(kDefault, cache)));
    rocksdb::Status r = reader.Open(table.string());
    if (r.ok()) r = reader.VerifyChecksum();
    if (!r.ok()) {
      damaged->push_back(table.string() + ": " + r.ToString());
      if (first.ok()) first = FromRocks(r, "checking " + table.string());
    }
  }
  // (No DB::VerifyChecksum besides: it would read every table a second time.)
  // Every blob file the store uses: there, of its size, each record whole.
  for (auto* handle : h.handles) {
    rocksdb::ColumnFamilyMetaData meta;
    h.db->GetColumnFamilyMetaData(handle, &meta);
    for (const auto& blob : meta.blob_files) {
      const fs::path file = path / fs::path(blob.blob_file_name).filename();
      std::error_code ec;
      const uintmax_t size = fs::file_size(file, ec);
      Status b;
      if (ec) {
        b = Status::Corruption(file.filename().string() + " is missing (" + ec.message() + ")");
      } else if (size != blob.blob_file_size) {
        b = Status::Corruption(file.filename().string() + " has " + std::to_string(size) +
                               " bytes, the MANIFEST says " + std::to_string(blob.blob_file_size));
      } else {
        b = VerifyBlobFile(file);
      }
      if (!b.ok()) {
        damaged->push_back(file.string() + ": " + std::string(b.message()));
        if (first.ok()) first = b;
      }
    }
  }
  return first;
}

// Sets every file of the store aside in `to`, as it is now.
Status SetAside(const fs::path& path, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Status::IOError("creating " + to.string() + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "LOCK" || name.rfind("LOG", 0) == 0) continue;
    const std::string kind = FileKind(e.path());
    std::error_code link_ec;
    // Tables and blob files never change once written: a link keeps them.
    if (kind == "table" || kind == "blob") fs::create_hard_link(e.path(), to / name, link_ec);
    if (kind != "table" && kind != "blob") link_ec = std::make_error_code(std::errc::not_supported);
    if (link_ec) {
      std::error_code copy_ec;
      fs::copy_file(e.path(), to / name, copy_ec);
      if (copy_ec)
        return Status::IOError("copying " + e.path().string() + ": " + copy_ec.message());
    }
  }
  if (ec) return Status::IOError("listing " + path.string() + ": " + ec.message());
  return Status::OK();
}

// True if CURRENT names a MANIFEST file that exists.
bool CurrentNamesAManifest(const fs::path& path) {
  std::string current;
  std::ifstream in(path / "CURRENT");
  std::getline(in, current);
  std::error_code ec;
  return current.rfind("MANIFEST-", 0) == 0 && current.find('/') == std::string::npos &&
         fs::is_regular_file(path / current, ec);
}

// Points CURRENT at the newest MANIFEST that names a store RocksDB can open;
// true if it did.
bool RestoreCurrent(const fs::path& path, StoreRepairReport* report) {
  std::vector<std::pair<uint64_t, std::string>> manifests;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("MANIFEST-", 0) != 0) continue;
    char* end = nullptr;
    const uint64_t n = std::strtoull(name.c_str() + 9, &end, 10);
    if (end != nullptr && *end == '\0') manifests.emplace_back(n, name);
  }
  std::sort(manifests.rbegin(), manifests.rend());
  std::string current;
  {
    std::ifstream in(path / "CURRENT");
    std::getline(in, current);
  }
  Handle h_trial;
  for (const auto& [n, name] : manifests) {
    if (name == current) continue;
    if (!util::WriteFileDurably(path / "CURRENT", name + "\n").ok()) return false;
    // A read-only trial: a writer's open of an older MANIFEST would delete
    // the newer files it does not name.
    rocksdb::DBOptions options = StoreDbOptions();
    options.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
    options.track_and_verify_wals_in_manifest = false;
    if (OpenReadOnly(path, options, &h_trial).ok() && EveryFileIsNamed(path, h_trial).ok()) {
      h_trial.Close().PermitUncheckedError();
      report->actions.push_back("CURRENT pointed again at " + name);
      return true;
    }
    h_trial.Close().PermitUncheckedError();
  }
  // None fits: CURRENT as it was (RepairDB writes a new one).
  (void)util::WriteFileDurably(path / "CURRENT", current.empty() ? "" : current + "\n");
  return false;
}

// Rewrites each damaged write-ahead log to hold the whole batches that it
// still has, past the damage too (log_salvage.h).
void SalvageLogs(const fs::path& path, StoreRepairReport* report) {
  std::vector<fs::path> logs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.path().extension() == ".log") logs.push_back(e.path());
  }
  std::sort(logs.begin(), logs.end());
  for (const auto& log : logs) {
    auto salvaged = SalvageLog(log);
    const std::string name = log.filename().string();
    if (!salvaged) {
      report->damaged_files.push_back(name + ": " + std::string(salvaged.error().message()));
      continue;
    }
    if (salvaged->damaged_stretches == 0) continue;
    report->damaged_files.push_back(
        name + ": " + std::to_string(salvaged->damaged_stretches) + " damaged stretch(es), " +
        std::to_string(salvaged->damaged_bytes) +
        " bytes: the batches written there are lost whole (a batch is all or nothing)");
    report->actions.push_back(name + ": rewritten with the " + std::to_string(salvaged->batches) +
                              " whole batches it holds, before and after the damage");
  }
}

// Counts the writes a lenient replay skips: a batch's representation starts
// with its first sequence number and its count of writes (8 + 4 bytes, little
// endian), and each write takes one sequence number, so a batch that starts
// past where the one before it ended follows a stretch that was not read.
class SkippedWrites : public rocksdb::WalFilter {
 public:
  const char* Name() const override { return "relate.SkippedWrites"; }
  WalProcessingOption LogRecordFound(unsigned long long /*log_number*/,
                                     const std::string& log_file_name,
                                     const rocksdb::WriteBatch& batch,
                                     rocksdb::WriteBatch* /*new_batch*/,
                                     bool* /*batch_changed*/) override {
    const std::string& rep = batch.Data();
    if (rep.size() < 12) return WalProcessingOption::kContinueProcessing;
    const uint64_t seq = Fixed64(rep.data());
    const uint32_t count = Fixed32(rep.data() + 8);
    if (end_ != 0 && seq > end_) {
      skipped_ += seq - end_;
      files_.insert(fs::path(log_file_name).filename().string());
    }
    end_ = std::max(end_, seq + count);
    return WalProcessingOption::kContinueProcessing;
  }
  uint64_t skipped() const { return skipped_; }
  const std::set<std::string>& files() const { return files_; }

 private:
  uint64_t end_ = 0, skipped_ = 0;
  std::set<std::string> files_;
};

// Opens the store replaying its logs around damaged records (and without the
// logs that are gone), writes every family's memory into tables and closes it.
Status ReplayLogsLeniently(const fs::path& path, StoreRepairReport* report) {
  rocksdb::DBOptions options = StoreDbOptions();
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
  options.track_and_verify_wals_in_manifest = false;
  // An open deletes the table and blob files its MANIFEST does not name: with
  // one that lost its last edits (cut short, say) those are the newest data.
  // Such a store is rebuilt from its files instead.
  {
    Handle look;
    RELATE_RETURN_IF_ERROR(
        FromRocks(OpenReadOnly(path, options, &look), "opening storage leniently"));
    RELATE_RETURN_IF_ERROR(EveryFileIsNamed(path, look));
  }
  options.create_missing_column_families = true;
  SkippedWrites skipped;
  options.wal_filter = &skipped;
  Handle h;
  RELATE_RETURN_IF_ERROR(
      FromRocks(OpenStore(path, options, FamilyDescriptors(rocksdb::NewLRUCache(8 << 20)), &h),
                "opening storage leniently"));
  RELATE_RETURN_IF_ERROR(FromRocks(h.db->Flush(rocksdb::FlushOptions(), h.handles), "flushing"));
  RELATE_RETURN_IF_ERROR(FromRocks(h.Close(), "closing storage"));
  if (skipped.skipped() > 0) {
    std::string names;
    for (const auto& f : skipped.files()) names += (names.empty() ? "" : ", ") + f;
    report->damaged_files.push_back(
        names + ": " + std::to_string(skipped.skipped()) +
        " writes in damaged stretches of the write-ahead log could not be read (each batch they "
        "belonged to is lost whole: a batch is all or nothing)");
  }
  report->actions.push_back("write-ahead logs replayed, skipping what is damaged in them");
  return Status::OK();
}

// A scratch database holding every family in Family order, for the handles
// that SstFileWriter needs to name a family (and its id) in a table's
// properties. Ids follow Family order: the order Store::Open creates them in.
class ScratchFamilies {
 public:
  static Result<std::unique_ptr<ScratchFamilies>> Create(const fs::path& dir) {
    auto out = std::unique_ptr<ScratchFamilies>(new ScratchFamilies(dir));
    std::error_code ec;
    fs::remove_all(dir, ec);
    out->options_.create_if_missing = true;
    out->options_.create_missing_column_families = true;
    RELATE_RETURN_IF_ERROR(
        FromRocks(OpenStore(dir, out->options_, FamilyDescriptors(out->cache_), &out->h_),
                  "creating " + dir.string()));
    return out;
  }
  ~ScratchFamilies() {
    h_.Close().PermitUncheckedError();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A writer of a table of family `f` at `file`.
  Result<std::unique_ptr<rocksdb::SstFileWriter>> Writer(int f, const fs::path& file) {
    auto writer = std::make_unique<rocksdb::SstFileWriter>(
        rocksdb::EnvOptions(), rocksdb::Options(options_, FamilyOptions(f, cache_)), h_.handles[f]);
    RELATE_RETURN_IF_ERROR(FromRocks(writer->Open(file.string()), "writing " + file.string()));
    return writer;
  }

 private:
  explicit ScratchFamilies(fs::path dir) : dir_(std::move(dir)) {}
  fs::path dir_;
  rocksdb::DBOptions options_;
  std::shared_ptr<rocksdb::Cache> cache_ = rocksdb::NewLRUCache(1 << 20);
  Handle h_;
};

// The next free file number of the store's directory.
uint64_t NextFileNumber(const fs::path& path) {
  uint64_t next = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    next = std::max<uint64_t>(next, std::strtoull(e.path().filename().c_str(), nullptr, 10));
  }
  return next + 1;
}

std::string TableFileName(uint64_t number) {
  char name[32];
  std::snprintf(name, sizeof name, "%06llu.sst", static_cast<unsigned long long>(number));
  return name;
}

// Writes, beside the store's tables, one table per family holding only
// kPlaceholderKey, so RepairDB knows every family.
Status WritePlaceholderTables(const fs::path& path, ScratchFamilies* scratch) {
  uint64_t number = NextFileNumber(path) + 1000;
  for (int f = 0; f < kFamilies; ++f) {
    const fs::path file = path / TableFileName(number++);
    RELATE_ASSIGN_OR_RETURN(auto writer, scratch->Writer(f, file));
    RELATE_RETURN_IF_ERROR(FromRocks(writer->Put(kPlaceholderKey, ""), "writing " + file.string()));
    RELATE_RETURN_IF_ERROR(FromRocks(writer->Finish(), "writing " + file.string()));
  }
  return Status::OK();
}

// Calls fn(key, value) for every entry of the table that `reader` has open
// that is not in a damaged block, in key order. A read that meets a damaged
// block resumes after it: Seek(k) reads the block the index places k in, so
// "Seek(k) fails" holds exactly for the k from just after the last key read up
// to the damaged block's separator in the index; a binary search over keys of
// kProbeBytes bytes finds the first k past it. Keys in the damaged block are
// lost with it. Returns the number of damaged stretches skipped.
uint64_t ReadAroundDamage(
    rocksdb::SstFileReader& reader,
    const std::function<void(const rocksdb::Slice&, const rocksdb::Slice&)>& fn) {
  constexpr size_t kProbeBytes = 256;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
  auto fails = [&](const std::string& k) {
    std::unique_ptr<rocksdb::Iterator> probe(reader.NewIterator(ro));
    probe->Seek(k);
    return !probe->status().ok();
  };
  // (a + b) / 2 of two big-endian numbers of the same size.
  auto midpoint = [](const std::string& a, const std::string& b) {
    std::string sum(a.size() + 1, '\0');
    unsigned carry = 0;
    for (size_t i = a.size(); i-- > 0;) {
      const unsigned t = static_cast<uint8_t>(a[i]) + static_cast<uint8_t>(b[i]) + carry;
      sum[i + 1] = static_cast<char>(t & 0xFF);
      carry = t >> 8;
    }
    sum[0] = static_cast<char>(carry);
    std::string mid(a.size(), '\0');
    for (size_t i = 0; i < a.size(); ++i) {
      mid[i] = static_cast<char>(((static_cast<uint8_t>(sum[i]) & 1) << 7) |
                                 (static_cast<uint8_t>(sum[i + 1]) >> 1));
    }
    return mid;
  };
  uint64_t skipped = 0;
  std::string last;
  bool any = false;
  it->SeekToFirst();
  for (int stretch = 0; stretch < 100000; ++stretch) {
    for (; it->Valid(); it->Next()) {
      fn(it->key(), it->value());
      last = it->key().ToString();
      any = true;
    }
    if (it->status().ok()) break;
    ++skipped;
    const size_t width = std::max(kProbeBytes, last.size() + 1);
    std::string lo = any ? last + '\0' : std::string();
    lo.resize(width, '\0');
    std::string hi(width, '\xff');
    if (fails(hi)) break;  // the damage runs to the end
    while (true) {
      std::string mid = midpoint(lo, hi);
      if (mid == lo) break;
      (fails(mid) ? lo : hi) = std::move(mid);
    }
    it.reset(reader.NewIterator(ro));
    it->Seek(hi);
  }
  return skipped;
}

// Copies what can still be read of each damaged table into a new table of its
// family (values a blob family keeps in blob files copied out of `blobs`),
// and moves the damaged one to `damaged_dir`; RepairDB then uses the copy.
// A table whose footer, index or properties are unreadable is left to
// RepairDB, which sets it aside whole.
Status SalvageDamagedTables(const fs::path& path, const fs::path& damaged_dir, BlobFiles* blobs,
                            ScratchFamilies* scratch, StoreRepairReport* report) {
  std::vector<fs::path> tables;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.path().extension() == ".sst") tables.push_back(e.path());
  }
  std::sort(tables.begin(), tables.end());
  uint64_t number = NextFileNumber(path) + 2000;
  for (const auto& table : tables) {
    rocksdb::Options options(StoreDbOptions(), FamilyOptions(kDefault, nullptr));
    rocksdb::SstFileReader reader(options);
    if (!reader.Open(table.string()).ok()) continue;
    if (reader.VerifyChecksum().ok()) continue;
    auto props = reader.GetTableProperties();
    int family = -1;
    for (int f = 0; f < kFamilies && props; ++f) {
      if (props->column_family_name == kFamilyNames[f]) family = f;
    }
    if (family < 0) continue;
    const fs::path copy = path / TableFileName(number++);
    RELATE_ASSIGN_OR_RETURN(auto writer, scratch->Writer(family, copy));
    uint64_t kept = 0, dropped = 0;
    Status status;
    const uint64_t skipped =
        ReadAroundDamage(reader, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
          if (!status.ok()) return;
          const std::string_view value(v.data(), v.size());
          if (KeepsBlobs(family) && blobs->IsBlobIndex(value)) {
            auto got = blobs->Resolve(std::string_view(k.data(), k.size()), value);
            if (!got) {
              ++dropped;
              return;
            }
            status = FromRocks(writer->Put(k, *got), "writing " + copy.string());
          } else {
            status = FromRocks(writer->Put(k, v), "writing " + copy.string());
          }
          ++kept;
        });
    RELATE_RETURN_IF_ERROR(status);
    if (kept > 0) {
      RELATE_RETURN_IF_ERROR(FromRocks(writer->Finish(), "writing " + copy.string()));
    } else {
      writer.reset();
      fs::remove(copy, ec);
    }
    fs::create_directories(damaged_dir, ec);
    RELATE_RETURN_IF_ERROR(util::MoveDurably(table, damaged_dir / table.filename()));
    report->actions.push_back(table.filename().string() + " (" + kFamilyNames[family] +
                              "): " + std::to_string(kept) + " entries copied out, " +
                              std::to_string(skipped) + " damaged stretches skipped" +
                              (dropped ? ", " + std::to_string(dropped) + " values lost" : ""));
    report->values_lost += dropped;
  }
  return Status::OK();
}

// Values whose blob index was in a table block that did not survive are still
// in their blob file, beside their key: each key of a blob family that the
// rebuilt store lacks gets its value back, from the newest blob file holding
// it (integrated blob files are written by flushes, in file number order, and
// never rewritten). A value of a record that was deleted comes back as an
// orphan, which CheckConsistency removes.
Status RestoreOrphanBlobs(Handle& h, const std::vector<fs::path>& dirs, StoreRepairReport* report) {
  // Newest first: by number (names are zero-padded), and for one number, the
  // store's own file before one an open set aside (written before it).
  std::vector<std::tuple<std::string, size_t, fs::path>> found;
  std::error_code ec;
  for (size_t d = 0; d < dirs.size(); ++d) {
    for (const auto& e : fs::directory_iterator(dirs[d], ec)) {
      if (e.path().extension() == ".blob")
        found.emplace_back(e.path().filename().string(), d, e.path());
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) > std::get<0>(b)
                                            : std::get<1>(a) < std::get<1>(b);
  });
  std::vector<fs::path> files;
  for (const auto& f : found) files.push_back(std::get<2>(f));
  std::set<std::pair<uint32_t, std::string>> seen;
  uint64_t restored = 0;
  Status status;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  for (const auto& file : files) {
    rocksdb::WriteBatch batch;
    // The file's damage was reported when the store was inspected.
    const Status scanned =
        ScanBlobFile(file, [&](uint32_t family, std::string_view key, std::string_view value) {
          if (!status.ok() || family >= static_cast<uint32_t>(kFamilies) ||
              !KeepsBlobs(static_cast<int>(family)))
            return;
          if (!seen.emplace(family, std::string(key)).second) return;  // a newer file had it
          std::string existing;
          rocksdb::Status s = h.db->Get(rocksdb::ReadOptions(), h.handles[family],
                                        rocksdb::Slice(key.data(), key.size()), &existing);
          if (s.ok()) return;
          if (!s.IsNotFound()) {
            status = FromRocks(s, "reading the rebuilt storage");
            return;
          }
          status = FromRocks(batch.Put(h.handles[family], rocksdb::Slice(key.data(), key.size()),
                                       rocksdb::Slice(value.data(), value.size())),
                             "batch");
          ++restored;
        });
    (void)scanned;
    RELATE_RETURN_IF_ERROR(status);
    if (batch.Count() > 0) {
      RELATE_RETURN_IF_ERROR(FromRocks(h.db->Write(sync, &batch), "writing the rebuilt storage"));
    }
  }
  if (restored > 0) {
    report->actions.push_back(std::to_string(restored) +
                              " values whose table entry was lost read back from their blob files");
  }
  return Status::OK();
}

// RocksDB's RepairDB with the blob files moved out to `held` first, then a
// full compaction that copies the values they hold back in.
Status Rebuild(const fs::path& path, const fs::path& held, StoreRepairReport* report) {
  std::error_code ec;
  fs::create_directories(held, ec);
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.path().extension() != ".blob") continue;
    RELATE_RETURN_IF_ERROR(util::MoveDurably(e.path(), held / e.path().filename()));
  }
  // Files an open kept instead of deleting come back: tables under new
  // numbers (RocksDB may have used theirs since), blob files beside the others
  // under their own (the tables' blob indexes name them).
  std::vector<fs::path> blob_dirs{held};
  uint64_t number = NextFileNumber(path) + 3000;
  const auto unnamed = UnnamedDirs(path);
  for (size_t k = 0; k < unnamed.size(); ++k) {
    const fs::path blobs = held.parent_path() / ("unnamed-blobs-" + std::to_string(k));
    fs::create_directories(blobs, ec);
    for (const auto& e : fs::directory_iterator(unnamed[k], ec)) {
      const std::string ext = e.path().extension().string();
      const fs::path to =
          ext == ".sst" ? path / TableFileName(number++) : blobs / e.path().filename();
      RELATE_RETURN_IF_ERROR(util::MoveDurably(e.path(), to));
    }
    blob_dirs.push_back(blobs);
    RELATE_RETURN_IF_ERROR(
        util::MoveDurably(unnamed[k], held.parent_path() / unnamed[k].filename()));
    report->actions.push_back("the files in " + unnamed[k].string() + " are used again");
  }
  BlobFiles files(blob_dirs);
  {
    RELATE_ASSIGN_OR_RETURN(auto scratch, ScratchFamilies::Create(held.parent_path() / "scratch"));
    RELATE_RETURN_IF_ERROR(
        SalvageDamagedTables(path, held.parent_path() / "damaged", &files, scratch.get(), report));
    RELATE_RETURN_IF_ERROR(WritePlaceholderTables(path, scratch.get()));
  }
  auto cache = rocksdb::NewLRUCache(8 << 20);
  // Log entries become tables with their values inline: a blob file RepairDB
  // wrote would be one its MANIFEST does not name.
  auto descriptors = FamilyDescriptors(cache);
  for (auto& d : descriptors) d.options.enable_blob_files = false;
  rocksdb::DBOptions options = StoreDbOptions();
  options.track_and_verify_wals_in_manifest = false;
  RELATE_RETURN_IF_ERROR(FromRocks(rocksdb::RepairDB(path.string(), options, descriptors),
                                   "rebuilding the MANIFEST of " + path.string()));
  report->actions.push_back("MANIFEST rebuilt from the table files and logs (RocksDB's repair)");

  BlobResolver resolver(&files);
  descriptors = FamilyDescriptors(cache);
  for (int f = 0; f < kFamilies; ++f) {
    if (KeepsBlobs(f)) descriptors[f].options.compaction_filter = &resolver;
  }
  Handle h;
  RELATE_RETURN_IF_ERROR(
      FromRocks(OpenStore(path, options, descriptors, &h), "opening the rebuilt storage"));
  rocksdb::WriteBatch placeholders;
  for (auto* handle : h.handles) {
    RELATE_RETURN_IF_ERROR(FromRocks(placeholders.Delete(handle, kPlaceholderKey), "batch"));
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  RELATE_RETURN_IF_ERROR(
      FromRocks(h.db->Write(sync, &placeholders), "writing the rebuilt storage"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (int f = 0; f < kFamilies; ++f) {
    RELATE_RETURN_IF_ERROR(FromRocks(h.db->CompactRange(compact, h.handles[f], nullptr, nullptr),
                                     std::string("compacting ") + kFamilyNames[f]));
  }
  RELATE_RETURN_IF_ERROR(RestoreOrphanBlobs(h, blob_dirs, report));
  RELATE_RETURN_IF_ERROR(FromRocks(h.Close(), "closing the rebuilt storage"));
  if (resolver.resolved() > 0) {
    report->actions.push_back(std::to_string(resolver.resolved()) +
                              " values copied back out of the blob files");
  }
  report->values_lost += resolver.lost();
  for (const auto& p : resolver.problems()) {
    report->damaged_files.push_back(p + " (its values are lost)");
  }
  return Status::OK();
}

}  // namespace

Result<StoreRepairReport> Store::Repair(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return Status::NotFound("no storage at " + path.string());
  StoreRepairReport report;
  std::vector<std::string> damaged;
  const Status first = Inspect(path, &damaged);
  if (first.ok()) return report;                          // whole: nothing is touched
  if (first.code() == Status::Code::kBusy) return first;  // in use, not damaged
  report.rebuilt = true;
  report.damaged_files = damaged;
  if (damaged.empty()) report.damaged_files.push_back(std::string(first.message()));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  const fs::path aside = path / kLostDir / ("repair-" + std::to_string(ms));
  RELATE_RETURN_IF_ERROR(SetAside(path, aside / "original"));
  report.set_aside = (aside / "original").string();

  // The cheap repairs first, each followed by a strict look.
  std::vector<std::string> ignored;
  SalvageLogs(path, &report);
  if (!CurrentNamesAManifest(path)) RestoreCurrent(path, &report);
  if (ReplayLogsLeniently(path, &report).ok() && Inspect(path, &ignored).ok()) return report;
  RELATE_RETURN_IF_ERROR(Rebuild(path, aside / "blobs", &report));
  ignored.clear();
  if (Status s = Inspect(path, &ignored); !s.ok()) {
    for (auto& d : ignored) report.damaged_files.push_back("after repair: " + d);
  }
  return report;
}

}  // namespace relate::storage
