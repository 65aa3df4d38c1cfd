// Field ranges: the keys of the fields family a FieldRange covers, and the
// scans over them (integers and doubles merged into one ordered space).
#include <rocksdb/iterator.h>

#include <cmath>
#include <limits>
#include <memory>

#include "storage/keys.h"
#include "storage/store_internal.h"
#include "util/numeric.h"

namespace relate::storage {
namespace {

using util::CompareIntDouble;

// The keys of one value type of a field to scan: [begin, end).
struct SubRange {
  char tag;
  std::string begin, end;
};

// Just past every key of the value whose encoding `value_key` ends with: those
// keys are `value_key` + id (8 bytes), and the encodings are prefix-free.
std::string PastValue(std::string value_key) {
  value_key.append(8, '\xff');
  value_key.push_back('\0');
  return value_key;
}

// The sub-ranges of keys a FieldRange covers, in key order (those of an
// integer and a double tag are merged by value when scanned). InvalidArgument
// for a bad bound.
Status PlanFieldRange(uint32_t collection, std::string_view field, const FieldRange& range,
                      std::vector<SubRange>* out) {
  out->clear();
  const std::string prefix = FieldPrefix(collection, field);
  auto whole = [&](char tag) {
    std::string end = prefix;
    end.push_back(static_cast<char>(tag + 1));
    return SubRange{tag, prefix + tag, std::move(end)};
  };
  enum Kind { kBool, kNumber, kString };
  auto kind_of = [&](const FieldBound& b, Kind* kind) -> Status {
    if (std::holds_alternative<std::vector<std::string>>(b.value)) {
      return Status::InvalidArgument("range of field \"" + std::string(field) +
                                     "\": a bound cannot be a list");
    }
    if (const auto* d = std::get_if<double>(&b.value); d != nullptr && std::isnan(*d)) {
      return Status::InvalidArgument("range of field \"" + std::string(field) +
                                     "\": a bound cannot be NaN");
    }
    *kind = std::holds_alternative<bool>(b.value)          ? kBool
            : std::holds_alternative<std::string>(b.value) ? kString
                                                           : kNumber;
    return Status::OK();
  };
  if (!range.lower && !range.upper) {
    out->push_back(whole(kFieldBoolTag));
    out->push_back(whole(kFieldIntTag));
    out->push_back(whole(kFieldDoubleTag));
    out->push_back(whole(kFieldStringTag));
    return Status::OK();
  }
  Kind kind = kNumber, other = kNumber;
  if (range.lower) RELATE_RETURN_IF_ERROR(kind_of(*range.lower, &kind));
  if (range.upper) RELATE_RETURN_IF_ERROR(kind_of(*range.upper, &other));
  if (range.lower && range.upper && kind != other) {
    return Status::InvalidArgument("range of field \"" + std::string(field) +
                                   "\": its bounds are of different types");
  }
  if (!range.lower) kind = other;
  // A bound that is a value of the sub-range's own type: its keys start at
  // `value_key`.
  auto lower_key = [](const std::string& value_key, bool inclusive) {
    return inclusive ? value_key : PastValue(value_key);
  };
  auto upper_key = [](const std::string& value_key, bool inclusive) {
    return inclusive ? PastValue(value_key) : value_key;
  };
  auto value_key = [&](const MetadataValue& v) {
    std::string k = prefix;
    AppendFieldValue(&k, v);
    return k;
  };
  if (kind != kNumber) {
    SubRange r = whole(kind == kBool ? kFieldBoolTag : kFieldStringTag);
    if (range.lower) r.begin = lower_key(value_key(range.lower->value), range.lower->inclusive);
    if (range.upper) r.end = upper_key(value_key(range.upper->value), range.upper->inclusive);
    if (r.begin < r.end) out->push_back(std::move(r));
    return Status::OK();
  }
  constexpr double kTwo63 = 9223372036854775808.0;
  // Integers: a double bound becomes the nearest integer inside the range.
  {
    SubRange r = whole(kFieldIntTag);
    bool empty = false;
    if (range.lower) {
      if (const auto* i = std::get_if<int64_t>(&range.lower->value)) {
        r.begin = lower_key(value_key(*i), range.lower->inclusive);
      } else {
        const double d = std::get<double>(range.lower->value);
        if (d >= kTwo63) {
          empty = true;
        } else if (d >= -kTwo63) {
          const double c = std::ceil(d);
          r.begin = lower_key(value_key(static_cast<int64_t>(c)), c != d || range.lower->inclusive);
        }
      }
    }
    if (range.upper) {
      if (const auto* i = std::get_if<int64_t>(&range.upper->value)) {
        r.end = upper_key(value_key(*i), range.upper->inclusive);
      } else {
        const double d = std::get<double>(range.upper->value);
        if (d < -kTwo63) {
          empty = true;
        } else if (d < kTwo63) {
          const double f = std::floor(d);
          r.end = upper_key(value_key(static_cast<int64_t>(f)), f != d || range.upper->inclusive);
        }
      }
    }
    if (!empty && r.begin < r.end) out->push_back(std::move(r));
  }
  // Doubles: an integer bound becomes its nearest double, and the end is open or
  // closed by which side of the integer that double lies; NaN (after +inf) is out.
  {
    SubRange r = whole(kFieldDoubleTag);
    r.end = PastValue(value_key(std::numeric_limits<double>::infinity()));
    if (range.lower) {
      if (const auto* i = std::get_if<int64_t>(&range.lower->value)) {
        const auto d = static_cast<double>(*i);
        const int cmp = CompareIntDouble(*i, d);
        r.begin = lower_key(value_key(d), cmp < 0 || (cmp == 0 && range.lower->inclusive));
      } else {
        r.begin = lower_key(value_key(range.lower->value), range.lower->inclusive);
      }
    }
    if (range.upper) {
      if (const auto* i = std::get_if<int64_t>(&range.upper->value)) {
        const auto d = static_cast<double>(*i);
        const int cmp = CompareIntDouble(*i, d);
        r.end = upper_key(value_key(d), cmp > 0 || (cmp == 0 && range.upper->inclusive));
      } else {
        r.end = upper_key(value_key(range.upper->value), range.upper->inclusive);
      }
    }
    if (r.begin < r.end) out->push_back(std::move(r));
  }
  return Status::OK();
}

}  // namespace

Status Store::ScanField(uint32_t collection, std::string_view field, const FieldRange& range,
                        const std::function<bool(uint64_t id)>& fn, const StoreSnapshot* at) const {
  std::vector<SubRange> plan;
  RELATE_RETURN_IF_ERROR(PlanFieldRange(collection, field, range, &plan));
  const size_t value_pos = FieldPrefix(collection, field).size();
  const rocksdb::Snapshot* snapshot = at != nullptr ? at->rep_->snapshot : nullptr;
  auto bad = [&](uint64_t after) {
    return Status::Corruption("an entry of field \"" + std::string(field) + "\" of collection id " +
                              std::to_string(collection) + " does not decode (after record id " +
                              std::to_string(after) + ")");
  };
  // One cursor per sub-range; integers and doubles are merged by value.
  struct Cursor {
    std::unique_ptr<RangeIterator> range;
    uint64_t id = 0;
    bool valid = false;
  };
  uint64_t last_id = 0;
  auto advance = [&](Cursor& c, bool first) -> Status {
    rocksdb::Iterator* it = c.range->it.get();
    if (first) {
      it->Seek(c.range->begin);
    } else {
      it->Next();
    }
    c.valid = it->Valid();
    if (!c.valid) return FromRocks(it->status(), "scanning field \"" + std::string(field) + "\"");
    if (!FieldEntryId(it->key().ToStringView(), value_pos, &c.id)) return bad(last_id);
    return Status::OK();
  };
  auto open = [&](const SubRange& r, Cursor* c) -> Status {
    c->range = std::make_unique<RangeIterator>(r.begin, r.end, snapshot);
    c->range->it = rep_->NewIterator(c->range->ro, kFields);
    return advance(*c, true);
  };
  for (size_t i = 0; i < plan.size(); ++i) {
    Cursor a, b;
    RELATE_RETURN_IF_ERROR(open(plan[i], &a));
    const bool merge =
        plan[i].tag == kFieldIntTag && i + 1 < plan.size() && plan[i + 1].tag == kFieldDoubleTag;
    if (merge) RELATE_RETURN_IF_ERROR(open(plan[++i], &b));
    while (a.valid || b.valid) {
      // The integer cursor goes first unless the double's value (or, at equal
      // values, its id) is smaller. NaN sorts after every integer.
      bool take_a = !b.valid;
      if (a.valid && b.valid) {
        const int64_t iv = ReadIntValue(a.range->it->key().data() + value_pos + 1);
        const double dv = ReadDoubleValue(b.range->it->key().data() + value_pos + 1);
        const int cmp = std::isnan(dv) ? -1 : CompareIntDouble(iv, dv);
        take_a = cmp < 0 || (cmp == 0 && a.id <= b.id);
      }
      Cursor& c = take_a ? a : b;
      last_id = c.id;
      if (!fn(c.id)) return Status::OK();
      RELATE_RETURN_IF_ERROR(advance(c, false));
    }
  }
  return Status::OK();
}

Result<uint64_t> Store::CountField(uint32_t collection, std::string_view field,
                                   const FieldRange& range, uint64_t limit) const {
  std::vector<SubRange> plan;
  RELATE_RETURN_IF_ERROR(PlanFieldRange(collection, field, range, &plan));
  uint64_t n = 0;
  for (const auto& r : plan) {
    if (n >= limit) break;
    RangeIterator ri(r.begin, r.end, nullptr);
    ri.ro.fill_cache = false;
    ri.it = rep_->NewIterator(ri.ro, kFields);
    for (ri.it->Seek(ri.begin); ri.it->Valid() && n < limit; ri.it->Next()) ++n;
    RELATE_RETURN_IF_ERROR(
        FromRocks(ri.it->status(), "counting field \"" + std::string(field) + "\""));
  }
  return n;
}

}  // namespace relate::storage
