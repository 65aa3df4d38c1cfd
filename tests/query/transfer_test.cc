// DB::Export and DB::Import: a database goes through a stream and comes back
// the same, byte for byte; a damaged or conflicting stream adds nothing.
#include "storage/transfer.h"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "relate/relate.h"
#include "tests/testutil/testutil.h"

using namespace relate;
namespace fs = std::filesystem;

namespace {

Options Quiet() {
  return {.create_if_missing = true, .log = [](std::string_view) {}};
}

struct TransferDb {
  testutil::ScratchDir dir;
  std::unique_ptr<DB> a, b;
  // Live keys of every collection of `a`.
  std::map<std::string, std::vector<std::string>> keys;

  TransferDb() {
    a = Open("a");
    b = Open("b");
  }
  std::unique_ptr<DB> Open(const std::string& name) {
    auto db = DB::Open(dir.path() / name, Quiet());
    BOOST_TEST_REQUIRE(db.has_value(), db.error());
    return std::move(*db);
  }
  void Reopen(const std::string& name) {
    auto& db = name == "a" ? a : b;
    db.reset();
    db = Open(name);
  }
  fs::path Write(const std::string& name, const std::string& text) const {
    const auto path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // A collection of `n` records with every kind of metadata; records 0-9 are
  // written twice (version 2) and 20-29 deleted, so ids have a gap.
  void AddVectors(const std::string& name, uint32_t dim, size_t n, uint32_t seed, Metric metric,
                  const std::string& spec) {
    BOOST_TEST_REQUIRE(
        a->CreateCollection({.name = name, .dimension = dim, .metric = metric, .index_spec = spec})
            .ok());
    const auto v = testutil::RandomVectors(n + 10, dim, seed);
    auto slice = [&](size_t i) {
      return std::vector<float>(v.begin() + static_cast<ptrdiff_t>(i * dim),
                                v.begin() + static_cast<ptrdiff_t>((i + 1) * dim));
    };
    std::vector<Record> records;
    for (size_t i = 0; i < n; ++i) {
      records.push_back({.key = "k" + std::to_string(i),
                         .text = "text of " + std::to_string(i),
                         .metadata = {{"s", "string " + std::to_string(i)},
                                      {"i", static_cast<int64_t>(i) - 5},
                                      {"d", 0.25 * static_cast<double>(i)},
                                      {"b", i % 2 == 0},
                                      {"l", std::vector<std::string>{"x", std::to_string(i)}}},
                         .vector = slice(i)});
    }
    BOOST_TEST_REQUIRE(a->Upsert(name, records).ok());
    std::vector<Record> again;
    for (size_t i = 0; i < 10 && i < n; ++i) {
      again.push_back({.key = "k" + std::to_string(i), .text = "again", .vector = slice(n + i)});
    }
    BOOST_TEST_REQUIRE(a->Upsert(name, again).ok());
    std::vector<std::string> gone;
    for (size_t i = 20; i < 30 && i < n; ++i) gone.push_back("k" + std::to_string(i));
    BOOST_TEST_REQUIRE(a->Delete(name, gone).has_value());
    for (size_t i = 0; i < n; ++i) {
      if (i < 20 || i >= 30) keys[name].push_back("k" + std::to_string(i));
    }
  }

  void AddTexts(const std::string& name, const std::vector<std::string>& texts) {
    std::vector<Record> records;
    for (size_t i = 0; i < texts.size(); ++i) {
      records.push_back({.key = "t" + std::to_string(i), .text = texts[i]});
      keys[name].push_back("t" + std::to_string(i));
    }
    BOOST_TEST_REQUIRE(a->Upsert(name, records).ok());
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  // `a` with vectors only: Flat (cosine), HNSW (L2, knobs set) and an empty one.
  void FillVectors() {
    AddVectors("flat", 8, 200, 1, Metric::kCosine, "Flat");
    AddVectors("graph", 16, 300, 2, Metric::kL2, "HNSW16");
    BOOST_TEST_REQUIRE(a->SetSearchKnobs("graph", {.ef_search = 80}).ok());
    BOOST_TEST_REQUIRE(
        a->CreateCollection({.name = "empty", .dimension = 4, .metric = Metric::kInnerProduct})
            .ok());
  }

  // `a` with models too: an imported SIF model with a fitted component, a
  // model no collection uses, and a trained model of two versions, each bound
  // to a collection.
  void FillModels() {
    const auto vec = Write("small.vec", testutil::kSmallModel);
    BOOST_TEST_REQUIRE(a->ImportModel("w2v", vec, {.pooling = "sif", .sif_a = 0.01}).ok());
    BOOST_TEST_REQUIRE(a->CreateCollection({.name = "words", .model = "w2v"}).ok());
    AddTexts("words", {"king", "queen", "king queen", "apple", "pear", "apple pear", "queen pear"});
    BOOST_TEST_REQUIRE(a->FitSifComponent("words").ok());
    BOOST_TEST_REQUIRE(a->ImportModel("spare", vec).ok());

    TrainOptions o;
    o.dimension = 16;
    o.epochs = 2;
    o.threads = 1;
    o.min_count = 1;
    o.corpus = {Write("topics.txt", testutil::TopicText(1500, 3))};
    BOOST_TEST_REQUIRE(a->TrainModel("topics", o).ok());
    BOOST_TEST_REQUIRE(a->CreateCollection({.name = "docs1", .model = "topics"}).ok());
    AddTexts("docs1", Lines(testutil::TopicText(40, 7)));
    o.seed = 99;
    BOOST_TEST_REQUIRE(a->TrainModel("topics", o).ok());
    BOOST_TEST_REQUIRE(a->CreateCollection({.name = "docs2", .model = "topics"}).ok());
    AddTexts("docs2", Lines(testutil::TopicText(40, 8)));
    BOOST_TEST_REQUIRE(a->DescribeCollection("docs1").value().model_version == 1u);
    BOOST_TEST_REQUIRE(a->DescribeCollection("docs2").value().model_version == 2u);
  }

  static std::string Export(DB& db, const ExportOptions& options = {}) {
    std::ostringstream out;
    auto r = db.Export(options, out);
    BOOST_TEST_REQUIRE(r.has_value(), r.error());
    BOOST_TEST(r->bytes == out.str().size());
    return out.str();
  }
  static Result<TransferReport> Import(DB& db, const std::string& stream) {
    std::istringstream in(stream);
    return db.Import(in);
  }
};

bool SameBits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

void ExpectSameRecords(DB& a, DB& b, const std::string& collection,
                       const std::vector<std::string>& keys) {
  BOOST_TEST(a.Count(collection).value() == b.Count(collection).value());
  BOOST_TEST(b.Count(collection).value() == keys.size());
  for (const auto& key : keys) {
    auto x = a.Get(collection, key);
    auto y = b.Get(collection, key);
    BOOST_TEST_REQUIRE(x.has_value(), x.error());
    BOOST_TEST_REQUIRE(y.has_value(), collection << "/" << key << ": " << y.error());
    BOOST_TEST(x->id == y->id);
    BOOST_TEST(x->version == y->version);
    BOOST_TEST(x->text == y->text);
    BOOST_TEST((x->metadata == y->metadata), collection << "/" << key);
    BOOST_TEST(SameBits(x->vector, y->vector), collection << "/" << key);
  }
}

void ExpectSameModel(const ModelInfo& x, const ModelInfo& y) {
  BOOST_TEST(x.name == y.name);
  BOOST_TEST(x.version == y.version);
  BOOST_TEST(x.dimension == y.dimension);
  BOOST_TEST(x.words == y.words);
  BOOST_TEST(x.format == y.format);
  BOOST_TEST(x.source == y.source);
  BOOST_TEST(x.created_unix_ms == y.created_unix_ms);
  BOOST_TEST(x.pooling == y.pooling);
  BOOST_TEST(x.sif_a == y.sif_a);
  BOOST_TEST(x.lowercase == y.lowercase);
}

// The frames of a stream Export wrote, without the end frame.
std::vector<storage::ExportFrame> ReadFrames(const std::string& stream) {
  std::istringstream in(stream);
  storage::ExportReader reader(in);
  std::vector<storage::ExportFrame> frames;
  for (;;) {
    auto f = reader.Next();
    BOOST_TEST_REQUIRE(f.has_value(), f.error());
    if (std::holds_alternative<storage::ExportEnd>(*f)) return frames;
    frames.push_back(std::move(*f));
  }
}

// A stream of `frames` with a correct end frame (counts and checksum).
std::string WriteFrames(const std::vector<storage::ExportFrame>& frames) {
  std::ostringstream out;
  storage::ExportWriter writer(out);
  for (const auto& f : frames) BOOST_TEST_REQUIRE(writer.Write(f).ok());
  BOOST_TEST_REQUIRE(writer.Finish().ok());
  return out.str();
}

// Byte offsets where each frame of the stream starts, and its end.
std::vector<size_t> FrameStarts(const std::string& stream) {
  std::vector<size_t> starts;
  for (size_t pos = 0; pos < stream.size();) {
    starts.push_back(pos);
    uint64_t length = 0;
    for (int shift = 0;; shift += 7) {
      const auto c = static_cast<unsigned char>(stream[pos++]);
      length |= static_cast<uint64_t>(c & 0x7F) << shift;
      if ((c & 0x80) == 0) break;
    }
    pos += length;
  }
  starts.push_back(stream.size());
  return starts;
}

// The index of the collection frame of `name`.
size_t CollectionFrame(const std::vector<storage::ExportFrame>& frames, const std::string& name) {
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto* c = std::get_if<storage::CollectionMeta>(&frames[i]);
    if (c != nullptr && c->spec.name == name) return i;
  }
  BOOST_FAIL("no collection frame of " << name);
  return 0;
}

size_t FirstOf(const std::vector<storage::ExportFrame>& frames, size_t kind) {
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].index() == kind) return i;
  }
  BOOST_FAIL("no frame of kind " << kind);
  return 0;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(TransferTest, TransferDb)

BOOST_AUTO_TEST_CASE(WholeDatabaseComesBackByteForByteWithEveryRecordAndModel) {
  FillVectors();
  FillModels();
  std::vector<TransferReport> progress;
  const std::string first =
      Export(*a, {.progress = [&](const TransferReport& r) { progress.push_back(r); }});
  BOOST_TEST(progress.size() == 10u);  // 4 model versions + 6 collections
  BOOST_TEST(first.find("relate-export") != std::string::npos);

  auto imported = Import(*b, first);
  BOOST_TEST_REQUIRE(imported.has_value(), imported.error());
  BOOST_TEST(imported->collections == 6u);
  BOOST_TEST(imported->models == 4u);  // w2v, spare, topics 1 and 2
  size_t records = 0;
  for (const auto& [_, k] : keys) records += k.size();
  BOOST_TEST(imported->records == records);
  BOOST_TEST(imported->bytes == first.size());

  // Exported again, the imported database gives the same bytes, also after a reopen.
  const std::string second = Export(*b);
  BOOST_TEST(second.size() == first.size());
  BOOST_TEST((second == first));
  Reopen("b");
  BOOST_TEST((Export(*b) == first));

  const auto ca = a->ListCollections().value();
  const auto cb = b->ListCollections().value();
  BOOST_TEST_REQUIRE(cb.size() == ca.size());
  for (size_t i = 0; i < ca.size(); ++i) {
    const std::string& name = ca[i].spec.name;
    BOOST_TEST(cb[i].spec.name == name);
    BOOST_TEST(cb[i].spec.dimension == ca[i].spec.dimension);
    BOOST_TEST((cb[i].spec.metric == ca[i].spec.metric));
    BOOST_TEST(cb[i].spec.index_spec == ca[i].spec.index_spec);
    BOOST_TEST(cb[i].spec.model == ca[i].spec.model);
    BOOST_TEST(cb[i].model_version == ca[i].model_version);
    BOOST_TEST(cb[i].sif_component_fitted == ca[i].sif_component_fitted);
    BOOST_TEST(cb[i].created_unix_ms == ca[i].created_unix_ms);
    BOOST_TEST(cb[i].count == ca[i].count);
    BOOST_TEST(cb[i].index_size == ca[i].count, name);
    ExpectSameRecords(*a, *b, name, keys[name]);
    auto verified = b->Verify(name);
    BOOST_TEST_REQUIRE(verified.has_value(), verified.error());
    BOOST_TEST(verified->ok(), name << ": " << (verified->ok() ? "" : verified->problems[0]));
  }
  BOOST_TEST(b->DescribeCollection("words").value().sif_component_fitted);
  BOOST_TEST(b->Stats("graph").value().knobs.ef_search == 80u);

  const auto ma = a->ListModels().value();
  const auto mb = b->ListModels().value();
  BOOST_TEST_REQUIRE(mb.size() == 3u);
  for (size_t i = 0; i < ma.size(); ++i) ExpectSameModel(ma[i], mb[i]);

  // Searches give the same answers: exact ones over the same vectors, and
  // texts embedded with the same model version and SIF component.
  const auto queries = testutil::RandomVectors(5, 8, 77);
  for (size_t q = 0; q < 5; ++q) {
    std::span<const float> query(queries.data() + q * 8, 8);
    const auto x = a->Search("flat", query, {.k = 10}).value();
    const auto y = b->Search("flat", query, {.k = 10}).value();
    BOOST_TEST_REQUIRE(y.size() == 10u);
    for (size_t i = 0; i < x.size(); ++i) {
      BOOST_TEST(y[i].key == x[i].key);
      BOOST_TEST(y[i].score == x[i].score);
    }
  }
  for (const char* text : {"king", "apple pear queen"}) {
    BOOST_TEST(SameBits(a->EmbedText("words", text).value(), b->EmbedText("words", text).value()));
  }
  for (const char* collection : {"docs1", "docs2"}) {
    const auto x = a->SearchText(collection, "t3w1 t3w2 t3w5", {.k = 5}).value();
    const auto y = b->SearchText(collection, "t3w1 t3w2 t3w5", {.k = 5}).value();
    BOOST_TEST_REQUIRE(y.size() == x.size());
    for (size_t i = 0; i < x.size(); ++i) BOOST_TEST(y[i].key == x[i].key);
  }
  const auto g = b->Get("graph", "k40").value();
  BOOST_TEST(b->Search("graph", g.vector, {.k = 1}).value().at(0).key == "k40");

  // The imported database goes on like any: the trained model's older
  // version moves on when applied.
  BOOST_TEST(b->ApplyModel("topics").value() == std::vector<std::string>{"docs1"},
             boost::test_tools::per_element());
  const std::vector<Record> fresh{{.key = "new", .vector = {1, 0, 0, 0, 0, 0, 0, 1}}};
  BOOST_TEST_REQUIRE(a->Upsert("flat", fresh).ok());
  BOOST_TEST_REQUIRE(b->Upsert("flat", fresh).ok());
  BOOST_TEST(b->Get("flat", "new").value().id == a->Get("flat", "new").value().id);
}

BOOST_AUTO_TEST_CASE(FramesRewrittenFromTheirValuesGiveTheSameBytes) {
  FillVectors();
  const std::string stream = Export(*a);
  BOOST_TEST((WriteFrames(ReadFrames(stream)) == stream));
  // Nothing depends on when it was written unless asked.
  BOOST_TEST((Export(*a) == stream));
  BOOST_TEST(!(Export(*a, {.created_unix_ms = 1700000000000}) == stream));
}

BOOST_AUTO_TEST_CASE(OneCollectionTravelsWithTheModelVersionItIsBoundTo) {
  FillVectors();
  FillModels();
  const std::string stream = Export(*a, {.collections = {"docs1", "flat"}});
  auto imported = Import(*b, stream);
  BOOST_TEST_REQUIRE(imported.has_value(), imported.error());
  BOOST_TEST(imported->collections == 2u);
  BOOST_TEST(imported->models == 1u);
  const auto collections = b->ListCollections().value();
  BOOST_TEST_REQUIRE(collections.size() == 2u);
  BOOST_TEST(collections[0].spec.name == "docs1");
  BOOST_TEST(collections[1].spec.name == "flat");
  const auto models = b->ListModels().value();
  BOOST_TEST_REQUIRE(models.size() == 1u);
  BOOST_TEST(models[0].name == "topics");
  BOOST_TEST(models[0].version == 1u);  // the version docs1 holds, not the newest
  ExpectSameRecords(*a, *b, "docs1", keys["docs1"]);
  ExpectSameRecords(*a, *b, "flat", keys["flat"]);
  BOOST_TEST(SameBits(a->EmbedText("docs1", "t1w1 t2w2").value(),
                      b->EmbedText("docs1", "t1w1 t2w2").value()));
  BOOST_TEST((Export(*b) == stream));
  std::ostringstream ignored;
  BOOST_TEST(a->Export({.collections = {"nope"}}, ignored).error().code() ==
             Status::Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(NamesThatExistAreRefusedAndNothingIsWritten) {
  FillVectors();
  FillModels();
  const std::string stream = Export(*a);
  // A collection of the name.
  BOOST_TEST_REQUIRE(b->CreateCollection({.name = "graph", .dimension = 3}).ok());
  BOOST_TEST_REQUIRE(
      b->Upsert("graph", std::vector<Record>{{.key = "mine", .vector = {1, 2, 3}}}).ok());
  auto refused = Import(*b, stream);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().code() == Status::Code::kAlreadyExists, refused.error());
  BOOST_TEST(std::string(refused.error().message()).find("\"graph\"") != std::string::npos,
             refused.error());
  auto only_mine = [&] {
    const auto all = b->ListCollections().value();
    BOOST_TEST_REQUIRE(all.size() == 1u);
    BOOST_TEST(all[0].spec.name == "graph");
    BOOST_TEST(b->Count("graph").value() == 1u);
    BOOST_TEST(b->Get("graph", "mine").has_value());
    BOOST_TEST(b->ListModels().value().empty());
  };
  only_mine();
  Reopen("b");
  only_mine();
  // A model of the name.
  BOOST_TEST_REQUIRE(b->DropCollection("graph").ok());
  BOOST_TEST_REQUIRE(b->ImportModel("topics", Write("mine.vec", testutil::kSmallModel)).ok());
  refused = Import(*b, stream);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST(refused.error().code() == Status::Code::kAlreadyExists, refused.error());
  BOOST_TEST(std::string(refused.error().message()).find("\"topics\"") != std::string::npos,
             refused.error());
  BOOST_TEST(b->ListCollections().value().empty());
  BOOST_TEST(b->ListModels().value().size() == 1u);
  BOOST_TEST(b->DescribeModel("topics").value().words == 4u);
  // Without the conflict it goes in.
  BOOST_TEST_REQUIRE(b->DropModel("topics").ok());
  auto imported = Import(*b, stream);
  BOOST_TEST_REQUIRE(imported.has_value(), imported.error());
  BOOST_TEST((Export(*b) == stream));
}

BOOST_AUTO_TEST_CASE(DamagedStreamsAreRefusedNamingTheFrameAndLeaveNothing) {
  FillVectors();
  const auto vec = Write("small.vec", testutil::kSmallModel);
  BOOST_TEST_REQUIRE(a->ImportModel("w2v", vec).ok());
  BOOST_TEST_REQUIRE(a->CreateCollection({.name = "words", .model = "w2v"}).ok());
  AddTexts("words", {"king", "queen", "apple pear"});
  const std::string stream = Export(*a);
  const std::vector<storage::ExportFrame> frames = ReadFrames(stream);
  const std::vector<size_t> starts = FrameStarts(stream);
  BOOST_TEST_REQUIRE(starts.size() == frames.size() + 2);  // + the end frame, + the end

  BOOST_TEST_REQUIRE(b->CreateCollection({.name = "keep", .dimension = 2}).ok());
  BOOST_TEST_REQUIRE(b->Upsert("keep", std::vector<Record>{{.key = "x", .vector = {1, 0}},
                                                           {.key = "y", .vector = {0, 1}}})
                         .ok());
  auto untouched = [&] {
    const auto all = b->ListCollections().value();
    BOOST_TEST_REQUIRE(all.size() == 1u);
    BOOST_TEST(all[0].spec.name == "keep");
    BOOST_TEST(b->Count("keep").value() == 2u);
    BOOST_TEST(b->ListModels().value().empty());
  };
  auto refused = [&](const std::string& damaged, const std::string& what,
                     std::vector<std::string> words) {
    auto r = Import(*b, damaged);
    BOOST_TEST_REQUIRE(!r.has_value(), what);
    BOOST_TEST(r.error().code() == Status::Code::kInvalidArgument, what << ": " << r.error());
    const std::string message(r.error().message());
    words.push_back("frame ");
    words.push_back(" at byte ");
    for (const auto& w : words) {
      BOOST_TEST(message.find(w) != std::string::npos, what << ": \"" << w << "\" in " << message);
    }
    untouched();
  };

  // Cut short: inside a frame, and exactly before the end frame.
  refused(stream.substr(0, stream.size() / 2), "cut inside", {"cut short"});
  refused(stream.substr(0, starts[frames.size()]), "cut before the end",
          {"cut short", "frame " + std::to_string(frames.size() + 1) + " at byte " +
                            std::to_string(starts[frames.size()])});
  refused(stream + "x", "bytes after the end", {"follow the end frame"});

  // A byte flipped anywhere: a vector value, a length, a key, the checksum itself.
  for (size_t i = 1; i < 24; ++i) {
    std::string damaged = stream;
    const size_t at = damaged.size() * i / 24;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    refused(damaged, "flipped byte " + std::to_string(at), {});
  }
  {
    std::string damaged = stream;
    damaged.back() = static_cast<char>(damaged.back() ^ 1);
    refused(damaged, "flipped last byte", {});
  }
  // The checksum names where the damage went undetected until the end.
  {
    const auto record = FirstOf(frames, 4);
    std::string damaged = stream;
    damaged[starts[record + 1] - 1] ^= 0x01;  // the last byte of the first record's vector
    refused(damaged, "flipped float", {"checksum", "frame " + std::to_string(frames.size() + 1)});
  }

  // Not an export: another magic, or no header.
  {
    std::string damaged = stream;
    const size_t at = damaged.find("relate-export");
    damaged[at + 12] = 'X';
    refused(damaged, "wrong magic", {"magic", "frame 1 at byte 0"});
    refused("{\"key\": \"a\", \"vector\": [1, 2]}\n", "a JSON file", {"relate export"});
    auto no_header = frames;
    no_header.erase(no_header.begin());
    refused(WriteFrames(no_header), "no header", {"header", "frame 1 at byte 0"});
  }

  // Well-formed streams with a correct checksum whose frames say something wrong.
  const size_t model = FirstOf(frames, 1);
  const size_t record = FirstOf(frames, 4);  // the first of "flat"
  BOOST_TEST_REQUIRE(record == CollectionFrame(frames, "flat") + 1);
  const size_t words = CollectionFrame(frames, "words");
  auto edited = [&](auto edit) {
    auto f = frames;
    edit(f);
    return WriteFrames(f);
  };
  auto frame_at = [&](size_t i) {
    return "frame " + std::to_string(i + 1) + " at byte " + std::to_string(starts[i]);
  };
  refused(edited([&](auto& f) { std::swap(f[record], f[record + 1]); }), "records swapped",
          {"out of order", frame_at(record + 1)});
  refused(edited([&](auto& f) {
            auto m = f[model];
            f.erase(f.begin() + static_cast<ptrdiff_t>(model));
            f.push_back(m);
          }),
          "model after the collections", {"out of order"});
  refused(edited([&](auto& f) {
            std::get<storage::ExportRecord>(f[record]).record.vector.push_back(1);
          }),
          "wrong dimension", {"values", frame_at(record)});
  refused(
      edited([&](auto& f) { std::get<storage::ExportRecord>(f[record]).record.vector[0] = NAN; }),
      "not finite", {frame_at(record)});
  refused(edited([&](auto& f) {
            std::get<storage::ExportRecord>(f[record + 1]).record.key =
                std::get<storage::ExportRecord>(f[record]).record.key;
          }),
          "key twice", {"twice"});
  refused(edited([&](auto& f) { f.erase(f.begin() + static_cast<ptrdiff_t>(record)); }),
          "a record missing", {"announces", frame_at(record - 1)});
  // Strings storage keeps as protobuf strings must be UTF-8: an import used to
  // accept them, and every read of the collection then failed.
  refused(edited([&](auto& f) {
            std::get<storage::ExportRecord>(f[record]).record.key = "bad\xff\xfekey";
          }),
          "key not UTF-8", {"the key is not valid UTF-8", frame_at(record)});
  refused(
      edited([&](auto& f) { std::get<storage::ExportRecord>(f[record]).record.text = "caf\xc3"; }),
      "text not UTF-8", {"the text is not valid UTF-8"});
  refused(edited([&](auto& f) {
            std::get<storage::ExportRecord>(f[record]).record.metadata["n\x80"] = int64_t{1};
          }),
          "metadata name not UTF-8", {"metadata field name is not valid UTF-8"});
  refused(edited([&](auto& f) {
            std::get<storage::ExportRecord>(f[record]).record.metadata["tag"] =
                std::vector<std::string>{"ok", "\xed\xa0\x80"};  // a surrogate
          }),
          "metadata value not UTF-8", {"metadata field \"tag\" is not valid UTF-8"});
  refused(edited([&](auto& f) { std::get<storage::CollectionMeta>(f[words]).spec.name = "w\xff"; }),
          "collection name not UTF-8 (a string in the stream's own format)",
          {"does not parse", frame_at(words)});
  refused(edited([&](auto& f) { std::get<storage::CollectionMeta>(f[words]).model_version = 7; }),
          "unknown model version", {"version 7", frame_at(words)});
  refused(edited([&](auto& f) {
            auto& chunk = std::get<storage::ExportModelChunk>(f[model + 1]);
            chunk.data.resize(chunk.data.size() - 1);
          }),
          "model data cut", {"model \"w2v\""});

  Reopen("b");
  untouched();
  // What the failed imports wrote is gone: the stream still goes in whole.
  auto imported = Import(*b, stream);
  BOOST_TEST_REQUIRE(imported.has_value(), imported.error());
  BOOST_TEST(b->ListCollections().value().size() == 5u);
  ExpectSameRecords(*a, *b, "words", keys["words"]);
}

// What a failed import wrote is removed at once; what an import whose process
// died wrote (data under ids no catalog entry names) goes at the next open
// (model data) or the next import (collection data).
BOOST_AUTO_TEST_CASE(DataOfFailedAndDeadImportsIsRemovedFromStorage) {
  FillVectors();
  BOOST_TEST_REQUIRE(a->ImportModel("w2v", Write("small.vec", testutil::kSmallModel)).ok());
  BOOST_TEST_REQUIRE(a->CreateCollection({.name = "words", .model = "w2v"}).ok());
  AddTexts("words", {"king", "queen", "apple pear"});
  const std::string stream = Export(*a);
  std::string damaged = stream;
  const size_t end_frame = FrameStarts(stream).end()[-2];
  damaged[end_frame - 1] ^= 0x01;  // in the last record's vector: found by the checksum only
  auto failed = Import(*b, damaged);
  BOOST_TEST_REQUIRE(!failed.has_value());
  BOOST_TEST(std::string(failed.error().message()).find("checksum") != std::string::npos,
             failed.error());

  auto stored = [&](storage::Store& store, uint32_t id) {
    size_t n = 0;
    BOOST_TEST_REQUIRE(store
                           .ScanRecords(id, true,
                                        [&](StoredRecord&&) {
                                          ++n;
                                          return Status::OK();
                                        })
                           .ok());
    BOOST_TEST_REQUIRE(store
                           .ScanModelData(id, nullptr,
                                          [&](char, uint32_t, std::string_view) {
                                            ++n;
                                            return Status::OK();
                                          })
                           .ok());
    return n;
  };
  b.reset();
  {
    auto store = storage::Store::Open(dir.path() / "b" / "store", {}).value();
    for (uint32_t id = 0; id < 50; ++id) BOOST_TEST(stored(*store, id) == 0u, "id " << id);
    // An import that died: a record and a model chunk under ids no catalog entry names.
    storage::Batch batch(*store);
    batch.PutRecord(70, 1, 1, Record{.key = "ghost", .vector = {1, 2}});
    batch.PutModelChunk(71, 'v', 0, "junk");
    BOOST_TEST_REQUIRE(store->Write(batch, true).ok());
    BOOST_TEST_REQUIRE(stored(*store, 70) == 1u);
    BOOST_TEST_REQUIRE(stored(*store, 71) == 1u);
  }
  b = Open("b");
  auto imported = Import(*b, stream);
  BOOST_TEST_REQUIRE(imported.has_value(), imported.error());
  b.reset();
  auto store = storage::Store::Open(dir.path() / "b" / "store", {}).value();
  BOOST_TEST(stored(*store, 70) == 0u);
  BOOST_TEST(stored(*store, 71) == 0u);
  size_t records = 0;
  for (uint32_t id = 0; id < 70; ++id) records += stored(*store, id);
  BOOST_TEST(records == 190 + 290 + 3 + 2u);  // records of flat, graph, words; w2v's chunks
}

BOOST_AUTO_TEST_CASE(ReadOnlyDatabaseExportsButDoesNotImport) {
  FillVectors();
  a.reset();
  auto ro = DB::Open(dir.path() / "a", {.read_only = true, .log = [](std::string_view) {}});
  BOOST_TEST_REQUIRE(ro.has_value(), ro.error());
  const std::string stream = Export(**ro);
  BOOST_TEST(Import(**ro, stream).error().code() == Status::Code::kFailedPrecondition);
  BOOST_TEST(Import(*b, stream).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
