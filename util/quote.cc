#include "util/quote.h"

#include "util/utf8.h"

namespace relate::util {

std::string Quote(std::string_view s, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = Utf8SequenceAt(s, i);
    const bool escape = len == 0 || c < 0x20 || c == 0x7F || c == '"' || c == '\\';
    const size_t take = escape ? 1 : len;
    if (i + take > max_bytes) break;
    if (escape) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out.append(s.substr(i, len));
    }
    i += take;
  }
  out += i < s.size() ? "...\"" : "\"";
  return out;
}

}  // namespace relate::util
