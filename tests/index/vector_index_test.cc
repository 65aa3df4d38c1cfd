#define BOOST_TEST_MODULE index
#include "index/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <xxhash.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "index/checkpoint.h"
#include "tests/testutil/testutil.h"
#include "util/coding.h"
#include "util/durable_file.h"

using namespace relate;
using namespace relate::index;

namespace {

// Temporary files (".<name>.tmp-<pid>-<n>") a save left next to its target.
size_t TempFilesIn(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    n += e.path().filename().string().find(".tmp") != std::string::npos;
  }
  return n;
}

constexpr uint32_t kDim = 16;

std::unique_ptr<VectorIndex> Filled(Metric metric, const std::vector<float>& base) {
  auto index = VectorIndex::Create(kDim, metric, "Flat").value();
  std::vector<float> prepared = base;
  PrepareVectors(metric, kDim, prepared);
  std::vector<uint64_t> ids(base.size() / kDim);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 100 + i;  // ids are not positions
  BOOST_TEST_REQUIRE(index->Add(ids, prepared).ok());
  return index;
}

// A file's bytes, read field by field from `at` as the little-endian integers
// index/checkpoint.h lays out.
struct FileFields {
  explicit FileFields(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  uint32_t U32() {
    at += 4;
    return util::ReadLittleEndian32(bytes.data() + at - 4);
  }
  uint64_t U64() {
    at += 8;
    return util::ReadLittleEndian64(bytes.data() + at - 8);
  }
  std::vector<char> bytes;
  size_t at = 0;
};

void FlipByte(const std::filesystem::path& path, std::streamoff offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c;
  f.get(c);
  f.seekp(offset);
  f.put(static_cast<char>(c ^ 0x5a));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CheckVectorTest)

BOOST_AUTO_TEST_CASE(GoodVectorPasses) {
  std::vector<float> v{1, 2, 3};
  BOOST_TEST(CheckVector(v, 3, Metric::kCosine).ok());
}

BOOST_AUTO_TEST_CASE(WrongSizeEmptyNanInfAndZeroAreRefused) {
  std::vector<float> wrong{1, 2};
  Status s = CheckVector(wrong, 3, Metric::kL2);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("2 values") != std::string::npos);
  BOOST_TEST(CheckVector(std::vector<float>{}, 3, Metric::kL2).code() ==
             Status::Code::kInvalidArgument);
  std::vector<float> nan{1, std::numeric_limits<float>::quiet_NaN(), 3};
  BOOST_TEST(std::string(CheckVector(nan, 3, Metric::kL2).message()).find("NaN") !=
             std::string::npos);
  std::vector<float> inf{1, 2, std::numeric_limits<float>::infinity()};
  BOOST_TEST(std::string(CheckVector(inf, 3, Metric::kL2).message()).find("infinite") !=
             std::string::npos);
  std::vector<float> zero{0, 0, 0};
  BOOST_TEST(CheckVector(zero, 3, Metric::kCosine).code() == Status::Code::kInvalidArgument);
  BOOST_TEST(CheckVector(zero, 3, Metric::kL2).ok());  // a point at the origin is fine for L2
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SearchTest)

BOOST_AUTO_TEST_CASE(ExactSearchEqualsBruteForceForEveryMetric) {
  const auto base = testutil::RandomVectors(500, kDim, 1);
  const auto queries = testutil::RandomVectors(20, kDim, 2);
  for (Metric metric : {Metric::kCosine, Metric::kInnerProduct, Metric::kL2}) {
    BOOST_TEST_CONTEXT("metric " << MetricName(metric)) {
      auto index = Filled(metric, base);
      std::vector<float> q = queries;
      PrepareVectors(metric, kDim, q);
      auto nb = index->Search(q, 10).value();
      for (size_t qi = 0; qi < 20; ++qi) {
        auto expected = testutil::BruteForce(metric, base, kDim, queries.data() + qi * kDim, 10);
        for (size_t j = 0; j < 10; ++j) {
          BOOST_TEST(nb.ids[qi * 10 + j] == static_cast<int64_t>(100 + expected[j]));
          double want = testutil::Score(metric, base.data() + expected[j] * kDim,
                                        queries.data() + qi * kDim, kDim);
          BOOST_TEST(nb.scores[qi * 10 + j] == want, boost::test_tools::tolerance(1e-3));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(CosineDistanceIsOneMinusScore) {
  auto index = Filled(Metric::kCosine, testutil::RandomVectors(50, kDim, 3));
  auto q = testutil::Normalised(testutil::RandomVectors(1, kDim, 4));
  auto nb = index->Search(q, 5).value();
  for (size_t j = 0; j < 5; ++j) {
    BOOST_TEST(nb.distances[j] == 1.0f - nb.scores[j], boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(nb.scores[j] <= 1.0f + 1e-5f);
  }
}

BOOST_AUTO_TEST_CASE(FewerVectorsThanKLeavesEmptySlots) {
  auto index = Filled(Metric::kL2, testutil::RandomVectors(3, kDim, 5));
  auto nb = index->Search(testutil::RandomVectors(1, kDim, 6), 5).value();
  BOOST_TEST(nb.ids[2] >= 0);
  BOOST_TEST(nb.ids[3] == -1);
  BOOST_TEST(nb.ids[4] == -1);
}

BOOST_AUTO_TEST_CASE(RemovedIdsAreNotFound) {
  const auto base = testutil::RandomVectors(30, kDim, 7);
  auto index = Filled(Metric::kL2, base);
  std::vector<uint64_t> gone{100, 105, 999};
  BOOST_TEST(index->Remove(gone).value() == 2u);
  BOOST_TEST(index->size() == 28u);
  BOOST_TEST(!index->Contains(100));
  BOOST_TEST(index->Contains(101));
  // Searching for a removed vector itself no longer finds it.
  std::vector<float> q(base.begin(), base.begin() + kDim);
  auto nb = index->Search(q, 28).value();
  for (int64_t id : nb.ids) BOOST_TEST(id != 100);
  // The remaining ids still map to their own vectors.
  auto v = index->Reconstruct(101).value();
  BOOST_TEST(v[0] == base[kDim]);
}

BOOST_AUTO_TEST_CASE(BadSpecsAreRefused) {
  auto bad = VectorIndex::Create(kDim, Metric::kCosine, "NoSuchIndex42");
  BOOST_TEST(bad.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(bad.error().message()).find("NoSuchIndex42") != std::string::npos);
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kCosine, "IDMap,Flat").error().code() ==
             Status::Code::kInvalidArgument);
  // Kinds FAISS 1.7.3 builds but that crash or cannot take batches and removals.
  for (std::string spec : {"HNSW1", "HNSW0", "HNSW1,SQ8", "HNSW99999999999", "NSG16,Flat",
                           "IVF16,PQ4x4fs", "PQ8x4fs", "IVF16,Flat,RFlat"}) {
    auto refused = VectorIndex::Create(kDim, Metric::kCosine, spec);
    BOOST_TEST(refused.error().code() == Status::Code::kInvalidArgument, spec);
    BOOST_TEST(std::string(refused.error().message()).find(spec) != std::string::npos, spec);
  }
  // A query may not ask for more neighbours than any index can give.
  auto flat = VectorIndex::Create(kDim, Metric::kCosine, "Flat").value();
  std::vector<float> q(kDim, 1.0f);
  BOOST_TEST(flat->Search(q, size_t{1} << 40).error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(flat->Search(q, SIZE_MAX).error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kCosine, "auto").value()->spec() == "Flat");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SpecTest)

// Specs FAISS 1.7.3 parses but then asserts on, divides by zero with or
// allocates without bound for, and others it cannot build: refused up front
// with the spec and what is wrong, at kDim (16) dimensions.
BOOST_AUTO_TEST_CASE(HostileSpecsAreRefusedSayingWhatIsWrong) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"IVF0,Flat", "list count must be from 1 to 1048576, not 0"},
      {"IVF99999999999,Flat", "not 99999999999"},
      {"IVF2000000,Flat", "list count must be from 1 to 1048576"},
      {"IVF16,PQ0", "part count (over 16 dimensions) must be from 1 to 16, not 0"},
      {"IVF16,PQ8x0", "bits a part must be from 1 to 8, not 0"},
      {"IVF16,PQ8x9", "bits a part must be from 1 to 8, not 9"},
      {"IVF16,PQ3", "the part count must divide the dimension"},
      {"IVF16", "needs a code after it"},
      {"IVF16,Bogus", "no code \"Bogus\""},
      {"IVF16,SQ7", "use SQ4, SQ6, SQ8 or SQfp16"},
      {"IVF16_HNSW0,Flat", "HNSW needs M from 2 to 1024"},
      {"PQ8x0", "bits a part must be from 1 to 16, not 0"},
      {"PQ0", "part count (over 16 dimensions) must be from 1 to 16, not 0"},
      {"PQ0x8", "not 0"},
      {"PQ8x17", "bits a part must be from 1 to 16, not 17"},
      {"PQ8x99999999999", "not 99999999999"},
      {"PQ5", "the part count must divide the dimension"},
      {"PQ32", "must be from 1 to 16, not 32"},
      {"SQ7", "\"SQ7\" is not a scalar quantizer"},
      {"SQ", "is not a scalar quantizer"},
      {"HNSW0", "HNSW needs M"},
      {"HNSW32,PQ0", "not 0"},
      {"HNSW32,PQ3", "the part count must divide the dimension"},
      {"HNSW32,SQ3", "is not a scalar quantizer"},
      {"OPQ0,IVF16,PQ8", "OPQ's part count"},
      {"OPQ3,IVF16,PQ8", "the part count must divide the dimension"},
      {"OPQ8_32,IVF16,PQ8", "OPQ's output dimension (of 16) must be from 1 to 16, not 32"},
      {"PCA0,Flat", "PCA's output dimension (of 16) must be from 1 to 16, not 0"},
      {"PCA64,Flat", "not 64"},
      {"PCA8,PQ16", "part count (over 8 dimensions)"},
      {"RR0,Flat", "RR's output dimension"},
      {"IMI2x0,Flat", "IMI's bits a half must be from 1 to 10, not 0"},
      {"IMI2x40,Flat", "not 40"},
      {"PCA8", "it ends with the transform PCA8"},
      {"Flat,", "empty part"},
      {",Flat", "empty part"},
      {"IVF16,,Flat", "empty part"},
      {"IVF16(PQ4),Flat", "is not an index relate builds"},
      {"LSQ4x8", "is not an index relate builds"},
      {std::string(300, 'F'), "at most 256"},
  };
  for (const auto& [spec, why] : refused) {
    for (Metric metric : {Metric::kCosine, Metric::kL2}) {
      auto made = VectorIndex::Create(kDim, metric, spec);
      BOOST_TEST_REQUIRE(!made.has_value(), spec);
      BOOST_TEST(made.error().code() == Status::Code::kInvalidArgument, spec);
      const std::string message(made.error().message());
      BOOST_TEST(message.find("index spec \"" + spec + "\"") != std::string::npos, message);
      BOOST_TEST(message.find(why) != std::string::npos, message);
      BOOST_TEST(VectorIndex::CheckSpec(kDim, spec).ToString() == made.error().ToString());
    }
  }
}

BOOST_AUTO_TEST_CASE(GoodSpecsStillCreate) {
  for (std::string spec : {"Flat",
                           "auto",
                           "HNSW32",
                           "HNSW16,Flat",
                           "HNSW",
                           "HNSW16,SQ8",
                           "HNSW16,PQ4",
                           "IVF16,Flat",
                           "IVF16,PQ4",
                           "IVF16,PQ8x4np",
                           "IVF16,SQfp16",
                           "IVF16_HNSW8,Flat",
                           "PQ8x4",
                           "PQ16x16",
                           "SQ8",
                           "SQ4",
                           "OPQ8,IVF16,PQ8x4",
                           "OPQ4_8,PQ4",
                           "PCA8,IVF16,Flat",
                           "PCAR8,HNSW16",
                           "RR8,PQ4",
                           "L2norm,Flat",
                           "Pad32,PQ32"}) {
    auto made = VectorIndex::Create(kDim, Metric::kCosine, spec);
    BOOST_TEST(made.has_value(), spec << ": " << (made ? "" : made.error().ToString()));
  }
  // The dimension decides what divides it.
  BOOST_TEST(VectorIndex::Create(15, Metric::kCosine, "PQ5").has_value());
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kCosine, "PQ5").error().code() ==
             Status::Code::kInvalidArgument);
  // FAISS's own refusals stay refusals, not crashes (IMI and LSH are L2 only).
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kL2, "IMI2x4,Flat").has_value());
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kCosine, "IMI2x4,Flat").error().code() ==
             Status::Code::kInvalidArgument);
  BOOST_TEST(VectorIndex::Create(kDim, Metric::kL2, "LSH").has_value());
}

// A database written by a version that took a spec this one refuses: its
// index loads as one that refuses every use, saying why, instead of failing.
BOOST_AUTO_TEST_CASE(StoredBadSpecLoadsAsAnIndexThatSaysWhatIsWrong) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "c.faiss";
  for (bool file : {false, true}) {
    if (file) {
      BOOST_TEST_REQUIRE(
          Filled(Metric::kCosine, testutil::RandomVectors(20, kDim, 3))->Save(path, 1, 20).ok());
    }
    auto loaded = VectorIndex::Load(path, 1, kDim, Metric::kCosine, "IVF0,Flat");
    BOOST_TEST_REQUIRE(loaded.has_value(), loaded.error().ToString());
    BOOST_TEST(loaded->last_change == 0u);
    VectorIndex& index = *loaded->index;
    const Status why = index.CheckUsable();
    BOOST_TEST(why.code() == Status::Code::kFailedPrecondition);
    const std::string message(why.message());
    BOOST_TEST(message.find("index spec \"IVF0,Flat\"") != std::string::npos, message);
    BOOST_TEST(message.find("list count") != std::string::npos, message);
    BOOST_TEST(message.find("drop the collection") != std::string::npos, message);
    BOOST_TEST(index.spec() == "IVF0,Flat");
    BOOST_TEST(index.size() == 0u);
    BOOST_TEST(index.Stats().kind == "unusable");
    BOOST_TEST(index.Ids().empty());
    BOOST_TEST(!index.needs_training());
    const auto v = testutil::RandomVectors(2, kDim, 4);
    const std::vector<uint64_t> ids{1, 2};
    BOOST_TEST(index.Add(ids, v).ToString() == why.ToString());
    BOOST_TEST(index.Remove(ids).error().ToString() == why.ToString());
    BOOST_TEST(index.Train(v).ToString() == why.ToString());
    BOOST_TEST(index.TrainOnHeld(10).ToString() == why.ToString());
    BOOST_TEST(index.Search(std::span(v).first(kDim), 1).error().ToString() == why.ToString());
    BOOST_TEST(index.SearchExact(std::span(v).first(kDim), 1, ids).error().code() ==
               Status::Code::kFailedPrecondition);
    BOOST_TEST(index.RangeSearch(std::span(v).first(kDim), 0.5f, 10).error().code() ==
               Status::Code::kFailedPrecondition);
    BOOST_TEST(index.Reconstruct(1).error().code() == Status::Code::kFailedPrecondition);
    // Nothing to save; a checkpoint there stays as it was.
    const auto before = std::filesystem::exists(path) ? std::filesystem::file_size(path) : 0;
    BOOST_TEST(index.Save(path, 1, 30).ok());
    BOOST_TEST((std::filesystem::exists(path) ? std::filesystem::file_size(path) : 0) == before);
    BOOST_TEST(TempFilesIn(path.parent_path()) == 0u);
  }
  // Every refused spec, PQ8x0 (a division by zero in FAISS) among them.
  auto pq = VectorIndex::Load(path, 1, kDim, Metric::kL2, "PQ8x0");
  BOOST_TEST_REQUIRE(pq.has_value());
  BOOST_TEST(pq->index->CheckUsable().code() == Status::Code::kFailedPrecondition);
  // A good spec is still loaded from its file.
  BOOST_TEST(VectorIndex::Load(path, 1, kDim, Metric::kCosine, "Flat").value().index->size() ==
             20u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(CheckpointTest)

BOOST_AUTO_TEST_CASE(SavedIndexLoadsWithItsLastChange) {
  testutil::ScratchDir dir;
  const auto base = testutil::RandomVectors(200, kDim, 8);
  auto index = Filled(Metric::kCosine, base);
  const auto path = dir.path() / "c.faiss";
  BOOST_TEST_REQUIRE(index->Save(path, 7, 4242).ok());
  BOOST_TEST(TempFilesIn(dir.path()) == 0u);
  auto loaded = VectorIndex::Load(path, 7, kDim, Metric::kCosine, "Flat");
  BOOST_TEST_REQUIRE(loaded.has_value());
  BOOST_TEST(loaded->last_change == 4242u);
  BOOST_TEST(loaded->index->size() == 200u);
  BOOST_TEST(loaded->index->Ids() == index->Ids(), boost::test_tools::per_element());
  auto q = testutil::RandomVectors(1, kDim, 9);
  PrepareVectors(Metric::kCosine, kDim, q);
  BOOST_TEST(loaded->index->Search(q, 5).value().ids == index->Search(q, 5).value().ids,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(DamagedCheckpointsAreRefused) {
  testutil::ScratchDir dir;
  auto index = Filled(Metric::kL2, testutil::RandomVectors(100, kDim, 10));
  const auto path = dir.path() / "c.faiss";
  BOOST_TEST_REQUIRE(index->Save(path, 1, 10).ok());
  const auto size = std::filesystem::file_size(path);

  BOOST_TEST(
      VectorIndex::Load(dir.path() / "missing", 1, kDim, Metric::kL2, "Flat").error().code() ==
      Status::Code::kNotFound);
  // Another collection's or shape's checkpoint.
  BOOST_TEST(VectorIndex::Load(path, 2, kDim, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim + 1, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
  // One flipped byte in the middle of the vectors.
  FlipByte(path, static_cast<std::streamoff>(size / 2));
  auto flipped = VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat");
  BOOST_TEST(flipped.error().code() == Status::Code::kCorruption);
  BOOST_TEST(std::string(flipped.error().message()).find("checksum") != std::string::npos);
  // Truncated.
  BOOST_TEST_REQUIRE(index->Save(path, 1, 10).ok());
  std::filesystem::resize_file(path, size - 100);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
  std::filesystem::resize_file(path, 5);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat").error().code() ==
             Status::Code::kCorruption);
}

// A checkpoint is written the one way relate writes a file: synced, moved
// over the target, its directory synced, and nothing left beside it.
BOOST_AUTO_TEST_CASE(SaveGoesThroughTheDurableWriter) {
  testutil::ScratchDir dir;
  auto index = Filled(Metric::kL2, testutil::RandomVectors(50, kDim, 12));
  const auto path = dir.path() / "c.faiss";
  const util::DurabilityCounters& done = util::Durability();
  const uint64_t file_syncs = done.file_syncs, renames = done.renames,
                 directory_syncs = done.directory_syncs;
  BOOST_TEST_REQUIRE(index->Save(path, 1, 3).ok());
  BOOST_TEST_REQUIRE(index->Save(path, 1, 4).ok());
  BOOST_TEST(done.file_syncs - file_syncs == 2u);
  BOOST_TEST(done.renames - renames == 2u);
  BOOST_TEST(done.directory_syncs - directory_syncs == 2u);
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    BOOST_TEST(entry.path().filename() == "c.faiss");
    ++files;
  }
  BOOST_TEST(files == 1u);
  BOOST_TEST(VectorIndex::Load(path, 1, kDim, Metric::kL2, "Flat").value().last_change == 4u);
  // A directory that does not exist is an IOError, as any failed write.
  BOOST_TEST(index->Save(dir.path() / "missing" / "c.faiss", 1, 5).code() ==
             Status::Code::kIOError);
}

// The bytes of a checkpoint, field by field as index/checkpoint.h lays them
// out: existing checkpoints must keep loading, so the layout must not move.
BOOST_AUTO_TEST_CASE(TheFileHoldsTheDocumentedLayout) {
  testutil::ScratchDir dir;
  const auto base = testutil::RandomVectors(30, kDim, 13);
  auto index = Filled(Metric::kInnerProduct, base);
  const auto path = dir.path() / "c.faiss";
  BOOST_TEST_REQUIRE(index->Save(path, 9, 1234567).ok());
  FileFields f(path);
  const std::vector<char>& file = f.bytes;
  BOOST_TEST_REQUIRE(file.size() > kCheckpointHeaderSize + kCheckpointTrailerSize);
  BOOST_TEST(std::string(file.data(), 8) == "RLXCKPT2");
  f.at = 8;
  BOOST_TEST(f.U32() == 9u);                                            // collection
  BOOST_TEST(f.U32() == kDim);                                          // dimension
  BOOST_TEST(f.U32() == static_cast<uint32_t>(Metric::kInnerProduct));  // metric
  BOOST_TEST(f.U32() == 1u);                                            // kind: Flat
  BOOST_TEST(f.U64() == 1234567u);                                      // last change
  BOOST_TEST(f.at == kCheckpointHeaderSize);
  BOOST_TEST_REQUIRE(f.U32() == 4u);
  BOOST_TEST(std::string(file.data() + f.at, 4) == "Flat");
  f.at += 4;
  BOOST_TEST(f.U32() == 0u);  // ef_construction: Flat has none
  BOOST_TEST(f.U32() == 0u);  // flags: not staging
  BOOST_TEST_REQUIRE(f.U64() == 30u);
  for (uint64_t i = 0; i < 30; ++i) BOOST_TEST(f.U64() == 100 + i);
  BOOST_TEST(f.U64() == 0u);  // no tombstone words
  faiss::VectorIOReader reader;
  reader.data.assign(file.begin() + static_cast<ptrdiff_t>(f.at), file.end() - 16);
  std::unique_ptr<faiss::Index> read(faiss::read_index(&reader));
  auto* flat = dynamic_cast<faiss::IndexFlat*>(read.get());
  BOOST_TEST_REQUIRE(flat != nullptr);
  BOOST_TEST(flat->ntotal == 30);
  BOOST_TEST(flat->metric_type == faiss::METRIC_INNER_PRODUCT);
  BOOST_TEST(std::memcmp(flat->get_xb(), base.data(), base.size() * sizeof(float)) == 0);
  BOOST_TEST(reader.rp == reader.data.size());  // the FAISS payload fills the rest
  f.at = file.size() - kCheckpointTrailerSize;
  BOOST_TEST(f.U64() == file.size() - kCheckpointHeaderSize - kCheckpointTrailerSize);
  BOOST_TEST(f.U64() == XXH64(file.data(), file.size() - 8, 0));
}

// Tombstones as index/checkpoint.h lays them out: the 64-bit words that cover
// every position, bit i of word i / 64 set for a dead position i, also after
// positions were added past the words that held the first tombstone.
BOOST_AUTO_TEST_CASE(TombstonesAreStoredAsOneBitAPosition) {
  testutil::ScratchDir dir;
  auto index = VectorIndex::Create(kDim, Metric::kL2, "HNSW8").value();
  const auto base = testutil::RandomVectors(130, kDim, 17);
  std::vector<uint64_t> ids(130);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 100 + i;
  const size_t first = 70;
  BOOST_TEST_REQUIRE(
      index->Add(std::span(ids).first(first), std::span(base).first(first * kDim)).ok());
  BOOST_TEST_REQUIRE(index->Remove(std::vector<uint64_t>{103, 165}).value() == 2u);
  BOOST_TEST_REQUIRE(
      index->Add(std::span(ids).subspan(first), std::span(base).subspan(first * kDim)).ok());
  BOOST_TEST_REQUIRE(index->Remove(std::vector<uint64_t>{229}).value() == 1u);
  const auto path = dir.path() / "c.faiss";
  BOOST_TEST_REQUIRE(index->Save(path, 9, 1).ok());
  FileFields f(path);
  f.at = kCheckpointHeaderSize;
  BOOST_TEST_REQUIRE(f.bytes.size() > kCheckpointHeaderSize + kCheckpointTrailerSize);
  const uint32_t spec_bytes = f.U32();
  f.at += spec_bytes + 8;  // the spec, ef_construction and flags
  BOOST_TEST_REQUIRE(f.U64() == 130u);
  f.at += 130 * 8;
  BOOST_TEST_REQUIRE(f.U64() == 3u);  // tombstone words: (130 + 63) / 64
  BOOST_TEST(f.U64() == uint64_t{1} << 3);
  BOOST_TEST(f.U64() == uint64_t{1} << 1);
  BOOST_TEST(f.U64() == uint64_t{1} << 1);
  auto loaded = VectorIndex::Load(path, 9, kDim, Metric::kL2, "HNSW8");
  BOOST_TEST_REQUIRE(loaded.has_value(), loaded.error().ToString());
  BOOST_TEST(loaded->index->Stats().dead == 3u);
  BOOST_TEST(loaded->index->size() == 127u);
  BOOST_TEST(!loaded->index->Contains(165));
  BOOST_TEST(loaded->index->Contains(166));
}

BOOST_AUTO_TEST_SUITE_END()
