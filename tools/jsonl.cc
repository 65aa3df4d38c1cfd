#include "tools/jsonl.h"

#include <simdjson.h>

#include <cmath>

namespace relate::tools {
namespace {

// The DOM API picks the fastest kernel for the CPU at run time; the On Demand
// API would be fixed at compile time to the baseline x86-64 fallback.
namespace dom = simdjson::dom;

Status JsonError(simdjson::error_code e, std::string_view where) {
  return Status::InvalidArgument(std::string(where) + ": " + simdjson::error_message(e));
}

// Reads a JSON array of numbers into `out`.
Status ReadVector(dom::element value, std::string_view field, std::vector<float>* out) {
  dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return Status::InvalidArgument(std::string(field) + " must be an array of numbers");
  }
  out->clear();
  out->reserve(array.size());
  for (dom::element element : array) {
    double d;
    if (element.get_double().get(d) != simdjson::SUCCESS) {
      return Status::InvalidArgument(std::string(field) + " value " + std::to_string(out->size()) +
                                     " is not a number");
    }
    float f = static_cast<float>(d);
    if (std::isfinite(d) && !std::isfinite(f)) {
      return Status::InvalidArgument(std::string(field) + " value " + std::to_string(out->size()) +
                                     " (" + std::to_string(d) + ") does not fit a float32");
    }
    out->push_back(f);
  }
  return Status::OK();
}

Status ReadMetadataValue(dom::element value, const std::string& name, MetadataValue* out) {
  const std::string where = "metadata field \"" + name + "\"";
  switch (value.type()) {
    case dom::element_type::STRING:
      *out = std::string(value.get_string().value_unsafe());
      return Status::OK();
    case dom::element_type::BOOL:
      *out = value.get_bool().value_unsafe();
      return Status::OK();
    case dom::element_type::INT64:
      *out = value.get_int64().value_unsafe();
      return Status::OK();
    case dom::element_type::UINT64:
      return Status::InvalidArgument(where + ": integer does not fit int64");
    case dom::element_type::DOUBLE:
      *out = value.get_double().value_unsafe();
      return Status::OK();
    case dom::element_type::ARRAY: {
      std::vector<std::string> list;
      dom::array array = value.get_array().value_unsafe();
      for (dom::element element : array) {
        std::string_view s;
        if (element.get_string().get(s) != simdjson::SUCCESS) {
          return Status::InvalidArgument(where + ": a list may hold only strings");
        }
        list.emplace_back(s);
      }
      *out = std::move(list);
      return Status::OK();
    }
    case dom::element_type::OBJECT:
    case dom::element_type::NULL_VALUE:
      break;
  }
  return Status::InvalidArgument(where +
                                 " must be a string, integer, number, boolean or list of strings");
}

}  // namespace

struct JsonParser::Rep {
  dom::parser parser;

  Result<dom::element> Parse(std::string& text) {
    const size_t length = text.size();
    text.reserve(length + simdjson::SIMDJSON_PADDING);
    dom::element doc;
    if (auto e = parser.parse(text.data(), length, false).get(doc); e != simdjson::SUCCESS) {
      return JsonError(e, "malformed JSON");
    }
    return doc;
  }
};

JsonParser::JsonParser() : rep_(std::make_unique<Rep>()) {}
JsonParser::~JsonParser() = default;

Status JsonParser::ParseRecord(std::string& line, Record* record) {
  RELATE_ASSIGN_OR_RETURN(dom::element doc, rep_->Parse(line));
  dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("a line must hold one JSON object");
  }
  *record = Record{};
  bool have_key = false;
  for (dom::key_value_pair field : object) {
    const std::string_view name = field.key;
    if (name == "key") {
      std::string_view s;
      if (field.value.get_string().get(s) != simdjson::SUCCESS) {
        return Status::InvalidArgument("field \"key\" must be a string");
      }
      record->key = s;
      have_key = true;
    } else if (name == "text") {
      std::string_view s;
      if (field.value.get_string().get(s) != simdjson::SUCCESS) {
        return Status::InvalidArgument("field \"text\" must be a string");
      }
      record->text = s;
    } else if (name == "vector") {
      RELATE_RETURN_IF_ERROR(ReadVector(field.value, "field \"vector\"", &record->vector));
      if (record->vector.empty()) return Status::InvalidArgument("vector is empty");
    } else if (name == "metadata") {
      dom::object meta;
      if (field.value.get_object().get(meta) != simdjson::SUCCESS) {
        return Status::InvalidArgument("field \"metadata\" must be an object");
      }
      for (dom::key_value_pair entry : meta) {
        std::string key(entry.key);
        MetadataValue v;
        RELATE_RETURN_IF_ERROR(ReadMetadataValue(entry.value, key, &v));
        record->metadata.insert_or_assign(std::move(key), std::move(v));
      }
    } else {
      return Status::InvalidArgument("unknown field \"" + std::string(name) +
                                     "\" (expected key, text, metadata, vector)");
    }
  }
  if (!have_key) return Status::InvalidArgument("missing field \"key\"");
  return Status::OK();
}

Status JsonParser::ParseQuery(std::string& line, QueryLine* query) {
  RELATE_ASSIGN_OR_RETURN(dom::element doc, rep_->Parse(line));
  dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return Status::InvalidArgument("a line must hold one JSON object");
  }
  *query = QueryLine{};
  std::vector<std::string> kinds;
  for (dom::key_value_pair field : object) {
    const std::string_view name = field.key;
    std::string_view s;
    if (name == "text" || name == "key") {
      if (field.value.get_string().get(s) != simdjson::SUCCESS) {
        return Status::InvalidArgument("field \"" + std::string(name) + "\" must be a string");
      }
      if (name == "text") {
        query->kind = QueryLine::Kind::kText;
        query->text = s;
      } else {
        query->kind = QueryLine::Kind::kKey;
        query->key = s;
      }
      kinds.emplace_back(name);
    } else if (name == "vector") {
      RELATE_RETURN_IF_ERROR(ReadVector(field.value, "field \"vector\"", &query->vector));
      if (query->vector.empty()) return Status::InvalidArgument("vector is empty");
      query->kind = QueryLine::Kind::kVector;
      kinds.emplace_back(name);
    } else if (name == "where") {
      if (field.value.get_string().get(s) != simdjson::SUCCESS) {
        return Status::InvalidArgument(
            "field \"where\" must be a string (a filter expression, as --where takes)");
      }
      query->where = std::string(s);
    } else if (name == "k") {
      int64_t k = 0;
      if (field.value.get_int64().get(k) != simdjson::SUCCESS || k < 1) {
        return Status::InvalidArgument("field \"k\" must be a positive integer");
      }
      query->k = static_cast<uint64_t>(k);
    } else if (name == "min_score") {
      double d = 0;
      if (field.value.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) {
        return Status::InvalidArgument("field \"min_score\" must be a number");
      }
      query->min_score = d;
    } else {
      return Status::InvalidArgument("unknown field \"" + std::string(name) +
                                     "\" (expected text, vector or key, and where, k, min_score)");
    }
  }
  if (kinds.empty()) {
    return Status::InvalidArgument("no query: give one of \"text\", \"vector\" and \"key\"");
  }
  if (kinds.size() > 1) {
    return Status::InvalidArgument("ambiguous query: \"" + kinds[0] + "\" and \"" + kinds[1] +
                                   "\" given; give only one of \"text\", \"vector\" and \"key\"");
  }
  return Status::OK();
}

Status JsonParser::ParseVector(std::string json, std::vector<float>* vector) {
  RELATE_ASSIGN_OR_RETURN(dom::element doc, rep_->Parse(json));
  return ReadVector(doc, "vector", vector);
}

}  // namespace relate::tools
