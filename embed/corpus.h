// Training text, streamed: from files of any size, or from any other source of
// text pieces, with bounded memory.
//
// Two passes read the corpus. The first counts words (pruning the rarest when
// the distinct words exceed a bound, as word2vec does, so memory stays bounded
// on any corpus); the second writes each kept word's id to a scratch file that
// training reads once per epoch, in blocks that start at sentence boundaries.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "embed/embedding_table.h"
#include "embed/tokenizer.h"
#include "relate/status.h"

namespace relate::embed {

// Called with successive pieces of text; each piece ends a sentence. Returning
// an error stops the walk.
using TextVisitor = std::function<Status(std::string_view text)>;
// Calls the visitor with every piece of the corpus, in order; the same pieces
// each time it is called.
using TextSource = std::function<Status(const TextVisitor& visit)>;

// The lines of `files`, read 1 MiB at a time: a line is one piece; a line longer
// than that is cut at whitespace (or, without any, at a character boundary).
// NotFound or IOError naming the file if one cannot be opened or read.
TextSource FileTextSource(std::vector<std::filesystem::path> files);

// Called now and then with the bytes or words read so far.
using CorpusProgressFn = std::function<void(uint64_t words_read)>;

struct CountOptions {
  TokenizerOptions tokenizer;
  uint64_t min_count = 5;
  uint64_t max_words = 0;              // 0: all words of min_count or more
  uint64_t counting_limit = 10000000;  // distinct words held before pruning
};

// The vocabulary of a corpus: its words seen at least min_count times (the
// max_words most frequent, if set), most frequent first (ties in byte order),
// with their counts. InvalidArgument if the corpus has no word, or no word
// reaches min_count (saying how many words it read).
Result<Vocabulary> CountWords(const TextSource& source, const CountOptions& options,
                              const CorpusProgressFn& progress = {});

// Sentences never grow longer than this many words (word2vec's bound).
inline constexpr uint32_t kMaxSentenceWords = 1000;

// A corpus as word ids in a scratch file: the vocabulary words in corpus order,
// kSentenceEnd after each sentence; words outside the vocabulary are left out.
struct EncodedCorpus {
  static constexpr uint32_t kSentenceEnd = 0xFFFFFFFFu;
  std::filesystem::path file;
  uint64_t words = 0;  // ids in the file, sentence ends not counted
  // Block b is the ids [block_starts[b], block_starts[b + 1]) of the file (in
  // ids, not bytes); every block ends at a sentence end.
  std::vector<uint64_t> block_starts;
  size_t blocks() const { return block_starts.empty() ? 0 : block_starts.size() - 1; }
};

// Writes the ids of `source`'s words to `file` (replacing it), in blocks of
// about `block_words` words. IOError naming the file if it cannot be written.
Result<EncodedCorpus> EncodeCorpus(const TextSource& source, const TokenizerOptions& tokenizer,
                                   const Vocabulary& vocabulary, const std::filesystem::path& file,
                                   uint64_t block_words, const CorpusProgressFn& progress = {});

}  // namespace relate::embed
