// What the crash torture's child writes and the parent checks: the collections,
// the content of every record (a pure function of collection, key and
// generation, so an acknowledgement needs to carry only those), and the lines
// of the report pipe from child to parent.
//
// Report lines (one write(2) each, newline-terminated; a line cut short by the
// kill is ignored):
//   B <op> U <coll> <key>:<gen> ...   an upsert is about to be called
//   B <op> D <coll> <key> ...         a delete
//   B <op> K | C <coll> | T | A       checkpoint, compact, train, apply model
//   B <op> X | O                      closing, opening the database
//   A <op> [<result>]                 the call returned OK (delete: records removed;
//                                     apply: collections moved)
//   E <op> <status>                   the call failed
//   L <log line>                      a line of the database's log
//   F <message>                       the child gives up (exits non-zero)
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "relate/relate.h"

namespace relate::torture {

// Every vector of every collection has this many values.
inline constexpr uint32_t kDim = 16;
// Keys of a collection are "k0" .. "k<kKeyspace - 1>".
inline constexpr uint32_t kKeyspace = 3000;
// Name of the model that "docs" is bound to, trained again and again by the child.
inline constexpr const char* kModel = "topics";
// Collection whose texts the child trains the model on, and how many records it
// must hold first (so the model knows nearly every word).
inline constexpr int kTrainSource = 0;
inline constexpr size_t kTrainMinRecords = 200;

struct CollectionDef {
  const char* name;
  Metric metric;
  const char* index_spec;
  bool model;  // bound to kModel: records carry text only, vectors come from the model
  bool exact;  // its index answers exactly (Flat, or "auto" at this size)
};

// The collections, by index (the <coll> of report lines).
inline constexpr CollectionDef kCollections[] = {
    {"flat", Metric::kCosine, "Flat", false, true},
    {"hnsw", Metric::kCosine, "HNSW16", false, false},
    {"ivf", Metric::kL2, "IVF16,Flat", false, false},
    {"auto", Metric::kInnerProduct, "auto", false, true},
    {"docs", Metric::kCosine, "Flat", true, true},
};
inline constexpr int kNumCollections = sizeof(kCollections) / sizeof(kCollections[0]);

// SplitMix64's finaliser: a well-mixed 64-bit hash of x.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A small deterministic generator (the same numbers in parent and child).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(Mix(seed)) {}
  uint64_t Next() { return state_ = Mix(state_); }
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }

 private:
  uint64_t state_;
};

inline std::string KeyName(uint32_t key) { return "k" + std::to_string(key); }

// A sentence of 12 words of one topic, words "t<topic>w<i>" (20 topics of 15
// words, like testutil::TopicText), so that a model trained on such texts
// knows every word.
inline std::string TopicSentence(Rng& rng) {
  const uint64_t topic = rng.Below(20);
  std::string out;
  for (int i = 0; i < 12; ++i) {
    if (i > 0) out += ' ';
    out += "t" + std::to_string(topic) + "w" + std::to_string(rng.Below(15));
  }
  return out;
}

// The record that generation `gen` of `key` in collection `coll` holds. Records
// of a collection with a model carry no vector (the model gives it).
inline Record MakeRecord(int coll, uint32_t key, uint64_t gen) {
  Rng rng(Mix(gen) ^ (static_cast<uint64_t>(key) << 20) ^ static_cast<uint64_t>(coll));
  Record r;
  r.key = KeyName(key);
  r.text = TopicSentence(rng);
  r.metadata["gen"] = static_cast<int64_t>(gen);
  r.metadata["key"] = r.key;
  r.metadata["weight"] = rng.Unit() * 1000 - 500;
  r.metadata["odd"] = (gen & 1) != 0;
  r.metadata["tags"] =
      std::vector<std::string>{kCollections[coll].name, "g" + std::to_string(gen % 7)};
  if (!kCollections[coll].model) {
    r.vector.resize(kDim);
    std::generate(r.vector.begin(), r.vector.end(),
                  [&] { return static_cast<float>(rng.Unit() * 2 - 1); });
  }
  return r;
}

// The i-th of a collection's fixed search queries.
inline std::vector<float> QueryVector(int coll, int i) {
  Rng rng(0x51ea7c4ULL + static_cast<uint64_t>(coll) * 1000 + static_cast<uint64_t>(i));
  std::vector<float> q(kDim);
  std::generate(q.begin(), q.end(), [&] { return static_cast<float>(rng.Unit() * 2 - 1); });
  return q;
}

// Bit-exact equality of two float vectors.
inline bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Splits a line at single spaces.
inline std::vector<std::string> SplitWords(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= line.size()) {
    const size_t end = line.find(' ', start);
    if (end == std::string::npos) {
      if (start < line.size()) out.push_back(line.substr(start));
      break;
    }
    if (end > start) out.push_back(line.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The child's side: runs the workload on the database in `db_dir` until it is
// killed, reporting on file descriptor `report_fd`. `present_file` lists the
// keys each collection holds (one line per collection, key numbers separated
// by spaces), as the parent's check left them. Returns only on failure (the
// process exit code).
int RunChild(const std::string& db_dir, const std::string& present_file, uint64_t seed,
             uint64_t child_index, uint64_t first_op, int report_fd);

}  // namespace relate::torture
