// Metadata values to and from protobuf: the stored records (records.proto) and
// the export stream (export.proto) have MetadataValue messages of the same
// shape (the stream's strings are bytes), so one pair of templates serves both.
// Only storage/*.cc include this (it needs the generated headers' types).
#pragma once

#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "relate/types.h"

namespace relate::storage {

template <typename PbValue>
void MetadataToProto(const MetadataValue& v, PbValue* out) {
  std::visit(
      [out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(x);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->set_int_value(x);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_double_value(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          out->set_bool_value(x);
        } else {
          auto* list = out->mutable_list_value();
          for (const auto& s : x) list->add_values(s);
        }
      },
      v);
}

// False for a value with no type set.
template <typename PbValue>
bool MetadataFromProto(const PbValue& v, MetadataValue* out) {
  switch (v.kind_case()) {
    case PbValue::kStringValue:
      *out = v.string_value();
      return true;
    case PbValue::kIntValue:
      *out = static_cast<int64_t>(v.int_value());
      return true;
    case PbValue::kDoubleValue:
      *out = v.double_value();
      return true;
    case PbValue::kBoolValue:
      *out = v.bool_value();
      return true;
    case PbValue::kListValue:
      *out =
          std::vector<std::string>(v.list_value().values().begin(), v.list_value().values().end());
      return true;
    case PbValue::KIND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace relate::storage
