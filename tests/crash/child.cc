// The crash torture's child: a seeded random workload of synced writes,
// checkpoints, compactions, model trainings and applies, closes and reopens,
// each reported to the parent before it is called and after it returns, until
// the parent kills the process.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>

#include "tests/crash/workload.h"

namespace relate::torture {
namespace {

// Writes report lines to the parent's pipe; any thread (the database's log
// callback runs on its maintenance thread).
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  // Sends `line` (a newline is added) in one write, retried if interrupted.
  void Send(const std::string& line) {
    std::string data = line;
    std::replace(data.begin(), data.end(), '\n', ' ');
    data += '\n';
    std::lock_guard lock(mu_);
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(5);  // the parent is gone
      done += static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
  std::mutex mu_;
};

// The keys a collection holds, as the child believes (exact: it sees every result).
struct KeySet {
  std::vector<char> present = std::vector<char>(kKeyspace, 0);
  std::vector<uint32_t> list;  // the present keys, in no order
  std::vector<size_t> where = std::vector<size_t>(kKeyspace, 0);
  void Add(uint32_t key) {
    if (present[key]) return;
    present[key] = 1;
    where[key] = list.size();
    list.push_back(key);
  }
  void Remove(uint32_t key) {
    if (!present[key]) return;
    present[key] = 0;
    const uint32_t last = list.back();
    list[where[key]] = last;
    where[last] = where[key];
    list.pop_back();
  }
};

class Child {
 public:
  Child(std::string dir, uint64_t seed, uint64_t child_index, uint64_t first_op, int fd)
      : dir_(std::move(dir)),
        rng_(Mix(seed) ^ Mix(child_index + 1)),
        op_(first_op),
        reporter_(fd) {}

  // Reads the parent's list of present keys.
  bool LoadPresent(const std::string& file) {
    std::ifstream in(file);
    std::string line;
    for (int c = 0; c < kNumCollections; ++c) {
      if (!std::getline(in, line)) return false;
      std::istringstream words(line);
      uint32_t key;
      while (words >> key) {
        if (key >= kKeyspace) return false;
        keys_[c].Add(key);
      }
    }
    return true;
  }

  int Run() {
    options_.checkpoint_every_changes = std::vector<size_t>{8, 32, 128}[rng_.Below(3)];
    options_.finish_rebuilds_on_close = rng_.Below(2) == 0;
    options_.log = [this](std::string_view line) { reporter_.Send("L " + std::string(line)); };
    if (!Open()) return 3;
    uint64_t until_close = 20 + rng_.Below(400);
    for (;;) {
      if (until_close-- == 0) {
        Begin("X");
        db_.reset();
        Ack("");
        if (!Open()) return 3;
        until_close = 20 + rng_.Below(400);
        continue;
      }
      const uint64_t pick = rng_.Below(100);
      if (pick < 52) {
        DoUpsert();
      } else if (pick < 75) {
        DoDelete();
      } else if (pick < 82) {
        Begin("K");
        Finish(db_->Checkpoint(), "");
      } else if (pick < 88) {
        const int coll = static_cast<int>(rng_.Below(kNumCollections));
        Begin("C " + std::to_string(coll));
        Finish(db_->Compact(kCollections[coll].name), "");
      } else if (pick < 94) {
        DoTrain();
      } else {
        Begin("A");
        auto moved = db_->ApplyModel(kModel);
        Finish(moved.error(), moved ? std::to_string(moved->size()) : "");
      }
    }
  }

 private:
  bool Open() {
    Begin("O");
    auto db = DB::Open(dir_, options_);
    if (!db) {
      reporter_.Send("F opening " + dir_ + ": " + db.error().ToString());
      return false;
    }
    db_ = std::move(*db);
    Ack("");
    return true;
  }

  void Begin(const std::string& what) { reporter_.Send("B " + std::to_string(++op_) + " " + what); }
  void Ack(const std::string& result) {
    reporter_.Send("A " + std::to_string(op_) + (result.empty() ? "" : " " + result));
  }
  void Finish(const Status& s, const std::string& result) {
    if (s.ok()) {
      Ack(result);
    } else {
      reporter_.Send("E " + std::to_string(op_) + " " + s.ToString());
    }
  }

  // A batch size: mostly small, sometimes up to `most`.
  size_t BatchSize(size_t most) {
    return rng_.Below(2) == 0 ? 1 + rng_.Below(5) : 1 + rng_.Below(most);
  }

  void DoUpsert() {
    const int coll = static_cast<int>(rng_.Below(kNumCollections));
    KeySet& keys = keys_[coll];
    const size_t n = BatchSize(50);
    const uint64_t op = op_ + 1;
    std::vector<Record> records;
    std::string line = "U " + std::to_string(coll);
    for (size_t i = 0; i < n; ++i) {
      uint32_t key;
      if (!records.empty() && rng_.Below(20) == 0) {
        key = static_cast<uint32_t>(std::stoul(records[rng_.Below(records.size())].key.substr(1)));
      } else if (!keys.list.empty() && rng_.Below(10) < 5) {
        key = keys.list[rng_.Below(keys.list.size())];
      } else {
        key = static_cast<uint32_t>(rng_.Below(kKeyspace));
      }
      const uint64_t gen = op * 64 + i;
      records.push_back(MakeRecord(coll, key, gen));
      line += " " + std::to_string(key) + ":" + std::to_string(gen);
    }
    Begin(line);
    Status s = db_->Upsert(kCollections[coll].name, records, {.sync = true});
    if (s.ok()) {
      for (const Record& r : records) keys.Add(static_cast<uint32_t>(std::stoul(r.key.substr(1))));
    }
    Finish(s, "");
  }

  void DoDelete() {
    const int coll = static_cast<int>(rng_.Below(kNumCollections));
    KeySet& keys = keys_[coll];
    const size_t n = BatchSize(30);
    std::vector<std::string> names;
    std::vector<uint32_t> numbers;
    std::string line = "D " + std::to_string(coll);
    for (size_t i = 0; i < n; ++i) {
      uint32_t key;
      if (!keys.list.empty() && rng_.Below(10) < 8) {
        key = keys.list[rng_.Below(keys.list.size())];
      } else {
        key = static_cast<uint32_t>(rng_.Below(kKeyspace));
      }
      numbers.push_back(key);
      names.push_back(KeyName(key));
      line += " " + std::to_string(key);
    }
    Begin(line);
    auto removed = db_->Delete(kCollections[coll].name, names, {.sync = true});
    if (removed) {
      for (uint32_t key : numbers) keys.Remove(key);
    }
    Finish(removed.error(), removed ? std::to_string(*removed) : "");
  }

  void DoTrain() {
    if (keys_[kTrainSource].list.size() < kTrainMinRecords) return;
    TrainOptions o;
    o.collection = kCollections[kTrainSource].name;
    o.dimension = kDim;
    o.epochs = 1 + static_cast<uint32_t>(rng_.Below(2));
    o.threads = 1;
    o.min_count = 1;
    o.seed = op_ + 1;
    Begin("T");
    Finish(db_->TrainModel(kModel, o), "");
  }

  std::string dir_;
  Rng rng_;
  uint64_t op_;
  Reporter reporter_;
  Options options_;
  std::unique_ptr<DB> db_;
  KeySet keys_[kNumCollections];
};

}  // namespace

int RunChild(const std::string& db_dir, const std::string& present_file, uint64_t seed,
             uint64_t child_index, uint64_t first_op, int report_fd) {
  Child child(db_dir, seed, child_index, first_op, report_fd);
  if (!child.LoadPresent(present_file)) {
    std::cerr << "crash torture child: cannot read " << present_file << "\n";
    return 2;
  }
  return child.Run();
}

}  // namespace relate::torture
