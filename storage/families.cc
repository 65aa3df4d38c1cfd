#include "storage/families.h"

#include <rocksdb/filter_policy.h>
#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "util/durable_file.h"
#include "util/mutex.h"

namespace relate::storage {

const char* const kFamilyNames[kFamilies] = {rocksdb::kDefaultColumnFamilyName.c_str(),
                                             "catalog",
                                             "records",
                                             "vectors",
                                             "keys",
                                             "changes",
                                             "models",
                                             "model_data",
                                             "fields",
                                             "postings"};

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string m = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) {
    return Status::Corruption(m +
                              " (the database's storage is damaged: `relate repair` recovers what "
                              "it still holds; or restore a backup)");
  }
  if (s.IsNotFound()) return Status::NotFound(m);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(m);
  if (s.IsBusy()) return Status::Busy(m);
  // RocksDB reports its LOCK file held by another process or handle as an IO error.
  if (s.IsIOError() && (s.ToString().find("lock") != std::string::npos ||
                        s.ToString().find("LOCK") != std::string::npos)) {
    return Status::Busy(std::string(what) + ": the database is in use by another process (" +
                        s.ToString() + ")");
  }
  return Status::IOError(m);
}

namespace {

// The part of a postings key before the record id (collection, term): the
// keys of one term arrive in id order, so a memtable insert that starts from
// where the term's last one went is nearly free.
class WithoutIdTransform : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "relate.WithoutId"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() > 12; }
};

}  // namespace

rocksdb::ColumnFamilyOptions FamilyOptions(int family,
                                           const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (family == kVectors || family == kModelData) {
    // Float vectors do not compress, and kept in blob files they are not rewritten
    // by every compaction of the LSM tree.
    o.compression = rocksdb::kNoCompression;
    o.write_buffer_size = 128 << 20;
    o.max_write_buffer_number = 3;
    o.enable_blob_files = true;
    o.min_blob_size = 256;
    o.blob_file_size = 256 << 20;
  } else if (family == kRecords) {
    o.write_buffer_size = 64 << 20;
  } else if (family == kPostings) {
    // A text adds a key per distinct word: inserting them into the memtable's
    // skip list from the top took most of an ingest's time (relate_query_bench,
    // section 5). Hints keep ~250 bytes per term in the memtable; terms are
    // far fewer than keys. (Not for the fields family, whose values may all
    // differ.)
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<WithoutIdTransform>();
    o.write_buffer_size = 64 << 20;
  }
  return o;
}

std::vector<rocksdb::ColumnFamilyDescriptor> FamilyDescriptors(
    const std::shared_ptr<rocksdb::Cache>& cache) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int f = 0; f < kFamilies; ++f)
    descriptors.emplace_back(kFamilyNames[f], FamilyOptions(f, cache));
  return descriptors;
}

rocksdb::DBOptions StoreDbOptions() {
  rocksdb::DBOptions options;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 3;
  options.max_total_wal_size = 512 << 20;
  // relate writes one batch at a time (DBImpl's write lock); memtable insert
  // hints (postings) work only without concurrent memtable writes.
  options.allow_concurrent_memtable_write = false;
  // RocksDB's default (point in time) stops replaying the log at its first
  // damaged record and opens without a word, the records after it gone.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.track_and_verify_wals_in_manifest = true;
  return options;
}

class OpenGuard::Listener : public rocksdb::EventListener {
 public:
  const char* Name() const override { return "relate.OpenGuard"; }
  void OnCompactionCompleted(rocksdb::DB* /*db*/, const rocksdb::CompactionJobInfo& info) override {
    util::MutexLock lock(&mu_);
    if (stopped_) return;
    for (const auto& f : info.input_files) benign_.insert(FileName(f));
  }
  void OnTableFileDeleted(const rocksdb::TableFileDeletionInfo& info) override { Deleted(info); }
  void OnBlobFileDeleted(const rocksdb::BlobFileDeletionInfo& info) override { Deleted(info); }
  void OpenReturned() {
    util::MutexLock lock(&mu_);
    open_returned_ = true;
  }
  // Keep has looked: the listener, which lives as long as the database, stops
  // noting files.
  void Stop() {
    util::MutexLock lock(&mu_);
    stopped_ = true;
    benign_.clear();
  }
  bool Benign(const std::string& name) {
    util::MutexLock lock(&mu_);
    return benign_.count(name) != 0;
  }

 private:
  static std::string FileName(const std::string& path) {
    return std::filesystem::path(path).filename().string();
  }
  void Deleted(const rocksdb::FileDeletionInfo& info) {
    util::MutexLock lock(&mu_);
    if (open_returned_ && !stopped_) benign_.insert(FileName(info.file_path));
  }

  util::Mutex mu_;
  bool open_returned_ RELATE_GUARDED_BY(mu_) = false;
  bool stopped_ RELATE_GUARDED_BY(mu_) = false;
  std::set<std::string> benign_ RELATE_GUARDED_BY(mu_);  // file names
};

OpenGuard::OpenGuard(std::filesystem::path store)
    : store_(std::move(store)), listener_(std::make_shared<Listener>()) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(store_, ec)) return;
  links_ = store_ / kLostDir / ".open-guard";
  fs::remove_all(links_, ec);
  fs::create_directories(links_, ec);
  if (ec) return;
  for (const auto& e : fs::directory_iterator(store_, ec)) {
    const std::string ext = e.path().extension().string();
    if (ext != ".sst" && ext != ".blob") continue;
    std::error_code link_ec;
    fs::create_hard_link(e.path(), links_ / e.path().filename(), link_ec);
    if (!link_ec) linked_.push_back(e.path().filename().string());
  }
}

OpenGuard::~OpenGuard() {
  std::error_code ec;
  if (links_.empty()) return;
  std::filesystem::remove_all(links_, ec);
  std::filesystem::remove(links_.parent_path(), ec);  // lost/, if nothing else is there
}

std::shared_ptr<rocksdb::EventListener> OpenGuard::listener() const { return listener_; }

void OpenGuard::OpenReturned() { listener_->OpenReturned(); }

size_t OpenGuard::Keep(std::string* where) {
  namespace fs = std::filesystem;
  std::vector<std::string> deleted;
  std::error_code ec;
  for (const auto& name : linked_) {
    if (!fs::exists(store_ / name, ec) && !listener_->Benign(name)) deleted.push_back(name);
  }
  listener_->Stop();
  if (deleted.empty()) return 0;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  const fs::path kept = store_ / kLostDir / (std::string(kUnnamedPrefix) + std::to_string(ms));
  fs::create_directories(kept, ec);
  size_t n = 0;
  for (const auto& name : deleted) {
    if (util::MoveDurably(links_ / name, kept / name).ok()) ++n;
  }
  *where = kept.string();
  return n;
}

}  // namespace relate::storage
