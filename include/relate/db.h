// relate::DB: a database of collections of records, searched by relatedness.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "relate/options.h"
#include "relate/status.h"
#include "relate/types.h"

namespace relate {

// Checks a vector against a collection's spec as Upsert does: the collection's
// dimension, every value finite, and for cosine a non-zero norm. InvalidArgument
// says what is wrong ("vector has 512 values, collection expects 768").
Status ValidateVector(const CollectionSpec& spec, std::span<const float> vector);

// Restores the backup in `backup_dir` (written by DB::Backup) as a new database
// in `dir`, which must not exist or be empty. Every file is checked against the
// backup's manifest first: Corruption names a file that is missing, has another
// size or fails its checksum, and nothing is written then.
Status RestoreBackup(const std::filesystem::path& backup_dir, const std::filesystem::path& dir);

// Stores records durably and answers nearest-neighbour queries over them.
//
// A database is a directory. RocksDB inside it is the source of truth; each
// collection's FAISS index is derived from it (a checkpoint file plus the
// changes after it, replayed on open).
//
// Thread-safety: every method may be called concurrently from many threads.
// Writes are applied one at a time; searches run concurrently with each other
// and with a writer, waiting only while a write changes the in-memory index.
// One process at a time may open a database for writing; a second one gets Busy.
class DB {
 public:
  // Opens the database in `dir`. NotFound if it is missing and
  // !options.create_if_missing; InvalidArgument if `dir` is not a relate database;
  // Busy if another process (or handle) has it open for writing.
  static Result<std::unique_ptr<DB>> Open(const std::filesystem::path& dir, const Options& options);

  // Closes the database, writing index checkpoints for collections that changed.
  virtual ~DB() = default;

  // Creates a collection. AlreadyExists if one has the name; InvalidArgument for an
  // empty or over-long name, a zero dimension or an index spec FAISS cannot build.
  virtual Status CreateCollection(const CollectionSpec& spec) = 0;
  // Every collection, ordered by name.
  virtual Result<std::vector<CollectionInfo>> ListCollections() = 0;
  // NotFound if there is no such collection.
  virtual Result<CollectionInfo> DescribeCollection(std::string_view name) = 0;
  // Removes a collection with all its records and its index. NotFound if missing.
  virtual Status DropCollection(std::string_view name) = 0;

  // Creates or replaces each record; all of them or none. Within one call the
  // records are applied in order, so a key given twice ends with its last record.
  // A record without a vector, in a collection with a model, gets the vector of
  // its text. InvalidArgument names the first record whose key is empty, whose
  // vector has the wrong size, holds a NaN or infinity, or (cosine) has zero
  // norm, or that has no vector and no model to embed its text (or no word of
  // its text in the model's vocabulary).
  virtual Status Upsert(std::string_view collection, std::span<const Record> records,
                        const WriteOptions& options = {}) = 0;
  // Deletes the records with these keys, all in one write; keys that are not
  // stored are skipped. Returns how many records were deleted.
  virtual Result<size_t> Delete(std::string_view collection, std::span<const std::string> keys,
                                const WriteOptions& options = {}) = 0;
  // The record with this key; NotFound if the collection or the key is missing.
  virtual Result<StoredRecord> Get(std::string_view collection, std::string_view key) = 0;
  // Number of records in the collection.
  virtual Result<uint64_t> Count(std::string_view collection) = 0;

  // The k records most related to `query`, best first. InvalidArgument if the
  // query has the wrong dimension or is not finite.
  virtual Result<std::vector<Hit>> Search(std::string_view collection, std::span<const float> query,
                                          const SearchOptions& options = {}) = 0;
  // The vector the collection's model gives `text` (unit length), as Upsert
  // would store it. FailedPrecondition if the collection has no model;
  // InvalidArgument if no word of the text is in the model's vocabulary.
  virtual Result<std::vector<float>> EmbedText(std::string_view collection,
                                               std::string_view text) = 0;
  // SIF's last step for a collection whose model pools with "sif": computes the
  // first principal component of its records' text vectors, re-embeds every
  // record that came from text with that component removed (one atomic write),
  // and removes it from every text embedded afterwards (upserts and text
  // queries). Refitting replaces the component. FailedPrecondition if the model
  // does not use SIF pooling, the index cannot replace vectors, or fewer than two
  // records have text the model can embed.
  virtual Status FitSifComponent(std::string_view collection) = 0;
  // The k records most related to `text`, embedded with the collection's model.
  // FailedPrecondition if the collection has no model; InvalidArgument if no
  // word of the text is in the model's vocabulary.
  virtual Result<std::vector<Hit>> SearchText(std::string_view collection, std::string_view text,
                                              const SearchOptions& options = {}) = 0;
  // Searches `queries.size() / dimension` queries laid end to end; one hit list each.
  virtual Result<std::vector<std::vector<Hit>>> SearchBatch(std::string_view collection,
                                                            std::span<const float> queries,
                                                            const SearchOptions& options = {}) = 0;
  // SearchText for many texts at once: one hit list per text, in order. The
  // texts are embedded, then searched together (exact search runs them as one
  // matrix product). InvalidArgument names the first text that cannot be embedded.
  virtual Result<std::vector<std::vector<Hit>>> SearchTextBatch(
      std::string_view collection, std::span<const std::string> texts,
      const SearchOptions& options = {}) = 0;
  // More like this: the k records most related to the stored record `key`,
  // excluding that record itself. NotFound if the key is missing.
  virtual Result<std::vector<Hit>> SearchByKey(std::string_view collection, std::string_view key,
                                               const SearchOptions& options = {}) = 0;

  // Imports the word vectors in `file` as model `name`, all or nothing.
  // AlreadyExists if the name is taken (unless options.replace); InvalidArgument
  // naming the file and line or byte offset for a malformed file; NotFound if the
  // file is missing.
  virtual Status ImportModel(std::string_view name, const std::filesystem::path& file,
                             const ModelOptions& options = {}) = 0;
  // Every model, ordered by name.
  virtual Result<std::vector<ModelInfo>> ListModels() = 0;
  // NotFound if there is no such model.
  virtual Result<ModelInfo> DescribeModel(std::string_view name) = 0;
  // Removes a model and its data. NotFound if missing; FailedPrecondition while
  // a collection uses it. (Replacing a model in use is refused the same way.)
  virtual Status DropModel(std::string_view name) = 0;
  // Writes the model's words and rows of W to `file` as "word2vec-text" or
  // "word2vec-binary" (written whole or not at all). InvalidArgument for another format.
  virtual Status ExportModel(std::string_view name, const std::filesystem::path& file,
                             std::string_view format) = 0;

  // Learns a model from a corpus (files, or a collection's texts) with
  // skip-gram or CBOW and negative sampling (see TrainOptions), and stores it as
  // the next version of `name` (version 1 for a new name). Collections bound to
  // the name keep the vectors and the model version they have, and keep
  // answering queries with them, until ApplyModel moves them to the new one.
  // InvalidArgument for bad options, an empty corpus or one with no word
  // reaching min_count; NotFound for a missing corpus file or collection; Busy
  // if the name is being trained already; Cancelled when options.stop ended it
  // (resume with options.resume).
  virtual Status TrainModel(std::string_view name, const TrainOptions& options) = 0;
  // Moves every collection bound to model `name` to its newest version: each
  // one's texts are re-embedded, and its vectors and index replaced in one
  // step, so a query sees all old vectors or all new ones. Records that have no
  // text keep their vectors. Returns the collections it moved (none if all are
  // current). Writes wait while it runs; searches go on. Versions no collection
  // uses any more are removed. NotFound for an unknown model;
  // FailedPrecondition (naming the collection, which keeps its old vectors)
  // when the new version's dimension differs from a collection's, its index
  // cannot replace vectors, or a record's text has no word in the new vocabulary.
  virtual Result<std::vector<std::string>> ApplyModel(std::string_view name) = 0;

  // The k words of `model` most related to `word` (itself excluded). A fastText
  // model answers for unseen words too. NotFound for an unknown model or word.
  virtual Result<std::vector<WordHit>> SimilarWords(std::string_view model, std::string_view word,
                                                    size_t k = 10) = 0;
  // Solves a : b :: c : ? ("man is to king as woman is to ?": a = man, b = king,
  // c = woman), excluding the three input words. NotFound names an unknown word.
  virtual Result<std::vector<WordHit>> Analogy(std::string_view model, std::string_view a,
                                               std::string_view b, std::string_view c,
                                               size_t k = 10,
                                               AnalogyMethod method = AnalogyMethod::kCosAdd) = 0;
  // The word least related to the others: the one whose vector is furthest from
  // their mean direction. InvalidArgument for fewer than three words.
  virtual Result<std::string> OddOneOut(std::string_view model,
                                        std::span<const std::string> words) = 0;
  // Cosine similarity of two texts embedded with the model's tokenizer and pooling.
  virtual Result<float> TextSimilarity(std::string_view model, std::string_view a,
                                       std::string_view b) = 0;
  // Evaluates the model on word pairs with human scores ("w1 TAB w2 TAB score" lines).
  virtual Result<WordSimReport> EvaluateWordSim(std::string_view model,
                                                const std::filesystem::path& file) = 0;
  // Evaluates the model on analogy questions (": section" lines, then "a b c d"
  // lines), answering with 3CosAdd among the `restrict` most frequent words (0:
  // all); questions with a word outside them are skipped, as word2vec does.
  virtual Result<AnalogyReport> EvaluateAnalogies(std::string_view model,
                                                  const std::filesystem::path& file,
                                                  size_t restrict = 0) = 0;

  // Checks that storage and the collection's index agree: the same ids, and for
  // indexes that keep vectors exactly, the same (normalised) vectors.
  virtual Result<VerifyReport> Verify(std::string_view collection) = 0;
  // Writes the index checkpoint of every collection that changed since its last one.
  virtual Status Checkpoint() = 0;

  // Writes a backup of the whole database into `dir`, which must not exist: a
  // copy of storage as of one moment, each collection's index checkpoint, and a
  // manifest of every file's size and checksum (RestoreBackup checks them).
  // Writes go on meanwhile. On a read-only handle, the backup holds what it
  // sees (the database as of its opening). AlreadyExists if `dir` exists.
  virtual Result<BackupReport> Backup(const std::filesystem::path& dir) = 0;
  // Reads every storage file, checking its checksums, and checks that every
  // record is whole (decodes, has its vector) and that keys, vectors and counts
  // agree with the records. Finds damage before a read trips over it; Repair
  // recovers from it.
  virtual Result<StorageReport> CheckStorage() = 0;
  // Repairs the database in `dir`, which no process may have open for writing.
  // A whole database is left as it is. Otherwise storage's files are set aside
  // as they were (dir/store/lost/repair-<time>/) and rebuilt from what they
  // still hold: write-ahead logs replayed around their damaged records, a lost
  // CURRENT or MANIFEST rebuilt, values copied out of blob files; then records
  // that lost a part are removed with their key, missing key entries are
  // rewritten, counts recomputed, and indexes rebuilt from storage. The report
  // names what was done and what was lost. Busy if the database is open for
  // writing; NotFound if there is no database.
  static Result<StorageReport> Repair(const std::filesystem::path& dir,
                                      const Options& options = {});

  // The collection's index: kind, live and dead vectors, memory, knobs, the
  // last tuning. NotFound if there is no such collection.
  virtual Result<CollectionStats> Stats(std::string_view collection) = 0;
  // What the database's files take on disk now.
  virtual Result<SpaceUsage> SpaceUsed() = 0;
  // Sets the collection's default knobs (zeros: the index's defaults).
  virtual Status SetSearchKnobs(std::string_view collection, const SearchKnobs& knobs) = 0;
  // Measures recall@k of the collection's index against exact search over its
  // stored vectors, on a sample of them as queries, for increasing knob values
  // (efSearch, nprobe, and refine for indexes that keep codes), and stores as
  // the collection's defaults the fastest setting that reaches the target (or,
  // if none does, the one with the best recall; report.reached says which).
  // FailedPrecondition for a collection with fewer than k + 1 records.
  virtual Result<TuneReport> Tune(std::string_view collection, const TuneOptions& options = {}) = 0;
  // Rebuilds the collection's index from storage now, without the vectors of
  // deleted and replaced records (and trains it, if it trains), and writes its
  // checkpoint. Searches go on meanwhile with the old index; writes go on too
  // and are replayed into the new one before it takes over. Returns when done.
  virtual Status Compact(std::string_view collection) = 0;

  // Writes the collections named in options.collections, with the model
  // versions they are bound to (none named: every collection and every version
  // of every model), to `out` as a stream of length-delimited protobuf frames
  // (storage/EXPORT_FORMAT.md), as of one moment: writes go on meanwhile and
  // are not in it. Exporting the same data twice gives the same bytes.
  // NotFound for an unknown collection; IOError if `out` fails.
  virtual Result<TransferReport> Export(const ExportOptions& options, std::ostream& out) = 0;
  // Reads a stream Export wrote and adds its models and collections to the
  // database, all or nothing: records keep their ids and versions, and each
  // collection's index is built from them. AlreadyExists names a collection or
  // model (by name: a model of the name, any version) that the database has;
  // InvalidArgument names the frame and byte offset of the first problem (a
  // damaged, cut short or out-of-order stream, a wrong checksum, a vector of
  // the wrong dimension or not finite, a key given twice, a collection bound
  // to a model the stream lacks). Nothing of a failed import is visible, now
  // or after reopening.
  virtual Result<TransferReport> Import(std::istream& in, const ImportOptions& options = {}) = 0;
};

}  // namespace relate
