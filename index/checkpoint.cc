// VectorIndex::Save and VectorIndex::Load: the checkpoint format of
// checkpoint.h, around what each family writes of itself (Family::Write).
#include "index/checkpoint.h"

#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "index/family.h"
#include "index/vector_index.h"
#include "index/vector_index_rep.h"
#include "util/bitset.h"
#include "util/durable_file.h"

namespace relate::index {
namespace {

constexpr size_t kHeaderSize = kCheckpointHeaderSize;
constexpr size_t kTrailerSize = kCheckpointTrailerSize;

void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

// A failed durable write as Save reports it: IOError (the writer says
// NotFound for a missing directory), with the writer's account of it.
Status WriteFailed(const Status& s) {
  return Status::IOError("writing index checkpoint: " + std::string(s.message()));
}

struct FreeHashState {
  void operator()(XXH64_state_t* state) const { XXH64_freeState(state); }
};

// Appends the checkpoint to a DurableFileWriter while hashing it: relate's
// sections, and FAISS's serialisation as a faiss::IOWriter.
class ChecksumWriter final : public faiss::IOWriter {
 public:
  explicit ChecksumWriter(util::DurableFileWriter* file)
      : file_(file), state_(XXH64_createState()) {
    XXH64_reset(state_.get(), 0);
  }
  // Payload bytes (counted for the trailer).
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    const size_t bytes = size * nitems;
    if (!Write(ptr, bytes)) return 0;
    payload_ += bytes;
    return nitems;
  }
  // Hashed bytes that are not payload (the header).
  bool Write(const void* ptr, size_t bytes) {
    if (!status_.ok()) return false;
    XXH64_update(state_.get(), ptr, bytes);
    status_ = file_->Append(std::string_view(static_cast<const char*>(ptr), bytes));
    return status_.ok();
  }
  // The trailer: the payload's size, then the hash of everything before the
  // hash (which is not part of itself).
  bool Finish() {
    if (!status_.ok()) return false;
    char trailer[kTrailerSize];
    Put64(trailer, payload_);
    XXH64_update(state_.get(), trailer, 8);
    Put64(trailer + 8, XXH64_digest(state_.get()));
    status_ = file_->Append(std::string_view(trailer, kTrailerSize));
    return status_.ok();
  }
  // OK, or the first failed append.
  const Status& status() const { return status_; }

 private:
  util::DurableFileWriter* file_;
  std::unique_ptr<XXH64_state_t, FreeHashState> state_;
  uint64_t payload_ = 0;
  Status status_;
};

// Reads FAISS's serialisation (and relate's sections) from a file whose
// checksum was checked, never past the payload's end.
class FileReader : public faiss::IOReader {
 public:
  FileReader(std::FILE* file, uint64_t bytes) : file_(file), left_(bytes) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0) return nitems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(nitems, left_ / size));
    const size_t got = std::fread(ptr, size, n, file_);
    left_ -= got * size;
    return got;
  }
  bool Read(void* ptr, size_t bytes) { return (*this)(ptr, 1, bytes) == bytes; }
  uint64_t left() const { return left_; }

 private:
  std::FILE* file_;
  uint64_t left_;
};

// An open checkpoint whose size, magic, payload size and checksum agree.
struct CheckedFile {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{nullptr, &std::fclose};
  char header[kHeaderSize] = {};
  uint64_t payload_size = 0;
};

// Two passes over one open file, never holding it in memory: this one
// checks the checksum, then FAISS parses the payload straight from the file.
Result<CheckedFile> OpenChecked(const std::filesystem::path& path, const std::string& where) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::NotFound(path.string() + " does not exist");
  }
  CheckedFile out;
  out.file.reset(std::fopen(path.c_str(), "rb"));
  std::FILE* file = out.file.get();
  if (file == nullptr) return Errno("reading " + path.string());
  if (std::fseek(file, 0, SEEK_END) != 0) return Errno("reading " + path.string());
  const long end = std::ftell(file);
  if (end < 0) return Errno("reading " + path.string());
  const auto size = static_cast<uint64_t>(end);
  if (size < kHeaderSize + kTrailerSize) {
    return Status::Corruption(where + " is truncated (" + std::to_string(size) + " bytes)");
  }
  char trailer[kTrailerSize];
  auto read_at = [&](uint64_t offset, char* to, size_t bytes) {
    return std::fseek(file, static_cast<long>(offset), SEEK_SET) == 0 &&
           std::fread(to, 1, bytes, file) == bytes;
  };
  if (!read_at(0, out.header, kHeaderSize) ||
      !read_at(size - kTrailerSize, trailer, kTrailerSize)) {
    return Errno("reading " + path.string());
  }
  if (std::memcmp(out.header, kCheckpointOldMagic, 8) == 0) {
    return Status::Corruption(where + " has an older format");
  }
  if (std::memcmp(out.header, kCheckpointMagic, 8) != 0) {
    return Status::Corruption(where + " is not a relate checkpoint");
  }
  out.payload_size = Get64(trailer);
  if (out.payload_size != size - kHeaderSize - kTrailerSize) {
    return Status::Corruption(where + " is truncated: it says " + std::to_string(out.payload_size) +
                              " bytes of index, it has " +
                              std::to_string(size - kHeaderSize - kTrailerSize));
  }
  std::unique_ptr<XXH64_state_t, FreeHashState> state(XXH64_createState());
  XXH64_reset(state.get(), 0);
  std::vector<char> chunk(1 << 20);
  bool read_ok = std::fseek(file, 0, SEEK_SET) == 0;
  for (uint64_t left = size - 8; read_ok && left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
    read_ok = std::fread(chunk.data(), 1, n, file) == n;
    XXH64_update(state.get(), chunk.data(), n);
    left -= n;
  }
  const uint64_t digest = XXH64_digest(state.get());
  if (!read_ok) return Errno("reading " + path.string());
  if (digest != Get64(trailer + 8)) return Status::Corruption(where + " fails its checksum");
  return out;
}

// Reads the id list and the tombstone words; false if they do not fit.
bool ReadPositions(FileReader& reader, Positions& p) {
  uint64_t positions = 0, dead_words = 0;
  if (!reader.Read(&positions, 8) || positions > reader.left() / 8) return false;
  p.ids.resize(positions);
  if (!reader.Read(p.ids.data(), positions * 8)) return false;
  if (!reader.Read(&dead_words, 8) || dead_words > reader.left() / 8) return false;
  if (dead_words != 0 && dead_words != (positions + 63) / 64) return false;
  std::vector<uint64_t> words(dead_words);
  if (!reader.Read(words.data(), dead_words * 8)) return false;
  // Every bit the words hold, those past the last position too (CheckLoaded refuses them).
  p.dead = util::Bitset::FromWords(std::move(words));
  return true;
}

// After Load: the structures read from a checkpoint agree with themselves.
Status CheckLoaded(const Positions& p, const Family& family) {
  // Tombstone bits only where tombstones are kept, and none past the last position.
  if (p.dead.word_count() != 0) {
    if (family.removal() != Removal::kTombstone) {
      return Status::Corruption("it has tombstones in a kind that removes vectors");
    }
    for (uint64_t pos = p.ids.size(); pos < uint64_t{p.dead.word_count()} * 64; ++pos) {
      if (p.dead.Test(pos)) return Status::Corruption("it has tombstones past its last vector");
    }
  }
  return family.CheckLoaded(p);
}

// Fills where, holes and dead_count from the id list and tombstones read.
Status IndexLoaded(Positions& p, const std::string& where) {
  for (size_t pos = 0; pos < p.ids.size(); ++pos) {
    if (p.ids[pos] == kNoId) {
      ++p.holes;
      continue;
    }
    if (p.IsDead(pos)) {
      ++p.dead_count;
      continue;
    }
    if (!p.where.emplace(p.ids[pos], pos).second) {
      return Status::Corruption(where + ": id " + std::to_string(p.ids[pos]) + " appears twice");
    }
  }
  return Status::OK();
}

}  // namespace

Status VectorIndex::Save(const std::filesystem::path& path, uint32_t collection_id,
                         uint64_t last_change) const {
  const Rep& r = *rep_;
  if (!r.unusable.ok()) return Status::OK();  // Load never reads a checkpoint of its spec
  const Positions& p = r.positions;
  const Family& family = *r.family;
  util::DurableFileWriter file(path);
  if (Status s = file.Open(); !s.ok()) return WriteFailed(s);
  ChecksumWriter w(&file);
  char header[kHeaderSize] = {};
  std::memcpy(header, kCheckpointMagic, 8);
  Put32(header + 8, collection_id);
  Put32(header + 12, dimension_);
  Put32(header + 16, static_cast<uint32_t>(metric_));
  Put32(header + 20, static_cast<uint32_t>(family.kind()));
  Put64(header + 24, last_change);
  w.Write(header, kHeaderSize);
  auto put = [&w](const void* data, size_t bytes) { w(data, 1, bytes); };
  auto put32 = [&put](uint32_t v) { put(&v, 4); };
  auto put64 = [&put](uint64_t v) { put(&v, 8); };
  put32(static_cast<uint32_t>(spec_.size()));
  put(spec_.data(), spec_.size());
  put32(family.saved_ef_construction());
  put32(family.needs_training() ? 1 : 0);
  put64(p.ids.size());
  put(p.ids.data(), p.ids.size() * sizeof(uint64_t));
  put64(p.dead_words());
  put(p.dead.words(), p.dead_words() * sizeof(uint64_t));
  if (w.status().ok()) {
    try {
      family.Write(&w);
    } catch (const faiss::FaissException& e) {
      if (!w.status().ok()) return WriteFailed(w.status());
      return Status::Internal("serialising index: " + e.msg);
    }
  }
  if (!w.Finish()) return WriteFailed(w.status());
  if (Status s = file.Commit(); !s.ok()) return WriteFailed(s);
  return Status::OK();
}

Result<VectorIndex::Loaded> VectorIndex::Load(const std::filesystem::path& path,
                                              uint32_t collection_id, uint32_t dimension,
                                              Metric metric, std::string_view spec,
                                              const BuildParams& build) {
  // A spec this version refuses (an older one took it): nothing in the file is
  // usable, and the database must still open.
  if (Status bad = CheckSpec(dimension, spec); !bad.ok()) {
    Loaded out;
    out.index = Unusable(dimension, metric, spec, bad.message());
    return out;
  }
  const std::string where = "index checkpoint " + path.string();
  RELATE_ASSIGN_OR_RETURN(CheckedFile checked, OpenChecked(path, where));
  const char* header = checked.header;
  if (Get32(header + 8) != collection_id || Get32(header + 12) != dimension ||
      Get32(header + 16) != static_cast<uint32_t>(metric)) {
    return Status::Corruption(where + " belongs to another collection or shape");
  }
  if (std::fseek(checked.file.get(), kHeaderSize, SEEK_SET) != 0) {
    return Errno("reading " + path.string());
  }
  FileReader reader(checked.file.get(), checked.payload_size);
  const Status bad = Status::Corruption(where + " is malformed");
  uint32_t spec_bytes = 0, ef_construction = 0, flags = 0;
  if (!reader.Read(&spec_bytes, 4) || spec_bytes > reader.left()) return bad;
  std::string saved_spec(spec_bytes, '\0');
  if (!reader.Read(saved_spec.data(), spec_bytes)) return bad;
  // "auto" takes what it had resolved to; any other spec must be the saved one.
  const bool auto_choice = spec == "auto" && (saved_spec == AutoSpec(0, dimension) ||
                                              saved_spec == AutoSpec(SIZE_MAX, dimension));
  const std::string wanted = auto_choice ? saved_spec : ResolveSpec(spec);
  if (saved_spec != wanted) {
    return Status::Corruption(where + " holds index \"" + saved_spec + "\", not \"" + wanted +
                              "\"");
  }
  auto fresh = Create(dimension, metric, wanted, build);
  if (!fresh) return fresh.error();
  std::unique_ptr<VectorIndex> index = std::move(*fresh);
  Rep& r = *index->rep_;
  Family& family = *r.family;
  if (Get32(header + 20) != static_cast<uint32_t>(family.kind())) {
    return Status::Corruption(where + " holds an index of another kind");
  }
  Loaded out;
  out.last_change = Get64(header + 24);
  if (!reader.Read(&ef_construction, 4) || !reader.Read(&flags, 4)) return bad;
  if (!ReadPositions(reader, r.positions)) return bad;
  try {
    if (!family.Read(&reader, ef_construction, flags)) return bad;
  } catch (const faiss::FaissException& e) {
    return Status::Corruption(where + ": FAISS cannot read it: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Corruption(where + ": FAISS cannot read it: " + e.what());
  }
  if (reader.left() != 0) return bad;
  if (Status s = CheckLoaded(r.positions, family); !s.ok()) {
    return Status::Corruption(where + ": " + std::string(s.message()));
  }
  const faiss::Index& held = family.held();
  if (held.d != static_cast<int>(dimension) || held.metric_type != FaissMetric(metric)) {
    return Status::Corruption(where + " holds an index of another shape");
  }
  // Every position FAISS holds has an id; IVF may hold fewer (removed entries).
  const auto entries = static_cast<size_t>(held.ntotal);
  const size_t positions = r.positions.ids.size();
  if (family.removal() == Removal::kHole ? entries > positions : entries != positions) return bad;
  if (Status s = IndexLoaded(r.positions, where); !s.ok()) return s;
  out.index = std::move(index);
  return out;
}

}  // namespace relate::index
