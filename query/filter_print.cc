// Printing a filter as `--where` text (Filter::ToString), which Filter::Parse
// (filter_parse.cc) reads back as the same tree; the invariants that make this hold,
// and the escapes chosen, are at the top of filter.cc.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "query/filter_internal.h"
#include "relate/filter.h"
#include "util/utf8.h"

namespace relate {
namespace filter_internal {

std::string Hex(uint32_t value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*X", digits, value);
  return buf;
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'; }

Keyword KeywordOf(std::string_view word) {
  if (word.size() > 6) return Keyword::kNone;
  char lower[6];
  for (size_t i = 0; i < word.size(); ++i) {
    const char c = word[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view w(lower, word.size());
  if (w == "and") return Keyword::kAnd;
  if (w == "or") return Keyword::kOr;
  if (w == "not") return Keyword::kNot;
  if (w == "in") return Keyword::kIn;
  if (w == "exists") return Keyword::kExists;
  if (w == "true") return Keyword::kTrue;
  if (w == "false") return Keyword::kFalse;
  return Keyword::kNone;
}

}  // namespace filter_internal

namespace {

using filter_internal::Hex;
using filter_internal::IsNameChar;
using filter_internal::IsNameStart;
using filter_internal::Keyword;
using filter_internal::KeywordOf;
using filter_internal::Node;
using filter_internal::Op;

// Whether `field` can be written without backticks.
bool IsPlainName(std::string_view field) {
  if (field.empty() || !IsNameStart(field[0])) return false;
  for (const char c : field) {
    if (!IsNameChar(c)) return false;
  }
  return KeywordOf(field) == Keyword::kNone;
}

// Appends `text` between `quote`s, escaping what the parser would not read back as
// itself: the quote, backslashes, control characters and bytes that are not UTF-8.
void AppendQuoted(std::string_view text, char quote, std::string* out) {
  out->push_back(quote);
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const size_t n = util::Utf8SequenceAt(text, i);
    if (n == 0) {
      *out += "\\x" + Hex(static_cast<unsigned char>(c), 2);
      ++i;
      continue;
    }
    if (n > 1) {
      out->append(text.substr(i, n));
    } else if (c == quote || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '\t') {
      *out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      *out += "\\u" + Hex(static_cast<unsigned char>(c), 4);
    } else {
      out->push_back(c);
    }
    i += n;
  }
  out->push_back(quote);
}

void AppendField(std::string_view field, std::string* out) {
  if (IsPlainName(field)) {
    out->append(field);
  } else {
    AppendQuoted(field, '`', out);
  }
}

// Doubles print in the shortest form that reads back to the same bits, always with a
// "." or an exponent so that they read back as numbers, not integers. NaN and the
// infinities cannot be written in the language; they print as nan, inf and -inf,
// which Parse refuses.
void AppendDouble(double d, std::string* out) {
  if (std::isnan(d)) {
    *out += "nan";
    return;
  }
  if (std::isinf(d)) {
    *out += d < 0 ? "-inf" : "inf";
    return;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out->append(text);
  if (text.find_first_of(".e") == std::string_view::npos) *out += ".0";
}

void AppendValue(const MetadataValue& value, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    AppendQuoted(*s, '"', out);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    *out += std::to_string(*i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    AppendDouble(*d, out);
  } else if (const auto* b = std::get_if<bool>(&value)) {
    *out += *b ? "true" : "false";
  } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    // Only builder misuse puts a list here; the language has no list literal.
    out->push_back('[');
    for (size_t k = 0; k < list->size(); ++k) {
      if (k > 0) *out += ", ";
      AppendQuoted((*list)[k], '"', out);
    }
    out->push_back(']');
  }
}

std::string_view OpText(Op op) {
  switch (op) {
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kNotIn:
      return "not in";
    default:
      return "?";
  }
}

void AppendNode(const Node& node, std::string* out);

void AppendChild(const Node& child, bool parenthesise, std::string* out) {
  if (parenthesise) out->push_back('(');
  AppendNode(child, out);
  if (parenthesise) out->push_back(')');
}

void AppendNode(const Node& node, std::string* out) {
  switch (node.op) {
    case Op::kOr:
    case Op::kAnd:
      for (size_t k = 0; k < node.children.size(); ++k) {
        if (k > 0) *out += node.op == Op::kAnd ? " and " : " or ";
        const Op child = node.children[k]->op;
        // Flattening keeps a node's own op out of its children; an or under an and
        // needs parentheses, an and under an or does not.
        AppendChild(*node.children[k],
                    child == node.op || (node.op == Op::kAnd && child == Op::kOr), out);
      }
      return;
    case Op::kNot: {
      *out += "not ";
      if (node.children.empty()) return;
      const Op child = node.children[0]->op;
      // Only an and / or needs parentheses (`not year == 2000` is `not (year == 2000)`).
      // Adding them around a comparison would also make the text nest deeper than the
      // expression it came from, past the parser's limit for 256 nots (fuzz finding).
      AppendChild(*node.children[0], child == Op::kAnd || child == Op::kOr, out);
      return;
    }
    case Op::kExists:
      *out += "exists(";
      AppendField(node.field, out);
      out->push_back(')');
      return;
    case Op::kIn:
    case Op::kNotIn:
      AppendField(node.field, out);
      *out += node.op == Op::kIn ? " in [" : " not in [";
      for (size_t k = 0; k < node.values.size(); ++k) {
        if (k > 0) *out += ", ";
        AppendValue(node.values[k], out);
      }
      out->push_back(']');
      return;
    default:
      AppendField(node.field, out);
      out->push_back(' ');
      out->append(OpText(node.op));
      out->push_back(' ');
      if (!node.values.empty()) AppendValue(node.values[0], out);
      return;
  }
}

}  // namespace

std::string Filter::ToString() const {
  std::string out;
  if (root_ != nullptr) AppendNode(*root_, &out);
  return out;
}

}  // namespace relate
