// What the files of relate::Filter share (filter.cc, filter_print.cc and
// filter_parse.cc): the helpers that build trees keeping the invariants filter.cc
// states, and the characters, names and keywords of the `--where` language.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relate/filter.h"

namespace relate::filter_internal {

using Node = Filter::Node;
using Op = Filter::Op;
using NodePtr = std::shared_ptr<const Node>;

// Building trees, shared by the builders and the parser (filter.cc).
NodePtr MakeComparison(Op op, std::string field, std::vector<MetadataValue> values);
// Appends `child` to `children`, or its children when it is itself a node of `op`.
void AddFlattened(Op op, const NodePtr& child, std::vector<NodePtr>* children);
// The and / or of `children` (one or more, already flattened).
NodePtr MakeJunction(Op op, std::vector<NodePtr> children);
NodePtr MakeNot(NodePtr child);

// The text of the language, shared by the printer and the parser (filter_print.cc).
// `value` in upper-case hex, at least `digits` digits.
std::string Hex(uint32_t value, int digits);
// The characters a field name written without backticks starts with, and those it goes
// on with.
bool IsNameStart(char c);
bool IsNameChar(char c);
enum class Keyword { kNone, kAnd, kOr, kNot, kIn, kExists, kTrue, kFalse };

// The keyword `word` spells, in any case.
Keyword KeywordOf(std::string_view word);

}  // namespace relate::filter_internal
