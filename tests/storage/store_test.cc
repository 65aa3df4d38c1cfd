#define BOOST_TEST_MODULE storage
#include "storage/store.h"

#include <boost/test/unit_test.hpp>

#include "storage/codec.h"
#include "tests/storage/scratch_store.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::storage;

namespace {

using testing::ScratchStore;

Record MakeRecord(uint64_t id, std::string key) {
  Record r;
  r.key = std::move(key);
  r.text = "text of " + r.key;
  r.vector = {1.0f, -2.5f, static_cast<float>(id)};
  r.metadata = {{"year", int64_t{2021}},
                {"title", std::string("t")},
                {"score", 0.25},
                {"draft", true},
                {"tags", std::vector<std::string>{"a", "b"}}};
  return r;
}

CollectionMeta MakeCollection(uint32_t id, std::string name) {
  CollectionMeta m;
  m.id = id;
  m.spec.name = std::move(name);
  m.spec.dimension = 3;
  m.spec.metric = Metric::kL2;
  m.spec.index_spec = "Flat";
  m.created_unix_ms = 1234;
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(CodecTest)

BOOST_AUTO_TEST_CASE(RecordRoundTripsEveryMetadataType) {
  Record in = MakeRecord(7, "k");
  StoredRecord out;
  BOOST_TEST(DecodeRecord(EncodeRecord(7, 3, in), &out).ok());
  BOOST_TEST(out.key == in.key);
  BOOST_TEST(out.id == 7u);
  BOOST_TEST(out.text == in.text);
  BOOST_TEST(out.version == 3u);
  BOOST_TEST(out.vector.empty());  // vectors are stored apart
  BOOST_TEST((out.metadata == in.metadata));
  BOOST_TEST(std::get<int64_t>(out.metadata.at("year")) == 2021);
  BOOST_TEST(std::get<std::vector<std::string>>(out.metadata.at("tags")).size() == 2u);
}

BOOST_AUTO_TEST_CASE(VectorBytesDecodeToFloats) {
  const float values[] = {1.5f, -2.0f};
  std::vector<float> out;
  BOOST_TEST(DecodeVector(std::string_view(reinterpret_cast<const char*>(values), 8), &out).ok());
  BOOST_TEST(out == (std::vector<float>{1.5f, -2.0f}), boost::test_tools::per_element());
  BOOST_TEST(DecodeVector("abcde", &out).code() == Status::Code::kCorruption);
}

BOOST_AUTO_TEST_CASE(GarbageIsCorruption) {
  StoredRecord out;
  Status s = DecodeRecord("\xff\xff\xff\xff garbage", &out);
  BOOST_TEST(s.code() == Status::Code::kCorruption);
  CollectionMeta m;
  BOOST_TEST(DecodeCollection("\xff\xff\xff", &m).code() == Status::Code::kCorruption);
}

BOOST_AUTO_TEST_CASE(CollectionRoundTrips) {
  CollectionMeta in = MakeCollection(3, "papers");
  in.count = 10;
  in.next_record_id = 11;
  in.last_change = 12;
  CollectionMeta out;
  BOOST_TEST(DecodeCollection(EncodeCollection(in), &out).ok());
  BOOST_TEST(out.id == 3u);
  BOOST_TEST(out.spec.name == "papers");
  BOOST_TEST((out.spec.metric == Metric::kL2));
  BOOST_TEST(out.count == 10u);
  BOOST_TEST(out.next_record_id == 11u);
  BOOST_TEST(out.last_change == 12u);
  BOOST_TEST(out.created_unix_ms == 1234);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(StoreTest, ScratchStore)

BOOST_AUTO_TEST_CASE(WrittenBatchIsReadBackByKeyAndId) {
  Batch b(*store);
  b.PutCollection(MakeCollection(1, "c"));
  b.PutRecord(1, 5, 1, MakeRecord(5, "five"));
  b.PutChange(1, 1, 5);
  BOOST_TEST(store->Write(b, true).ok());

  std::vector<std::string_view> keys{"five", "six"};
  auto found = store->LookupKeys(1, keys).value();
  BOOST_TEST_REQUIRE(found[0].has_value());
  BOOST_TEST(found[0]->id == 5u);
  BOOST_TEST(found[0]->version == 1u);
  BOOST_TEST(!found[1].has_value());

  std::vector<uint64_t> ids{5, 6};
  auto records = store->GetRecords(1, ids, true).value();
  BOOST_TEST_REQUIRE(records[0].has_value());
  BOOST_TEST(records[0]->key == "five");
  BOOST_TEST(records[0]->vector.size() == 3u);
  BOOST_TEST(!records[1].has_value());

  auto catalog = store->LoadCatalog().value();
  BOOST_TEST_REQUIRE(catalog.size() == 1u);
  BOOST_TEST(catalog[0].spec.name == "c");
}

BOOST_AUTO_TEST_CASE(LargeMultiGetsReturnEveryRecordInOrder) {
  Batch b(*store);
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; id <= 1000; ++id) {
    b.PutRecord(1, id, 1, MakeRecord(id, "k" + std::to_string(id)));
    ids.push_back(1001 - id);  // reversed, with one id that is not stored
  }
  ids.push_back(5000);
  BOOST_TEST(store->Write(b, false).ok());
  auto records = store->GetRecords(1, ids, true).value();
  BOOST_TEST_REQUIRE(records.size() == 1001u);
  for (size_t i = 0; i < 1000; ++i) {
    BOOST_TEST_REQUIRE(records[i].has_value());
    BOOST_TEST(records[i]->id == ids[i]);
    BOOST_TEST(records[i]->key == "k" + std::to_string(ids[i]));
    BOOST_TEST(records[i]->vector.at(2) == static_cast<float>(ids[i]));
  }
  BOOST_TEST(!records[1000].has_value());
}

BOOST_AUTO_TEST_CASE(UnwrittenBatchLeavesNothing) {
  {
    Batch b(*store);
    b.PutRecord(1, 5, 1, MakeRecord(5, "five"));
  }
  std::vector<std::string_view> keys{"five"};
  BOOST_TEST(!store->LookupKeys(1, keys).value()[0].has_value());
}

BOOST_AUTO_TEST_CASE(CollectionsDoNotSeeEachOthersKeys) {
  Batch b(*store);
  b.PutRecord(1, 1, 1, MakeRecord(1, "same"));
  b.PutRecord(2, 9, 1, MakeRecord(9, "same"));
  BOOST_TEST(store->Write(b, false).ok());
  std::vector<std::string_view> keys{"same"};
  BOOST_TEST(store->LookupKeys(1, keys).value()[0]->id == 1u);
  BOOST_TEST(store->LookupKeys(2, keys).value()[0]->id == 9u);
}

BOOST_AUTO_TEST_CASE(ScansStayInsideTheirCollectionAndAfterTheirSequence) {
  Batch b(*store);
  for (uint64_t id = 1; id <= 5; ++id) {
    b.PutRecord(1, id, 1, MakeRecord(id, "k" + std::to_string(id)));
    b.PutChange(1, id, id);
  }
  b.PutRecord(2, 1, 1, MakeRecord(1, "other"));
  b.PutChange(2, 1, 1);
  BOOST_TEST(store->Write(b, false).ok());

  std::vector<uint64_t> scanned;
  Status scan = store->ScanRecords(1, true, [&](StoredRecord&& r) {
    scanned.push_back(r.id);
    BOOST_TEST(r.key == "k" + std::to_string(r.id));
    BOOST_TEST(r.vector.size() == 3u);
    BOOST_TEST(r.vector[2] == static_cast<float>(r.id));
    return Status::OK();
  });
  BOOST_TEST(scan.ok());
  BOOST_TEST(scanned == (std::vector<uint64_t>{1, 2, 3, 4, 5}), boost::test_tools::per_element());
  std::vector<uint64_t> vector_ids;
  Status vscan = store->ScanVectors(1, [&](uint64_t id, std::span<const float> v) {
    vector_ids.push_back(id);
    BOOST_TEST(v[2] == static_cast<float>(id));
    return Status::OK();
  });
  BOOST_TEST(vscan.ok());
  BOOST_TEST(vector_ids == scanned, boost::test_tools::per_element());

  std::vector<uint64_t> seqs;
  BOOST_TEST(store
                 ->ScanChanges(1, 3,
                               [&](uint64_t seq, uint64_t) {
                                 seqs.push_back(seq);
                                 return Status::OK();
                               })
                 .ok());
  BOOST_TEST(seqs == (std::vector<uint64_t>{4, 5}), boost::test_tools::per_element());

  BOOST_TEST(store->TruncateChanges(1, 4).ok());
  seqs.clear();
  BOOST_TEST(store
                 ->ScanChanges(1, 0,
                               [&](uint64_t seq, uint64_t) {
                                 seqs.push_back(seq);
                                 return Status::OK();
                               })
                 .ok());
  BOOST_TEST(seqs == (std::vector<uint64_t>{5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(DeleteCollectionRemovesOnlyItsOwnData) {
  Batch b(*store);
  b.PutCollection(MakeCollection(1, "a"));
  b.PutCollection(MakeCollection(2, "b"));
  b.PutRecord(1, 1, 1, MakeRecord(1, "x"));
  b.PutRecord(2, 1, 1, MakeRecord(1, "x"));
  b.PutChange(1, 1, 1);
  b.PutChange(2, 1, 1);
  BOOST_TEST(store->Write(b, false).ok());

  Batch drop(*store);
  drop.DeleteCollection(MakeCollection(1, "a"));
  BOOST_TEST(store->Write(drop, false).ok());

  std::vector<std::string_view> keys{"x"};
  BOOST_TEST(!store->LookupKeys(1, keys).value()[0].has_value());
  BOOST_TEST(store->LookupKeys(2, keys).value()[0].has_value());
  auto catalog = store->LoadCatalog().value();
  BOOST_TEST_REQUIRE(catalog.size() == 1u);
  BOOST_TEST(catalog[0].spec.name == "b");
  size_t changes = 0;
  BOOST_TEST(store
                 ->ScanChanges(1, 0,
                               [&](uint64_t, uint64_t) {
                                 ++changes;
                                 return Status::OK();
                               })
                 .ok());
  BOOST_TEST(changes == 0u);
}

BOOST_AUTO_TEST_CASE(NextCollectionIdStartsAtOneAndPersists) {
  BOOST_TEST(store->NextCollectionId().value() == 1u);
  Batch b(*store);
  b.PutNextCollectionId(8);
  BOOST_TEST(store->Write(b, false).ok());
  BOOST_TEST(store->NextCollectionId().value() == 8u);
}

BOOST_AUTO_TEST_CASE(SecondWriterIsBusy) {
  auto second = Store::Open(dir.path() / "store", {});
  BOOST_TEST_REQUIRE(!second.has_value());
  BOOST_TEST(second.error().code() == Status::Code::kBusy);
  BOOST_TEST(std::string(second.error().message()).find("in use") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ReadOnlyOpenSeesDataAndRefusesWrites) {
  Batch b(*store);
  b.PutRecord(1, 1, 1, MakeRecord(1, "x"));
  BOOST_TEST(store->Write(b, false).ok());
  auto reader = Store::Open(dir.path() / "store", {.read_only = true});
  BOOST_TEST_REQUIRE(reader.has_value());
  std::vector<std::string_view> keys{"x"};
  BOOST_TEST((*reader)->LookupKeys(1, keys).value()[0].has_value());
  Batch w(**reader);
  w.PutRecord(1, 2, 1, MakeRecord(2, "y"));
  BOOST_TEST((*reader)->Write(w, false).code() == Status::Code::kFailedPrecondition);
}

BOOST_AUTO_TEST_CASE(MissingStoreWithoutCreateFails) {
  auto s = Store::Open(dir.path() / "nothing-here", {});
  BOOST_TEST(!s.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
