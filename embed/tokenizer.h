// Text to tokens, with Unicode rules (ICU word boundaries and case mapping).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "relate/status.h"

namespace relate::embed {

struct TokenizerOptions {
  // Map text to lower case with Unicode rules (root locale). Default: true.
  bool lowercase = true;
  // Keep numbers ("1984", "3.14") as tokens. Default: true.
  bool keep_numbers = true;
  // Keep punctuation and symbols as one-character tokens. Default: false.
  bool keep_punctuation = false;
  // What to do with bytes that are not valid UTF-8.
  enum class InvalidUtf8 {
    kReplace,  // each bad sequence becomes U+FFFD, which no token contains
    kReject,   // Tokenize fails with the byte offset of the first bad sequence
  };
  // Default: kReplace.
  InvalidUtf8 invalid_utf8 = InvalidUtf8::kReplace;
};

// Splits text into word tokens at Unicode word boundaries (UAX #29): letters,
// ideographs and kana form words; numbers are kept or dropped; whitespace is
// dropped; punctuation is dropped or kept one mark a token.
// Thread-safety: Tokenize may be called from many threads at once.
class Tokenizer {
 public:
  explicit Tokenizer(TokenizerOptions options = {}) : options_(options) {}

  const TokenizerOptions& options() const { return options_; }

  // The tokens of `text`, in order, as UTF-8. Any byte sequence is accepted;
  // with InvalidUtf8::kReject, invalid UTF-8 fails with InvalidArgument naming
  // its byte offset. Internal if ICU cannot set up its word rules.
  Result<std::vector<std::string>> Tokenize(std::string_view text) const;

 private:
  TokenizerOptions options_;
};

}  // namespace relate::embed
