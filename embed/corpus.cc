#include "embed/corpus.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>

namespace relate::embed {
namespace {

namespace fs = std::filesystem;

constexpr size_t kChunkBytes = 1 << 20;
constexpr uint64_t kProgressEvery = 1 << 20;  // words

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// Where to cut `text` (longer than a chunk, with no newline) so that the first
// part ends at whitespace, or else at a UTF-8 character boundary.
size_t CutPoint(std::string_view text) {
  const size_t space = text.find_last_of(" \t\r\f\v");
  if (space != std::string_view::npos && space > 0) return space + 1;
  size_t cut = text.size();
  while (cut > 1 && (static_cast<unsigned char>(text[cut - 1]) & 0xC0u) == 0x80u) --cut;
  // text[cut - 1] is now a lead byte (or ASCII): cut before it unless it is ASCII.
  if (cut > 1 && static_cast<unsigned char>(text[cut - 1]) >= 0xC0u) --cut;
  return cut;
}

Status VisitFile(const fs::path& path, const TextVisitor& visit) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return Status::NotFound("corpus file " + path.string() + " does not exist");
  if (fs::is_directory(path, ec)) {
    return Status::InvalidArgument("corpus file " + path.string() + " is a directory");
  }
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return Status::IOError("corpus file " + path.string() +
                           ": cannot open: " + std::strerror(errno));
  }
  std::string carry;  // the start of a line whose end is not read yet
  std::vector<char> buffer(kChunkBytes);
  while (true) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n == 0) {
      if (std::ferror(file.get())) {
        return Status::IOError("corpus file " + path.string() +
                               ": read failed: " + std::strerror(errno));
      }
      break;
    }
    std::string_view chunk(buffer.data(), n);
    while (!chunk.empty()) {
      const size_t newline = chunk.find('\n');
      if (newline == std::string_view::npos) {
        carry.append(chunk);
        chunk = {};
        break;
      }
      if (carry.empty()) {
        RELATE_RETURN_IF_ERROR(visit(chunk.substr(0, newline)));
      } else {
        carry.append(chunk.substr(0, newline));
        RELATE_RETURN_IF_ERROR(visit(carry));
        carry.clear();
      }
      chunk.remove_prefix(newline + 1);
    }
    // A line longer than a chunk: hand over its whole words now, keeping memory bounded.
    while (carry.size() >= kChunkBytes) {
      const size_t cut = CutPoint(carry);
      RELATE_RETURN_IF_ERROR(visit(std::string_view(carry).substr(0, cut)));
      carry.erase(0, cut);
    }
  }
  if (!carry.empty()) RELATE_RETURN_IF_ERROR(visit(carry));
  return Status::OK();
}

}  // namespace

TextSource FileTextSource(std::vector<std::filesystem::path> files) {
  return [files = std::move(files)](const TextVisitor& visit) -> Status {
    for (const auto& path : files) RELATE_RETURN_IF_ERROR(VisitFile(path, visit));
    return Status::OK();
  };
}

Result<Vocabulary> CountWords(const TextSource& source, const CountOptions& options,
                              const CorpusProgressFn& progress) {
  const Tokenizer tokenizer(options.tokenizer);
  std::unordered_map<std::string, uint64_t> counts;
  uint64_t words_read = 0, next_report = kProgressEvery;
  uint64_t min_reduce = 1;  // pruning drops words seen this often or less, then raises it
  const uint64_t limit = std::max<uint64_t>(options.counting_limit, 1);
  RELATE_RETURN_IF_ERROR(source([&](std::string_view text) -> Status {
    RELATE_ASSIGN_OR_RETURN(std::vector<std::string> tokens, tokenizer.Tokenize(text));
    for (std::string& token : tokens) {
      ++counts[std::move(token)];
      if (counts.size() > limit) {
        std::erase_if(counts, [&](const auto& entry) { return entry.second <= min_reduce; });
        ++min_reduce;
      }
    }
    words_read += tokens.size();
    if (progress && words_read >= next_report) {
      progress(words_read);
      next_report = words_read + kProgressEvery;
    }
    return Status::OK();
  }));
  if (progress) progress(words_read);
  if (words_read == 0) return Status::InvalidArgument("the corpus holds no words");

  std::vector<std::pair<std::string_view, uint64_t>> kept;
  for (const auto& [word, count] : counts) {
    if (count >= options.min_count) kept.emplace_back(word, count);
  }
  if (kept.empty()) {
    return Status::InvalidArgument("no word of the corpus occurs " +
                                   std::to_string(options.min_count) +
                                   " times or more (min_count; " + std::to_string(words_read) +
                                   " words read, " + std::to_string(counts.size()) + " distinct)");
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (options.max_words > 0 && kept.size() > options.max_words) kept.resize(options.max_words);
  Vocabulary vocabulary;
  vocabulary.Reserve(kept.size());
  for (const auto& [word, count] : kept) {
    RELATE_RETURN_IF_ERROR(vocabulary.Add(word, count).error());
  }
  return vocabulary;
}

Result<EncodedCorpus> EncodeCorpus(const TextSource& source,
                                   const TokenizerOptions& tokenizer_options,
                                   const Vocabulary& vocabulary, const std::filesystem::path& path,
                                   uint64_t block_words, const CorpusProgressFn& progress) {
  const Tokenizer tokenizer(tokenizer_options);
  File file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    return Status::IOError("training scratch file " + path.string() +
                           ": cannot create: " + std::strerror(errno));
  }
  EncodedCorpus corpus;
  corpus.file = path;
  corpus.block_starts.push_back(0);
  std::vector<uint32_t> pending;  // ids not yet written
  pending.reserve(1 << 16);
  uint64_t position = 0, block_begin = 0, words_read = 0, next_report = kProgressEvery;
  uint32_t sentence = 0;
  bool write_failed = false;
  auto flush = [&] {
    if (!pending.empty() && std::fwrite(pending.data(), sizeof(uint32_t), pending.size(),
                                        file.get()) != pending.size()) {
      write_failed = true;
    }
    pending.clear();
  };
  auto end_sentence = [&] {
    pending.push_back(EncodedCorpus::kSentenceEnd);
    ++position;
    sentence = 0;
    if (position - block_begin >= block_words) {
      corpus.block_starts.push_back(position);
      block_begin = position;
    }
    if (pending.size() >= (1 << 16)) flush();
  };
  RELATE_RETURN_IF_ERROR(source([&](std::string_view text) -> Status {
    RELATE_ASSIGN_OR_RETURN(std::vector<std::string> tokens, tokenizer.Tokenize(text));
    words_read += tokens.size();
    for (const std::string& token : tokens) {
      const auto id = vocabulary.Find(token);
      if (!id) continue;
      pending.push_back(*id);
      ++position;
      ++corpus.words;
      if (++sentence == kMaxSentenceWords) end_sentence();
    }
    if (sentence > 0) end_sentence();
    if (write_failed) {
      return Status::IOError("training scratch file " + path.string() +
                             ": write failed: " + std::strerror(errno));
    }
    if (progress && words_read >= next_report) {
      progress(words_read);
      next_report = words_read + kProgressEvery;
    }
    return Status::OK();
  }));
  flush();
  if (write_failed || std::fflush(file.get()) != 0) {
    return Status::IOError("training scratch file " + path.string() +
                           ": write failed: " + std::strerror(errno));
  }
  if (position > block_begin) corpus.block_starts.push_back(position);
  if (progress) progress(words_read);
  return corpus;
}

}  // namespace relate::embed
