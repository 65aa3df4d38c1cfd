#include "query/model_codec.h"

#include <cstring>

namespace relate::query {
namespace {

void Put32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void Put64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

// Reads a length-prefixed string at `*pos`; false if the bytes run out.
bool ReadString(std::string_view bytes, size_t* pos, std::string_view* out) {
  if (bytes.size() - *pos < 4) return false;
  uint32_t n;
  std::memcpy(&n, bytes.data() + *pos, 4);
  *pos += 4;
  if (bytes.size() - *pos < n) return false;
  *out = bytes.substr(*pos, n);
  *pos += n;
  return true;
}

}  // namespace

std::string EncodeWords(const embed::Vocabulary& vocabulary, size_t begin, size_t end) {
  std::string out;
  for (size_t id = begin; id < end; ++id) {
    const std::string& word = vocabulary.Token(static_cast<uint32_t>(id));
    Put32(&out, static_cast<uint32_t>(word.size()));
    out += word;
    Put64(&out, vocabulary.Count(static_cast<uint32_t>(id)));
  }
  return out;
}

Status DecodeWords(std::string_view bytes, embed::Vocabulary* vocabulary) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view word;
    if (!ReadString(bytes, &pos, &word) || bytes.size() - pos < 8) {
      return Status::Corruption("model vocabulary chunk is cut short at byte " +
                                std::to_string(pos));
    }
    uint64_t count;
    std::memcpy(&count, bytes.data() + pos, 8);
    pos += 8;
    RELATE_RETURN_IF_ERROR(vocabulary->Add(word, count).error());
  }
  return Status::OK();
}

std::string EncodeStrings(const std::vector<std::string>& strings) {
  std::string out;
  for (const auto& s : strings) {
    Put32(&out, static_cast<uint32_t>(s.size()));
    out += s;
  }
  return out;
}

Status DecodeStrings(std::string_view bytes, std::vector<std::string>* strings) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view s;
    if (!ReadString(bytes, &pos, &s)) return Status::Corruption("model labels are cut short");
    strings->emplace_back(s);
  }
  return Status::OK();
}

std::string_view RowBytes(const embed::EmbeddingTable& table, size_t begin, size_t end) {
  const size_t dim = table.dim();
  return std::string_view(reinterpret_cast<const char*>(table.data().data() + begin * dim),
                          (end - begin) * dim * sizeof(float));
}

Status AppendRows(std::string_view bytes, embed::EmbeddingTable* table) {
  const size_t row_bytes = table->dim() * sizeof(float);
  if (row_bytes == 0 || bytes.size() % row_bytes != 0) {
    return Status::Corruption("model rows chunk of " + std::to_string(bytes.size()) +
                              " bytes is not whole rows of " + std::to_string(table->dim()));
  }
  std::vector<float> row(table->dim());
  for (size_t pos = 0; pos < bytes.size(); pos += row_bytes) {
    std::memcpy(row.data(), bytes.data() + pos, row_bytes);
    table->AppendRow(row);
  }
  return Status::OK();
}

}  // namespace relate::query
