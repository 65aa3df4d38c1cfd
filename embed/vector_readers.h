// Readers and writers for the word-vector files people already have: word2vec text
// (also fastText .vec), word2vec binary and GloVe text.
//
// Readers stream: a file is read in chunks of about 1 MiB, W is reserved once from the
// header count (GloVe: from a first pass counting lines) and each row is parsed straight
// into it, so loading a multi-gigabyte file needs little more memory than W and the
// vocabulary. A file that is truncated or inconsistent is refused as a whole with an
// InvalidArgument whose message names the file and the line (text) or byte offset
// (binary), e.g. `vectors.txt:1823: row has 299 values, header says 300`.
//
// Writers write a temporary file next to the target and rename it into place, so a
// failed export leaves the target as it was and no partial file behind.
//
// Thread-safety: every function may be called concurrently on different files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include "embed/embedding_table.h"
#include "relate/status.h"

namespace relate::embed {

enum class VectorFormat {
  kAuto,            // ReadWordVectors detects the format with DetectVectorFormat.
  kWord2VecText,    // "N D\n" then "word v1 ... vD\n" rows; fastText .vec files are this.
  kWord2VecBinary,  // "N D\n" then "word " + D little-endian float32 (+ optional '\n').
  kGloveText,       // No header; every line is "word v1 ... vD".
};

// "word2vec text", "word2vec binary", "GloVe text" or "auto".
std::string_view VectorFormatName(VectorFormat format);

// Bytes read so far and total bytes of the file; called now and then while reading
// (about once a MiB) and once with done == total when the file has been read.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Detects the format of a word-vector file from its first line and the bytes after it:
// a "N D" header followed by a text row is word2vec text, a header followed by binary
// values is word2vec binary, and a first line that is a word and numbers is GloVe.
// Never returns kAuto. NotFound if the file does not exist, IOError if it cannot be
// read, InvalidArgument (naming the file) if it is empty or matches none of the formats.
Result<VectorFormat> DetectVectorFormat(const std::filesystem::path& path);

// Reads a vocabulary and W from a word-vector file; row i of the table belongs to token
// i of the vocabulary, in file order, with count 0. With kAuto the format is detected
// first. Values are parsed locale-independently and rounded to float32 (float64 text
// is accepted). NotFound if the file does not exist, IOError if it cannot be read or
// memory runs out, and InvalidArgument naming the file and line or byte offset when it
// does not match `format`, is truncated, has more or fewer rows than its header says, has
// a row with the wrong number of values, an unparsable, NaN or infinite value, a token
// that appears twice or is not valid UTF-8; nothing is returned then.
Result<WordVectors> ReadWordVectors(const std::filesystem::path& path,
                                    VectorFormat format = VectorFormat::kAuto,
                                    const ProgressFn& progress = {});

// Writes `vectors` as word2vec text: "N D\n" then "word v1 ... vD\n" per row, each value
// the shortest text that reads back as the same float32. Replaces `path` atomically.
// InvalidArgument if the vocabulary and table sizes differ, the dimension is 0, a token
// is empty, holds whitespace or is not valid UTF-8, or a value is not finite (a reader
// could not read the file back); IOError if the file cannot be written. On failure
// `path` is left as it was.
Status WriteWord2VecText(const std::filesystem::path& path, const WordVectors& vectors);

// Writes `vectors` as word2vec C writes binary files: "N D\n" then, per row, "word "
// followed by D little-endian float32 and '\n'. Replaces `path` atomically. Fails like
// WriteWord2VecText.
Status WriteWord2VecBinary(const std::filesystem::path& path, const WordVectors& vectors);

}  // namespace relate::embed
