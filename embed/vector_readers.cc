// Word-vector file readers and writers.
//
// Invariants: a reader holds at most one chunk of the file (plus the longest line or
// row) besides the WordVectors it builds; the WordVectors leaves this file only when
// every row of the file has been read and checked; a writer's target path is only ever
// replaced by a complete, fsynced file.
#include "embed/vector_readers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "util/durable_file.h"
#include "util/quote.h"
#include "util/utf8.h"

namespace relate::embed {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunkBytes = size_t{1} << 20;
// FileReader's first buffer. The fuzz build (bench/fuzz) starts with a tiny one, so that
// inputs of a few hundred bytes cross buffer boundaries and grow the buffer as large
// files do.
#ifdef RELATE_FUZZ_SMALL_READS
constexpr size_t kReadBufferBytes = 64;
#else
constexpr size_t kReadBufferBytes = kChunkBytes;
#endif
// A text line or binary token longer than these means the file is not what it claims.
constexpr size_t kMaxLineBytes = size_t{256} << 20;
constexpr size_t kMaxTokenBytes = size_t{1} << 16;
constexpr uint64_t kMaxDim = uint64_t{1} << 24;
constexpr uint64_t kMaxRows = std::numeric_limits<uint32_t>::max();  // ids are uint32_t

// Tokens and values a message quotes are cut at this many bytes.
constexpr size_t kQuotedBytes = 40;

Status LineError(const fs::path& path, uint64_t line, std::string_view what) {
  return Status::InvalidArgument(path.string() + ":" + std::to_string(line) + ": " +
                                 std::string(what));
}

Status ByteError(const fs::path& path, uint64_t offset, std::string_view what) {
  return Status::InvalidArgument(path.string() + ": byte " + std::to_string(offset) + ": " +
                                 std::string(what));
}

Status FileError(const fs::path& path, std::string_view what) {
  return Status::InvalidArgument(path.string() + ": " + std::string(what));
}

Status ErrnoError(const fs::path& path, std::string_view action, int err) {
  std::string m = path.string() + ": " + std::string(action) + ": " + std::strerror(err);
  return err == ENOENT ? Status::NotFound(m) : Status::IOError(m);
}

// Why `token` cannot be a vocabulary entry, or empty when it can. `binary` also refuses
// whitespace and control bytes, which in a binary file mean the rows are misaligned.
std::string TokenProblem(std::string_view token, bool binary) {
  if (token.empty()) return "empty token";
  if (binary) {
    for (size_t i = 0; i < token.size(); ++i) {
      const auto c = static_cast<unsigned char>(token[i]);
      if (c < 0x20 || c == 0x7f || c == ' ') {
        return "token " + util::Quote(token, kQuotedBytes) + " has control byte " +
               util::Quote(token.substr(i, 1), kQuotedBytes) + " at position " + std::to_string(i) +
               " (rows are misaligned: the header's dimension may be wrong)";
      }
    }
  }
  if (const std::optional<size_t> at = util::InvalidUtf8At(token)) {
    return "token " + util::Quote(token, kQuotedBytes) + " is not valid UTF-8 (byte " +
           std::to_string(*at) + ")";
  }
  return {};
}

enum class FloatError { kNone, kNotANumber, kOutOfRange, kNaN, kInfinite };

// Parses all of `s` as a float, locale-independently; float64 text is rounded to the
// nearest float32 and values too small for float32 become 0 or a subnormal.
FloatError ParseFloat(std::string_view s, float& out) {
  const char* first = s.data();
  const char* const last = first + s.size();
  if (last - first > 1 && *first == '+' && first[1] != '-' && first[1] != '+') ++first;
  const auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec == std::errc::result_out_of_range && ptr == last) {
    // from_chars<float> refuses values beyond float's range in both directions; the
    // double tells an underflow (round it) from an overflow (refuse it).
    double d = 0;
    const auto [dptr, dec] = std::from_chars(first, last, d);
    if (dec != std::errc() || dptr != last) return FloatError::kOutOfRange;
    if (!(std::fabs(d) < 0x1.ffffffp127)) return FloatError::kOutOfRange;  // rounds to inf
    out = static_cast<float>(d);
    return FloatError::kNone;
  }
  if (ec != std::errc() || ptr != last) return FloatError::kNotANumber;
  if (std::isnan(out)) return FloatError::kNaN;
  if (std::isinf(out)) return FloatError::kInfinite;
  return FloatError::kNone;
}

// What is wrong with value `index` (1-based) holding `text`.
std::string FloatProblem(FloatError e, size_t index, std::string_view text) {
  std::string v = "value " + std::to_string(index) + " " + util::Quote(text, kQuotedBytes);
  switch (e) {
    case FloatError::kNone:
      break;
    case FloatError::kNotANumber:
      return v + " is not a number";
    case FloatError::kOutOfRange:
      return v + " is out of float32 range";
    case FloatError::kNaN:
      return v + " is NaN";
    case FloatError::kInfinite:
      return v + " is infinite";
  }
  return v;
}

bool IsSeparator(char c) { return c == ' ' || c == '\t'; }

// Splits a text line into fields separated by runs of spaces and tabs.
class Fields {
 public:
  explicit Fields(std::string_view line) : s_(line) {}
  // The next field, or an empty view when there is none.
  std::string_view Next() {
    while (pos_ < s_.size() && IsSeparator(s_[pos_])) ++pos_;
    const size_t start = pos_;
    while (pos_ < s_.size() && !IsSeparator(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// The two numbers of a word2vec header line "N D", or nullopt if the line is not two
// unsigned integers.
std::optional<std::pair<uint64_t, uint64_t>> HeaderNumbers(std::string_view line) {
  Fields fields(line);
  uint64_t numbers[2] = {0, 0};
  for (uint64_t& n : numbers) {
    const std::string_view f = fields.Next();
    const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), n);
    if (f.empty() || ec != std::errc() || ptr != f.data() + f.size()) return std::nullopt;
  }
  if (!fields.Next().empty()) return std::nullopt;
  return std::pair{numbers[0], numbers[1]};
}

struct Header {
  uint64_t rows = 0;
  uint32_t dim = 0;
};

Result<Header> ParseHeader(const fs::path& path, std::string_view line) {
  const auto numbers = HeaderNumbers(line);
  if (!numbers) {
    return LineError(path, 1,
                     "expected a word2vec header \"<rows> <dimension>\", found " +
                         util::Quote(line, kQuotedBytes));
  }
  const auto [rows, dim] = *numbers;
  if (dim == 0 || dim > kMaxDim) {
    return LineError(path, 1,
                     "header says dimension " + std::to_string(dim) + ", expected 1 to " +
                         std::to_string(kMaxDim));
  }
  if (rows > kMaxRows) {
    return LineError(path, 1,
                     "header says " + std::to_string(rows) + " rows, more than the " +
                         std::to_string(kMaxRows) + " a vocabulary can hold");
  }
  return Header{rows, static_cast<uint32_t>(dim)};
}

// Reads a file forward through a buffer of about kChunkBytes, growing it only for a
// line or row longer than the buffer. Views it returns stay valid until the next call
// that reads (Fill, ReadMore, NextLine).
class FileReader {
 public:
  FileReader(fs::path path, const ProgressFn* progress)
      : path_(std::move(path)), progress_(progress) {}
  ~FileReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  Status Open() {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return ErrnoError(path_, "cannot open", errno);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return ErrnoError(path_, "cannot stat", errno);
    // Detection and the GloVe line count read the file more than once.
    if (!S_ISREG(st.st_mode)) return FileError(path_, "is not a regular file");
    size_ = static_cast<uint64_t>(st.st_size);
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    buf_.resize(kReadBufferBytes);
    return Status::OK();
  }

  const fs::path& path() const { return path_; }
  uint64_t size() const { return size_; }
  // The file offset of the first byte of Available().
  uint64_t offset() const { return base_ + begin_; }
  // The number of the line NextLine returned last, 1-based.
  uint64_t line() const { return line_; }
  // True when everything in the file is in the buffer.
  bool eof() const { return eof_; }
  std::string_view Available() const { return {buf_.data() + begin_, end_ - begin_}; }
  void Consume(size_t n) { begin_ += n; }

  // Reads one more chunk (or sets eof()).
  Status ReadMore() {
    if (eof_) return Status::OK();
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      base_ += begin_;
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
    ssize_t n = 0;
    do {
      n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return ErrnoError(path_, "read failed at byte " + std::to_string(offset()), errno);
    if (n == 0) {
      eof_ = true;
      return Status::OK();
    }
    end_ += static_cast<size_t>(n);
    read_ += static_cast<uint64_t>(n);
    if (progress_ != nullptr && *progress_) (*progress_)(std::min(read_, size_), size_);
    return Status::OK();
  }

  // Reads until at least `n` bytes are available or the file ends.
  Status Fill(size_t n) {
    while (end_ - begin_ < n && !eof_) RELATE_RETURN_IF_ERROR(ReadMore());
    return Status::OK();
  }

  // The next line without its "\n" or "\r\n", or nullopt at the end of the file.
  Result<std::optional<std::string_view>> NextLine() {
    size_t scanned = 0;
    for (;;) {
      const char* start = buf_.data() + begin_;
      const size_t avail = end_ - begin_;
      const void* nl = std::memchr(start + scanned, '\n', avail - scanned);
      size_t len = 0;
      if (nl != nullptr) {
        len = static_cast<size_t>(static_cast<const char*>(nl) - start);
        begin_ += len + 1;
      } else if (eof_) {
        if (avail == 0) return std::optional<std::string_view>();
        len = avail;
        begin_ = end_;
      } else {
        if (avail > kMaxLineBytes) {
          return LineError(path_, line_ + 1,
                           "line is longer than " + std::to_string(kMaxLineBytes >> 20) +
                               " MiB: not a text word-vector file");
        }
        scanned = avail;
        RELATE_RETURN_IF_ERROR(ReadMore());
        continue;
      }
      if (len > 0 && start[len - 1] == '\r') --len;
      std::string_view line(start, len);
      // Some editors start UTF-8 text with a byte order mark; it is not part of a token.
      if (line_++ == 0 && line.starts_with("\xef\xbb\xbf")) line.remove_prefix(3);
      return std::optional<std::string_view>(line);
    }
  }

  // Call when the file has been read whole.
  void ReportDone() const {
    if (progress_ != nullptr && *progress_) (*progress_)(size_, size_);
  }

 private:
  fs::path path_;
  const ProgressFn* progress_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t read_ = 0;  // bytes read from the file so far
  uint64_t base_ = 0;  // file offset of buf_[0]
  uint64_t line_ = 0;
  std::vector<char> buf_;
  size_t begin_ = 0;  // buf_[begin_, end_) is read but not consumed
  size_t end_ = 0;
  bool eof_ = false;
};

// Lines in the file: an upper bound on a GloVe file's rows, so W is reserved once.
Result<uint64_t> CountLines(const fs::path& path) {
  FileReader in(path, nullptr);
  RELATE_RETURN_IF_ERROR(in.Open());
  uint64_t lines = 0;
  char last = '\n';
  for (;;) {
    RELATE_RETURN_IF_ERROR(in.ReadMore());
    const std::string_view a = in.Available();
    if (a.empty()) break;
    const char* p = a.data();
    const char* const end = p + a.size();
    while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)))) !=
           nullptr) {
      ++lines;
      ++p;
    }
    last = a.back();
    in.Consume(a.size());
  }
  return lines + (last == '\n' ? 0 : 1);
}

void ReserveRows(WordVectors& out, uint32_t dim, uint64_t rows) {
  out.table = EmbeddingTable(0, dim);
  out.table.Reserve(rows);
  out.vocabulary.Reserve(rows);
}

// Word2vec text (has_header) or GloVe.
Result<WordVectors> ReadText(const fs::path& path, bool has_header, const ProgressFn& progress) {
  uint64_t reserve_rows = 0;
  if (!has_header) {
    RELATE_ASSIGN_OR_RETURN(reserve_rows, CountLines(path));
  }
  FileReader in(path, &progress);
  RELATE_RETURN_IF_ERROR(in.Open());
  WordVectors out;
  Header header;
  if (has_header) {
    RELATE_ASSIGN_OR_RETURN(const std::optional<std::string_view> line, in.NextLine());
    if (!line) return FileError(path, "file is empty");
    RELATE_ASSIGN_OR_RETURN(header, ParseHeader(path, *line));
    // A row takes at least a token byte and a separator and a digit per value, so a
    // header count the file cannot hold does not reserve memory for it.
    const uint64_t fits = (in.size() - in.offset()) / (2 * uint64_t{header.dim} + 1) + 1;
    ReserveRows(out, header.dim, std::min(header.rows, fits));
  }
  uint32_t dim = header.dim;
  const uint64_t first_row_line = has_header ? 2 : 1;
  const auto expected = [&] {
    return has_header ? "header says " + std::to_string(dim) : "line 1 has " + std::to_string(dim);
  };
  std::vector<float> row(dim);
  uint64_t first_blank = 0;
  for (;;) {
    RELATE_ASSIGN_OR_RETURN(const std::optional<std::string_view> line, in.NextLine());
    if (!line) break;
    const uint64_t line_no = in.line();
    Fields fields(*line);
    const std::string_view token = fields.Next();
    if (token.empty()) {
      if (first_blank == 0) first_blank = line_no;
      continue;
    }
    if (first_blank != 0) return LineError(path, first_blank, "empty line between rows");
    if (dim == 0) {  // GloVe: the first row sets the dimension
      Fields probe = fields;
      uint64_t n = 0;
      while (!probe.Next().empty()) ++n;
      if (n == 0 || n > kMaxDim) {
        return LineError(
            path, line_no,
            "row has " + std::to_string(n) + " values, expected 1 to " + std::to_string(kMaxDim));
      }
      dim = static_cast<uint32_t>(n);
      row.resize(dim);
      ReserveRows(out, dim, reserve_rows);
    }
    if (has_header && out.vocabulary.size() == header.rows) {
      return LineError(path, line_no,
                       "more rows than the header says (" + std::to_string(header.rows) + ")");
    }
    if (const std::string problem = TokenProblem(token, false); !problem.empty()) {
      return LineError(path, line_no, problem);
    }
    size_t n = 0;
    for (std::string_view f = fields.Next(); !f.empty(); f = fields.Next(), ++n) {
      if (n >= dim) continue;  // only counted: the message below says how many
      if (const FloatError e = ParseFloat(f, row[n]); e != FloatError::kNone) {
        return LineError(path, line_no, FloatProblem(e, n + 1, f));
      }
    }
    if (n != dim) {
      return LineError(path, line_no, "row has " + std::to_string(n) + " values, " + expected());
    }
    if (!out.vocabulary.Add(token).has_value()) {
      const uint32_t first = *out.vocabulary.Find(token);
      return LineError(path, line_no,
                       "token " + util::Quote(token, kQuotedBytes) +
                           " appears twice: also on line " +
                           std::to_string(first + first_row_line));
    }
    out.table.AppendRow(row);
  }
  if (has_header && out.vocabulary.size() != header.rows) {
    return LineError(path, in.line(),
                     "file ends after " + std::to_string(out.vocabulary.size()) +
                         " rows, header says " + std::to_string(header.rows));
  }
  if (!has_header && out.vocabulary.size() == 0) return FileError(path, "file has no rows");
  in.ReportDone();
  return out;
}

// Skips the '\n' word2vec C writes after each binary row. False at the end of the file.
Result<bool> SkipNewlines(FileReader& in) {
  for (;;) {
    RELATE_RETURN_IF_ERROR(in.Fill(1));
    const std::string_view a = in.Available();
    if (a.empty()) return false;
    size_t k = 0;
    while (k < a.size() && a[k] == '\n') ++k;
    in.Consume(k);
    if (k < a.size()) return true;
  }
}

Result<WordVectors> ReadBinary(const fs::path& path, const ProgressFn& progress) {
  FileReader in(path, &progress);
  RELATE_RETURN_IF_ERROR(in.Open());
  RELATE_ASSIGN_OR_RETURN(const std::optional<std::string_view> line, in.NextLine());
  if (!line) return FileError(path, "file is empty");
  RELATE_ASSIGN_OR_RETURN(const Header header, ParseHeader(path, *line));
  const size_t value_bytes = size_t{header.dim} * sizeof(float);
  WordVectors out;
  const uint64_t fits = (in.size() - in.offset()) / (value_bytes + 2) + 1;
  ReserveRows(out, header.dim, std::min(header.rows, fits));
  std::vector<float> row(header.dim);
  const auto row_name = [&](uint64_t r, std::string_view token) {
    return "row " + std::to_string(r + 1) + " (" + util::Quote(token, kQuotedBytes) + ")";
  };
  for (uint64_t r = 0; r < header.rows; ++r) {
    RELATE_ASSIGN_OR_RETURN(const bool more, SkipNewlines(in));
    if (!more) {
      return ByteError(path, in.offset(),
                       "file ends after " + std::to_string(r) + " rows, header says " +
                           std::to_string(header.rows));
    }
    const uint64_t row_offset = in.offset();
    size_t scanned = 0;
    size_t space = 0;
    for (;;) {
      const std::string_view a = in.Available();
      space = a.find(' ', scanned);
      if (space != std::string_view::npos) break;
      if (a.size() > kMaxTokenBytes) {
        return ByteError(path, row_offset,
                         "row " + std::to_string(r + 1) + " has no space in its first " +
                             std::to_string(kMaxTokenBytes) +
                             " bytes: not word2vec binary, or rows are misaligned");
      }
      if (in.eof()) {
        return ByteError(path, row_offset,
                         "file ends inside the token of row " + std::to_string(r + 1) +
                             ", header says " + std::to_string(header.rows) + " rows");
      }
      scanned = a.size();
      RELATE_RETURN_IF_ERROR(in.ReadMore());
    }
    const std::string_view token = in.Available().substr(0, space);
    if (const std::string problem = TokenProblem(token, true); !problem.empty()) {
      return ByteError(path, row_offset, "row " + std::to_string(r + 1) + ": " + problem);
    }
    const Result<uint32_t> id = out.vocabulary.Add(token);
    if (!id.has_value()) {
      const uint32_t first = *out.vocabulary.Find(token);
      return ByteError(path, row_offset,
                       row_name(r, token) + ": token appears twice: also row " +
                           std::to_string(uint64_t{first} + 1));
    }
    in.Consume(space + 1);
    const uint64_t values_offset = in.offset();
    RELATE_RETURN_IF_ERROR(in.Fill(value_bytes));
    const std::string_view values = in.Available();
    if (values.size() < value_bytes) {
      return ByteError(path, row_offset,
                       row_name(r, out.vocabulary.Token(*id)) + " is cut short: the file ends " +
                           std::to_string(values.size()) + " bytes into its " +
                           std::to_string(value_bytes) + " value bytes (header says " +
                           std::to_string(header.dim) + " float32 values)");
    }
    std::memcpy(row.data(), values.data(), value_bytes);
    for (uint32_t k = 0; k < header.dim; ++k) {
      if constexpr (std::endian::native == std::endian::big) {
        row[k] = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<uint32_t>(row[k])));
      }
      if (!std::isfinite(row[k])) {
        return ByteError(path, values_offset + uint64_t{k} * sizeof(float),
                         "value " + std::to_string(k + 1) + " of " +
                             row_name(r, out.vocabulary.Token(*id)) + " is " +
                             (std::isnan(row[k]) ? "NaN" : "infinite"));
      }
    }
    in.Consume(value_bytes);
    out.table.AppendRow(row);
  }
  RELATE_ASSIGN_OR_RETURN(const bool trailing, SkipNewlines(in));
  if (trailing) {
    return ByteError(path, in.offset(),
                     "data after the " + std::to_string(header.rows) +
                         " rows the header says (header count too small, or rows misaligned)");
  }
  in.ReportDone();
  return out;
}

// Printable ASCII, which is all a text row's values hold, while float32 bytes soon
// have a control byte or the high bit set.
bool IsValueTextChar(char c) { return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r'; }

// Refuses what a word2vec reader could not read back.
Status CheckWritable(const fs::path& path, const WordVectors& vectors) {
  const Vocabulary& vocab = vectors.vocabulary;
  const EmbeddingTable& table = vectors.table;
  const auto bad = [&](std::string_view what) {
    return Status::InvalidArgument("cannot write " + path.string() + ": " + std::string(what));
  };
  if (table.dim() == 0) return bad("the table has dimension 0");
  if (vocab.size() != table.rows()) {
    return bad("the vocabulary has " + std::to_string(vocab.size()) + " tokens but the table " +
               std::to_string(table.rows()) + " rows");
  }
  for (uint32_t id = 0; id < vocab.size(); ++id) {
    if (const std::string problem = TokenProblem(vocab.Token(id), true); !problem.empty()) {
      return bad("row " + std::to_string(uint64_t{id} + 1) + ": " + problem);
    }
    const std::span<const float> row = table.Row(id);
    for (size_t k = 0; k < row.size(); ++k) {
      if (!std::isfinite(row[k])) {
        return bad("value " + std::to_string(k + 1) + " of row " +
                   std::to_string(uint64_t{id} + 1) + " (" +
                   util::Quote(vocab.Token(id), kQuotedBytes) + ") is not finite");
      }
    }
  }
  return Status::OK();
}

std::string HeaderLine(const WordVectors& vectors) {
  return std::to_string(vectors.vocabulary.size()) + " " + std::to_string(vectors.table.dim()) +
         "\n";
}

Status WriteText(const fs::path& path, const WordVectors& vectors) {
  RELATE_RETURN_IF_ERROR(CheckWritable(path, vectors));
  util::DurableFileWriter out(path);
  RELATE_RETURN_IF_ERROR(out.Open());
  RELATE_RETURN_IF_ERROR(out.Append(HeaderLine(vectors)));
  std::string line;
  char number[64];
  for (uint32_t id = 0; id < vectors.vocabulary.size(); ++id) {
    line = vectors.vocabulary.Token(id);
    for (const float v : vectors.table.Row(id)) {
      // Shortest text that reads back as the same float32.
      const auto [end, ec] = std::to_chars(number, number + sizeof(number), v);
      if (ec != std::errc()) return Status::Internal("to_chars failed on a float");
      line += ' ';
      line.append(number, end);
    }
    line += '\n';
    RELATE_RETURN_IF_ERROR(out.Append(line));
  }
  return out.Commit();
}

Status WriteBinary(const fs::path& path, const WordVectors& vectors) {
  RELATE_RETURN_IF_ERROR(CheckWritable(path, vectors));
  util::DurableFileWriter out(path);
  RELATE_RETURN_IF_ERROR(out.Open());
  RELATE_RETURN_IF_ERROR(out.Append(HeaderLine(vectors)));
  std::string line;
  for (uint32_t id = 0; id < vectors.vocabulary.size(); ++id) {
    line = vectors.vocabulary.Token(id);
    line += ' ';
    for (const float v : vectors.table.Row(id)) {
      uint32_t bits = std::bit_cast<uint32_t>(v);
      if constexpr (std::endian::native == std::endian::big) bits = __builtin_bswap32(bits);
      char bytes[sizeof(bits)];
      std::memcpy(bytes, &bits, sizeof(bits));
      line.append(bytes, sizeof(bytes));
    }
    line += '\n';
    RELATE_RETURN_IF_ERROR(out.Append(line));
  }
  return out.Commit();
}

Status OutOfMemory(const fs::path& path, std::string_view doing) {
  return Status::IOError(path.string() + ": out of memory " + std::string(doing));
}

}  // namespace

std::string_view VectorFormatName(VectorFormat format) {
  switch (format) {
    case VectorFormat::kAuto:
      return "auto";
    case VectorFormat::kWord2VecText:
      return "word2vec text";
    case VectorFormat::kWord2VecBinary:
      return "word2vec binary";
    case VectorFormat::kGloveText:
      return "GloVe text";
  }
  return "unknown";
}

Result<VectorFormat> DetectVectorFormat(const std::filesystem::path& path) {
  try {
    FileReader in(path, nullptr);
    RELATE_RETURN_IF_ERROR(in.Open());
    RELATE_ASSIGN_OR_RETURN(const std::optional<std::string_view> first, in.NextLine());
    if (!first) return FileError(path, "file is empty");
    if (first->starts_with("\xba\x16\x4f\x2f")) {  // fastText's magic 0x2f4f16ba, LE
      return FileError(path,
                       "is a fastText model, not a word-vector file: load it as a fastText "
                       "model, or read the .vec file fastText writes next to it");
    }
    if (const auto numbers = HeaderNumbers(*first)) {
      const uint64_t dim = numbers->second;
      if (numbers->first == 0 || dim == 0 || dim > kMaxDim) return VectorFormat::kWord2VecText;
      // After the header and the first token, a text row holds printable ASCII up to its
      // newline, while binary float32 values soon hold a control byte or one above 0x7f
      // (the chance that D values of real vectors do not is negligible unless D is 1).
      const size_t value_bytes = static_cast<size_t>(dim) * sizeof(float);
      RELATE_RETURN_IF_ERROR(in.Fill(std::min(kMaxTokenBytes + 1 + value_bytes, kChunkBytes)));
      const std::string_view a = in.Available();
      const size_t token_end = a.find_first_of(" \t");
      if (token_end == std::string_view::npos) return VectorFormat::kWord2VecText;
      std::string_view values = a.substr(token_end + 1, value_bytes);
      values = values.substr(0, values.find('\n'));
      const bool text =
          !values.empty() && std::all_of(values.begin(), values.end(), IsValueTextChar);
      return text ? VectorFormat::kWord2VecText : VectorFormat::kWord2VecBinary;
    }
    Fields fields(*first);
    fields.Next();
    size_t values = 0;
    for (std::string_view f = fields.Next(); !f.empty(); f = fields.Next(), ++values) {
      float v = 0;
      if (ParseFloat(f, v) == FloatError::kNotANumber) {
        values = 0;
        break;
      }
    }
    if (values == 0) {
      return LineError(path, 1,
                       "neither a word2vec header \"<rows> <dimension>\" nor a GloVe row "
                       "\"<word> <values...>\": " +
                           util::Quote(*first, kQuotedBytes));
    }
    return VectorFormat::kGloveText;
  } catch (const std::bad_alloc&) {
    return OutOfMemory(path, "while detecting its format");
  }
}

Result<WordVectors> ReadWordVectors(const std::filesystem::path& path, VectorFormat format,
                                    const ProgressFn& progress) {
  try {
    if (format == VectorFormat::kAuto) {
      RELATE_ASSIGN_OR_RETURN(format, DetectVectorFormat(path));
    }
    switch (format) {
      case VectorFormat::kWord2VecText:
        return ReadText(path, /*has_header=*/true, progress);
      case VectorFormat::kGloveText:
        return ReadText(path, /*has_header=*/false, progress);
      case VectorFormat::kWord2VecBinary:
        return ReadBinary(path, progress);
      case VectorFormat::kAuto:
        break;
    }
    return Status::Internal("ReadWordVectors: unknown format");
  } catch (const std::bad_alloc&) {
    return OutOfMemory(path, "while reading word vectors");
  } catch (const std::length_error&) {
    return OutOfMemory(path, "while reading word vectors");
  }
}

Status WriteWord2VecText(const std::filesystem::path& path, const WordVectors& vectors) {
  try {
    return WriteText(path, vectors);
  } catch (const std::bad_alloc&) {
    return OutOfMemory(path, "while writing word vectors");
  }
}

Status WriteWord2VecBinary(const std::filesystem::path& path, const WordVectors& vectors) {
  try {
    return WriteBinary(path, vectors);
  } catch (const std::bad_alloc&) {
    return OutOfMemory(path, "while writing word vectors");
  }
}

}  // namespace relate::embed
