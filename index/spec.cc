#include "index/spec.h"

#include <algorithm>
#include <regex>
#include <string_view>
#include <vector>

#include "index/vector_index.h"

namespace relate::index {
namespace {

// The limits CheckSpec applies. FAISS's k-means wants 39 training vectors a
// centroid: a million lists would train on 40 million, and FAISS allocates
// the lists (and PQ 2^bits centroids a part) when the index is made.
constexpr uint64_t kMaxLists = uint64_t{1} << 20;
constexpr uint64_t kMaxPqBits = 16;
constexpr uint64_t kMaxIvfPqBits = 8;  // FAISS 1.7.3's IndexIVFPQ throws beyond
constexpr uint64_t kMaxImiBits = 10;   // 2^(2 x bits) lists
constexpr uint64_t kMaxTransformDimension = 65536;
constexpr size_t kMaxSpecBytes = 256;

// `digits` as a number from lo to hi, or what is wrong with it (`what` names
// it: "IVF's list count").
std::optional<std::string> CountProblem(const std::string& digits, uint64_t lo, uint64_t hi,
                                        const std::string& what, uint64_t* out) {
  const std::string range = "from " + std::to_string(lo) + " to " + std::to_string(hi);
  // More digits than hi has: out of range, however many (std::stoull would throw).
  if (digits.size() > std::to_string(hi).size()) {
    return what + " must be " + range + ", not " + digits;
  }
  *out = std::stoull(digits);
  if (*out < lo || *out > hi) return what + " must be " + range + ", not " + digits;
  return std::nullopt;
}

// A PQ code of `m` parts of `bits` (empty: 8, at most max_bits) over `d` dimensions.
std::optional<std::string> PqProblem(const std::string& m, const std::string& bits, uint64_t d,
                                     uint64_t max_bits = kMaxPqBits) {
  uint64_t parts = 0, b = 8;
  if (auto p = CountProblem(m, 1, d, "PQ's part count (over " + std::to_string(d) + " dimensions)",
                            &parts)) {
    return p;
  }
  if (d % parts != 0) {
    return "PQ" + m + " splits " + std::to_string(d) + " dimensions into " + m +
           " parts: the part count must divide the dimension";
  }
  if (!bits.empty()) {
    if (auto p = CountProblem(bits, 1, max_bits, "PQ's bits a part", &b)) return p;
  }
  return std::nullopt;
}

std::optional<std::string> SqProblem(const std::string& code) {
  static const std::regex sq("SQ(4|6|8|fp16)");
  if (std::regex_match(code, sq)) return std::nullopt;
  return "\"" + code + "\" is not a scalar quantizer of FAISS 1.7.3: use SQ4, SQ6, SQ8 or SQfp16";
}

// An HNSW graph's M, the digits after "HNSW" (empty: FAISS's 32).
std::optional<std::string> HnswMProblem(const std::string& digits) {
  uint64_t m = 0;
  if (digits.empty()) return std::nullopt;
  return CountProblem(digits, 2, 1024, "HNSW's M", &m);
}

// What a refusal of an unknown part says relate takes.
constexpr const char* kGrammar =
    "relate takes Flat, HNSW<M>[,Flat|,PQ<m>|,SQ<type>], IVF<n>,{Flat|PQ<m>[x<bits>]|SQ<type>}, "
    "PQ<m>[x<bits>], SQ<type> or LSH, after any of PCA<d>, OPQ<m>[_<d>], RR<d>, L2norm, Pad<d>";

// The code after an inverted file: Flat, SQ<type> or PQ<m>[x<bits>][np] over d dimensions.
std::optional<std::string> IvfCodeProblem(const std::string& code, uint64_t d) {
  static const std::regex pq("PQ([0-9]+)(?:x([0-9]+))?(np)?");
  std::smatch m;
  if (code == "Flat") return std::nullopt;
  if (std::regex_match(code, m, pq)) return PqProblem(m[1].str(), m[2].str(), d, kMaxIvfPqBits);
  if (code.rfind("SQ", 0) == 0) return SqProblem(code);
  return "no code \"" + code + "\" after an inverted file; " + kGrammar;
}

// A transform before the index: nullopt if `part` is not one; else what is
// wrong with it (empty: nothing), with `d` moved to its output dimension.
std::optional<std::string> TransformProblem(const std::string& part, uint64_t& d) {
  static const std::regex pca("PCA(W?)(R?)([0-9]+)");
  static const std::regex opq("OPQ([0-9]+)(?:_([0-9]+))?");
  static const std::regex rr("RR([0-9]+)?");
  static const std::regex pad("Pad([0-9]+)");
  std::smatch m;
  uint64_t n = 0;
  if (std::regex_match(part, m, pca)) {
    if (auto p = CountProblem(m[3].str(), 1, d,
                              "PCA's output dimension (of " + std::to_string(d) + ")", &n)) {
      return p;
    }
    d = n;
    return std::string();
  }
  if (std::regex_match(part, m, opq)) {
    uint64_t parts = 0, out = d;
    if (m[2].matched) {
      if (auto p = CountProblem(m[2].str(), 1, d,
                                "OPQ's output dimension (of " + std::to_string(d) + ")", &out)) {
        return p;
      }
    }
    if (auto p = CountProblem(m[1].str(), 1, out,
                              "OPQ's part count (over " + std::to_string(out) + " dimensions)",
                              &parts)) {
      return p;
    }
    if (out % parts != 0) {
      return part + " splits " + std::to_string(out) + " dimensions into " + m[1].str() +
             " parts: the part count must divide the dimension";
    }
    d = out;
    return std::string();
  }
  if (std::regex_match(part, m, rr)) {
    if (!m[1].matched) return std::string();
    // (FAISS allows more, as a d_out x d_out matrix: 16 GiB at 65536.)
    if (auto p = CountProblem(m[1].str(), 1, d,
                              "RR's output dimension (of " + std::to_string(d) + ")", &n)) {
      return p;
    }
    d = n;
    return std::string();
  }
  if (std::regex_match(part, m, pad)) {
    if (auto p =
            CountProblem(m[1].str(), 1, kMaxTransformDimension, "Pad's output dimension", &n)) {
      return p;
    }
    d = std::max(d, n);
    return std::string();
  }
  if (part == "L2norm" || part == "L2Norm") return std::string();
  return std::nullopt;
}

}  // namespace

std::string SpecProblem(uint64_t dimension, const std::string& spec) {
  if (spec.size() > kMaxSpecBytes) {
    return "it has " + std::to_string(spec.size()) + " bytes, at most " +
           std::to_string(kMaxSpecBytes);
  }
  if (spec.find("IDMap") != std::string::npos) return "leave out IDMap, relate maps ids itself";
  // Kinds FAISS 1.7.3 builds but that break relate's contract (every vector can
  // be added one batch at a time and removed).
  if (spec.find("NSG") != std::string::npos) {
    return "NSG graphs cannot be added to in batches; use HNSW<M>";
  }
  if (std::regex_search(spec, std::regex("x[0-9]+fs"))) {
    return "fast-scan codes cannot remove vectors in FAISS 1.7.3; use PQ<m> or PQ<m>x<bits>";
  }
  if (spec.find("RFlat") != std::string::npos || spec.find("Refine") != std::string::npos) {
    return "leave refinement out of the spec and use relate's refine knob, which "
           "re-ranks over the vectors it stores";
  }
  static const std::regex hnsw("HNSW([0-9]*)");
  for (std::sregex_iterator it(spec.begin(), spec.end(), hnsw), end; it != end; ++it) {
    if (HnswMProblem((*it)[1].str())) return "HNSW needs M from 2 to 1024";
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t comma = spec.find(',', start);
    parts.push_back(spec.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (std::find(parts.begin(), parts.end(), "") != parts.end()) {
    return "it has an empty part between commas (or a comma at an end)";
  }
  uint64_t d = dimension;
  size_t first = 0;
  // FAISS takes a part as a transform only when more parts follow.
  for (; first + 1 < parts.size(); ++first) {
    auto problem = TransformProblem(parts[first], d);
    if (!problem) break;
    if (!problem->empty()) return *problem;
  }
  const std::vector<std::string> rest(parts.begin() + static_cast<ptrdiff_t>(first), parts.end());
  const std::string& head = rest[0];
  static const std::regex pq("PQ([0-9]+)(?:x([0-9]+))?(np)?");
  static const std::regex hnsw_codes("HNSW([0-9]*)(?:[,_](.*))?");
  static const std::regex hnsw_pq("PQ([0-9]+)(np)?");
  static const std::regex ivf("IVF([0-9]+)(?:_HNSW([0-9]*))?");
  static const std::regex imi("IMI2x([0-9]+)");
  std::smatch m;
  uint64_t n = 0;
  if (rest.size() == 1) {
    static const std::regex lsh("LSHr?t?");
    if (head == "Flat" || std::regex_match(head, lsh)) return {};
    if (head.rfind("SQ", 0) == 0) return SqProblem(head).value_or("");
    if (std::regex_match(head, m, pq)) return PqProblem(m[1].str(), m[2].str(), d).value_or("");
  }
  std::string joined = head;
  for (size_t i = 1; i < rest.size(); ++i) joined += "," + rest[i];
  // FAISS takes "," or "_" between HNSW and its code.
  if (std::regex_match(joined, m, hnsw_codes) && m[2].str().find(',') == std::string::npos) {
    const std::string code = m[2].str();
    std::smatch c;
    if (code.empty() || code == "Flat") return {};
    if (code.rfind("SQ", 0) == 0) return SqProblem(code).value_or("");
    if (std::regex_match(code, c, hnsw_pq)) return PqProblem(c[1].str(), "", d).value_or("");
    return "no code \"" + code + "\" under an HNSW graph; " + kGrammar;
  }
  if (rest.size() == 2 && std::regex_match(head, m, ivf)) {
    if (auto p = CountProblem(m[1].str(), 1, kMaxLists, "IVF's list count", &n)) return *p;
    return IvfCodeProblem(rest[1], d).value_or("");
  }
  if (rest.size() == 2 && std::regex_match(head, m, imi)) {
    if (auto p = CountProblem(m[1].str(), 1, kMaxImiBits, "IMI's bits a half", &n)) return *p;
    if (d % 2 != 0) return "IMI2x splits vectors in halves: it needs an even dimension";
    return IvfCodeProblem(rest[1], d).value_or("");
  }
  if (rest.size() == 1 && (std::regex_match(head, ivf) || std::regex_match(head, imi))) {
    return "an inverted file needs a code after it: " + head + ",Flat, " + head + ",SQ8 or " +
           head + ",PQ<m>";
  }
  if (rest.size() == 1 && TransformProblem(head, d)) {
    return "it ends with the transform " + head + "; an index must follow it";
  }
  return "\"" + head + "\" is not an index relate builds; " + kGrammar;
}

std::optional<int> NativeHnswM(const std::string& spec) {
  static const std::regex re("HNSW([0-9]+)(,Flat)?");
  std::smatch m;
  if (!std::regex_match(spec, m, re) || m[1].str().size() > 4) return std::nullopt;
  const int value = std::stoi(m[1].str());
  if (value < 2 || value > 1024) return std::nullopt;
  return value;
}

std::string VectorIndex::ResolveSpec(std::string_view spec) {
  return spec == "auto" || spec.empty() ? std::string("Flat") : std::string(spec);
}

Status VectorIndex::CheckSpec(uint32_t dimension, std::string_view spec) {
  const std::string resolved = ResolveSpec(spec);
  if (dimension == 0) return Status::InvalidArgument("index dimension is 0");
  const std::string problem = SpecProblem(dimension, resolved);
  if (problem.empty()) return Status::OK();
  return Status::InvalidArgument("index spec \"" + resolved + "\": " + problem);
}

std::string VectorIndex::AutoSpec(size_t rows, uint32_t dimension) {
  const double values = static_cast<double>(rows) * dimension;
  return values < kAutoGraphValues ? "Flat" : "HNSW32";
}

}  // namespace relate::index
