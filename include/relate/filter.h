// relate::Filter: a predicate over a record's metadata, for filtered search.
//
// The expression language (`relate query --where`, Filter::Parse):
//
//   year >= 2000 and genre in ["jazz", "blues"] and not exists(draft)
//   (price < 9.5 or on_sale == true) and tags == "new"
//
//   comparisons   field == v, field != v, field < v, <=, >, >=   ("=" is "==")
//                 field in [v, ...], field not in [v, ...]
//                 exists(field)
//   logic         and, or, not (also &&, ||, !), parentheses; not binds
//                 tightest, then and, then or
//   values        "text" or 'text' (backslash escapes \" \' \\ \` \n \t \uXXXX \xHH),
//                 integers (-12), numbers (3.5, 1e-3), true, false
//   fields        letters, digits, _, . and - (not first: a digit, . or -),
//                 or any name in backticks: `release year`
//   keywords      (and, or, not, in, exists, true, false) in any case
//
// What a comparison means for a record:
//   - A record without the field matches no comparison (and no in / not in);
//     `not (f == v)` matches it, `f != v` does not.
//   - Integers and numbers compare by value with each other (2 == 2.0);
//     strings compare bytewise with strings; true and false only with == and
//     != against booleans. A value of another type than the literal's does
//     not match (year == "2000" does not match the integer 2000).
//   - A list of strings matches a comparison if any of its strings does;
//     `f != v` is `exists(f) and not (f == v)`, `f not in [...]` likewise.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relate/status.h"
#include "relate/types.h"

namespace relate {

class Filter {
 public:
  enum class Op {
    kEq,
    kNe,
    kLt,
    kLe,
    kGt,
    kGe,  // field, values[0]
    kIn,
    kNotIn,   // field, values
    kExists,  // field
    kAnd,
    kOr,   // children (two or more)
    kNot,  // children[0]
  };
  // One node of the expression tree; immutable once built.
  struct Node {
    Op op = Op::kAnd;
    std::string field;                  // comparisons and exists
    std::vector<MetadataValue> values;  // comparisons (one), in / not in (any number)
    std::vector<std::shared_ptr<const Node>> children;  // and, or, not
  };

  // Matches every record.
  Filter() = default;

  // Parses an expression (grammar above). An empty or all-blank expression
  // matches every record. InvalidArgument says where the mistake is, as
  // "column N: what" with N counted in characters from 1, e.g.
  //   column 9: expected a value after "==", found "and"
  static Result<Filter> Parse(std::string_view expression);

  // Builders, for the same expressions in C++:
  //   Filter::Ge("year", int64_t{2000}) && Filter::In("genre", {"jazz", "blues"})
  // A list value (std::vector<std::string>) given to a comparison is
  // InvalidArgument at search time (only `in` takes several values).
  static Filter Eq(std::string field, MetadataValue value);
  static Filter Ne(std::string field, MetadataValue value);
  static Filter Lt(std::string field, MetadataValue value);
  static Filter Le(std::string field, MetadataValue value);
  static Filter Gt(std::string field, MetadataValue value);
  static Filter Ge(std::string field, MetadataValue value);
  static Filter In(std::string field, std::vector<MetadataValue> values);
  static Filter NotIn(std::string field, std::vector<MetadataValue> values);
  static Filter Exists(std::string field);
  // An empty operand (one that matches everything) is dropped from an and
  // (a && Filter() is a) and absorbs an or (a || Filter() matches everything);
  // !Filter() matches no record.
  friend Filter operator&&(const Filter& a, const Filter& b);
  friend Filter operator||(const Filter& a, const Filter& b);
  friend Filter operator!(const Filter& a);

  // True for the filter that matches every record.
  bool empty() const { return root_ == nullptr; }
  // The root of the expression tree; null when empty().
  const Node* root() const { return root_.get(); }

  // Whether a record with this metadata matches.
  bool Matches(const Metadata& metadata) const;

  // The expression in the language above, fully parenthesised where needed;
  // Parse(ToString()) gives an equal filter. "" when empty().
  std::string ToString() const;

  // The same tree (structurally).
  friend bool operator==(const Filter& a, const Filter& b);

 private:
  explicit Filter(std::shared_ptr<const Node> root) : root_(std::move(root)) {}
  std::shared_ptr<const Node> root_;
};

}  // namespace relate
