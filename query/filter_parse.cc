// Parsing `--where` text into a filter (Filter::Parse): a hand-written
// recursive-descent parser over the grammar in relate/filter.h, building trees with
// the builders' helpers, so that they keep the invariants stated at the top of
// filter.cc.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "query/filter_internal.h"
#include "relate/filter.h"
#include "util/utf8.h"

namespace relate {
namespace {

using filter_internal::AddFlattened;
using filter_internal::Hex;
using filter_internal::IsNameChar;
using filter_internal::IsNameStart;
using filter_internal::Keyword;
using filter_internal::KeywordOf;
using filter_internal::MakeComparison;
using filter_internal::MakeJunction;
using filter_internal::MakeNot;
using filter_internal::NodePtr;
using filter_internal::Op;

// Parentheses and nots nested deeper than this are refused, so that neither the parser
// nor the recursive Matches / ToString / destructor can exhaust the stack.
constexpr int kMaxDepth = 256;

// The code point of the valid UTF-8 sequence of `length` bytes at s[i].
uint32_t DecodeUtf8(std::string_view s, size_t i, size_t length) {
  const auto byte = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(s[k]));
  };
  if (length == 1) return byte(i);
  uint32_t cp = byte(i) & (0x7Fu >> length);
  for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  return cp;
}

// Appends code point `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The 1-based column, in characters, of byte `offset` of `s`, whose bytes before
// `offset` are valid UTF-8: one plus the characters that start before it.
size_t Column(std::string_view s, size_t offset) {
  size_t column = 1;
  for (size_t i = 0; i < offset && i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++column;
  }
  return column;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

enum class Tok {
  kEnd,
  kName,        // a plain field name
  kQuotedName,  // a field name in backticks
  kString,
  kInt,
  kDouble,
  kTrue,
  kFalse,
  kAnd,  // and, &&
  kOr,   // or, ||
  kNot,  // not, !
  kIn,
  kExists,
  kCompare,  // ==, =, !=, <, <=, >, >=
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t begin = 0;  // byte offsets into the expression
  size_t end = 0;
  std::string text;  // the decoded string or field name
  int64_t integer = 0;
  double number = 0;
  Op op = Op::kEq;  // kCompare
};

// Parses one expression (grammar in filter.h), pulling tokens one at a time so that
// the first mistake from the left is the one reported.
class Parser {
 public:
  explicit Parser(std::string_view src) : src_(src) {}

  // The tree of the whole expression (null for an all-blank one); the error is in
  // error() when it returns false.
  bool ParseAll(NodePtr* root) {
    if (!Advance()) return false;
    if (tok_.kind == Tok::kEnd) return true;
    *root = ParseOr(0);
    if (*root == nullptr) return false;
    if (tok_.kind != Tok::kEnd) {
      if (tok_.kind == Tok::kRParen) return Fail(tok_.begin, "\")\" without a matching \"(\"");
      return Fail(tok_.begin, "unexpected " + Describe(tok_) +
                                  " after the end of the expression; join conditions with "
                                  "\"and\" or \"or\"");
    }
    return true;
  }

  const Status& error() const { return error_; }

 private:
  // Sets the error "column N: what", N the column of byte `offset`; returns false.
  bool Fail(size_t offset, std::string_view what) {
    error_ = Status::InvalidArgument("column " + std::to_string(Column(src_, offset)) + ": " +
                                     std::string(what));
    return false;
  }

  // The token for an error message: `"and"`, `the string "ab"`, `the end of the filter`.
  std::string Describe(const Token& t) const {
    if (t.kind == Tok::kEnd) return "the end of the filter";
    std::string_view raw = src_.substr(t.begin, t.end - t.begin);
    bool cut = false;
    if (raw.size() > 32) {
      size_t n = 32;
      while (n > 0 && (static_cast<unsigned char>(raw[n]) & 0xC0) == 0x80) --n;
      raw = raw.substr(0, n);
      cut = true;
    }
    std::string shown(raw);
    if (cut) shown += "...";
    switch (t.kind) {
      case Tok::kString:
        return "the string " + shown;
      case Tok::kQuotedName:
        return "the field name " + shown;
      case Tok::kInt:
      case Tok::kDouble:
        return "the number " + shown;
      default:
        return "\"" + shown + "\"";
    }
  }

  // Reads the next token into tok_; false (with the error set) on a lexical mistake.
  bool Advance() {
    while (pos_ < src_.size() && (src_[pos_] == ' ' || src_[pos_] == '\t' || src_[pos_] == '\n' ||
                                  src_[pos_] == '\r' || src_[pos_] == '\f' || src_[pos_] == '\v')) {
      ++pos_;
    }
    tok_ = Token{};
    tok_.begin = pos_;
    if (pos_ == src_.size()) {
      tok_.end = pos_;
      return true;
    }
    const char c = src_[pos_];
    const auto single = [&](Tok kind) {
      tok_.kind = kind;
      tok_.end = ++pos_;
      return true;
    };
    switch (c) {
      case '(':
        return single(Tok::kLParen);
      case ')':
        return single(Tok::kRParen);
      case '[':
        return single(Tok::kLBracket);
      case ']':
        return single(Tok::kRBracket);
      case ',':
        return single(Tok::kComma);
      case '"':
      case '\'':
        tok_.kind = Tok::kString;
        return LexQuoted(c);
      case '`':
        tok_.kind = Tok::kQuotedName;
        return LexQuoted(c);
      case '&':
      case '|':
        if (pos_ + 1 < src_.size() && src_[pos_ + 1] == c) {
          tok_.kind = c == '&' ? Tok::kAnd : Tok::kOr;
          pos_ += 2;
          tok_.end = pos_;
          return true;
        }
        return Fail(pos_, std::string("unexpected \"") + c + "\"; write \"" + c + c + "\" or \"" +
                              (c == '&' ? "and" : "or") + "\"");
      case '!':
        if (pos_ + 1 >= src_.size() || src_[pos_ + 1] != '=') return single(Tok::kNot);
        return LexOperator();
      case '=':
      case '<':
      case '>':
        return LexOperator();
      default:
        break;
    }
    if (c == '-' || IsDigit(c)) return LexNumber();
    if (IsNameStart(c)) return LexWord();
    return FailCharacter();
  }

  bool FailCharacter() {
    const size_t n = util::Utf8SequenceAt(src_, pos_);  // the expression is valid UTF-8
    const uint32_t cp = DecodeUtf8(src_, pos_, n);
    if (cp >= 0x80) {
      return Fail(pos_, "unexpected character \"" + std::string(src_.substr(pos_, n)) + "\" (U+" +
                            Hex(cp, 4) +
                            "); a field name with characters other than letters, digits, _, . "
                            "and - goes in backticks");
    }
    if (cp < 0x20 || cp == 0x7F) return Fail(pos_, "unexpected character U+" + Hex(cp, 4));
    return Fail(pos_, "unexpected character \"" + std::string(1, static_cast<char>(cp)) + "\"");
  }

  // An operator: a run of = < > ! (so that "=>" is one unknown operator, not "=" ">").
  bool LexOperator() {
    size_t end = pos_;
    while (end < src_.size() &&
           (src_[end] == '=' || src_[end] == '<' || src_[end] == '>' || src_[end] == '!')) {
      ++end;
    }
    const std::string_view text = src_.substr(pos_, end - pos_);
    Op op;
    if (text == "==" || text == "=") {
      op = Op::kEq;
    } else if (text == "!=") {
      op = Op::kNe;
    } else if (text == "<") {
      op = Op::kLt;
    } else if (text == "<=") {
      op = Op::kLe;
    } else if (text == ">") {
      op = Op::kGt;
    } else if (text == ">=") {
      op = Op::kGe;
    } else {
      return Fail(pos_, "unknown operator \"" + std::string(text) +
                            "\"; expected ==, !=, <, <=, >, >=, in, not in");
    }
    tok_.kind = Tok::kCompare;
    tok_.op = op;
    pos_ = end;
    tok_.end = end;
    return true;
  }

  // A field name or a keyword.
  bool LexWord() {
    size_t end = pos_;
    while (end < src_.size() && IsNameChar(src_[end])) ++end;
    const std::string_view word = src_.substr(pos_, end - pos_);
    switch (KeywordOf(word)) {
      case Keyword::kNone:
        tok_.kind = Tok::kName;
        tok_.text = word;
        break;
      case Keyword::kAnd:
        tok_.kind = Tok::kAnd;
        break;
      case Keyword::kOr:
        tok_.kind = Tok::kOr;
        break;
      case Keyword::kNot:
        tok_.kind = Tok::kNot;
        break;
      case Keyword::kIn:
        tok_.kind = Tok::kIn;
        break;
      case Keyword::kExists:
        tok_.kind = Tok::kExists;
        break;
      case Keyword::kTrue:
        tok_.kind = Tok::kTrue;
        break;
      case Keyword::kFalse:
        tok_.kind = Tok::kFalse;
        break;
    }
    pos_ = end;
    tok_.end = end;
    return true;
  }

  // -?digits(.digits)?([eE][+-]?digits)?, an integer (int64) without . or exponent.
  bool LexNumber() {
    const size_t begin = pos_;
    size_t end = pos_;
    const auto digits = [&] {
      const size_t from = end;
      while (end < src_.size() && IsDigit(src_[end])) ++end;
      return end > from;
    };
    if (src_[end] == '-') ++end;
    bool ok = digits();
    bool integer = true;
    if (ok && end < src_.size() && src_[end] == '.' && end + 1 < src_.size() &&
        IsDigit(src_[end + 1])) {
      ++end;
      digits();
      integer = false;
    }
    if (ok && end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
      size_t after = end + 1;
      if (after < src_.size() && (src_[after] == '+' || src_[after] == '-')) ++after;
      if (after < src_.size() && IsDigit(src_[after])) {
        end = after;
        digits();
        integer = false;
      }
    }
    if (!ok || (end < src_.size() && IsNameChar(src_[end]))) {
      // "1abc", "1.2.3", "1e", "-x", "-": show the whole run.
      size_t stop = end;
      while (stop < src_.size() && (IsNameChar(src_[stop]) || src_[stop] == '+')) ++stop;
      return Fail(begin,
                  "invalid number \"" + std::string(src_.substr(begin, stop - begin)) + "\"");
    }
    const std::string_view text = src_.substr(begin, end - begin);
    if (integer) {
      const auto r = std::from_chars(text.data(), text.data() + text.size(), tok_.integer);
      if (r.ec != std::errc() || r.ptr != text.data() + text.size()) {
        return Fail(begin, "integer " + std::string(text) +
                               " is out of range (a 64-bit integer is between "
                               "-9223372036854775808 and 9223372036854775807)");
      }
      tok_.kind = Tok::kInt;
    } else {
      const auto r = std::from_chars(text.data(), text.data() + text.size(), tok_.number);
      if (r.ec != std::errc() || r.ptr != text.data() + text.size() ||
          !std::isfinite(tok_.number)) {
        return Fail(begin, "number " + std::string(text) + " is out of range for a double");
      }
      tok_.kind = Tok::kDouble;
    }
    pos_ = end;
    tok_.end = end;
    return true;
  }

  // Four hex digits at src_[at]; false if there are not.
  bool Hex4(size_t at, uint32_t* value) const { return HexDigits(at, 4, value); }
  bool HexDigits(size_t at, int count, uint32_t* value) const {
    if (at + static_cast<size_t>(count) > src_.size()) return false;
    uint32_t v = 0;
    for (int k = 0; k < count; ++k) {
      const char c = src_[at + static_cast<size_t>(k)];
      int digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return false;
      }
      v = v * 16 + static_cast<uint32_t>(digit);
    }
    *value = v;
    return true;
  }

  // A string ('...' or "...") or a field name in backticks, decoded into tok_.text.
  bool LexQuoted(char quote) {
    const size_t open = pos_;
    const char* what =
        quote == '`' ? "unterminated field name in backticks" : "unterminated string";
    size_t i = pos_ + 1;
    std::string& out = tok_.text;
    for (;;) {
      if (i >= src_.size()) return Fail(open, what);
      const char c = src_[i];
      if (c == quote) {
        ++i;
        break;
      }
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return Fail(open, what);
      const char e = src_[i + 1];
      switch (e) {
        case '"':
        case '\'':
        case '\\':
        case '`':
          out.push_back(e);
          i += 2;
          continue;
        case 'n':
          out.push_back('\n');
          i += 2;
          continue;
        case 't':
          out.push_back('\t');
          i += 2;
          continue;
        case 'x': {
          uint32_t byte;
          if (!HexDigits(i + 2, 2, &byte)) {
            return Fail(i, "invalid \\x escape: expected 2 hex digits after \\x");
          }
          out.push_back(static_cast<char>(byte));
          i += 4;
          continue;
        }
        case 'u': {
          uint32_t cp;
          if (!Hex4(i + 2, &cp)) {
            return Fail(i, "invalid \\u escape: expected 4 hex digits after \\u");
          }
          if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail(i, "invalid \\u escape: \\u" + Hex(cp, 4) +
                               " is the second half of a surrogate pair, without the first");
          }
          size_t next = i + 6;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low;
            if (next + 1 >= src_.size() || src_[next] != '\\' || src_[next + 1] != 'u' ||
                !Hex4(next + 2, &low) || low < 0xDC00 || low > 0xDFFF) {
              return Fail(i, "invalid \\u escape: \\u" + Hex(cp, 4) +
                                 " is the first half of a surrogate pair; a \\uDC00-\\uDFFF "
                                 "escape must follow it");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            next += 6;
          }
          AppendUtf8(cp, &out);
          i = next;
          continue;
        }
        default: {
          size_t n = util::Utf8SequenceAt(src_, i + 1);
          return Fail(i, "invalid escape \"\\" + std::string(src_.substr(i + 1, n)) +
                             "\"; expected \\\", \\', \\\\, \\n, \\t, \\`, \\xHH or \\uXXXX");
        }
      }
    }
    pos_ = i;
    tok_.end = i;
    return true;
  }

  // or_expr := and_expr (("or" | "||") and_expr)*
  NodePtr ParseOr(int depth) {
    NodePtr first = ParseAnd(depth);
    if (first == nullptr || tok_.kind != Tok::kOr) return first;
    std::vector<NodePtr> children;
    AddFlattened(Op::kOr, first, &children);
    while (tok_.kind == Tok::kOr) {
      if (!Advance()) return nullptr;
      NodePtr next = ParseAnd(depth);
      if (next == nullptr) return nullptr;
      AddFlattened(Op::kOr, next, &children);
    }
    return MakeJunction(Op::kOr, std::move(children));
  }

  // and_expr := unary (("and" | "&&") unary)*
  NodePtr ParseAnd(int depth) {
    NodePtr first = ParseUnary(depth);
    if (first == nullptr || tok_.kind != Tok::kAnd) return first;
    std::vector<NodePtr> children;
    AddFlattened(Op::kAnd, first, &children);
    while (tok_.kind == Tok::kAnd) {
      if (!Advance()) return nullptr;
      NodePtr next = ParseUnary(depth);
      if (next == nullptr) return nullptr;
      AddFlattened(Op::kAnd, next, &children);
    }
    return MakeJunction(Op::kAnd, std::move(children));
  }

  bool CheckDepth(int depth) {
    if (depth < kMaxDepth) return true;
    return Fail(tok_.begin, "the expression nests parentheses and nots more than " +
                                std::to_string(kMaxDepth) + " deep");
  }

  // unary := ("not" | "!") unary | primary
  NodePtr ParseUnary(int depth) {
    if (tok_.kind != Tok::kNot) return ParsePrimary(depth);
    if (!CheckDepth(depth) || !Advance()) return nullptr;
    NodePtr child = ParseUnary(depth + 1);
    if (child == nullptr) return nullptr;
    return MakeNot(std::move(child));
  }

  // primary := "(" or_expr ")" | "exists" "(" field ")" | field comparison
  NodePtr ParsePrimary(int depth) {
    switch (tok_.kind) {
      case Tok::kLParen: {
        if (!CheckDepth(depth)) return nullptr;
        const size_t open = tok_.begin;
        if (!Advance()) return nullptr;
        NodePtr inner = ParseOr(depth + 1);
        if (inner == nullptr) return nullptr;
        if (!ExpectClose(open, "")) return nullptr;
        return inner;
      }
      case Tok::kExists: {
        if (!Advance()) return nullptr;
        if (tok_.kind != Tok::kLParen) {
          Fail(tok_.begin, "expected \"(\" after \"exists\", found " + Describe(tok_));
          return nullptr;
        }
        const size_t open = tok_.begin;
        if (!Advance()) return nullptr;
        if (tok_.kind != Tok::kName && tok_.kind != Tok::kQuotedName) {
          Fail(tok_.begin, "expected a field name in exists(...), found " + Describe(tok_));
          return nullptr;
        }
        std::string field = std::move(tok_.text);
        if (!Advance() || !ExpectClose(open, " after the field name in exists(...)")) {
          return nullptr;
        }
        return MakeComparison(Op::kExists, std::move(field), {});
      }
      case Tok::kName:
      case Tok::kQuotedName: {
        std::string field = std::move(tok_.text);
        if (!Advance()) return nullptr;
        return ParseComparison(std::move(field));
      }
      default:
        Fail(tok_.begin, "expected a field name, found " + Describe(tok_));
        return nullptr;
    }
  }

  // Consumes the ")" closing the "(" at byte `open`.
  bool ExpectClose(size_t open, std::string_view where) {
    if (tok_.kind == Tok::kRParen) return Advance();
    const std::string opened = std::to_string(Column(src_, open));
    if (tok_.kind == Tok::kEnd) {
      return Fail(tok_.begin, "unclosed \"(\" (opened at column " + opened + ")");
    }
    return Fail(tok_.begin, "expected \")\"" + std::string(where) +
                                " to close the \"(\" at column " + opened + ", found " +
                                Describe(tok_));
  }

  // comparison := op value | "in" list | "not" "in" list
  NodePtr ParseComparison(std::string field) {
    switch (tok_.kind) {
      case Tok::kCompare: {
        const Op op = tok_.op;
        const std::string context = "expected a value after \"" +
                                    std::string(src_.substr(tok_.begin, tok_.end - tok_.begin)) +
                                    "\"";
        if (!Advance()) return nullptr;
        MetadataValue value;
        if (!ParseValue(context, &value)) return nullptr;
        return MakeComparison(op, std::move(field), {std::move(value)});
      }
      case Tok::kIn: {
        if (!Advance()) return nullptr;
        std::vector<MetadataValue> values;
        if (!ParseList("in", &values)) return nullptr;
        return MakeComparison(Op::kIn, std::move(field), std::move(values));
      }
      case Tok::kNot: {
        if (!Advance()) return nullptr;
        if (tok_.kind != Tok::kIn) {
          Fail(tok_.begin, "expected \"in\" after \"not\", found " + Describe(tok_));
          return nullptr;
        }
        if (!Advance()) return nullptr;
        std::vector<MetadataValue> values;
        if (!ParseList("not in", &values)) return nullptr;
        return MakeComparison(Op::kNotIn, std::move(field), std::move(values));
      }
      default:
        Fail(tok_.begin,
             "expected an operator (==, !=, <, <=, >, >=, in, not in) after the field name, "
             "found " +
                 Describe(tok_));
        return nullptr;
    }
  }

  // value := string | integer | number | true | false. `context` begins the error.
  bool ParseValue(std::string_view context, MetadataValue* value) {
    switch (tok_.kind) {
      case Tok::kString:
        *value = std::move(tok_.text);
        break;
      case Tok::kInt:
        *value = tok_.integer;
        break;
      case Tok::kDouble:
        *value = tok_.number;
        break;
      case Tok::kTrue:
        *value = true;
        break;
      case Tok::kFalse:
        *value = false;
        break;
      case Tok::kName:
        return Fail(tok_.begin, std::string(context) + ", found " + Describe(tok_) +
                                    " (a string goes in quotes: \"" + tok_.text + "\")");
      default:
        return Fail(tok_.begin, std::string(context) + ", found " + Describe(tok_));
    }
    return Advance();
  }

  // list := "[" (value ("," value)*)? "]"
  bool ParseList(std::string_view after, std::vector<MetadataValue>* values) {
    if (tok_.kind != Tok::kLBracket) {
      return Fail(tok_.begin,
                  "expected \"[\" after \"" + std::string(after) + "\", found " + Describe(tok_));
    }
    const size_t open = tok_.begin;
    if (!Advance()) return false;
    if (tok_.kind == Tok::kRBracket) return Advance();
    for (;;) {
      if (tok_.kind == Tok::kEnd) {
        return Fail(tok_.begin,
                    "unclosed \"[\" (opened at column " + std::to_string(Column(src_, open)) + ")");
      }
      MetadataValue value;
      if (!ParseValue("expected a value in the list", &value)) return false;
      values->push_back(std::move(value));
      if (tok_.kind == Tok::kRBracket) return Advance();
      if (tok_.kind == Tok::kEnd) {
        return Fail(tok_.begin,
                    "unclosed \"[\" (opened at column " + std::to_string(Column(src_, open)) + ")");
      }
      if (tok_.kind != Tok::kComma) {
        return Fail(tok_.begin, "expected \",\" or \"]\" in the list, found " + Describe(tok_));
      }
      if (!Advance()) return false;
    }
  }

  std::string_view src_;
  size_t pos_ = 0;
  Token tok_;
  Status error_;
};

}  // namespace

Result<Filter> Filter::Parse(std::string_view expression) {
  for (size_t i = 0; i < expression.size();) {
    const size_t n = util::Utf8SequenceAt(expression, i);
    if (n == 0) {
      return Status::InvalidArgument("column " + std::to_string(Column(expression, i)) +
                                     ": invalid UTF-8 (byte 0x" +
                                     Hex(static_cast<unsigned char>(expression[i]), 2) +
                                     " at byte offset " + std::to_string(i) + ")");
    }
    i += n;
  }
  Parser parser(expression);
  NodePtr root;
  if (!parser.ParseAll(&root)) return parser.error();
  return Filter(std::move(root));
}

}  // namespace relate
