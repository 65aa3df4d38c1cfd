// Secondary indexes (fields CF) and keyword postings (postings CF): their key
// encodings, scans, removal, consistency checks, the catalog fields that go with
// them, and databases written before these families existed.
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "storage/codec.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "tests/storage/scratch_store.h"
#include "tests/testutil/testutil.h"

using namespace relate;
using namespace relate::storage;

namespace {

using testing::ScratchStore;

CollectionMeta MakeCollection(uint32_t id, std::string name,
                              std::vector<std::string> filterable = {}) {
  CollectionMeta m;
  m.id = id;
  m.spec.name = std::move(name);
  m.spec.dimension = 2;
  m.spec.metric = Metric::kCosine;
  m.spec.index_spec = "Flat";
  m.spec.filterable = std::move(filterable);
  m.spec.keyword_index = true;
  return m;
}

Record MakeRecord(std::string key, Metadata metadata, std::string text = "") {
  Record r;
  r.key = std::move(key);
  r.text = std::move(text);
  r.metadata = std::move(metadata);
  r.vector = {1.0f, 0.0f};
  return r;
}

FieldBound Incl(MetadataValue v) { return FieldBound{std::move(v), true}; }
FieldBound Excl(MetadataValue v) { return FieldBound{std::move(v), false}; }

// Every id ScanField reports, in order.
std::vector<uint64_t> Scan(const Store& store, uint32_t collection, std::string_view field,
                           const FieldRange& range) {
  std::vector<uint64_t> ids;
  Status s = store.ScanField(collection, field, range, [&](uint64_t id) {
    ids.push_back(id);
    return true;
  });
  BOOST_TEST_REQUIRE(s.ok(), s.ToString());
  return ids;
}

// Every posting of `term` as (id, count, length).
std::vector<std::tuple<uint64_t, uint32_t, uint32_t>> Postings(const Store& store,
                                                               uint32_t collection,
                                                               std::string_view term) {
  std::vector<std::tuple<uint64_t, uint32_t, uint32_t>> out;
  Status s = store.ScanPostings(collection, term, [&](uint64_t id, uint32_t c, uint32_t l) {
    out.emplace_back(id, c, l);
    return true;
  });
  BOOST_TEST_REQUIRE(s.ok(), s.ToString());
  return out;
}

// Whether `v` lies in `range` by exact comparison (the reference for scans of
// numeric values); both bounds must be numbers.
long double AsLong(const MetadataValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<long double>(*i);
  return static_cast<long double>(std::get<double>(v));
}

// The words of `text` split at spaces, counted (a stand-in for the tokenizer).
std::vector<TermCount> Words(const std::string& text, uint32_t* length) {
  std::map<std::string, uint32_t> counts;
  *length = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) {
      ++counts[text.substr(pos, end - pos)];
      ++*length;
    }
    pos = end + 1;
  }
  std::vector<TermCount> out;
  for (const auto& [term, count] : counts) out.push_back(TermCount{term, count});
  return out;
}

// Writes a record with its field entries and postings, as the query layer does.
void WriteIndexed(Store& store, const CollectionMeta& meta, uint64_t id, const Record& r) {
  Batch b(store);
  b.PutRecord(meta.id, id, 1, r);
  b.PutFieldEntries(meta.id, id, meta.spec.filterable, r.metadata);
  uint32_t length = 0;
  auto terms = Words(r.text, &length);
  b.PutPostings(meta.id, id, terms, length);
  BOOST_TEST_REQUIRE(store.Write(b, false).ok());
}

const Store::TermsOf kWords = [](uint32_t, const StoredRecord& r, uint32_t* length) {
  return Words(r.text, length);
};

// The families a database had before fields and postings.
const char* const kOldFamilies[] = {"default", "catalog", "records", "vectors",
                                    "keys",    "changes", "models",  "model_data"};

// A catalog entry as the code before keyword indexes wrote it: fields 1-4 of
// the Collection message (id, name, dimension, metric) and no keyword_index.
std::string OldCatalogEntry(uint32_t id, const std::string& name) {
  std::string b;
  b.push_back(0x08);
  b.push_back(static_cast<char>(id));
  b.push_back(0x12);
  b.push_back(static_cast<char>(name.size()));
  b += name;
  b.push_back(0x18);
  b.push_back(2);
  b.push_back(0x22);
  b.push_back(6);
  b += "cosine";
  return b;
}

// A database with only the families of before, holding collection 1 "old"
// with record id 1 (key "a", metadata year = 2020).
void WriteOldDatabase(const std::filesystem::path& path) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kOldFamilies)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  BOOST_TEST_REQUIRE(rocksdb::DB::Open(options, path.string(), descriptors, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  Record r = MakeRecord("a", {{"year", int64_t{2020}}}, "old text");
  const std::string key = RecordKey(1, 1);
  std::string entry;
  AppendLittleEndian64(&entry, 1);
  AppendLittleEndian64(&entry, 1);
  rocksdb::WriteOptions wo;
  BOOST_TEST_REQUIRE(db->Put(wo, handles[1], "old", OldCatalogEntry(1, "old")).ok());
  BOOST_TEST_REQUIRE(db->Put(wo, handles[2], key, EncodeRecord(1, 1, r)).ok());
  BOOST_TEST_REQUIRE(db->Put(wo, handles[3], key,
                             rocksdb::Slice(reinterpret_cast<const char*>(r.vector.data()), 8))
                         .ok());
  BOOST_TEST_REQUIRE(db->Put(wo, handles[4], UserKey(1, "a"), entry).ok());
  // In table files: RocksDB's repair loses what only a log holds.
  BOOST_TEST_REQUIRE(db->Flush(rocksdb::FlushOptions(), handles).ok());
  for (auto* h : handles) BOOST_TEST_REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  BOOST_TEST_REQUIRE(db->Close().ok());
}

std::vector<std::string> FamiliesOf(const std::filesystem::path& path) {
  std::vector<std::string> names;
  BOOST_TEST_REQUIRE(
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path.string(), &names).ok());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(FieldKeyTest)

BOOST_AUTO_TEST_CASE(IntegerEncodingsSortLikeTheIntegers) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> values = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX};
  for (int i = 0; i < 2000; ++i) values.push_back(static_cast<int64_t>(rng()));
  for (int i = 0; i < 200; ++i) values.push_back(static_cast<int64_t>(rng() % 2001) - 1000);
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    for (size_t j : {i + 1, values.size() - 1 - i}) {
      std::string a, b;
      AppendIntValue(&a, values[i]);
      AppendIntValue(&b, values[j]);
      BOOST_TEST((a < b) == (values[i] < values[j]), values[i] << " vs " << values[j]);
      BOOST_TEST((a == b) == (values[i] == values[j]));
      BOOST_TEST(ReadIntValue(a.data()) == values[i]);
    }
  }
}

BOOST_AUTO_TEST_CASE(DoubleEncodingsSortLikeTheDoubles) {
  const double inf = std::numeric_limits<double>::infinity();
  const double denorm = std::numeric_limits<double>::denorm_min();
  std::vector<double> values = {-inf,
                                -1e308,
                                -1.5,
                                -denorm,
                                -0.0,
                                0.0,
                                denorm,
                                2 * denorm,
                                1e-310,
                                1.0,
                                1.5,
                                9007199254740992.0,
                                1e308,
                                inf,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::lowest()};
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> uni(-1e6, 1e6);
  for (int i = 0; i < 1000; ++i) values.push_back(uni(rng));
  for (int i = 0; i < 200; ++i) {  // any bit pattern that is not NaN
    double d = std::bit_cast<double>(rng());
    if (!std::isnan(d)) values.push_back(d);
  }
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < values.size(); j += 7) {
      std::string a, b;
      AppendDoubleValue(&a, values[i]);
      AppendDoubleValue(&b, values[j]);
      BOOST_TEST((a < b) == (values[i] < values[j]), values[i] << " vs " << values[j]);
      BOOST_TEST((a == b) == (values[i] == values[j]), values[i] << " vs " << values[j]);
    }
    std::string a;
    AppendDoubleValue(&a, values[i]);
    BOOST_TEST(ReadDoubleValue(a.data()) == values[i]);
  }
  std::string neg_zero, zero, nan, neg_nan, top;
  AppendDoubleValue(&neg_zero, -0.0);
  AppendDoubleValue(&zero, 0.0);
  BOOST_TEST(neg_zero == zero);  // one value
  AppendDoubleValue(&nan, std::numeric_limits<double>::quiet_NaN());
  AppendDoubleValue(&neg_nan, -std::numeric_limits<double>::quiet_NaN());
  AppendDoubleValue(&top, inf);
  BOOST_TEST(nan == neg_nan);
  BOOST_TEST(top < nan);  // NaN after +inf
}

BOOST_AUTO_TEST_CASE(EscapedStringsSortLikeTheStringsAndArePrefixFree) {
  using namespace std::string_literals;
  std::vector<std::string> values = {""s,  "\0"s,   "\0\0"s,     "\0\x01"s, "\0\xff"s,  "\x01"s,
                                     "a"s, "a\0"s,  "a\0b"s,     "a\x01"s,  "ab"s,      "abc"s,
                                     "b"s, "\xff"s, "\xff\xff"s, "\xff\0"s, "\xfe\xff"s};
  std::mt19937 rng(3);
  const char alphabet[] = {'\0', '\x01', 'a', '\xff', '\xfe'};
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (size_t n = rng() % 5; n > 0; --n) s.push_back(alphabet[rng() % 5]);
    values.push_back(s);
  }
  for (const auto& x : values) {
    for (const auto& y : values) {
      std::string a, b;
      AppendEscaped(&a, x);
      AppendEscaped(&b, y);
      // Compared as unsigned bytes, like std::string and RocksDB's bytewise comparator.
      BOOST_TEST((a < b) == (x < y));
      if (x != y) BOOST_TEST(!b.starts_with(a));  // a prefix scan of x never reaches y
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(FieldIndexTest, ScratchStore)

BOOST_AUTO_TEST_CASE(ScanReportsValuesInOrderWithinBounds) {
  Batch b(*store);
  const std::vector<std::string> fields = {"year"};
  for (uint64_t id = 1; id <= 20; ++id) {
    b.PutFieldEntries(1, id, fields, {{"year", int64_t(2000 + (id % 5))}});
  }
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  // [2002, 2003]: ids with id % 5 in {2, 3}, by value then id.
  auto ids = Scan(*store, 1, "year", {Incl(int64_t{2002}), Incl(int64_t{2003})});
  BOOST_TEST(ids == (std::vector<uint64_t>{2, 7, 12, 17, 3, 8, 13, 18}),
             boost::test_tools::per_element());
  // Open ends.
  ids = Scan(*store, 1, "year", {Excl(int64_t{2002}), Excl(int64_t{2004})});
  BOOST_TEST(ids == (std::vector<uint64_t>{3, 8, 13, 18}), boost::test_tools::per_element());
  // Unbounded on one side.
  BOOST_TEST(Scan(*store, 1, "year", {std::nullopt, Excl(int64_t{2001})}) ==
                 (std::vector<uint64_t>{5, 10, 15, 20}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "year", {Incl(int64_t{2004}), std::nullopt}) ==
                 (std::vector<uint64_t>{4, 9, 14, 19}),
             boost::test_tools::per_element());
  // Equality, empty and inverted ranges.
  BOOST_TEST(Scan(*store, 1, "year", {Incl(int64_t{2001}), Incl(int64_t{2001})}).size() == 4u);
  BOOST_TEST(Scan(*store, 1, "year", {Incl(int64_t{2001}), Excl(int64_t{2001})}).empty());
  BOOST_TEST(Scan(*store, 1, "year", {Incl(int64_t{2003}), Incl(int64_t{2001})}).empty());
  // Exists: everything.
  BOOST_TEST(Scan(*store, 1, "year", {}).size() == 20u);
  // Stopping early.
  uint64_t seen = 0;
  BOOST_TEST(store->ScanField(1, "year", {}, [&](uint64_t) { return ++seen < 3; }).ok());
  BOOST_TEST(seen == 3u);
}

BOOST_AUTO_TEST_CASE(NumericRangesMergeIntegersAndDoublesByExactValue) {
  // Values, each on its own id; integers and doubles interleaved, and the 2^53
  // edge where doubles no longer hold every integer.
  const int64_t two53 = int64_t{1} << 53;
  const std::vector<MetadataValue> values = {int64_t{-5},
                                             -4.5,
                                             int64_t{0},
                                             -0.0,
                                             0.25,
                                             int64_t{1},
                                             1.0,
                                             2.0,
                                             int64_t{3},
                                             two53 - 1,
                                             static_cast<double>(two53),
                                             two53,
                                             two53 + 1,
                                             9007199254740994.0,
                                             INT64_MAX,
                                             INT64_MIN,
                                             std::numeric_limits<double>::infinity(),
                                             -std::numeric_limits<double>::infinity(),
                                             9223372036854775808.0,
                                             std::numeric_limits<double>::quiet_NaN(),
                                             -0.5};  // below the integer 0 that has a smaller id
  Batch b(*store);
  const std::vector<std::string> fields = {"x"};
  for (size_t i = 0; i < values.size(); ++i)
    b.PutFieldEntries(1, i + 1, fields, {{"x", values[i]}});
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());

  auto check = [&](const FieldRange& range) {
    // The reference: every non-NaN value within the bounds, compared exactly
    // (long double holds every int64 and double here), sorted by value then id.
    std::vector<std::pair<long double, uint64_t>> want;
    for (size_t i = 0; i < values.size(); ++i) {
      if (const auto* d = std::get_if<double>(&values[i]); d && std::isnan(*d)) continue;
      const long double v = AsLong(values[i]);
      if (range.lower) {
        const long double lo = AsLong(range.lower->value);
        if (range.lower->inclusive ? v < lo : v <= lo) continue;
      }
      if (range.upper) {
        const long double hi = AsLong(range.upper->value);
        if (range.upper->inclusive ? v > hi : v >= hi) continue;
      }
      want.emplace_back(v, i + 1);
    }
    std::sort(want.begin(), want.end());
    std::vector<uint64_t> want_ids;
    for (const auto& [v, id] : want) want_ids.push_back(id);
    auto got = Scan(*store, 1, "x", range);
    BOOST_TEST(got == want_ids, boost::test_tools::per_element());
    auto count = store->CountField(1, "x", range, 1000);
    BOOST_TEST_REQUIRE(count.has_value());
    BOOST_TEST(*count == want_ids.size());
  };
  static_assert(std::numeric_limits<long double>::digits >= 64, "exact reference needs 64 bits");
  const std::vector<MetadataValue> bounds = {int64_t{-5},
                                             -4.5,
                                             -0.0,
                                             int64_t{0},
                                             0.5,
                                             int64_t{1},
                                             1.0,
                                             two53 - 1,
                                             static_cast<double>(two53),
                                             two53,
                                             two53 + 1,
                                             9007199254740994.0,
                                             INT64_MAX,
                                             INT64_MIN,
                                             9223372036854775808.0,
                                             -9223372036854775808.0,
                                             1e300,
                                             -1e300};
  for (const auto& lo : bounds) {
    for (bool lo_incl : {true, false}) {
      check({FieldBound{lo, lo_incl}, std::nullopt});
      check({std::nullopt, FieldBound{lo, lo_incl}});
      for (const auto& hi : bounds) {
        for (bool hi_incl : {true, false})
          check({FieldBound{lo, lo_incl}, FieldBound{hi, hi_incl}});
      }
    }
  }
  // The 2^53 edge spelled out: 2^53 + 1 (an int) is above 2^53 as a double.
  BOOST_TEST(Scan(*store, 1, "x", {Excl(9007199254740992.0), Excl(9007199254740994.0)}) ==
                 (std::vector<uint64_t>{13}),
             boost::test_tools::per_element());
  // Infinite bounds hold the infinities but never NaN; exists holds NaN too.
  BOOST_TEST(Scan(*store, 1, "x", {Incl(std::numeric_limits<double>::infinity()), std::nullopt}) ==
                 (std::vector<uint64_t>{17}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "x", {}).size() == values.size());
  BOOST_TEST(Scan(*store, 1, "x", {Incl(INT64_MIN), std::nullopt}).size() == values.size() - 2);
}

BOOST_AUTO_TEST_CASE(StringsBoolsAndListsAreScannedByTheirOwnType) {
  using namespace std::string_literals;
  Batch b(*store);
  const std::vector<std::string> fields = {"s", "tags", "flag"};
  b.PutFieldEntries(1, 1, fields, {{"s", "a"s}, {"flag", true}});
  b.PutFieldEntries(1, 2, fields, {{"s", "a\0"s}, {"flag", false}});
  b.PutFieldEntries(1, 3, fields,
                    {{"s", "ab"s}, {"tags", std::vector<std::string>{"x", "y", "x"}}});
  b.PutFieldEntries(1, 4, fields, {{"s", "\xff"s}, {"tags", std::vector<std::string>{"y"}}});
  b.PutFieldEntries(1, 5, fields, {{"s", int64_t{7}}, {"other", "a"s}});
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  // Equality on "a" does not reach "a\0" or "ab".
  BOOST_TEST(Scan(*store, 1, "s", {Incl("a"s), Incl("a"s)}) == (std::vector<uint64_t>{1}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "s", {Incl("a\0"s), Incl("a\0"s)}) == (std::vector<uint64_t>{2}),
             boost::test_tools::per_element());
  // A string range holds strings only, in byte order.
  BOOST_TEST(Scan(*store, 1, "s", {Incl(""s), std::nullopt}) == (std::vector<uint64_t>{1, 2, 3, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "s", {Excl("a"s), Excl("\xff"s)}) == (std::vector<uint64_t>{2, 3}),
             boost::test_tools::per_element());
  // A numeric range holds the integer 7 only.
  BOOST_TEST(Scan(*store, 1, "s", {std::nullopt, Incl(100.0)}) == (std::vector<uint64_t>{5}),
             boost::test_tools::per_element());
  // Exists: bools, numbers, strings.
  BOOST_TEST(Scan(*store, 1, "s", {}).size() == 5u);
  // Lists: one entry per distinct string.
  BOOST_TEST(Scan(*store, 1, "tags", {Incl("y"s), Incl("y"s)}) == (std::vector<uint64_t>{3, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "tags", {}) == (std::vector<uint64_t>{3, 3, 4}),
             boost::test_tools::per_element());
  // Bools: false < true.
  BOOST_TEST(Scan(*store, 1, "flag", {Incl(true), Incl(true)}) == (std::vector<uint64_t>{1}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "flag", {Incl(false), std::nullopt}) == (std::vector<uint64_t>{2, 1}),
             boost::test_tools::per_element());
  // A field not in `fields` is not indexed.
  BOOST_TEST(Scan(*store, 1, "other", {}).empty());
}

BOOST_AUTO_TEST_CASE(BadBoundsAreInvalidArgument) {
  auto no = [](uint64_t) { return true; };
  FieldRange list{Incl(std::vector<std::string>{"a"}), std::nullopt};
  Status s = store->ScanField(1, "f", list, no);
  BOOST_TEST(s.code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(s.message()).find("list") != std::string::npos);
  BOOST_TEST(store->CountField(1, "f", list, 10).error().code() == Status::Code::kInvalidArgument);
  FieldRange mixed{Incl(int64_t{1}), Incl(std::string("z"))};
  BOOST_TEST(store->ScanField(1, "f", mixed, no).code() == Status::Code::kInvalidArgument);
  FieldRange nan{Incl(std::numeric_limits<double>::quiet_NaN()), std::nullopt};
  BOOST_TEST(store->ScanField(1, "f", nan, no).code() == Status::Code::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(CountStopsAtTheLimit) {
  Batch b(*store);
  const std::vector<std::string> fields = {"n"};
  for (uint64_t id = 1; id <= 50; ++id) b.PutFieldEntries(1, id, fields, {{"n", int64_t(id)}});
  for (uint64_t id = 51; id <= 60; ++id) b.PutFieldEntries(1, id, fields, {{"n", 0.5 + id}});
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  BOOST_TEST(store->CountField(1, "n", {}, 1000).value() == 60u);
  BOOST_TEST(store->CountField(1, "n", {}, 7).value() == 7u);
  BOOST_TEST(store->CountField(1, "n", {Incl(int64_t{45}), Incl(55.0)}, 1000).value() == 10u);
  BOOST_TEST(store->CountField(1, "n", {Incl(int64_t{45}), Incl(55.0)}, 3).value() == 3u);
  BOOST_TEST(store->CountField(1, "n", {Incl(int64_t{45}), Incl(55.0)}, 0).value() == 0u);
  BOOST_TEST(store->CountField(1, "missing", {}, 1000).value() == 0u);
}

BOOST_AUTO_TEST_CASE(DeleteRemovesExactlyWhatPutWrote) {
  using namespace std::string_literals;
  const std::vector<std::string> fields = {"a", "tags"};
  const Metadata one = {{"a", int64_t{1}}, {"tags", std::vector<std::string>{"p", "q"}}};
  const Metadata two = {{"a", int64_t{1}}, {"tags", std::vector<std::string>{"q"}}};
  Batch b(*store);
  b.PutFieldEntries(1, 1, fields, one);
  b.PutFieldEntries(1, 2, fields, two);
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  Batch d(*store);
  d.DeleteFieldEntries(1, 1, fields, one);
  BOOST_TEST_REQUIRE(store->Write(d, false).ok());
  BOOST_TEST(Scan(*store, 1, "a", {}) == (std::vector<uint64_t>{2}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "tags", {}) == (std::vector<uint64_t>{2}),
             boost::test_tools::per_element());
  // An update in one batch: the old values go, the new ones come.
  Batch u(*store);
  u.DeleteFieldEntries(1, 2, fields, two);
  u.PutFieldEntries(1, 2, fields, {{"a", int64_t{5}}});
  BOOST_TEST_REQUIRE(store->Write(u, false).ok());
  BOOST_TEST(Scan(*store, 1, "a", {Incl(int64_t{1}), Incl(int64_t{1})}).empty());
  BOOST_TEST(
      Scan(*store, 1, "a", {Incl(int64_t{5}), Incl(int64_t{5})}) == (std::vector<uint64_t>{2}),
      boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "tags", {}).empty());
}

BOOST_AUTO_TEST_CASE(EntriesStayInTheirCollectionAndField) {
  using namespace std::string_literals;
  Batch b(*store);
  const std::vector<std::string> fields = {"a", "ab", "a\0"s, ""};
  b.PutFieldEntries(1, 1, fields, {{"a", "v"s}});
  b.PutFieldEntries(1, 2, fields, {{"ab", "v"s}});
  b.PutFieldEntries(1, 3, fields, {{"a\0"s, "v"s}});
  b.PutFieldEntries(1, 4, fields, {{"", "v"s}});
  b.PutFieldEntries(2, 5, fields, {{"a", "v"s}});
  b.PutPostings(1, 1, std::vector<TermCount>{{"t", 1}, {"tt", 2}}, 3);
  b.PutPostings(2, 2, std::vector<TermCount>{{"t", 1}}, 1);
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  BOOST_TEST(Scan(*store, 1, "a", {}) == (std::vector<uint64_t>{1}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "ab", {}) == (std::vector<uint64_t>{2}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "a\0"s, {}) == (std::vector<uint64_t>{3}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "", {}) == (std::vector<uint64_t>{4}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 2, "a", {}) == (std::vector<uint64_t>{5}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 3, "a", {}).empty());
  BOOST_TEST(Postings(*store, 1, "t").size() == 1u);
  BOOST_TEST(std::get<0>(Postings(*store, 2, "t").at(0)) == 2u);
  BOOST_TEST(Postings(*store, 1, "").empty());
}

BOOST_AUTO_TEST_CASE(SnapshotScanDoesNotSeeLaterWrites) {
  const std::vector<std::string> fields = {"n"};
  Batch b(*store);
  b.PutFieldEntries(1, 1, fields, {{"n", int64_t{1}}});
  b.PutPostings(1, 1, std::vector<TermCount>{{"w", 1}}, 1);
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  auto snapshot = store->TakeSnapshot();
  Batch later(*store);
  later.PutFieldEntries(1, 2, fields, {{"n", int64_t{1}}});
  later.PutPostings(1, 2, std::vector<TermCount>{{"w", 1}}, 1);
  BOOST_TEST_REQUIRE(store->Write(later, false).ok());
  std::vector<uint64_t> ids;
  BOOST_TEST(store
                 ->ScanField(
                     1, "n", {},
                     [&](uint64_t id) {
                       ids.push_back(id);
                       return true;
                     },
                     snapshot.get())
                 .ok());
  BOOST_TEST(ids == (std::vector<uint64_t>{1}), boost::test_tools::per_element());
  uint64_t postings = 0;
  BOOST_TEST(
      store
          ->ScanPostings(
              1, "w", [&](uint64_t, uint32_t, uint32_t) { return ++postings; }, snapshot.get())
          .ok());
  BOOST_TEST(postings == 1u);
  BOOST_TEST(Scan(*store, 1, "n", {}).size() == 2u);
}

BOOST_AUTO_TEST_CASE(DroppingACollectionRemovesItsEntries) {
  CollectionMeta a = MakeCollection(1, "a", {"n"}), b = MakeCollection(2, "b", {"n"});
  Batch w(*store);
  w.PutCollection(a);
  w.PutCollection(b);
  w.PutFieldEntries(1, 1, a.spec.filterable, {{"n", int64_t{1}}});
  w.PutFieldEntries(2, 1, b.spec.filterable, {{"n", int64_t{1}}});
  w.PutPostings(1, 1, std::vector<TermCount>{{"w", 1}}, 1);
  w.PutPostings(2, 1, std::vector<TermCount>{{"w", 1}}, 1);
  BOOST_TEST_REQUIRE(store->Write(w, false).ok());
  Batch drop(*store);
  drop.DeleteCollection(a);
  BOOST_TEST_REQUIRE(store->Write(drop, false).ok());
  BOOST_TEST(Scan(*store, 1, "n", {}).empty());
  BOOST_TEST(Postings(*store, 1, "w").empty());
  BOOST_TEST(Scan(*store, 2, "n", {}).size() == 1u);
  BOOST_TEST(Postings(*store, 2, "w").size() == 1u);
  // DeleteData and DeleteCollectionDataExcept cover them too.
  BOOST_TEST(store->DeleteData(std::vector<uint32_t>{2}, {}).ok());
  BOOST_TEST(Scan(*store, 2, "n", {}).empty());
  BOOST_TEST(Postings(*store, 2, "w").empty());
  Batch more(*store);
  more.PutFieldEntries(3, 1, a.spec.filterable, {{"n", int64_t{1}}});
  more.PutPostings(3, 1, std::vector<TermCount>{{"w", 1}}, 1);
  more.PutFieldEntries(4, 1, a.spec.filterable, {{"n", int64_t{1}}});
  BOOST_TEST_REQUIRE(store->Write(more, false).ok());
  BOOST_TEST(store->DeleteCollectionDataExcept(std::vector<uint32_t>{4}).ok());
  BOOST_TEST(Scan(*store, 3, "n", {}).empty());
  BOOST_TEST(Postings(*store, 3, "w").empty());
  BOOST_TEST(Scan(*store, 4, "n", {}).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(PostingsTest, ScratchStore)

BOOST_AUTO_TEST_CASE(ScanGivesIdsAscendingWithCountAndLength) {
  using namespace std::string_literals;
  Batch b(*store);
  b.PutPostings(1, 9, std::vector<TermCount>{{"cat", 2}, {"dog", 1}}, 3);
  b.PutPostings(1, 3, std::vector<TermCount>{{"cat", 1}}, 1);
  b.PutPostings(1, 300, std::vector<TermCount>{{"cat", 70000}, {"ca", 1}, {"cat\0"s, 4}},
                UINT32_MAX);
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  auto cat = Postings(*store, 1, "cat");
  BOOST_TEST_REQUIRE(cat.size() == 3u);
  BOOST_TEST((cat[0] == std::make_tuple(uint64_t{3}, 1u, 1u)));
  BOOST_TEST((cat[1] == std::make_tuple(uint64_t{9}, 2u, 3u)));
  BOOST_TEST((cat[2] == std::make_tuple(uint64_t{300}, 70000u, UINT32_MAX)));
  BOOST_TEST(Postings(*store, 1, "ca").size() == 1u);  // a prefix of "cat" is another term
  BOOST_TEST(Postings(*store, 1, "cat\0"s).size() == 1u);
  BOOST_TEST(Postings(*store, 1, "dog").size() == 1u);
  BOOST_TEST(Postings(*store, 1, "cow").empty());
  uint64_t seen = 0;
  BOOST_TEST(
      store->ScanPostings(1, "cat", [&](uint64_t, uint32_t, uint32_t) { return ++seen < 2; }).ok());
  BOOST_TEST(seen == 2u);
}

BOOST_AUTO_TEST_CASE(DeleteRemovesThePostingsOfOneRecord) {
  Batch b(*store);
  b.PutPostings(1, 1, std::vector<TermCount>{{"a", 1}, {"b", 1}}, 2);
  b.PutPostings(1, 2, std::vector<TermCount>{{"a", 3}}, 3);
  BOOST_TEST_REQUIRE(store->Write(b, false).ok());
  Batch d(*store);
  d.DeletePostings(1, 1, std::vector<TermCount>{{"a", 0}, {"b", 0}});
  BOOST_TEST_REQUIRE(store->Write(d, false).ok());
  BOOST_TEST(Postings(*store, 1, "b").empty());
  auto a = Postings(*store, 1, "a");
  BOOST_TEST_REQUIRE(a.size() == 1u);
  BOOST_TEST(std::get<0>(a[0]) == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(SearchEntriesConsistencyTest, ScratchStore)

BOOST_AUTO_TEST_CASE(CleanIndexesAreClean) {
  CollectionMeta meta = MakeCollection(1, "c", {"n", "tags"});
  meta.count = 2;
  meta.next_record_id = 3;
  meta.text_docs = 1;
  meta.text_terms = 3;
  PutCollection(meta);
  WriteIndexed(
      *store, meta, 1,
      MakeRecord("a", {{"n", int64_t{1}}, {"tags", std::vector<std::string>{"x"}}}, "red red fox"));
  WriteIndexed(*store, meta, 2, MakeRecord("b", {{"other", 2.0}}));
  auto found = store->CheckConsistency(false, &kWords).value();
  BOOST_TEST(found.clean(), (found.problems.empty() ? "" : found.problems[0]));
  found = store->CheckConsistency(false).value();
  BOOST_TEST(found.clean());
}

BOOST_AUTO_TEST_CASE(DanglingMissingAndExtraEntriesAreFoundAndFixed) {
  using namespace std::string_literals;
  CollectionMeta meta = MakeCollection(1, "c", {"n", "s"});
  meta.count = 2;
  meta.next_record_id = 3;
  meta.text_docs = 2;
  meta.text_terms = 4;
  PutCollection(meta);
  WriteIndexed(*store, meta, 1, MakeRecord("a", {{"n", int64_t{1}}, {"s", "x"s}}, "red fox"));
  WriteIndexed(*store, meta, 2, MakeRecord("b", {{"n", int64_t{2}}}, "big cat"));
  Batch damage(*store);
  // Dangling: entries and postings of id 7, which has no record.
  damage.PutFieldEntries(1, 7, meta.spec.filterable, {{"n", int64_t{9}}, {"s", "y"s}});
  damage.PutPostings(1, 7, std::vector<TermCount>{{"ghost", 1}}, 1);
  // Missing: record 1's "s" entry and "red" posting; record 2's "cat" posting is wrong.
  damage.DeleteFieldEntries(1, 1, std::vector<std::string>{"s"}, {{"s", "x"s}});
  damage.DeletePostings(1, 1, std::vector<TermCount>{{"red", 1}});
  damage.PutPostings(1, 2, std::vector<TermCount>{{"cat", 5}}, 2);
  // Extra: a value record 2 does not have, a term its text lacks.
  damage.PutFieldEntries(1, 2, std::vector<std::string>{"n"}, {{"n", int64_t{3}}});
  damage.PutPostings(1, 2, std::vector<TermCount>{{"dog", 1}}, 2);
  BOOST_TEST_REQUIRE(store->Write(damage, false).ok());

  auto found = store->CheckConsistency(false, &kWords).value();
  BOOST_TEST(found.dangling_entries == 2u);
  BOOST_TEST(found.dangling_postings == 1u);
  BOOST_TEST(found.missing_entries == 1u);
  BOOST_TEST(found.missing_postings == 2u);
  BOOST_TEST(found.extra_entries == 1u);
  BOOST_TEST(found.extra_postings == 1u);
  BOOST_TEST(found.recounted == 0u);
  BOOST_TEST(!found.clean());
  // Nothing changed without fix.
  BOOST_TEST(Scan(*store, 1, "n", {}).size() == 4u);
  // Without a tokenizer only the dangling ones and the field entries are checked.
  auto without = store->CheckConsistency(false).value();
  BOOST_TEST(without.dangling_postings == 1u);
  BOOST_TEST(without.missing_postings == 0u);
  BOOST_TEST(without.extra_postings == 0u);
  BOOST_TEST(without.missing_entries == 1u);

  auto fixed = store->CheckConsistency(true, &kWords).value();
  BOOST_TEST(fixed.dangling_entries == 2u);
  BOOST_TEST(fixed.missing_postings == 2u);
  auto again = store->CheckConsistency(false, &kWords).value();
  BOOST_TEST(again.clean(), (again.problems.empty() ? "" : again.problems[0]));
  BOOST_TEST(Scan(*store, 1, "n", {}) == (std::vector<uint64_t>{1, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(Scan(*store, 1, "s", {Incl("x"s), Incl("x"s)}) == (std::vector<uint64_t>{1}),
             boost::test_tools::per_element());
  BOOST_TEST(Postings(*store, 1, "ghost").empty());
  BOOST_TEST(Postings(*store, 1, "dog").empty());
  BOOST_TEST(Postings(*store, 1, "red").size() == 1u);
  auto cat = Postings(*store, 1, "cat");
  BOOST_TEST_REQUIRE(cat.size() == 1u);
  BOOST_TEST((cat[0] == std::make_tuple(uint64_t{2}, 1u, 2u)));
}

BOOST_AUTO_TEST_CASE(EntriesOfALostRecordAreDangling) {
  CollectionMeta meta = MakeCollection(1, "c", {"n"});
  meta.count = 1;
  meta.next_record_id = 2;
  meta.text_docs = 1;
  meta.text_terms = 1;
  PutCollection(meta);
  Record r = MakeRecord("a", {{"n", int64_t{1}}}, "word");
  r.vector = {1.0f, 2.0f, 3.0f};  // the wrong dimension: the record is lost
  WriteIndexed(*store, meta, 1, r);
  auto fixed = store->CheckConsistency(true, &kWords).value();
  BOOST_TEST(fixed.bad_records == 1u);
  BOOST_TEST(fixed.dangling_entries == 1u);
  BOOST_TEST(fixed.dangling_postings == 1u);
  BOOST_TEST(fixed.recounted == 1u);  // count and text statistics
  BOOST_TEST(Scan(*store, 1, "n", {}).empty());
  BOOST_TEST(Postings(*store, 1, "word").empty());
  auto catalog = store->LoadCatalog().value();
  BOOST_TEST(catalog.at(0).text_docs == 0u);
  BOOST_TEST(catalog.at(0).text_terms == 0u);
  BOOST_TEST(store->CheckConsistency(false, &kWords).value().clean());
}

BOOST_AUTO_TEST_CASE(WrongTextStatisticsAreRecounted) {
  CollectionMeta meta = MakeCollection(1, "c");
  meta.count = 2;
  meta.next_record_id = 3;
  meta.text_docs = 5;
  meta.text_terms = 1;
  PutCollection(meta);
  WriteIndexed(*store, meta, 1, MakeRecord("a", {}, "one two two"));
  WriteIndexed(*store, meta, 2, MakeRecord("b", {}, ""));
  // Without a tokenizer the statistics are not judged.
  BOOST_TEST(store->CheckConsistency(false).value().clean());
  auto found = store->CheckConsistency(true, &kWords).value();
  BOOST_TEST(found.recounted == 1u);
  BOOST_TEST(found.problems.at(0).find("5 texts of 1 terms") != std::string::npos,
             found.problems.at(0));
  auto catalog = store->LoadCatalog().value();
  BOOST_TEST(catalog.at(0).text_docs == 1u);
  BOOST_TEST(catalog.at(0).text_terms == 3u);
  BOOST_TEST(store->CheckConsistency(false, &kWords).value().clean());
}

BOOST_AUTO_TEST_CASE(FieldsThatAreNoLongerFilterableLoseTheirEntries) {
  CollectionMeta meta = MakeCollection(1, "c", {"n", "m"});
  meta.count = 1;
  meta.next_record_id = 2;
  PutCollection(meta);
  WriteIndexed(*store, meta, 1, MakeRecord("a", {{"n", int64_t{1}}, {"m", int64_t{2}}}));
  meta.spec.filterable = {"n"};
  Batch change(*store);
  change.PutCollection(meta);
  BOOST_TEST_REQUIRE(store->Write(change, false).ok());
  auto fixed = store->CheckConsistency(true).value();
  BOOST_TEST(fixed.extra_entries == 1u);
  BOOST_TEST(Scan(*store, 1, "m", {}).empty());
  BOOST_TEST(Scan(*store, 1, "n", {}).size() == 1u);
}

BOOST_AUTO_TEST_CASE(CollectionsWithoutKeywordIndexMustHaveNoPostings) {
  CollectionMeta meta = MakeCollection(1, "c");
  meta.spec.keyword_index = false;
  meta.count = 1;
  meta.next_record_id = 2;
  PutCollection(meta);
  Batch r(*store);
  r.PutRecord(1, 1, 1, MakeRecord("a", {}, "some words"));
  BOOST_TEST_REQUIRE(store->Write(r, false).ok());
  BOOST_TEST(store->CheckConsistency(false, &kWords).value().clean());
  Batch p(*store);
  p.PutPostings(1, 1, std::vector<TermCount>{{"some", 1}}, 2);
  BOOST_TEST_REQUIRE(store->Write(p, false).ok());
  auto fixed = store->CheckConsistency(true).value();  // no tokenizer needed
  BOOST_TEST(fixed.extra_postings == 1u);
  BOOST_TEST(Postings(*store, 1, "some").empty());
  BOOST_TEST(store->CheckConsistency(false, &kWords).value().clean());
}

BOOST_AUTO_TEST_CASE(EntriesOfUnknownCollectionsAreOrphans) {
  Batch w(*store);
  w.PutFieldEntries(9, 1, std::vector<std::string>{"n"}, {{"n", int64_t{1}}});
  w.PutPostings(9, 1, std::vector<TermCount>{{"w", 1}}, 1);
  BOOST_TEST_REQUIRE(store->Write(w, false).ok());
  auto fixed = store->CheckConsistency(true).value();
  BOOST_TEST(fixed.orphan_entries == 2u);
  BOOST_TEST(Scan(*store, 9, "n", {}).empty());
  BOOST_TEST(Postings(*store, 9, "w").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(SearchCatalogTest)

BOOST_AUTO_TEST_CASE(NewFieldsRoundTrip) {
  CollectionMeta in = MakeCollection(3, "c", {"year", "tags"});
  in.text_docs = 12;
  in.text_terms = 345;
  for (bool keyword : {true, false}) {
    in.spec.keyword_index = keyword;
    CollectionMeta out;
    BOOST_TEST_REQUIRE(DecodeCollection(EncodeCollection(in), &out).ok());
    BOOST_TEST(out.spec.filterable == in.spec.filterable, boost::test_tools::per_element());
    BOOST_TEST(out.spec.keyword_index == keyword);
    BOOST_TEST(out.text_docs == 12u);
    BOOST_TEST(out.text_terms == 345u);
  }
  BOOST_TEST(!CollectionSpec{}.keyword_index);  // asked for when a collection is created
}

BOOST_AUTO_TEST_CASE(EntryWrittenBeforeKeywordIndexesLoadsWithoutOne) {
  CollectionMeta out;
  BOOST_TEST_REQUIRE(DecodeCollection(OldCatalogEntry(4, "old"), &out).ok());
  BOOST_TEST(out.id == 4u);
  BOOST_TEST(out.spec.name == "old");
  BOOST_TEST(out.spec.dimension == 2u);
  BOOST_TEST(!out.spec.keyword_index);
  BOOST_TEST(out.spec.filterable.empty());
  BOOST_TEST(out.text_docs == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(OldDatabaseTest)

BOOST_AUTO_TEST_CASE(ReadOnlyOpenTreatsMissingFamiliesAsEmpty) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "store";
  WriteOldDatabase(path);
  {
    auto reader = Store::Open(path, {.read_only = true});
    BOOST_TEST_REQUIRE(reader.has_value(), reader.error().ToString());
    Store& store = **reader;
    auto catalog = store.LoadCatalog().value();
    BOOST_TEST_REQUIRE(catalog.size() == 1u);
    BOOST_TEST(!catalog[0].spec.keyword_index);
    std::vector<uint64_t> ids{1};
    BOOST_TEST(store.GetRecords(1, ids, true).value()[0]->key == "a");
    BOOST_TEST(Scan(store, 1, "year", {}).empty());
    BOOST_TEST(store.CountField(1, "year", {}, 10).value() == 0u);
    BOOST_TEST(Postings(store, 1, "old").empty());
    auto found = store.CheckConsistency(false, &kWords);
    BOOST_TEST_REQUIRE(found.has_value());
    BOOST_TEST(found->records == 1u);
    BOOST_TEST(found->problems.size() == 1u);  // count 0 in the old entry: only the recount
    BOOST_TEST(found->recounted == 1u);
    BOOST_TEST(store.VerifyChecksums().ok());
    // A copy of a read-only store has every family.
    BOOST_TEST(store.CopyTo(dir.path() / "copy").ok());
    Batch b(store);
    b.PutFieldEntries(1, 1, std::vector<std::string>{"year"}, {{"year", int64_t{1}}});
    BOOST_TEST(store.Write(b, false).code() == Status::Code::kFailedPrecondition);
  }
  BOOST_TEST(FamiliesOf(path).size() == 8u);  // a reader added nothing
  auto copy = Store::Open(dir.path() / "copy", {.read_only = true});
  BOOST_TEST_REQUIRE(copy.has_value());
  BOOST_TEST(FamiliesOf(dir.path() / "copy").size() == 10u);
  BOOST_TEST((*copy)->LoadCatalog().value().size() == 1u);
}

BOOST_AUTO_TEST_CASE(WritableOpenAddsTheFamilies) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "store";
  WriteOldDatabase(path);
  {
    auto writer = Store::Open(path, {});
    BOOST_TEST_REQUIRE(writer.has_value(), writer.error().ToString());
    Store& store = **writer;
    std::vector<uint64_t> ids{1};
    BOOST_TEST(store.GetRecords(1, ids, false).value()[0]->key == "a");
    Batch b(store);
    b.PutFieldEntries(1, 1, std::vector<std::string>{"year"}, {{"year", int64_t{2020}}});
    b.PutPostings(1, 1, std::vector<TermCount>{{"old", 1}}, 2);
    BOOST_TEST_REQUIRE(store.Write(b, false).ok());
    BOOST_TEST(Scan(store, 1, "year", {}) == (std::vector<uint64_t>{1}),
               boost::test_tools::per_element());
    BOOST_TEST(store.CompactAll().ok());
  }
  auto names = FamiliesOf(path);
  BOOST_TEST(std::count(names.begin(), names.end(), "fields") == 1);
  BOOST_TEST(std::count(names.begin(), names.end(), "postings") == 1);
  auto reader = Store::Open(path, {.read_only = true});
  BOOST_TEST_REQUIRE(reader.has_value());
  BOOST_TEST(Postings(**reader, 1, "old").size() == 1u);
}

BOOST_AUTO_TEST_CASE(RepairOfAnOldDatabaseOpens) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "store";
  WriteOldDatabase(path);
  BOOST_TEST_REQUIRE(Store::Repair(path).has_value());
  // As relate repair does: a writer's open first (repair leaves out families
  // without table files), then readers.
  for (bool read_only : {false, true}) {
    auto store = Store::Open(path, {.read_only = read_only});
    BOOST_TEST_REQUIRE(store.has_value(), store.error().ToString());
    BOOST_TEST((*store)->LoadCatalog().value().size() == 1u);
    BOOST_TEST(Scan(**store, 1, "year", {}).empty());
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(StoreRepairTest)

BOOST_AUTO_TEST_CASE(RepairKeepsEntriesThatOnlyTheLogHolds) {
  testutil::ScratchDir dir;
  const auto path = dir.path() / "store";
  CollectionMeta meta = MakeCollection(1, "c", {"n"});
  meta.count = 1;
  meta.next_record_id = 2;
  meta.text_docs = 1;
  meta.text_terms = 2;
  {
    auto store = Store::Open(path, {.create = true}).value();
    Batch b(*store);
    b.PutCollection(meta);
    BOOST_TEST_REQUIRE(store->Write(b, true).ok());
    WriteIndexed(*store, meta, 1, MakeRecord("a", {{"n", int64_t{4}}}, "two words"));
  }  // closed without a flush: the entries are in the log only
  BOOST_TEST_REQUIRE(Store::Repair(path).has_value());
  auto store = Store::Open(path, {}).value();
  BOOST_TEST(store->LoadCatalog().value().size() == 1u);
  std::vector<uint64_t> ids{1};
  BOOST_TEST(store->GetRecords(1, ids, true).value()[0].has_value());
  BOOST_TEST(Scan(*store, 1, "n", {}) == (std::vector<uint64_t>{1}),
             boost::test_tools::per_element());
  BOOST_TEST(Postings(*store, 1, "words").size() == 1u);
  auto found = store->CheckConsistency(false, &kWords).value();
  BOOST_TEST(found.clean(), (found.problems.empty() ? "" : found.problems[0]));
}

BOOST_AUTO_TEST_SUITE_END()
