// relate::Filter: its trees and their builders, the evaluation of a filter against a
// record's metadata, and equality. The `--where` language is printed in filter_print.cc
// and parsed (by a hand-written recursive-descent parser) in filter_parse.cc; the
// helpers the three files share are declared in filter_internal.h.
//
// Invariants of every tree a Filter holds (the builders and the parser keep them, and
// the parser builds its trees with the same helpers as the builders):
//  - kAnd and kOr have two or more children, none of the same op as its parent:
//    nested and / or of one kind are flattened, so `a and (b and c)` and
//    `(a and b) and c` are the same tree, and ToString needs parentheses only
//    around an or inside an and, or an and / or under a not;
//  - kNot has one child, a comparison one value, exists none;
//  - nodes never change once built, so filters share subtrees freely, and any number
//    of threads may call Matches, ToString and == on one filter at once.
// With these, Parse(f.ToString()) == f for every filter whose literals the language
// can write: a comparison's literal is a string, an integer, a finite number or a
// boolean (not a list, NaN or an infinity; see ToString). ToString adds parentheses
// only where the tree needs them, which the text it was parsed from had too, so the
// printed text never nests deeper than the parsed one; a builder-made tree that nests
// nots and and / or more than kMaxDepth deep prints to text Parse refuses.
//
// Choices the header leaves open, made here:
//  - "Matches nothing" is the node `` `` in [] `` (field "" in an empty list): no value
//    is in an empty list, so it matches no record without a special case, and it
//    prints and parses back as itself. !Filter() gives it.
//  - a || Filter() is Filter(): an operand that matches everything makes the
//    disjunction match everything (a && Filter() is a, as the header says).
//  - !!a is kept as two nots, so the tree mirrors the text.
//  - NaN: a NaN in the metadata (or a NaN literal from a builder) is unordered, so
//    it matches no ==, <, <=, >, >= and no `in`; `!=` and `not in` match it, as
//    they are `exists(f) and not (f == v)`.
//  - A list literal in a comparison (Filter::Eq("tags", std::vector<std::string>{...}),
//    builder misuse) matches no record, with != too; inside `in [...]` it equals
//    nothing.
//  - Integers and numbers are compared exactly: 2^53 + 1 (int) != 2^53 (double).
//  - Strings and backticked field names take, besides the escapes of the header,
//    \` and \xHH (one byte), so that names and strings that are not UTF-8 (possible
//    through the builders) print to text that parses back to the same bytes.
#include "relate/filter.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "query/filter_internal.h"
#include "util/numeric.h"

namespace relate {
namespace filter_internal {

NodePtr MakeComparison(Op op, std::string field, std::vector<MetadataValue> values) {
  auto node = std::make_shared<Node>();
  node->op = op;
  node->field = std::move(field);
  node->values = std::move(values);
  return node;
}

void AddFlattened(Op op, const NodePtr& child, std::vector<NodePtr>* children) {
  if (child->op == op) {
    children->insert(children->end(), child->children.begin(), child->children.end());
  } else {
    children->push_back(child);
  }
}

NodePtr MakeJunction(Op op, std::vector<NodePtr> children) {
  if (children.size() == 1) return std::move(children[0]);
  auto node = std::make_shared<Node>();
  node->op = op;
  node->children = std::move(children);
  return node;
}

NodePtr MakeNot(NodePtr child) {
  auto node = std::make_shared<Node>();
  node->op = Op::kNot;
  node->children.push_back(std::move(child));
  return node;
}

}  // namespace filter_internal

namespace {

using filter_internal::AddFlattened;
using filter_internal::MakeComparison;
using filter_internal::MakeJunction;
using filter_internal::MakeNot;
using filter_internal::Node;
using filter_internal::NodePtr;
using filter_internal::Op;

// The node that matches no record (see the top of the file).
NodePtr MakeNothing() { return MakeComparison(Op::kIn, "", {}); }

enum class Order { kLess, kEqual, kGreater, kUnordered };

template <typename T>
Order CompareOrdered(const T& a, const T& b) {
  if (a < b) return Order::kLess;
  if (b < a) return Order::kGreater;
  if (a == b) return Order::kEqual;
  return Order::kUnordered;  // NaN
}

// Compares an integer with a number exactly (no rounding of the integer to double).
Order CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return Order::kUnordered;
  const int sign = util::CompareIntDouble(i, d);
  return sign < 0 ? Order::kLess : sign > 0 ? Order::kGreater : Order::kEqual;
}

Order Reverse(Order o) {
  if (o == Order::kLess) return Order::kGreater;
  if (o == Order::kGreater) return Order::kLess;
  return o;
}

bool OrderSatisfies(Op op, Order o) {
  switch (op) {
    case Op::kEq:
      return o == Order::kEqual;
    case Op::kLt:
      return o == Order::kLess;
    case Op::kLe:
      return o == Order::kLess || o == Order::kEqual;
    case Op::kGt:
      return o == Order::kGreater;
    case Op::kGe:
      return o == Order::kGreater || o == Order::kEqual;
    default:
      return false;
  }
}

// Whether the scalar metadata value `value` (not a list) stands in relation `op`
// (==, <, <=, >, >=) to `literal`.
bool ScalarHolds(Op op, const MetadataValue& value, const MetadataValue& literal) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    const auto* l = std::get_if<std::string>(&literal);
    if (l == nullptr) return false;
    // char_traits<char> compares as unsigned char: bytewise.
    const int c = std::string_view(*s).compare(*l);
    return OrderSatisfies(op, c < 0 ? Order::kLess : c > 0 ? Order::kGreater : Order::kEqual);
  }
  if (const auto* b = std::get_if<bool>(&value)) {
    const auto* l = std::get_if<bool>(&literal);
    return l != nullptr && op == Op::kEq && *b == *l;
  }
  Order o = Order::kUnordered;
  if (const auto* i = std::get_if<int64_t>(&value)) {
    if (const auto* li = std::get_if<int64_t>(&literal)) {
      o = CompareOrdered(*i, *li);
    } else if (const auto* ld = std::get_if<double>(&literal)) {
      o = CompareIntDouble(*i, *ld);
    } else {
      return false;
    }
  } else if (const auto* d = std::get_if<double>(&value)) {
    if (const auto* li = std::get_if<int64_t>(&literal)) {
      o = Reverse(CompareIntDouble(*li, *d));
    } else if (const auto* ld = std::get_if<double>(&literal)) {
      o = CompareOrdered(*d, *ld);
    } else {
      return false;
    }
  }
  return OrderSatisfies(op, o);
}

// Whether metadata value `value` stands in relation `op` (==, <, <=, >, >=) to
// `literal`; a list of strings does if any of its strings does.
bool Holds(Op op, const MetadataValue& value, const MetadataValue& literal) {
  if (std::holds_alternative<std::vector<std::string>>(literal)) return false;
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    const auto* l = std::get_if<std::string>(&literal);
    if (l == nullptr) return false;
    for (const std::string& s : *list) {
      const int c = std::string_view(s).compare(*l);
      if (OrderSatisfies(op, c < 0 ? Order::kLess : c > 0 ? Order::kGreater : Order::kEqual)) {
        return true;
      }
    }
    return false;
  }
  return ScalarHolds(op, value, literal);
}

bool InList(const MetadataValue& value, const std::vector<MetadataValue>& literals) {
  for (const MetadataValue& l : literals) {
    if (Holds(Op::kEq, value, l)) return true;
  }
  return false;
}

bool Evaluate(const Node& node, const Metadata& metadata) {
  switch (node.op) {
    case Op::kAnd:
      for (const NodePtr& c : node.children) {
        if (!Evaluate(*c, metadata)) return false;
      }
      return true;
    case Op::kOr:
      for (const NodePtr& c : node.children) {
        if (Evaluate(*c, metadata)) return true;
      }
      return false;
    case Op::kNot:
      return !node.children.empty() && !Evaluate(*node.children[0], metadata);
    default:
      break;
  }
  const auto it = metadata.find(std::string_view(node.field));
  if (it == metadata.end()) return false;
  const MetadataValue& value = it->second;
  switch (node.op) {
    case Op::kExists:
      return true;
    case Op::kIn:
      return InList(value, node.values);
    case Op::kNotIn:
      return !InList(value, node.values);
    case Op::kNe:
      return node.values.size() == 1 &&
             !std::holds_alternative<std::vector<std::string>>(node.values[0]) &&
             !Holds(Op::kEq, value, node.values[0]);
    default:
      return node.values.size() == 1 && Holds(node.op, value, node.values[0]);
  }
}

bool ValueEqual(const MetadataValue& a, const MetadataValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* da = std::get_if<double>(&a)) {
    // Bits, not ==: -0.0 and 0.0 print differently, and a NaN equals itself.
    return std::bit_cast<uint64_t>(*da) == std::bit_cast<uint64_t>(std::get<double>(b));
  }
  return a == b;
}

bool NodeEqual(const Node& a, const Node& b) {
  if (&a == &b) return true;
  if (a.op != b.op || a.field != b.field || a.values.size() != b.values.size() ||
      a.children.size() != b.children.size()) {
    return false;
  }
  for (size_t k = 0; k < a.values.size(); ++k) {
    if (!ValueEqual(a.values[k], b.values[k])) return false;
  }
  for (size_t k = 0; k < a.children.size(); ++k) {
    if (!NodeEqual(*a.children[k], *b.children[k])) return false;
  }
  return true;
}

}  // namespace

Filter Filter::Eq(std::string field, MetadataValue value) {
  return Filter(MakeComparison(Op::kEq, std::move(field), {std::move(value)}));
}
Filter Filter::Ne(std::string field, MetadataValue value) {
  return Filter(MakeComparison(Op::kNe, std::move(field), {std::move(value)}));
}
Filter Filter::Lt(std::string field, MetadataValue value) {
  return Filter(MakeComparison(Op::kLt, std::move(field), {std::move(value)}));
}
Filter Filter::Le(std::string field, MetadataValue value) {
  return Filter(MakeComparison(Op::kLe, std::move(field), {std::move(value)}));
}
Filter Filter::Gt(std::string field, MetadataValue value) {
  return Filter(MakeComparison(Op::kGt, std::move(field), {std::move(value)}));
}
Filter Filter::Ge(std::string field, MetadataValue value) {
  return Filter(MakeComparison(Op::kGe, std::move(field), {std::move(value)}));
}
Filter Filter::In(std::string field, std::vector<MetadataValue> values) {
  return Filter(MakeComparison(Op::kIn, std::move(field), std::move(values)));
}
Filter Filter::NotIn(std::string field, std::vector<MetadataValue> values) {
  return Filter(MakeComparison(Op::kNotIn, std::move(field), std::move(values)));
}
Filter Filter::Exists(std::string field) {
  return Filter(MakeComparison(Op::kExists, std::move(field), {}));
}

Filter operator&&(const Filter& a, const Filter& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  std::vector<NodePtr> children;
  AddFlattened(Filter::Op::kAnd, a.root_, &children);
  AddFlattened(Filter::Op::kAnd, b.root_, &children);
  return Filter(MakeJunction(Filter::Op::kAnd, std::move(children)));
}

Filter operator||(const Filter& a, const Filter& b) {
  if (a.empty() || b.empty()) return Filter();
  std::vector<NodePtr> children;
  AddFlattened(Filter::Op::kOr, a.root_, &children);
  AddFlattened(Filter::Op::kOr, b.root_, &children);
  return Filter(MakeJunction(Filter::Op::kOr, std::move(children)));
}

Filter operator!(const Filter& a) {
  if (a.empty()) return Filter(MakeNothing());
  return Filter(MakeNot(a.root_));
}

bool Filter::Matches(const Metadata& metadata) const {
  return root_ == nullptr || Evaluate(*root_, metadata);
}

bool operator==(const Filter& a, const Filter& b) {
  if (a.empty() || b.empty()) return a.empty() == b.empty();
  return NodeEqual(*a.root_, *b.root_);
}

}  // namespace relate
