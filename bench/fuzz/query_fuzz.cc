// Fuzzes the parser of `relate query --vector JSON` (JsonParser::ParseVector). The
// --where filter parser has its own target (where_fuzz.cc).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/fuzz/fuzz_util.h"
#include "tools/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static relate::tools::JsonParser parser;
  std::vector<float> vector;
  const relate::Status s =
      parser.ParseVector(std::string(reinterpret_cast<const char*>(data), size), &vector);
  relate::fuzz::Verbose(s.ToString());
  if (!s.ok()) {
    relate::fuzz::Check(s.code() == relate::Status::Code::kInvalidArgument,
                        "a bad vector is not InvalidArgument");
    return 0;
  }
  for (const float x : vector) {
    relate::fuzz::Check(std::isfinite(x), "accepted a non-finite vector value");
  }
  return 0;
}
