#include "storage/keys.h"

#include <algorithm>

namespace relate::storage {

// Versions of one model sort together, oldest first. Keys of different
// (name, version) pairs differ: their length fixes the name's length.
std::string ModelKey(std::string_view name, uint64_t version) {
  std::string key(name);
  key.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(version >> shift));
  return key;
}

std::string ModelChunkKey(uint32_t model, char part, uint32_t chunk) {
  std::string k = CollectionPrefix(model);
  k.push_back(part);
  AppendBigEndian32(&k, chunk);
  return k;
}

// The fields CF keys of record `id`'s values of `fields`, sorted, without duplicates.
std::vector<std::string> FieldEntryKeys(uint32_t collection, uint64_t id,
                                        std::span<const std::string> fields,
                                        const Metadata& metadata) {
  std::vector<std::string> keys;
  for (const auto& field : fields) {
    auto it = metadata.find(field);
    if (it == metadata.end()) continue;
    if (const auto* list = std::get_if<std::vector<std::string>>(&it->second)) {
      for (const auto& value : *list) keys.push_back(FieldEntryKey(collection, field, value, id));
    } else {
      keys.push_back(FieldEntryKey(collection, field, it->second, id));
    }
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::string PostingValue(uint32_t count, uint32_t length) {
  std::string v;
  AppendVarint(&v, count);
  AppendVarint(&v, length);
  return v;
}

// False if `value` is not two varints that fit in 32 bits.
bool DecodePostingValue(std::string_view value, uint32_t* count, uint32_t* length) {
  const char* p = value.data();
  const char* end = p + value.size();
  uint64_t c = 0, l = 0;
  if (!ReadVarint(&p, end, &c) || !ReadVarint(&p, end, &l) || p != end) return false;
  if (c > UINT32_MAX || l > UINT32_MAX) return false;
  *count = static_cast<uint32_t>(c);
  *length = static_cast<uint32_t>(l);
  return true;
}

// The end of an escaped, terminated string that starts at `pos` of `key` (the
// offset after its terminator), or 0 if it is not one.
size_t EscapedEnd(std::string_view key, size_t pos) {
  while (pos + 1 < key.size()) {
    if (key[pos] != '\0') {
      ++pos;
    } else if (key[pos + 1] == '\xff') {
      pos += 2;
    } else {
      return key[pos + 1] == '\x01' ? pos + 2 : 0;
    }
  }
  return 0;
}

// The id of a fields CF key whose field ends before `value_pos` (its tag), or
// false if the key does not decode.
bool FieldEntryId(std::string_view key, size_t value_pos, uint64_t* id) {
  if (key.size() <= value_pos) return false;
  size_t end = 0;
  switch (key[value_pos]) {
    case kFieldBoolTag:
      end = value_pos + 2;
      if (end <= key.size() && static_cast<unsigned char>(key[value_pos + 1]) > 1) return false;
      break;
    case kFieldIntTag:
    case kFieldDoubleTag:
      end = value_pos + 9;
      break;
    case kFieldStringTag:
      end = EscapedEnd(key, value_pos + 1);
      if (end == 0) return false;
      break;
    default:
      return false;
  }
  if (key.size() != end + 8) return false;
  *id = ReadBigEndian64(key.data() + end);
  return true;
}

// The id of any fields CF key of a collection, or false if it does not decode.
bool AnyFieldEntryId(std::string_view key, uint64_t* id) {
  const size_t value_pos = key.size() > 4 ? EscapedEnd(key, 4) : 0;
  return value_pos != 0 && FieldEntryId(key, value_pos, id);
}

// The id of a postings CF key, or false if it does not decode.
bool PostingId(std::string_view key, uint64_t* id) {
  const size_t end = key.size() > 4 ? EscapedEnd(key, 4) : 0;
  if (end == 0 || key.size() != end + 8) return false;
  *id = ReadBigEndian64(key.data() + end);
  return true;
}

}  // namespace relate::storage
