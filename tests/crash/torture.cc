// relate_crash_torture: kills a writing process with SIGKILL at random moments,
// again and again on the same database, and checks after every kill that
// nothing acknowledged was lost (issue 6).
//
// The parent starts a child (this program with --child, fork + exec), which
// runs a seeded random workload (workload.h, child.cc) and reports every call
// before making it and after it returns OK. The parent kills it, at a random
// time or shortly after a chosen kind of call began (upsert, delete,
// checkpoint, compact, training, model apply, close, open, background index
// rebuild), then checks a copy of the database directory as the crash left it:
//  (a) every acknowledged write is there with exactly the acknowledged content
//      (text, metadata, vector bit for bit, version) and every acknowledged
//      delete is absent; the one call in flight applied whole or not at all;
//  (b) no torn record, and Count is the number of keys expected;
//  (c) DB::Verify passes for every collection, and once closed the directory
//      holds no temporary file of an interrupted checkpoint or training;
//  (d) the index replayed after the crash answers like one rebuilt from
//      storage: the copy is opened again without its index checkpoints; exact
//      kinds give the same hits, approximate kinds the same live ids and a sane
//      recall against exact search.
// The next child continues on the original directory, so the database keeps
// its whole history and every child's open is itself a crash recovery.
//
// Exit status: 0 when every check passed, 1 at the first violation (with the
// kill number, the call and the key), 2 for bad arguments or setup failures.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/crash/workload.h"

namespace relate::torture {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// What the parent knows a key holds: its generation and version.
struct Entry {
  uint64_t gen = 0;
  uint64_t version = 0;
};

// The database as the acknowledged calls left it.
struct State {
  std::map<uint32_t, Entry> colls[kNumCollections];
  uint64_t model_version = 1;       // newest version of kModel
  uint64_t docs_model_version = 1;  // the version "docs" holds vectors of
};

// The index of the collection bound to kModel.
constexpr int kDocs = 4;

// One call of the child, from its "B" line.
struct Op {
  uint64_t number = 0;
  char kind = 0;  // U D K C T A X O
  int coll = -1;
  std::vector<std::pair<uint32_t, uint64_t>> puts;
  std::vector<uint32_t> dels;
  Clock::time_point began;
  std::string line;
};

// Phases a kill can aim at, and their names in the figures.
const std::map<char, std::string> kPhaseNames = {
    {'U', "upsert"},        {'D', "delete"},          {'K', "checkpoint"},
    {'C', "compact"},       {'T', "train"},           {'A', "apply model"},
    {'X', "close"},         {'O', "open (recovery)"}, {'R', "background rebuild"},
    {'-', "between calls"}, {'r', "random time"}};

// Applies a call that took effect to `s`; returns the result the child reports
// for it (delete: records removed, apply: collections moved; else empty).
std::string ApplyOp(State& s, const Op& op) {
  switch (op.kind) {
    case 'U': {
      std::map<uint32_t, uint64_t> last;  // a key given twice ends with its last record
      for (const auto& [key, gen] : op.puts) last[key] = gen;
      for (const auto& [key, gen] : last) {
        auto [it, fresh] = s.colls[op.coll].try_emplace(key, Entry{gen, 1});
        if (!fresh) {
          it->second.gen = gen;
          ++it->second.version;
        }
      }
      return "";
    }
    case 'D': {
      size_t n = 0;
      for (uint32_t key : op.dels) n += s.colls[op.coll].erase(key);
      return std::to_string(n);
    }
    case 'T':
      ++s.model_version;
      return "";
    case 'A':
      if (s.docs_model_version == s.model_version) return "0";
      s.docs_model_version = s.model_version;
      for (auto& [_, e] : s.colls[kDocs]) ++e.version;
      return "1";
    default:
      return "";
  }
}

// Parses a "B" line; nullopt if malformed.
std::optional<Op> ParseBegin(const std::vector<std::string>& w) {
  if (w.size() < 3 || w[2].size() != 1) return std::nullopt;
  Op op;
  op.number = std::stoull(w[1]);
  op.kind = w[2][0];
  if (op.kind == 'U' || op.kind == 'D' || op.kind == 'C') {
    if (w.size() < 4) return std::nullopt;
    op.coll = std::stoi(w[3]);
    if (op.coll < 0 || op.coll >= kNumCollections) return std::nullopt;
  }
  for (size_t i = 4; i < w.size() && (op.kind == 'U' || op.kind == 'D'); ++i) {
    if (op.kind == 'U') {
      const size_t colon = w[i].find(':');
      if (colon == std::string::npos) return std::nullopt;
      op.puts.emplace_back(std::stoul(w[i].substr(0, colon)), std::stoull(w[i].substr(colon + 1)));
    } else {
      op.dels.push_back(static_cast<uint32_t>(std::stoul(w[i])));
    }
  }
  return op;
}

// The found key of a hit list, with its score.
struct HitKey {
  std::string key;
  float score;
  bool operator==(const HitKey&) const = default;
};

// How the check of one kill ended.
struct Violation {
  std::string what;
};

// Figures over the whole run.
struct Figures {
  size_t kills = 0;
  size_t survived = 0;
  std::map<char, size_t> acked;   // by kind
  std::map<char, size_t> failed;  // calls that returned an error, by kind
  std::vector<std::string> failures;
  size_t records_acked = 0;  // records written or deleted by acknowledged upserts and deletes
  size_t records_checked = 0;
  size_t absent_checked = 0;
  size_t lost = 0;
  size_t partial = 0;
  size_t verify_failures = 0;
  size_t replay_mismatches = 0;
  std::map<char, size_t> target;  // what the kill aimed at
  std::map<char, size_t> landed;  // the call in flight when it struck
  size_t on_target = 0;           // aimed kills that struck the call aimed at
  size_t aimed = 0;
  size_t landed_in_rebuild = 0;  // a background rebuild was running as well
  std::map<char, size_t> inflight_applied, inflight_not_applied;
  size_t rebuilds_done = 0;  // background rebuilds and compactions the children finished
  std::map<std::string, size_t> open_rebuilds;  // why opening after a crash rebuilt an index
  size_t open_replays = 0;                      // collections whose change log was replayed on open
  double min_ann_recall = 1;
  double min_exact_recall = 1;
  double child_seconds = 0;  // children running, until killed
  double check_seconds = 0;  // checking after the kills
};

struct Args {
  size_t kills = 15;
  uint64_t seed = 1;
  fs::path dir;
  bool keep = false;
  bool verbose = false;
  // Self-test: cut the newest write-ahead log file of the copy in half before
  // checking it, as a storage engine that lost synced writes would; the check
  // must report them lost.
  bool inject_wal_loss = false;
};

class Torture {
 public:
  explicit Torture(Args args) : args_(std::move(args)), rng_(args_.seed * 7919 + 1) {}

  int Run() {
    std::error_code ec;
    if (fs::exists(args_.dir, ec) && !fs::is_empty(args_.dir, ec)) {
      std::cerr << "crash torture: " << args_.dir << " exists and is not empty; give a new --dir\n";
      return 2;
    }
    fs::create_directories(args_.dir, ec);
    if (ec) {
      std::cerr << "crash torture: cannot create " << args_.dir << ": " << ec.message() << "\n";
      return 2;
    }
    if (Status s = Setup(); !s.ok()) {
      std::cerr << "crash torture: setting up " << db_dir() << ": " << s << "\n";
      return 2;
    }
    const auto start = Clock::now();
    for (size_t kill = 1; kill <= args_.kills; ++kill) {
      std::optional<Violation> v = KillOnce(kill);
      if (v) {
        std::cout << "VIOLATION at kill " << kill << ": " << v->what << "\n";
        // The workload and the aims repeat with the seed; the instants of the kills vary.
        std::cout << "rerun: relate_crash_torture --kills " << kill << " --seed " << args_.seed
                  << " --dir <new dir>\n";
        PrintFigures(Clock::now() - start);
        if (args_.inject_wal_loss) {
          // A self-test's damage is of its own making: nothing to look into.
          fs::remove_all(args_.dir, ec);
        } else {
          std::cout << "database kept in " << args_.dir
                    << " (child log: " << (args_.dir / "child.log")
                    << "; the copy checked: " << check_dir() << ")\n";
        }
        return 1;
      }
      ++figs_.survived;
      if (args_.verbose || kill % 25 == 0) {
        std::cout << "kill " << kill << "/" << args_.kills << " survived (ops acknowledged so far "
                  << TotalAcked() << ")" << std::endl;
      }
    }
    PrintFigures(Clock::now() - start);
    if (!args_.keep) fs::remove_all(args_.dir, ec);
    return 0;
  }

 private:
  fs::path db_dir() const { return args_.dir / "db"; }
  fs::path check_dir() const { return args_.dir / "check"; }

  size_t TotalAcked() const {
    size_t n = 0;
    for (const auto& [kind, count] : figs_.acked) n += count;
    return n;
  }

  // Creates the database: the collections, and the model "docs" is bound to,
  // trained on a corpus of topic sentences.
  Status Setup() {
    const fs::path corpus = args_.dir / "corpus.txt";
    {
      std::ofstream out(corpus);
      Rng rng(args_.seed);
      for (int i = 0; i < 2000; ++i) out << TopicSentence(rng) << "\n";
      if (!out) return Status::IOError("writing " + corpus.string());
    }
    RELATE_ASSIGN_OR_RETURN(
        auto db, DB::Open(db_dir(), {.create_if_missing = true, .log = [](std::string_view) {}}));
    TrainOptions o;
    o.corpus = {corpus};
    o.dimension = kDim;
    o.epochs = 2;
    o.threads = 1;
    o.min_count = 1;
    RELATE_RETURN_IF_ERROR(db->TrainModel(kModel, o));
    for (const CollectionDef& c : kCollections) {
      // Secondary indexes and the keyword index are written in the record's
      // batch: the checks below find any entry a kill tore from its record.
      CollectionSpec spec{.name = c.name,
                          .metric = c.metric,
                          .index_spec = c.index_spec,
                          .filterable = {"odd", "weight", "tags"},
                          .keyword_index = true};
      if (c.model) {
        spec.model = kModel;
      } else {
        spec.dimension = kDim;
      }
      RELATE_RETURN_IF_ERROR(db->CreateCollection(spec));
    }
    return Status::OK();
  }

  // The phase the next kill aims at.
  char PickTarget() {
    static const std::vector<std::pair<char, int>> kWeights = {
        {'r', 20}, {'U', 12}, {'D', 8}, {'K', 8}, {'C', 10},
        {'T', 10}, {'A', 8},  {'X', 8}, {'O', 8}, {'R', 8}};
    int total = 0;
    for (const auto& [_, w] : kWeights) total += w;
    int pick = static_cast<int>(rng_.Below(static_cast<uint64_t>(total)));
    for (const auto& [phase, w] : kWeights) {
      if (pick < w) return phase;
      pick -= w;
    }
    return 'r';
  }

  // Mean duration of a kind of call (or 'R': a background rebuild), as seen so far.
  double MeanSeconds(char kind) const {
    auto it = mean_seconds_.find(kind);
    if (it != mean_seconds_.end()) return it->second;
    static const std::map<char, double> kGuess = {{'U', 0.005}, {'D', 0.005}, {'K', 0.005},
                                                  {'C', 0.03},  {'T', 0.1},   {'A', 0.03},
                                                  {'X', 0.03},  {'O', 0.05},  {'R', 0.05}};
    auto g = kGuess.find(kind);
    return g == kGuess.end() ? 0.01 : g->second;
  }
  void Observe(char kind, double seconds) {
    auto [it, fresh] = mean_seconds_.try_emplace(kind, seconds);
    if (!fresh) it->second = 0.8 * it->second + 0.2 * seconds;
  }

  // Writes the keys each collection holds, for the child.
  Status WritePresent(const fs::path& file) const {
    std::ofstream out(file, std::ios::trunc);
    for (const auto& coll : state_.colls) {
      bool first = true;
      for (const auto& [key, _] : coll) {
        out << (first ? "" : " ") << key;
        first = false;
      }
      out << "\n";
    }
    out.flush();
    return out ? Status::OK() : Status::IOError("writing " + file.string());
  }

  // Starts a child; sets pid_ and the read end of its report pipe in fd_.
  Status Spawn(size_t kill) {
    const fs::path present = args_.dir / "present.txt";
    RELATE_RETURN_IF_ERROR(WritePresent(present));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Status::IOError("pipe2 failed");
    const std::string log = (args_.dir / "child.log").string();
    std::vector<std::string> argv_s = {"relate_crash_torture",
                                       "--child",
                                       "--db",
                                       db_dir().string(),
                                       "--present",
                                       present.string(),
                                       "--seed",
                                       std::to_string(args_.seed),
                                       "--child-index",
                                       std::to_string(kill),
                                       "--first-op",
                                       std::to_string(next_op_),
                                       "--report-fd",
                                       "3"};
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return Status::IOError("fork failed");
    if (pid == 0) {
      // Only async-signal-safe calls until exec: the parent may have threads.
      if (fds[1] == 3) {
        ::fcntl(3, F_SETFD, 0);
      } else {
        ::dup2(fds[1], 3);
      }
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) {
        ::dup2(err, 1);
        ::dup2(err, 2);
      }
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    pid_ = pid;
    fd_ = fds[0];
    return Status::OK();
  }

  // Per-kill bookkeeping of the report stream.
  struct Stream {
    std::string buffer;
    std::optional<Op> pending;                            // began, neither acknowledged nor failed
    std::map<std::string, Clock::time_point> rebuilding;  // collections rebuilding now
    std::deque<std::string> recent;                       // last lines, for messages
    std::optional<std::string> fatal;                     // an F line, or a protocol error
    std::optional<Violation> violation;
    char target = 'r';
    Clock::time_point warm;
    std::optional<Clock::time_point> deadline;
  };

  void Aim(Stream& st, char kind, Clock::time_point now) {
    if (st.deadline || st.target != kind || now < st.warm) return;
    const double wait = rng_.Unit() * 1.3 * MeanSeconds(kind);
    st.deadline =
        now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
  }

  // The collection named in a log line (`collection "NAME": ...`), or "".
  static std::string LogCollection(const std::string& line) {
    const std::string tag = "collection \"";
    const size_t at = line.find(tag);
    if (at == std::string::npos) return "";
    const size_t end = line.find('"', at + tag.size());
    return end == std::string::npos ? "" : line.substr(at + tag.size(), end - at - tag.size());
  }

  void HandleLine(Stream& st, const std::string& line, Clock::time_point now) {
    st.recent.push_back(line.substr(0, 300));
    if (st.recent.size() > 12) st.recent.pop_front();
    const std::vector<std::string> w = SplitWords(line);
    if (w.empty()) return;
    try {
      if (w[0] == "B") {
        auto op = ParseBegin(w);
        if (!op || st.pending) {
          st.fatal = "protocol: unexpected line \"" + line.substr(0, 200) + "\"";
          return;
        }
        op->began = now;
        op->line = line.substr(0, 200);
        next_op_ = std::max(next_op_, op->number);
        st.pending = std::move(*op);
        Aim(st, st.pending->kind, now);
      } else if (w[0] == "A" || w[0] == "E") {
        if (!st.pending || w.size() < 2 || std::stoull(w[1]) != st.pending->number) {
          st.fatal = "protocol: unexpected line \"" + line.substr(0, 200) + "\"";
          return;
        }
        Op op = std::move(*st.pending);
        st.pending.reset();
        Observe(op.kind, std::chrono::duration<double>(now - op.began).count());
        if (op.kind == 'C') st.rebuilding.erase(kCollections[op.coll].name);
        if (w[0] == "E") {
          ++figs_.failed[op.kind];
          if (figs_.failures.size() < 10)
            figs_.failures.push_back(op.line.substr(0, 60) + ": " + line);
          return;
        }
        ++figs_.acked[op.kind];
        figs_.records_acked += op.puts.size() + op.dels.size();
        const std::string want = ApplyOp(state_, op);
        const std::string got = w.size() > 2 ? w[2] : "";
        if ((op.kind == 'D' || op.kind == 'A') && got != want && !st.violation) {
          st.violation =
              Violation{"op " + std::to_string(op.number) + " (" + op.line.substr(0, 80) +
                        ") was acknowledged with result " + got + ", expected " + want};
        }
      } else if (w[0] == "L") {
        const std::string coll = LogCollection(line);
        if (line.find("while it stays in use") != std::string::npos) {
          st.rebuilding[coll] = now;
          Aim(st, 'R', now);
        } else if (line.find("index rebuilt in") != std::string::npos) {
          auto it = st.rebuilding.find(coll);
          if (it != st.rebuilding.end()) {
            Observe('R', std::chrono::duration<double>(now - it->second).count());
            st.rebuilding.erase(it);
          }
          ++figs_.rebuilds_done;
        } else if (line.find("background rebuild failed") != std::string::npos) {
          st.rebuilding.erase(coll);
          if (figs_.failures.size() < 10) figs_.failures.push_back(line);
        }
      } else if (w[0] == "F") {
        st.fatal = "the child gave up: " + line.substr(2);
      }
    } catch (const std::exception& e) {
      st.fatal = "protocol: cannot parse \"" + line.substr(0, 200) + "\": " + e.what();
    }
  }

  // Reads what is in the pipe; false at end of file.
  bool Pump(Stream& st) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      st.buffer.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = st.buffer.find('\n')) != std::string::npos) {
        HandleLine(st, st.buffer.substr(0, nl), Clock::now());
        st.buffer.erase(0, nl + 1);
      }
    }
  }

  std::optional<Violation> KillOnce(size_t kill) {
    ++figs_.kills;
    if (Status s = Spawn(kill); !s.ok()) return Violation{"starting the child: " + s.ToString()};
    Stream st;
    const auto start = Clock::now();
    st.target = PickTarget();
    ++figs_.target[st.target];
    // Aimed kills wait a while first, so they strike databases of every age.
    st.warm = st.target == 'O' ? start : start + std::chrono::milliseconds(rng_.Below(500));
    if (st.target == 'r') st.deadline = start + std::chrono::milliseconds(20 + rng_.Below(1500));
    // A kind that does not come in time: kill anyway.
    const auto hard = start + std::chrono::seconds(6);
    bool exited = false;
    for (;;) {
      const auto now = Clock::now();
      const auto until = std::min(st.deadline.value_or(hard), hard);
      if (now >= until) break;
      pollfd p{fd_, POLLIN, 0};
      const auto ms = std::chrono::duration_cast<std::chrono::microseconds>(until - now).count();
      if (ms > 2000) {
        ::poll(&p, 1, static_cast<int>(ms / 1000));
      } else {
        // Fine-grained: poll's milliseconds are too coarse for calls of a few of them.
        ::poll(&p, 1, 0);
        if (!(p.revents & (POLLIN | POLLHUP))) {
          const timespec ts{0, std::min<long>(static_cast<long>(ms) * 1000, 200000)};
          ::nanosleep(&ts, nullptr);
        }
      }
      if (!Pump(st)) {
        exited = true;
        break;
      }
      if (st.fatal) break;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    while (Pump(st)) {
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 100);
    }
    ::close(fd_);
    const std::string context = "target " + kPhaseNames.at(st.target) + ", in flight: " +
                                (st.pending ? st.pending->line.substr(0, 100) : "nothing");
    if (st.fatal) return Violation{*st.fatal + " (" + context + ")"};
    if (exited && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      return Violation{"the child exited by itself with status " + std::to_string(status) + " (" +
                       context + "); last lines: " + Recent(st)};
    }
    if (st.violation) return Violation{st.violation->what + " (" + context + ")"};
    const char landed = st.pending ? st.pending->kind : '-';
    ++figs_.landed[landed];
    if (st.target != 'r') {
      ++figs_.aimed;
      figs_.on_target += st.target == landed || (st.target == 'R' && !st.rebuilding.empty());
    }
    if (!st.rebuilding.empty()) ++figs_.landed_in_rebuild;
    if (args_.verbose) {
      std::cout << "kill " << kill << ": " << context
                << (st.rebuilding.empty() ? "" : " (a background rebuild was running)") << "\n";
    }
    const auto checking = Clock::now();
    figs_.child_seconds += std::chrono::duration<double>(checking - start).count();
    std::optional<Violation> v = Check(st.pending);
    figs_.check_seconds += std::chrono::duration<double>(Clock::now() - checking).count();
    if (v) v->what += " (" + context + ")";
    return v;
  }

  static std::string Recent(const Stream& st) {
    std::string out;
    for (const auto& l : st.recent) out += "\n  " + l;
    return out;
  }

  // "" if `got` holds what `e` says key `key` of collection `coll` holds; else
  // what differs. Sets *torn when the record is not one whole generation.
  std::string Compare(DB& db, int coll, uint32_t key, const Entry& e, const StoredRecord& got,
                      bool* torn) {
    const Record want = MakeRecord(coll, key, e.gen);
    auto gen = got.metadata.find("gen");
    const bool same_gen = gen != got.metadata.end() &&
                          std::holds_alternative<int64_t>(gen->second) &&
                          std::get<int64_t>(gen->second) == static_cast<int64_t>(e.gen);
    std::string diff;
    if (got.key != want.key) diff = "its key is \"" + got.key + "\"";
    if (diff.empty() && got.text != want.text) diff = "its text differs";
    if (diff.empty() && got.metadata != want.metadata) diff = "its metadata differs";
    if (diff.empty()) {
      std::vector<float> vector = want.vector;
      if (kCollections[coll].model) {
        auto embedded = db.EmbedText(kCollections[coll].name, got.text);
        if (!embedded) return "embedding its text failed: " + embedded.error().ToString();
        vector = std::move(*embedded);
      }
      if (!SameBits(got.vector, vector)) diff = "its vector differs";
    }
    if (diff.empty() && got.version != e.version) {
      diff = "its version is " + std::to_string(got.version) + ", expected " +
             std::to_string(e.version);
    }
    if (!diff.empty()) {
      int64_t stored_gen = gen != got.metadata.end() && std::holds_alternative<int64_t>(gen->second)
                               ? std::get<int64_t>(gen->second)
                               : -1;
      *torn = same_gen;
      diff += " (it holds generation " + std::to_string(stored_gen) + ", expected " +
              std::to_string(e.gen) + ")";
    }
    return diff;
  }

  // "" if key `key` of collection `coll` is as `s` says; else what differs.
  std::string CheckKey(DB& db, const State& s, int coll, uint32_t key, bool* torn, bool* found) {
    auto got = db.Get(kCollections[coll].name, KeyName(key));
    auto it = s.colls[coll].find(key);
    *found = got.has_value();
    if (!got && got.error().code() != Status::Code::kNotFound) {
      return "Get failed: " + got.error().ToString();
    }
    if (it == s.colls[coll].end()) return got ? "it is present, expected absent" : "";
    if (!got) return "it is missing";
    return Compare(db, coll, key, it->second, *got, torn);
  }

  static std::string Where(int coll, uint32_t key) {
    return "collection \"" + std::string(kCollections[coll].name) + "\" key \"" + KeyName(key) +
           "\"";
  }

  // Decides whether the call in flight took effect, and takes it into state_
  // if it did. A violation if it took effect in part.
  std::optional<Violation> Resolve(DB& db, const Op& op) {
    State after = state_;
    ApplyOp(after, op);
    bool applied = false;
    switch (op.kind) {
      case 'U':
      case 'D': {
        std::set<uint32_t> keys;
        for (const auto& [key, _] : op.puts) keys.insert(key);
        keys.insert(op.dels.begin(), op.dels.end());
        bool all_before = true, all_after = true;
        std::string findings;
        for (uint32_t key : keys) {
          bool torn = false, found = false;
          const std::string before_diff = CheckKey(db, state_, op.coll, key, &torn, &found);
          const std::string after_diff = CheckKey(db, after, op.coll, key, &torn, &found);
          all_before = all_before && before_diff.empty();
          all_after = all_after && after_diff.empty();
          if (findings.size() < 600) {
            findings += "; " + KeyName(key) + ": " +
                        (before_diff.empty()  ? "as before the call"
                         : after_diff.empty() ? "as after the call"
                                              : "neither: " + after_diff);
          }
        }
        if (!all_before && !all_after) {
          ++figs_.partial;
          return Violation{"op " + std::to_string(op.number) + " (" + op.line.substr(0, 80) +
                           ", in flight) took effect in part in collection \"" +
                           kCollections[op.coll].name + "\"" + findings};
        }
        applied = !all_before;
        break;
      }
      case 'T': {
        auto model = db.DescribeModel(kModel);
        if (!model) return Violation{"DescribeModel: " + model.error().ToString()};
        if (model->version != state_.model_version && model->version != after.model_version) {
          ++figs_.lost;
          return Violation{"model \"" + std::string(kModel) + "\" is at version " +
                           std::to_string(model->version) + ", expected " +
                           std::to_string(state_.model_version) + " (or " +
                           std::to_string(after.model_version) +
                           " if the training in flight committed)"};
        }
        applied = model->version == after.model_version;
        break;
      }
      case 'A': {
        auto info = db.DescribeCollection(kCollections[kDocs].name);
        if (!info) return Violation{"DescribeCollection: " + info.error().ToString()};
        if (info->model_version != state_.docs_model_version &&
            info->model_version != after.docs_model_version) {
          ++figs_.lost;
          return Violation{"collection \"docs\" holds vectors of model version " +
                           std::to_string(info->model_version) + ", expected " +
                           std::to_string(state_.docs_model_version) + " (or " +
                           std::to_string(after.docs_model_version) +
                           " if the apply in flight committed)"};
        }
        applied = info->model_version == after.docs_model_version &&
                  after.docs_model_version != state_.docs_model_version;
        break;
      }
      default:
        return std::nullopt;
    }
    if (applied) {
      ++figs_.inflight_applied[op.kind];
      figs_.records_acked += op.puts.size() + op.dels.size();
      state_ = std::move(after);
    } else {
      ++figs_.inflight_not_applied[op.kind];
    }
    return std::nullopt;
  }

  // Exact top-10 keys of collection `coll` for query `q` over `vectors`
  // (key -> stored vector), in double precision.
  static std::vector<std::string> ExactTop(int coll, const std::vector<float>& q,
                                           const std::map<uint32_t, std::vector<float>>& vectors) {
    const Metric metric = kCollections[coll].metric;
    auto norm = [](const std::vector<float>& v) {
      double s = 0;
      for (float x : v) s += static_cast<double>(x) * x;
      return std::sqrt(s);
    };
    const double qn = norm(q);
    std::vector<std::pair<double, uint32_t>> scored;  // higher is better
    for (const auto& [key, v] : vectors) {
      double dot = 0, l2 = 0;
      for (uint32_t i = 0; i < kDim; ++i) {
        dot += static_cast<double>(q[i]) * v[i];
        const double d = static_cast<double>(q[i]) - v[i];
        l2 += d * d;
      }
      const double score = metric == Metric::kCosine         ? dot / (qn * norm(v))
                           : metric == Metric::kInnerProduct ? dot
                                                             : -l2;
      scored.emplace_back(score, key);
    }
    const size_t k = std::min<size_t>(10, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + static_cast<ptrdiff_t>(k), scored.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> out;
    for (size_t i = 0; i < k; ++i) out.push_back(KeyName(scored[i].second));
    return out;
  }

  // Searches every collection with its fixed queries; sets recall against
  // `exact`. A violation if a search fails or recall is out of range.
  std::optional<Violation> SearchAll(
      DB& db, const std::vector<std::vector<std::vector<std::string>>>& exact,
      std::vector<std::vector<std::vector<HitKey>>>* out, const std::string& which) {
    out->assign(kNumCollections, {});
    for (int c = 0; c < kNumCollections; ++c) {
      size_t found = 0, wanted = 0;
      for (size_t i = 0; i < exact[c].size(); ++i) {
        auto hits = db.Search(kCollections[c].name, QueryVector(c, static_cast<int>(i)), {.k = 10});
        if (!hits) {
          return Violation{which + ": search in \"" + kCollections[c].name +
                           "\" failed: " + hits.error().ToString()};
        }
        std::vector<HitKey> keys;
        for (const Hit& h : *hits) keys.push_back({h.key, h.score});
        if (hits->size() != exact[c][i].size()) {
          return Violation{which + ": search in \"" + kCollections[c].name + "\" returned " +
                           std::to_string(hits->size()) + " hits, expected " +
                           std::to_string(exact[c][i].size())};
        }
        for (const HitKey& h : keys) {
          found += std::count(exact[c][i].begin(), exact[c][i].end(), h.key);
        }
        wanted += exact[c][i].size();
        (*out)[c].push_back(std::move(keys));
      }
      const double recall =
          wanted == 0 ? 1 : static_cast<double>(found) / static_cast<double>(wanted);
      double& low = kCollections[c].exact ? figs_.min_exact_recall : figs_.min_ann_recall;
      low = std::min(low, recall);
      const double floor = kCollections[c].exact ? 0.98 : 0.6;
      if (recall < floor) {
        return Violation{which + ": recall@10 of \"" + kCollections[c].name +
                         "\" against exact search is " + std::to_string(recall) + ", below " +
                         std::to_string(floor)};
      }
    }
    return std::nullopt;
  }

  // Storage's own check (field entries and keyword postings agree with the
  // records), and a filtered search per collection that must return every
  // record of an odd generation: the secondary index and the k guarantee.
  std::optional<Violation> CheckEntries(DB& db, const std::string& which) {
    auto storage = db.CheckStorage();
    if (!storage || !storage->ok()) {
      ++figs_.verify_failures;
      return Violation{which + ": CheckStorage: " +
                       (storage ? (storage->problems.empty() ? std::string("damaged files")
                                                             : storage->problems[0])
                                : storage.error().ToString())};
    }
    for (int c = 0; c < kNumCollections; ++c) {
      const char* name = kCollections[c].name;
      size_t odd = 0;
      for (const auto& [key, e] : state_.colls[c]) odd += (e.gen & 1) != 0;
      if (state_.colls[c].empty()) continue;
      std::vector<float> query;
      if (kCollections[c].model) {
        auto v = db.EmbedText(name, MakeRecord(c, state_.colls[c].begin()->first, 1).text);
        if (!v) return Violation{which + ": EmbedText(\"" + name + "\"): " + v.error().ToString()};
        query = std::move(*v);
      } else {
        query = MakeRecord(c, state_.colls[c].begin()->first, 1).vector;
      }
      auto hits = db.Search(name, query,
                            {.k = std::max<size_t>(odd, 1), .filter = Filter::Eq("odd", true)});
      if (!hits || hits->size() != odd) {
        ++figs_.verify_failures;
        return Violation{which + ": a search of \"" + name + "\" for odd == true returned " +
                         (hits ? std::to_string(hits->size()) : hits.error().ToString()) +
                         " hits, expected " + std::to_string(odd)};
      }
    }
    return std::nullopt;
  }

  // Verify for every collection; a violation unless it agrees with state_.
  std::optional<Violation> VerifyAll(DB& db, const std::string& which) {
    if (auto v = CheckEntries(db, which)) return v;
    for (int c = 0; c < kNumCollections; ++c) {
      const char* name = kCollections[c].name;
      const uint64_t want = state_.colls[c].size();
      auto report = db.Verify(name);
      if (!report) {
        ++figs_.verify_failures;
        return Violation{which + ": Verify(\"" + name + "\") failed: " + report.error().ToString()};
      }
      if (!report->ok() || report->records != want || report->indexed != want) {
        ++figs_.verify_failures;
        std::string problems;
        for (size_t i = 0; i < report->problems.size() && i < 5; ++i)
          problems += "; " + report->problems[i];
        return Violation{which + ": Verify(\"" + name + "\"): " + std::to_string(report->records) +
                         " records, " + std::to_string(report->indexed) + " indexed, expected " +
                         std::to_string(want) + problems};
      }
      auto stats = db.Stats(name);
      if (!stats || stats->live != want) {
        ++figs_.verify_failures;
        return Violation{which + ": Stats(\"" + std::string(name) + "\") live " +
                         (stats ? std::to_string(stats->live) : stats.error().ToString()) +
                         ", expected " + std::to_string(want)};
      }
    }
    return std::nullopt;
  }

  // Opens the copy at check_dir(); log lines go to `log`.
  Result<std::unique_ptr<DB>> OpenCheck(std::vector<std::string>* log) {
    return DB::Open(check_dir(), {.log = [log](std::string_view l) { log->emplace_back(l); },
                                  .checkpoint_on_close = false});
  }

  std::optional<Violation> Check(const std::optional<Op>& inflight) {
    std::error_code ec;
    fs::remove_all(check_dir(), ec);
    fs::copy(db_dir(), check_dir(), fs::copy_options::recursive, ec);
    if (ec) return Violation{"copying " + db_dir().string() + ": " + ec.message()};
    if (args_.inject_wal_loss) CutNewestLog(check_dir() / "store");
    std::vector<std::string> log;
    std::vector<std::vector<std::vector<std::string>>> exact(kNumCollections);
    std::vector<std::vector<std::vector<HitKey>>> replayed, rebuilt;
    {
      auto opened = OpenCheck(&log);
      if (!opened)
        return Violation{"opening the database after the kill failed: " +
                         opened.error().ToString()};
      DB& db = **opened;
      for (const std::string& line : log) {
        if (line.find("replayed") != std::string::npos) ++figs_.open_replays;
        const size_t end = line.find("; rebuilding its index from storage");
        if (end != std::string::npos) {
          const size_t begin = line.find("\": ");
          std::string why = begin == std::string::npos ? line.substr(0, end)
                                                       : line.substr(begin + 3, end - begin - 3);
          // "its index holds 5 vectors but ..." varies by number: keep the words.
          std::string words;
          for (char ch : why) {
            if (!std::isdigit(static_cast<unsigned char>(ch))) words += ch;
          }
          ++figs_.open_rebuilds[words];
        }
      }
      if (inflight) {
        if (auto v = Resolve(db, *inflight)) return v;
      }
      // (a), (b): every key of the keyspace.
      for (int c = 0; c < kNumCollections; ++c) {
        const char* name = kCollections[c].name;
        std::map<uint32_t, std::vector<float>> vectors;
        for (uint32_t key = 0; key < kKeyspace; ++key) {
          bool torn = false, found = false;
          const std::string diff = CheckKey(db, state_, c, key, &torn, &found);
          if (!diff.empty()) {
            (torn ? figs_.partial : figs_.lost) += 1;
            return Violation{Where(c, key) + ": " + diff +
                             (torn ? " (a torn record)" : " (an acknowledged write lost)")};
          }
          if (found) {
            vectors[key] = db.Get(name, KeyName(key))->vector;
            ++figs_.records_checked;
          } else {
            ++figs_.absent_checked;
          }
        }
        auto count = db.Count(name);
        if (!count || *count != state_.colls[c].size()) {
          ++figs_.lost;
          return Violation{"Count(\"" + std::string(name) + "\") is " +
                           (count ? std::to_string(*count) : count.error().ToString()) +
                           ", expected " + std::to_string(state_.colls[c].size())};
        }
        for (int i = 0; i < 12; ++i) exact[c].push_back(ExactTop(c, QueryVector(c, i), vectors));
      }
      auto model = db.DescribeModel(kModel);
      auto docs = db.DescribeCollection(kCollections[kDocs].name);
      if (!model || model->version != state_.model_version || !docs ||
          docs->model_version != state_.docs_model_version) {
        ++figs_.lost;
        return Violation{"model versions: \"" + std::string(kModel) + "\" at " +
                         (model ? std::to_string(model->version) : model.error().ToString()) +
                         ", expected " + std::to_string(state_.model_version) + "; \"docs\" at " +
                         (docs ? std::to_string(docs->model_version) : docs.error().ToString()) +
                         ", expected " + std::to_string(state_.docs_model_version)};
      }
      // (c)
      if (auto v = VerifyAll(db, "after the kill")) return v;
      if (auto v = SearchAll(db, exact, &replayed, "after the kill")) return v;
    }
    // Closed, the directory holds no leftovers of what the kill interrupted:
    // index checkpoints are whole files of live collections, training keeps
    // at most resume checkpoints.
    if (auto v = CheckLeftovers()) return v;
    // (d): the same database with its indexes rebuilt from storage.
    for (const auto& entry : fs::directory_iterator(check_dir() / "index", ec))
      fs::remove(entry.path(), ec);
    log.clear();
    {
      auto opened = OpenCheck(&log);
      if (!opened)
        return Violation{"opening the copy without index checkpoints failed: " +
                         opened.error().ToString()};
      DB& db = **opened;
      if (auto v = VerifyAll(db, "rebuilt from storage")) return v;
      if (auto v = SearchAll(db, exact, &rebuilt, "rebuilt from storage")) return v;
    }
    for (int c = 0; c < kNumCollections; ++c) {
      if (!kCollections[c].exact) continue;
      for (size_t i = 0; i < replayed[c].size(); ++i) {
        auto a = replayed[c][i], b = rebuilt[c][i];
        if (a == b) continue;
        // Equal scores may come in either order.
        auto order = [](const HitKey& x, const HitKey& y) {
          return x.score != y.score ? x.score > y.score : x.key < y.key;
        };
        std::sort(a.begin(), a.end(), order);
        std::sort(b.begin(), b.end(), order);
        if (a == b) continue;
        ++figs_.replay_mismatches;
        std::string detail;
        for (size_t j = 0; j < std::max(a.size(), b.size()) && j < 10; ++j) {
          detail += " [" + (j < a.size() ? a[j].key + " " + std::to_string(a[j].score) : "-") +
                    " | " + (j < b.size() ? b[j].key + " " + std::to_string(b[j].score) : "-") +
                    "]";
        }
        return Violation{
            "\"" + std::string(kCollections[c].name) + "\" query " + std::to_string(i) +
            ": the replayed index and the one rebuilt from storage answer differently:" + detail};
      }
    }
    fs::remove_all(check_dir(), ec);
    return std::nullopt;
  }

  // A violation if check_dir() holds a file that an interrupted checkpoint or
  // training left behind and opening did not remove.
  std::optional<Violation> CheckLeftovers() const {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(check_dir() / "index", ec)) {
      const std::string name = entry.path().filename().string();
      const bool checkpoint =
          name.rfind("collection-", 0) == 0 && entry.path().extension() == ".faiss";
      if (!checkpoint) return Violation{"after open and close, index/ holds " + name};
    }
    for (const auto& entry : fs::directory_iterator(check_dir() / "training", ec)) {
      if (entry.path().extension() != ".ckpt") {
        return Violation{"after open and close, training/ holds " +
                         entry.path().filename().string()};
      }
    }
    return std::nullopt;
  }

  // Cuts the newest *.log file under `dir` to half its size.
  static void CutNewestLog(const fs::path& dir) {
    std::error_code ec;
    fs::path newest;
    fs::file_time_type when{};
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".log" || entry.file_size(ec) == 0) continue;
      if (newest.empty() || entry.last_write_time(ec) > when) {
        newest = entry.path();
        when = entry.last_write_time(ec);
      }
    }
    if (newest.empty()) return;
    const auto size = fs::file_size(newest, ec);
    fs::resize_file(newest, size / 2, ec);
    std::cout << "injected: cut " << newest << " from " << size << " to " << size / 2 << " bytes\n";
  }

  void PrintFigures(Clock::duration elapsed) const {
    auto names = [](const std::map<char, size_t>& m) {
      std::string out;
      for (const auto& [k, v] : m) {
        out += (out.empty() ? "" : ", ") + kPhaseNames.at(k) + " " + std::to_string(v);
      }
      return out.empty() ? std::string("none") : out;
    };
    const double seconds = std::chrono::duration<double>(elapsed).count();
    std::cout << "\ncrash torture: seed " << args_.seed << ", " << figs_.kills << " kills in "
              << static_cast<int>(seconds) << " s\n"
              << "  kills survived:                 " << figs_.survived << " of " << figs_.kills
              << "\n"
              << "  child calls acknowledged:       " << TotalAcked() << " (" << names(figs_.acked)
              << ")\n"
              << "  records written or deleted by acknowledged calls: " << figs_.records_acked
              << "\n"
              << "  calls that returned an error:   " << names(figs_.failed) << "\n";
    for (const auto& f : figs_.failures) std::cout << "      " << f.substr(0, 240) << "\n";
    std::cout << "  records checked (present, compared field by field): " << figs_.records_checked
              << "\n"
              << "  absent keys checked:            " << figs_.absent_checked << "\n"
              << "  acknowledged writes lost:       " << figs_.lost << "\n"
              << "  partial (torn) records or calls: " << figs_.partial << "\n"
              << "  verify failures:                " << figs_.verify_failures << "\n"
              << "  replay-vs-rebuild mismatches:   " << figs_.replay_mismatches << "\n"
              << "  kills aimed at:                 " << names(figs_.target) << "\n"
              << "  kills landed during:            " << names(figs_.landed) << "\n"
              << "  ... with a background rebuild running: " << figs_.landed_in_rebuild << "\n"
              << "  aimed kills that struck the phase aimed at: " << figs_.on_target << " of "
              << figs_.aimed << "\n"
              << "  call in flight found applied:   " << names(figs_.inflight_applied) << "\n"
              << "  call in flight found not applied: " << names(figs_.inflight_not_applied) << "\n"
              << "  background rebuilds/compactions finished by children: " << figs_.rebuilds_done
              << "\n"
              << "  opens after a kill that replayed a change log: " << figs_.open_replays << "\n"
              << "  opens after a kill that rebuilt an index from storage, by reason:\n";
    for (const auto& [why, n] : figs_.open_rebuilds)
      std::cout << "      " << n << "  " << why << "\n";
    std::cout << "  lowest recall@10 vs exact: exact kinds " << figs_.min_exact_recall
              << ", approximate kinds " << figs_.min_ann_recall << "\n"
              << "  time: children " << static_cast<int>(figs_.child_seconds) << " s, checks "
              << static_cast<int>(figs_.check_seconds) << " s\n"
              << "  mean call duration (ms):";
    for (const auto& [kind, s] : mean_seconds_) {
      std::cout << " " << kPhaseNames.at(kind) << " " << static_cast<int>(s * 1000 + 0.5);
    }
    std::cout << "\n";
  }

  Args args_;
  Rng rng_;
  State state_;
  Figures figs_;
  uint64_t next_op_ = 0;
  std::map<char, double> mean_seconds_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

int Usage() {
  std::cerr
      << "usage: relate_crash_torture [--kills N] [--seed S] [--dir D] [--keep] [--verbose]\n"
         "  --kills N  kill the writing child N times (default 15)\n"
         "  --seed S   seed of the workload and of the kill times (default 1)\n"
         "  --dir D    a new or empty scratch directory (default /tmp/relate-torture-<pid>),\n"
         "             removed at the end unless --keep or a check fails\n"
         "  --inject-wal-loss  self-test: cut the newest write-ahead log of the checked\n"
         "             copy in half; the run must then fail\n";
  return 2;
}

}  // namespace
}  // namespace relate::torture

int main(int argc, char** argv) {
  using namespace relate::torture;
  // OpenMP's idle threads spin by default; beside the other process (child or
  // parent) on a small machine they starve it and a check takes ten times as
  // long. The OpenMP runtime reads the setting when it loads, so start again with it.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    ::execv("/proc/self/exe", argv);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  auto value = [&](size_t& i) -> std::string {
    if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
    return args[++i];
  };
  try {
    if (!args.empty() && args[0] == "--child") {
      std::string db, present;
      uint64_t seed = 0, index = 0, first_op = 0;
      int fd = -1;
      for (size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--db")
          db = value(i);
        else if (args[i] == "--present")
          present = value(i);
        else if (args[i] == "--seed")
          seed = std::stoull(value(i));
        else if (args[i] == "--child-index")
          index = std::stoull(value(i));
        else if (args[i] == "--first-op")
          first_op = std::stoull(value(i));
        else if (args[i] == "--report-fd")
          fd = std::stoi(value(i));
        else
          return Usage();
      }
      if (db.empty() || present.empty() || fd < 0) return Usage();
      return RunChild(db, present, seed, index, first_op, fd);
    }
    Args a;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--kills")
        a.kills = std::stoull(value(i));
      else if (args[i] == "--seed")
        a.seed = std::stoull(value(i));
      else if (args[i] == "--dir")
        a.dir = value(i);
      else if (args[i] == "--keep")
        a.keep = true;
      else if (args[i] == "--verbose")
        a.verbose = true;
      else if (args[i] == "--inject-wal-loss")
        a.inject_wal_loss = true;
      else
        return Usage();
    }
    if (a.dir.empty()) {
      a.dir =
          std::filesystem::temp_directory_path() / ("relate-torture-" + std::to_string(::getpid()));
    }
    ::signal(SIGPIPE, SIG_IGN);
    return Torture(std::move(a)).Run();
  } catch (const std::exception& e) {
    std::cerr << "relate_crash_torture: " << e.what() << "\n";
    return Usage();
  }
}
