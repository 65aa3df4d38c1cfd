#include "storage/log_salvage.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <string_view>
#include <vector>

#include "storage/rocks_format.h"
#include "util/durable_file.h"

namespace relate::storage {
namespace {
namespace fs = std::filesystem;

// RocksDB db/log_format.h.
constexpr size_t kBlockSize = 32768;
constexpr size_t kHeaderSize = 7;  // masked CRC (4), length (2), type (1)
enum RecordType : uint8_t { kZero = 0, kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };
constexpr uint8_t kFirstUnknownType = 5;  // recycled records, compression, timestamps

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  // True if a record that passes its checksum starts at `at`; its type and length.
  bool WholeAt(size_t at, uint8_t* type, size_t* length) const {
    const size_t block_left = kBlockSize - at % kBlockSize;
    if (block_left < kHeaderSize || at + kHeaderSize > data_.size()) return false;
    *length = static_cast<uint8_t>(data_[at + 4]) |
              (static_cast<size_t>(static_cast<uint8_t>(data_[at + 5])) << 8);
    *type = static_cast<uint8_t>(data_[at + 6]);
    if (*type == kZero) return false;
    if (kHeaderSize + *length > block_left || at + kHeaderSize + *length > data_.size())
      return false;
    return Unmask(Fixed32(data_.data() + at)) == Crc32c(data_.data() + at + 6, 1 + *length);
  }

  // True if every byte from `at` to the end of its block (or of the data) is zero.
  bool ZerosToBlockEnd(size_t at) const {
    const size_t end = std::min(data_.size(), (at / kBlockSize + 1) * kBlockSize);
    for (size_t i = at; i < end; ++i) {
      if (data_[i] != '\0') return false;
    }
    return true;
  }

  // Where reading goes on after damage at `at`: the record the damaged
  // header's length points at, else the next whole record in the block, else
  // the next block.
  size_t Resync(size_t at) const {
    uint8_t type = 0;
    size_t length = 0;
    const size_t block_end = (at / kBlockSize + 1) * kBlockSize;
    if (at + kHeaderSize <= data_.size()) {
      const size_t claimed = static_cast<uint8_t>(data_[at + 4]) |
                             (static_cast<size_t>(static_cast<uint8_t>(data_[at + 5])) << 8);
      const size_t next = at + kHeaderSize + claimed;
      if (next < block_end && WholeAt(next, &type, &length)) return next;
    }
    for (size_t q = at + 1; q < block_end && q < data_.size(); ++q) {
      if (WholeAt(q, &type, &length)) return q;
    }
    return block_end;
  }

  std::string_view data() const { return data_; }

 private:
  std::string_view data_;
};

// Appends `batch` to `out` as log records, fragmented at block boundaries.
void AppendRecords(std::string_view batch, std::string* out) {
  bool begin = true;
  do {
    size_t block_left = kBlockSize - out->size() % kBlockSize;
    if (block_left < kHeaderSize) {
      out->append(block_left, '\0');
      block_left = kBlockSize;
    }
    const size_t n = std::min(batch.size(), block_left - kHeaderSize);
    const bool end = n == batch.size();
    const uint8_t type = begin && end ? kFull : begin ? kFirst : end ? kLast : kMiddle;
    std::string record(kHeaderSize, '\0');
    record[4] = static_cast<char>(n & 0xFF);
    record[5] = static_cast<char>(n >> 8);
    record[6] = static_cast<char>(type);
    record.append(batch.substr(0, n));
    const uint32_t crc = MaskCrc(Crc32c(record.data() + 6, 1 + n));
    std::memcpy(record.data(), &crc, 4);
    out->append(record);
    batch.remove_prefix(n);
    begin = false;
  } while (!batch.empty());
}

}  // namespace

Result<LogSalvage> SalvageLog(const fs::path& path) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IOError("reading " + path.string());
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const Reader reader(bytes);
  LogSalvage out;
  std::vector<std::string_view> kept;
  std::string pending;
  std::deque<std::string> assembled;  // batches of several records (stable addresses)
  bool in_batch = false;
  bool damaged = false;
  size_t damage_start = std::string::npos;
  size_t at = 0;
  auto end_damage = [&](size_t here) {
    if (damage_start == std::string::npos) return;
    out.damaged_bytes += here - damage_start;
    damage_start = std::string::npos;
  };
  while (at < bytes.size()) {
    const size_t block_left = kBlockSize - at % kBlockSize;
    if (block_left < kHeaderSize) {  // a block's zero trailer
      at += block_left;
      continue;
    }
    uint8_t type = 0;
    size_t length = 0;
    if (reader.WholeAt(at, &type, &length)) {
      end_damage(at);
      if (type >= kFirstUnknownType) {
        return Status::FailedPrecondition(path.filename().string() +
                                          " holds records of a kind repair cannot read (type " +
                                          std::to_string(type) + ")");
      }
      const std::string_view payload(bytes.data() + at + kHeaderSize, length);
      if (type == kFull || type == kFirst) {
        in_batch = false;  // a FIRST without its LAST before it: that batch was damaged
        if (type == kFull) {
          kept.push_back(payload);
        } else {
          pending.assign(payload);
          in_batch = true;
        }
      } else if (in_batch) {
        pending.append(payload);
        if (type == kLast) {
          assembled.push_back(std::move(pending));
          kept.push_back(assembled.back());
          pending.clear();
          in_batch = false;
        }
      }  // else the rest of a batch whose start was damaged
      at += kHeaderSize + length;
      continue;
    }
    if (reader.ZerosToBlockEnd(at)) {  // padding, or a preallocated tail
      at = (at / kBlockSize + 1) * kBlockSize;
      continue;
    }
    if (damage_start == std::string::npos) {
      damage_start = at;
      ++out.damaged_stretches;
    }
    damaged = true;
    in_batch = false;
    pending.clear();
    at = reader.Resync(at);
  }
  end_damage(std::min(at, bytes.size()));
  // A batch still open at the end is a torn last write, never acknowledged.
  out.batches = kept.size();
  if (!damaged) return out;
  // The assembled batches are referenced by `kept`: build the new log now.
  std::string log;
  for (std::string_view batch : kept) AppendRecords(batch, &log);
  RELATE_RETURN_IF_ERROR(util::WriteFileDurably(path, log));
  return out;
}

}  // namespace relate::storage
