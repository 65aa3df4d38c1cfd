#include "embed/tokenizer.h"

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/rbbi.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <memory>

namespace relate::embed {
namespace {

// One word-break iterator a thread: creating one parses ICU's rules (tens of
// microseconds), cloning the thread's own is not needed since it is reused.
Result<icu::BreakIterator*> WordIterator() {
  thread_local std::unique_ptr<icu::BreakIterator> iterator;
  if (!iterator) {
    UErrorCode status = U_ZERO_ERROR;
    iterator.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status) || !iterator) {
      iterator.reset();
      return Status::Internal(std::string("ICU word break iterator: ") + u_errorName(status));
    }
  }
  return iterator.get();
}

// `text` as UTF-16, with invalid UTF-8 replaced by U+FFFD or reported.
Result<icu::UnicodeString> Decode(std::string_view text, TokenizerOptions::InvalidUtf8 policy) {
  icu::UnicodeString out;
  out.getBuffer(static_cast<int32_t>(text.size()));  // reserve
  out.releaseBuffer(0);
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const auto length = static_cast<int32_t>(text.size());
  int32_t i = 0;
  while (i < length) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) {
      if (policy == TokenizerOptions::InvalidUtf8::kReject) {
        return Status::InvalidArgument("text is not valid UTF-8 at byte " + std::to_string(start));
      }
      c = 0xFFFD;
    }
    out.append(c);
  }
  return out;
}

bool IsSpace(const icu::UnicodeString& s) {
  for (int32_t i = 0; i < s.length();) {
    UChar32 c = s.char32At(i);
    if (!u_isUWhiteSpace(c) && c != 0xFFFD && !u_iscntrl(c)) return false;
    i += U16_LENGTH(c);
  }
  return true;
}

}  // namespace

Result<std::vector<std::string>> Tokenizer::Tokenize(std::string_view text) const {
  RELATE_ASSIGN_OR_RETURN(icu::UnicodeString unicode, Decode(text, options_.invalid_utf8));
  if (options_.lowercase) unicode.toLower(icu::Locale::getRoot());
  RELATE_ASSIGN_OR_RETURN(icu::BreakIterator * words, WordIterator());
  words->setText(unicode);
  std::vector<std::string> tokens;
  std::string utf8;
  int32_t start = words->first();
  for (int32_t end = words->next(); end != icu::BreakIterator::DONE;
       start = end, end = words->next()) {
    const int32_t status = words->getRuleStatus();
    icu::UnicodeString piece(unicode, start, end - start);
    if (status >= UBRK_WORD_NUMBER && status < UBRK_WORD_NUMBER_LIMIT) {
      if (!options_.keep_numbers) continue;
    } else if (status < UBRK_WORD_NONE_LIMIT) {
      // Spaces, punctuation and symbols (and the replacement character).
      if (!options_.keep_punctuation || IsSpace(piece)) continue;
    }
    utf8.clear();
    piece.toUTF8String(utf8);
    tokens.push_back(utf8);
  }
  return tokens;
}

}  // namespace relate::embed
