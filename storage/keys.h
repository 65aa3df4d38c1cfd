// Key encodings of the column families (see store.h). Big-endian numbers, so
// RocksDB's bytewise order is numeric order and a collection's keys are one range.
//
// Secondary-index (fields) and keyword (postings) keys embed strings of any bytes:
// they are escaped (0x00 -> 0x00 0xFF) and terminated by 0x00 0x01, so an escaped
// string is never a prefix of another's and bytewise order of the encodings is
// the order of the strings. Field values are a type tag and an order-preserving
// encoding, so within one field and type, key order is value order, then id order.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "relate/types.h"
#include "util/coding.h"

namespace relate::storage {

using util::AppendBigEndian32;
using util::AppendBigEndian64;
using util::AppendLittleEndian64;
using util::ReadBigEndian32;
using util::ReadBigEndian64;
using util::ReadLittleEndian64;

// The first key of the collection's range in every per-collection family.
inline std::string CollectionPrefix(uint32_t collection) {
  std::string k;
  AppendBigEndian32(&k, collection);
  return k;
}
// The key just past the collection's range.
inline std::string CollectionEnd(uint32_t collection) {
  std::string k;
  AppendBigEndian32(&k, collection + 1);  // ids are allocated below UINT32_MAX
  return k;
}
inline std::string RecordKey(uint32_t collection, uint64_t id) {
  std::string k = CollectionPrefix(collection);
  AppendBigEndian64(&k, id);
  return k;
}
inline std::string UserKey(uint32_t collection, std::string_view key) {
  std::string k = CollectionPrefix(collection);
  k.append(key);
  return k;
}
inline std::string ChangeKey(uint32_t collection, uint64_t seq) {
  std::string k = CollectionPrefix(collection);
  AppendBigEndian64(&k, seq);
  return k;
}

// Secondary-index keys: coll(4 BE) + escaped field + tag + value + id(8 BE).
// Tags order the value types of one field: bools, then integers, then doubles,
// then strings (integers and doubles are one ordered space that ScanField merges).
constexpr char kFieldBoolTag = 0x01;
constexpr char kFieldIntTag = 0x02;
constexpr char kFieldDoubleTag = 0x03;
constexpr char kFieldStringTag = 0x04;

// `s` escaped and terminated (see the top of this file).
inline void AppendEscaped(std::string* out, std::string_view s) {
  for (char c : s) {
    out->push_back(c);
    if (c == '\0') out->push_back('\xff');
  }
  out->push_back('\0');
  out->push_back('\x01');
}

// Flipping the sign bit makes two's complement order unsigned bytewise order.
inline void AppendIntValue(std::string* out, int64_t v) {
  AppendBigEndian64(out, static_cast<uint64_t>(v) ^ (uint64_t{1} << 63));
}
inline int64_t ReadIntValue(const char* p) {
  return static_cast<int64_t>(ReadBigEndian64(p) ^ (uint64_t{1} << 63));
}

// IEEE 754 bits made bytewise-ordered: negatives have every bit flipped, others
// only the sign bit. -0.0 is stored as 0.0 (one value), and every NaN as one
// positive NaN, which sorts after +inf (so a range up to +inf never holds it).
inline uint64_t OrderedDoubleBits(double v) {
  if (v == 0) v = 0.0;
  if (std::isnan(v)) v = std::numeric_limits<double>::quiet_NaN();
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  return (bits >> 63) != 0 ? ~bits : bits ^ (uint64_t{1} << 63);
}
inline void AppendDoubleValue(std::string* out, double v) {
  AppendBigEndian64(out, OrderedDoubleBits(v));
}
inline double ReadDoubleValue(const char* p) {
  const uint64_t ordered = ReadBigEndian64(p);
  return std::bit_cast<double>((ordered >> 63) != 0 ? ordered ^ (uint64_t{1} << 63) : ~ordered);
}

// The first bytes of every entry of the field in the collection.
inline std::string FieldPrefix(uint32_t collection, std::string_view field) {
  std::string k = CollectionPrefix(collection);
  AppendEscaped(&k, field);
  return k;
}
// The key just past every entry of the field (the terminator's last byte plus one).
inline std::string FieldEnd(uint32_t collection, std::string_view field) {
  std::string k = FieldPrefix(collection, field);
  k.back() = '\x02';
  return k;
}

// The tag and encoding of a value that is not a list (a list has one entry per
// string, each encoded as a string).
inline void AppendFieldValue(std::string* out, const MetadataValue& value) {
  std::visit(
      [out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          out->push_back(kFieldBoolTag);
          out->push_back(x ? '\x01' : '\0');
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->push_back(kFieldIntTag);
          AppendIntValue(out, x);
        } else if constexpr (std::is_same_v<T, double>) {
          out->push_back(kFieldDoubleTag);
          AppendDoubleValue(out, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out->push_back(kFieldStringTag);
          AppendEscaped(out, x);
        }
      },
      value);
}

// The fields CF key of one (non-list) value of `field` of record `id`.
inline std::string FieldEntryKey(uint32_t collection, std::string_view field,
                                 const MetadataValue& value, uint64_t id) {
  std::string k = FieldPrefix(collection, field);
  AppendFieldValue(&k, value);
  AppendBigEndian64(&k, id);
  return k;
}

// Postings keys: coll(4 BE) + escaped term + id(8 BE) -> varint count, varint length.
inline std::string PostingPrefix(uint32_t collection, std::string_view term) {
  return FieldPrefix(collection, term);
}
inline std::string PostingEnd(uint32_t collection, std::string_view term) {
  return FieldEnd(collection, term);
}
inline std::string PostingKey(uint32_t collection, std::string_view term, uint64_t id) {
  std::string k = PostingPrefix(collection, term);
  AppendBigEndian64(&k, id);
  return k;
}

using util::AppendVarint;
using util::ReadVarint;

// Models catalog key: versions of one model sort together, oldest first.
std::string ModelKey(std::string_view name, uint64_t version);
// A chunk of a model's data (part: a letter naming what the chunk holds).
std::string ModelChunkKey(uint32_t model, char part, uint32_t chunk);

// The fields CF keys of record `id`'s values of `fields`, sorted, without duplicates.
std::vector<std::string> FieldEntryKeys(uint32_t collection, uint64_t id,
                                        std::span<const std::string> fields,
                                        const Metadata& metadata);
// A posting's value: how often the term occurs in the record's text, and the
// text's length in terms.
std::string PostingValue(uint32_t count, uint32_t length);

// Decoders. Each returns false for bytes that are not what it decodes.

// A posting's value: two varints that fit in 32 bits.
bool DecodePostingValue(std::string_view value, uint32_t* count, uint32_t* length);
// The end of an escaped, terminated string that starts at `pos` of `key` (the
// offset after its terminator), or 0 if it is not one.
size_t EscapedEnd(std::string_view key, size_t pos);
// The id of a fields CF key whose field ends before `value_pos` (its tag).
bool FieldEntryId(std::string_view key, size_t value_pos, uint64_t* id);
// The id of any fields CF key of a collection.
bool AnyFieldEntryId(std::string_view key, uint64_t* id);
// The id of a postings CF key.
bool PostingId(std::string_view key, uint64_t* id);

}  // namespace relate::storage
