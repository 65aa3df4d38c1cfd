// Records from JSON Lines: one object per line,
//   {"key": "a", "text": "...", "metadata": {"year": 2021, "tags": ["x"]}, "vector": [0.1, ...]}
// key is required; vector too, unless the collection has a model to embed the
// text; text and metadata are optional; any other field is refused so that a
// misspelt field does not pass unnoticed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "relate/status.h"
#include "relate/types.h"

namespace relate::tools {

// Parses JSON text with simdjson. Not thread-safe: one parser per thread.
class JsonParser {
 public:
  JsonParser();
  ~JsonParser();

  // Parses one JSON Lines record. `line` may be padded in place (its capacity grows).
  // InvalidArgument says which field is wrong and how, without the file position.
  Status ParseRecord(std::string& line, Record* record);
  // Parses a JSON array of numbers, e.g. a --vector argument.
  Status ParseVector(std::string json, std::vector<float>* vector);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace relate::tools
