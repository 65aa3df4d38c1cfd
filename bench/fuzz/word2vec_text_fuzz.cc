// Fuzzes ReadWordVectors with the word2vec text (fastText .vec) reader on the fuzz input as a file.
#include <cstddef>
#include <cstdint>

#include "bench/fuzz/vector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  relate::fuzz::FuzzWordVectors(data, size, relate::embed::VectorFormat::kWord2VecText);
  return 0;
}
