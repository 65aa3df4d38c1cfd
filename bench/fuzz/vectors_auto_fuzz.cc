// Fuzzes format detection (DetectVectorFormat) and ReadWordVectors with kAuto, the
// path `relate model import` takes when no format is given.
#include <cstddef>
#include <cstdint>

#include "bench/fuzz/vector_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using relate::embed::VectorFormat;
  static relate::fuzz::MemoryFile file;
  const std::filesystem::path& path = file.Hold(data, size);
  const relate::Result<VectorFormat> format = relate::embed::DetectVectorFormat(path);
  if (format.has_value()) {
    relate::fuzz::Check(*format != VectorFormat::kAuto, "detection returned kAuto");
  } else {
    relate::fuzz::Check(format.error().message().find(path.string()) != std::string::npos,
                        "a detection error does not name the file");
  }
  relate::fuzz::FuzzWordVectors(data, size, VectorFormat::kAuto);
  return 0;
}
