// The body of the word-vector reader targets: reads the fuzz input as a file of one
// format and checks what the reader promises of whatever it accepts.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "bench/fuzz/fuzz_util.h"
#include "embed/vector_readers.h"

namespace relate::fuzz {

// Whether `a` and `b` hold the same tokens in the same order and bit-identical rows.
inline bool SameVectors(const embed::WordVectors& a, const embed::WordVectors& b) {
  if (a.vocabulary.size() != b.vocabulary.size() || a.table.dim() != b.table.dim() ||
      a.table.data().size() != b.table.data().size()) {
    return false;
  }
  for (uint32_t id = 0; id < a.vocabulary.size(); ++id) {
    if (a.vocabulary.Token(id) != b.vocabulary.Token(id)) return false;
  }
  return a.table.data().empty() || std::memcmp(a.table.data().data(), b.table.data().data(),
                                               a.table.data().size() * sizeof(float)) == 0;
}

// What is accepted must be a consistent table of finite values that the writers
// either refuse with a reason or write so that it reads back the same.
inline void CheckAccepted(const embed::WordVectors& v) {
  Check(v.table.dim() > 0, "accepted a table of dimension 0");
  Check(v.vocabulary.size() == v.table.rows(), "vocabulary and table sizes differ");
  for (const float x : v.table.data()) Check(std::isfinite(x), "accepted a non-finite value");
  for (uint32_t id = 0; id < v.vocabulary.size(); ++id) {
    Check(!v.vocabulary.Token(id).empty(), "accepted an empty token");
  }
  static const std::filesystem::path text =
      ScratchDir() / ("rt-" + std::to_string(::getpid()) + ".txt");
  static const std::filesystem::path binary =
      ScratchDir() / ("rt-" + std::to_string(::getpid()) + ".bin");
  if (embed::WriteWord2VecText(text, v).ok()) {
    const Result<embed::WordVectors> back =
        embed::ReadWordVectors(text, embed::VectorFormat::kWord2VecText);
    Check(back.has_value(), "word2vec text written from accepted vectors does not read back");
    Check(SameVectors(v, *back), "word2vec text round trip changed the vectors");
  }
  if (embed::WriteWord2VecBinary(binary, v).ok()) {
    const Result<embed::WordVectors> back =
        embed::ReadWordVectors(binary, embed::VectorFormat::kWord2VecBinary);
    Check(back.has_value(), "word2vec binary written from accepted vectors does not read back");
    Check(SameVectors(v, *back), "word2vec binary round trip changed the vectors");
  }
}

// Reads `data` as a word-vector file of `format`; every failure must be a Status with a
// message that names the file.
inline void FuzzWordVectors(const uint8_t* data, size_t size, embed::VectorFormat format) {
  static MemoryFile file;
  const std::filesystem::path& path = file.Hold(data, size);
  uint64_t last_done = 0;
  const embed::ProgressFn progress = [&](uint64_t done, uint64_t total) {
    Check(done <= total && total == size, "progress beyond the file size");
    Check(done >= last_done, "progress went backwards");
    last_done = done;
  };
  const Result<embed::WordVectors> v = embed::ReadWordVectors(path, format, progress);
  if (!v.has_value()) {
    Verbose(v.error().ToString());
    Check(v.error().message().find(path.string()) != std::string::npos,
          "an error message does not name the file");
    return;
  }
  Verbose("accepted " + std::to_string(v->vocabulary.size()) + " rows of dimension " +
          std::to_string(v->table.dim()));
  CheckAccepted(*v);
}

}  // namespace relate::fuzz
