// Fuzzes the JSON Lines record parser of `relate ingest` (JsonParser::ParseRecord)
// with one line per input.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "bench/fuzz/fuzz_util.h"
#include "tools/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static relate::tools::JsonParser parser;
  std::string line(reinterpret_cast<const char*>(data), size);
  relate::Record record;
  const relate::Status s = parser.ParseRecord(line, &record);
  relate::fuzz::Verbose(s.ToString());
  if (!s.ok()) {
    relate::fuzz::Check(s.code() == relate::Status::Code::kInvalidArgument,
                        "a bad line is not InvalidArgument");
    relate::fuzz::Check(!s.message().empty(), "an error without a message");
    return 0;
  }
  // ParseRecord may pad the line, never change it.
  relate::fuzz::Check(line == std::string_view(reinterpret_cast<const char*>(data), size),
                      "the parser changed the line");
  for (const float x : record.vector) {
    relate::fuzz::Check(std::isfinite(x), "accepted a non-finite vector value");
  }
  return 0;
}
