// The check of a filter that the builders let break rules the parser keeps.
#include "query/db_impl.h"

namespace relate::query {

namespace {

bool IsList(const MetadataValue& v) { return std::holds_alternative<std::vector<std::string>>(v); }

}  // namespace

// Builders can put a list where one value goes, or leave and / or without
// operands; the parser cannot.
Status CheckFilterNode(const Filter::Node& n) {
  switch (n.op) {
    case Filter::Op::kAnd:
    case Filter::Op::kOr:
    case Filter::Op::kNot:
      if (n.children.empty())
        return Status::InvalidArgument("filter: and / or / not without operands");
      for (const auto& child : n.children) {
        if (child == nullptr) return Status::InvalidArgument("filter: an empty operand");
        RELATE_RETURN_IF_ERROR(CheckFilterNode(*child));
      }
      return Status::OK();
    case Filter::Op::kIn:
    case Filter::Op::kNotIn:
      for (const auto& v : n.values) {
        if (IsList(v)) {
          return Status::InvalidArgument("filter: field " + Quote(n.field) +
                                         ": an in list holds single values, not lists");
        }
      }
      return Status::OK();
    case Filter::Op::kExists:
      return Status::OK();
    default:
      if (n.values.size() != 1 || IsList(n.values[0])) {
        return Status::InvalidArgument("filter: field " + Quote(n.field) +
                                       ": a comparison takes one value, not a list");
      }
      return Status::OK();
  }
}

}  // namespace relate::query
