// Fuzzes ReadWordVectors with the GloVe text reader on the fuzz input as a file.
#include <cstddef>
#include <cstdint>

#include "bench/fuzz/vector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  relate::fuzz::FuzzWordVectors(data, size, relate::embed::VectorFormat::kGloveText);
  return 0;
}
