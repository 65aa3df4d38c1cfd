// Store::CheckConsistency: the invariants store.h names, checked (and with
// `fix`, restored) collection by collection, one named phase at a time:
//   1. CheckRecords          whole records: decode, and a vector of the right size
//   2. CheckKeyEntries       key entries point at a whole record with that key
//      SettleKeys            one record per key; missing key entries rewritten
//   3. CheckOrphanVectors    vectors of no whole record
//   4. CountEntries          field entries and postings of records that stay
//      CheckExpectedEntries  ... and the ones each record should have
//      RemoveExtraEntries    ... and the ones it should not
//   5. Recount               the catalog's counters
//   6. RemoveOrphanCollections  entries of collection ids the catalog lacks
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "storage/codec.h"
#include "storage/keys.h"
#include "storage/store_internal.h"

namespace relate::storage {
namespace {

// The two kinds of secondary entries a record has, and where each is counted.
struct EntryKind {
  int family;
  const char* what;
  uint64_t ConsistencyReport::*dangling;
  uint64_t ConsistencyReport::*extra;
  uint64_t ConsistencyReport::*missing;
};
constexpr int kFieldKind = 0, kPostingKind = 1;
constexpr EntryKind kEntryKinds[2] = {
    {kFields, "field entries", &ConsistencyReport::dangling_entries,
     &ConsistencyReport::extra_entries, &ConsistencyReport::missing_entries},
    {kPostings, "postings", &ConsistencyReport::dangling_postings,
     &ConsistencyReport::extra_postings, &ConsistencyReport::missing_postings},
};

bool EntryId(int kind, const rocksdb::Slice& key, uint64_t* id) {
  return kind == kFieldKind ? AnyFieldEntryId(key.ToStringView(), id)
                            : PostingId(key.ToStringView(), id);
}

uint64_t RecordIdOf(const rocksdb::Slice& key) {
  return key.size() == 12 ? ReadBigEndian64(key.data() + 4) : 0;
}

// What the whole check shares: the database, the fixes gathered, the report.
class Checker {
 public:
  Checker(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles, bool fix,
          ConsistencyReport* report)
      : db_(db), handles_(handles), fix_(fix), report_(report) {
    ro.fill_cache = false;
  }

  bool fix() const { return fix_; }
  ConsistencyReport& report() { return *report_; }
  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* cf(int family) const { return handles_[family]; }
  std::unique_ptr<rocksdb::Iterator> NewIterator(int family) const {
    return NewFamilyIterator(db_, handles_[family], ro);
  }

  // A line of the report (the first thousand are kept).
  void Problem(std::string line) {
    if (report_->problems.size() < 1000) report_->problems.push_back(std::move(line));
  }
  Status Remove(int family, const rocksdb::Slice& key) {
    if (!fix_) return Status::OK();
    RELATE_RETURN_IF_ERROR(FromRocks(wb_.Delete(cf(family), key), "building write batch"));
    return FlushIfLarge();
  }
  Status Put(int family, const rocksdb::Slice& key, const rocksdb::Slice& value) {
    if (!fix_) return Status::OK();
    RELATE_RETURN_IF_ERROR(FromRocks(wb_.Put(cf(family), key, value), "building write batch"));
    return FlushIfLarge();
  }
  Status RemoveRange(int family, const rocksdb::Slice& begin, const rocksdb::Slice& end) {
    if (!fix_) return Status::OK();
    return FromRocks(wb_.DeleteRange(cf(family), begin, end), "building write batch");
  }
  // Commits the fixes gathered so far (synced).
  Status Flush() {
    if (!fix_ || wb_.Count() == 0) return Status::OK();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    Status s = FromRocks(db_->Write(wo, &wb_), "writing repairs");
    wb_.Clear();
    return s;
  }

  rocksdb::ReadOptions ro;  // iterate_upper_bound: the collection being checked

 private:
  Status FlushIfLarge() { return wb_.GetDataSize() > (4 << 20) ? Flush() : Status::OK(); }

  rocksdb::DB* db_;
  const std::vector<rocksdb::ColumnFamilyHandle*>& handles_;
  bool fix_;
  ConsistencyReport* report_;
  rocksdb::WriteBatch wb_;
};

// What the phases learn of one collection.
struct CollectionCheck {
  struct Whole {
    std::string key;
    uint64_t version;
  };

  CollectionCheck(const CollectionMeta& m, const Store::TermsOf* t)
      : meta(m),
        name("collection \"" + m.spec.name + "\""),
        begin(CollectionPrefix(m.id)),
        end(CollectionEnd(m.id)),
        upper(end),
        terms(t),
        check_terms(t != nullptr && *t && m.spec.keyword_index) {}

  const CollectionMeta& meta;
  const std::string name, begin, end;
  const rocksdb::Slice upper;
  const Store::TermsOf* terms;
  const bool check_terms;  // postings are compared with what `terms` says

  std::unordered_map<uint64_t, Whole> whole;  // records that decode, by id
  uint64_t max_id = 0;
  std::unordered_map<uint64_t, bool> keyed;         // whole records with a key entry
  std::unordered_map<std::string, uint64_t> owner;  // key -> the record that keeps it
  std::unordered_set<uint64_t> kept;                // ids of the records that stay
  uint64_t text_docs = 0, text_terms = 0;           // of the kept records' texts
  // Per entry kind: entries of each kept record, counted; and for records that
  // have more than they should, the keys they should have.
  std::unordered_map<uint64_t, uint32_t> actual[2];
  std::unordered_map<uint64_t, std::unordered_set<std::string>> extras[2];
};

// Why record `key`'s value and vector are not a whole record (OK if they are).
Status WholeRecord(Checker& ck, const CollectionCheck& cc, const rocksdb::Slice& key,
                   const rocksdb::Slice& value, StoredRecord* r) {
  if (RecordIdOf(key) == 0) return Status::Corruption("its key has a bad size");
  RELATE_RETURN_IF_ERROR(DecodeRecord(value.ToStringView(), r));
  std::string vbytes;
  rocksdb::Status vs = ck.db()->Get(ck.ro, ck.cf(kVectors), key, &vbytes);
  if (vs.IsNotFound()) return Status::Corruption("it has no vector");
  if (!vs.ok()) return FromRocks(vs, "reading its vector");
  std::vector<float> vector;
  RELATE_RETURN_IF_ERROR(DecodeVector(vbytes, &vector));
  if (vector.size() != cc.meta.spec.dimension) {
    return Status::Corruption("its vector has " + std::to_string(vector.size()) +
                              " values, expected " + std::to_string(cc.meta.spec.dimension));
  }
  return Status::OK();
}

// 1. Whole records: decode, and have a vector of the collection's dimension.
Status CheckRecords(Checker& ck, CollectionCheck& cc) {
  std::unique_ptr<rocksdb::Iterator> it(ck.db()->NewIterator(ck.ro, ck.cf(kRecords)));
  for (it->Seek(cc.begin); it->Valid(); it->Next()) {
    StoredRecord r;
    const uint64_t id = RecordIdOf(it->key());
    if (Status why = WholeRecord(ck, cc, it->key(), it->value(), &r); !why.ok()) {
      ++ck.report().bad_records;
      ck.Problem(cc.name + ": record id " + std::to_string(id) +
                 (r.key.empty() ? "" : " (key \"" + r.key + "\")") +
                 " is lost: " + std::string(why.message()));
      RELATE_RETURN_IF_ERROR(ck.Remove(kRecords, it->key()));
      RELATE_RETURN_IF_ERROR(ck.Remove(kVectors, it->key()));
      continue;
    }
    cc.whole.emplace(id, CollectionCheck::Whole{r.key, r.version});
    cc.max_id = std::max(cc.max_id, id);
  }
  return FromRocks(it->status(), "scanning records of " + cc.name);
}

// 2. Key entries: each points at a whole record with its key.
Status CheckKeyEntries(Checker& ck, CollectionCheck& cc) {
  std::unique_ptr<rocksdb::Iterator> it(ck.db()->NewIterator(ck.ro, ck.cf(kKeys)));
  for (it->Seek(cc.begin); it->Valid(); it->Next()) {
    const std::string user_key(it->key().data() + 4, it->key().size() - 4);
    auto w = it->value().size() == 16 ? cc.whole.find(ReadLittleEndian64(it->value().data()))
                                      : cc.whole.end();
    if (w == cc.whole.end() || w->second.key != user_key) {
      ++ck.report().dangling_keys;
      ck.Problem(cc.name + ": key \"" + user_key + "\" points at no record with that key");
      RELATE_RETURN_IF_ERROR(ck.Remove(kKeys, it->key()));
      continue;
    }
    cc.keyed[w->first] = true;
  }
  return FromRocks(it->status(), "scanning keys of " + cc.name);
}

Status RemoveRecord(Checker& ck, const CollectionCheck& cc, uint64_t id) {
  RELATE_RETURN_IF_ERROR(ck.Remove(kRecords, RecordKey(cc.meta.id, id)));
  return ck.Remove(kVectors, RecordKey(cc.meta.id, id));
}

// 2. One record per key: of whole records without a key entry, the newest of
// each key gets it and older ones with the same key go.
Status SettleKeys(Checker& ck, CollectionCheck& cc) {
  for (const auto& [id, w] : cc.whole) {
    if (cc.keyed.count(id)) cc.owner[w.key] = id;
  }
  std::vector<uint64_t> unkeyed;
  for (const auto& [id, w] : cc.whole) {
    if (!cc.keyed.count(id)) unkeyed.push_back(id);
  }
  std::sort(unkeyed.begin(), unkeyed.end());
  for (uint64_t id : unkeyed) {
    const CollectionCheck::Whole& w = cc.whole[id];
    auto o = cc.owner.find(w.key);
    if (o != cc.owner.end() &&
        (cc.keyed.count(o->second) || cc.whole[o->second].version > w.version)) {
      ++ck.report().duplicate_keys;
      ck.Problem(cc.name + ": record id " + std::to_string(id) + " (key \"" + w.key +
                 "\") is an older copy of record id " + std::to_string(o->second));
      RELATE_RETURN_IF_ERROR(RemoveRecord(ck, cc, id));
      continue;
    }
    if (o != cc.owner.end()) {  // an unkeyed older copy lost to this one
      ++ck.report().duplicate_keys;
      ck.Problem(cc.name + ": record id " + std::to_string(o->second) + " (key \"" + w.key +
                 "\") is an older copy of record id " + std::to_string(id));
      RELATE_RETURN_IF_ERROR(RemoveRecord(ck, cc, o->second));
    }
    cc.owner[w.key] = id;
  }
  for (const auto& [key, id] : cc.owner) {
    cc.kept.insert(id);
    if (cc.keyed.count(id)) continue;
    ++ck.report().missing_keys;
    ck.Problem(cc.name + ": record id " + std::to_string(id) + " (key \"" + key +
               "\") had no key entry");
    std::string value;
    AppendLittleEndian64(&value, id);
    AppendLittleEndian64(&value, cc.whole[id].version);
    RELATE_RETURN_IF_ERROR(ck.Put(kKeys, UserKey(cc.meta.id, key), value));
  }
  return Status::OK();
}

// 3. Vectors of no whole record.
Status CheckOrphanVectors(Checker& ck, CollectionCheck& cc) {
  std::unique_ptr<rocksdb::Iterator> it(ck.db()->NewIterator(ck.ro, ck.cf(kVectors)));
  for (it->Seek(cc.begin); it->Valid(); it->Next()) {
    const uint64_t id = RecordIdOf(it->key());
    if (cc.whole.count(id)) continue;  // kept, or removed above with its record
    ++ck.report().orphan_vectors;
    ck.Problem(cc.name + ": vector of record id " + std::to_string(id) + " belongs to no record");
    RELATE_RETURN_IF_ERROR(ck.Remove(kVectors, it->key()));
  }
  return FromRocks(it->status(), "scanning vectors of " + cc.name);
}

// 4. Entries of one kind: each decodes and belongs to a record that stays (and
// postings only to a collection with a keyword index); those of each kept
// record are counted, the others go.
Status CountEntries(Checker& ck, CollectionCheck& cc, int kind) {
  const EntryKind& k = kEntryKinds[kind];
  ConsistencyReport& report = ck.report();
  uint64_t dangling = 0;
  std::set<uint64_t> sample;  // a few of the ids they point at
  std::unique_ptr<rocksdb::Iterator> it = ck.NewIterator(k.family);
  for (it->Seek(cc.begin); it->Valid(); it->Next()) {
    uint64_t id = 0;
    uint32_t count = 0, length = 0;
    const bool decodes = EntryId(kind, it->key(), &id);
    if (!decodes || (kind == kPostingKind && !cc.check_terms &&
                     !DecodePostingValue(it->value().ToStringView(), &count, &length))) {
      ++(report.*k.extra);
      ck.Problem(cc.name + ": an entry of " + kFamilyNames[k.family] +
                 (decodes ? " of record id " + std::to_string(id) : std::string()) +
                 " does not decode");
      RELATE_RETURN_IF_ERROR(ck.Remove(k.family, it->key()));
      continue;
    }
    if (!cc.kept.count(id)) {
      ++dangling;
      if (sample.size() < 5) sample.insert(id);
      RELATE_RETURN_IF_ERROR(ck.Remove(k.family, it->key()));
      continue;
    }
    if (kind == kPostingKind && !cc.meta.spec.keyword_index) {
      ++(report.*k.extra);
      ck.Problem(cc.name + ": record id " + std::to_string(id) +
                 " has a posting, but the collection has no keyword index");
      RELATE_RETURN_IF_ERROR(ck.Remove(k.family, it->key()));
      continue;
    }
    ++cc.actual[kind][id];
  }
  RELATE_RETURN_IF_ERROR(
      FromRocks(it->status(), std::string("scanning ") + k.what + " of " + cc.name));
  if (dangling > 0) {
    report.*k.dangling += dangling;
    std::string ids;
    for (uint64_t id : sample) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
    ck.Problem(cc.name + ": " + std::to_string(dangling) + " " + k.what +
               " belong to no record (record ids " + ids +
               (dangling > sample.size() ? ", ..." : "") + ")");
  }
  return Status::OK();
}

using Entries = std::vector<std::pair<std::string, std::string>>;  // key, value

// The entries of `kind` that record `r` (id `id`) should have, sorted by key.
Entries ExpectedEntries(CollectionCheck& cc, int kind, uint64_t id, const StoredRecord& r) {
  Entries expected;
  if (kind == kFieldKind) {
    for (auto& key : FieldEntryKeys(cc.meta.id, id, cc.meta.spec.filterable, r.metadata)) {
      expected.emplace_back(std::move(key), std::string());
    }
    return expected;
  }
  uint32_t length = 0;
  const std::vector<TermCount> counts = (*cc.terms)(cc.meta.id, r, &length);
  if (!counts.empty()) {
    ++cc.text_docs;
    cc.text_terms += length;
  }
  for (const auto& t : counts) {
    expected.emplace_back(PostingKey(cc.meta.id, t.term, id), PostingValue(t.count, length));
  }
  auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
  auto same_key = [](const auto& a, const auto& b) { return a.first == b.first; };
  std::sort(expected.begin(), expected.end(), by_key);
  expected.erase(std::unique(expected.begin(), expected.end(), same_key), expected.end());
  return expected;
}

// 4. Record `r` has each of the entries of `kind` it should (missing or wrong
// ones are rewritten); a record with more keeps the list of what it should have.
Status CheckRecordEntries(Checker& ck, CollectionCheck& cc, int kind, uint64_t id,
                          const StoredRecord& r) {
  const EntryKind& k = kEntryKinds[kind];
  Entries expected = ExpectedEntries(cc, kind, id, r);
  std::vector<rocksdb::Slice> keys;
  for (const auto& e : expected) keys.emplace_back(e.first);
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size(), rocksdb::Status::NotFound());
  if (ck.cf(k.family) != nullptr && !keys.empty()) {
    ck.db()->MultiGet(ck.ro, ck.cf(k.family), keys.size(), keys.data(), values.data(),
                      statuses.data());
  }
  uint64_t found = 0, missing = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!statuses[i].IsNotFound()) {
      RELATE_RETURN_IF_ERROR(
          FromRocks(statuses[i], std::string("reading ") + k.what + " of " + cc.name));
      ++found;
      if (values[i] == rocksdb::Slice(expected[i].second)) continue;
    }
    ++missing;
    RELATE_RETURN_IF_ERROR(ck.Put(k.family, keys[i], expected[i].second));
  }
  if (missing > 0) {
    ck.report().*k.missing += missing;
    ck.Problem(cc.name + ": record id " + std::to_string(id) + " (key \"" + r.key + "\") lacked " +
               std::to_string(missing) + " of its " + std::to_string(keys.size()) + " " + k.what +
               (kind == kPostingKind ? " (or had them wrong)" : ""));
  }
  auto a = cc.actual[kind].find(id);
  if (a != cc.actual[kind].end() && a->second > found) {
    auto& should = cc.extras[kind][id];
    for (auto& e : expected) should.insert(std::move(e.first));
  }
  return Status::OK();
}

// 4. What each kept record should have, looked up.
Status CheckExpectedEntries(Checker& ck, CollectionCheck& cc) {
  const bool check[2] = {!cc.meta.spec.filterable.empty() || !cc.actual[kFieldKind].empty(),
                         cc.check_terms};
  if (!check[kFieldKind] && !check[kPostingKind]) return Status::OK();
  std::unique_ptr<rocksdb::Iterator> it = ck.NewIterator(kRecords);
  for (it->Seek(cc.begin); it->Valid(); it->Next()) {
    const uint64_t id = RecordIdOf(it->key());
    if (!cc.kept.count(id)) continue;
    StoredRecord r;
    RELATE_RETURN_IF_ERROR(DecodeRecord(it->value().ToStringView(), &r)
                               .WithContext(cc.name + ": record id " + std::to_string(id)));
    for (int kind : {kFieldKind, kPostingKind}) {
      if (check[kind]) RELATE_RETURN_IF_ERROR(CheckRecordEntries(ck, cc, kind, id, r));
    }
  }
  return FromRocks(it->status(), "scanning records of " + cc.name);
}

// 4. Entries of kept records that the records do not have.
Status RemoveExtraEntries(Checker& ck, CollectionCheck& cc, int kind) {
  if (cc.extras[kind].empty()) return Status::OK();
  const EntryKind& k = kEntryKinds[kind];
  std::unique_ptr<rocksdb::Iterator> it = ck.NewIterator(k.family);
  for (it->Seek(cc.begin); it->Valid(); it->Next()) {
    uint64_t id = 0;
    if (!EntryId(kind, it->key(), &id)) continue;  // removed by CountEntries
    auto e = cc.extras[kind].find(id);
    if (e == cc.extras[kind].end() || e->second.count(it->key().ToString())) continue;
    ++(ck.report().*k.extra);
    ck.Problem(cc.name + ": record id " + std::to_string(id) + " has " +
               (kind == kFieldKind ? "a field entry of a value" : "a posting of a term") +
               " it does not have");
    RELATE_RETURN_IF_ERROR(ck.Remove(k.family, it->key()));
  }
  return FromRocks(it->status(), std::string("scanning ") + k.what + " of " + cc.name);
}

// 5. Counters: count, the next id, the newest change, the keyword statistics.
Status Recount(Checker& ck, CollectionCheck& cc) {
  const CollectionMeta& meta = cc.meta;
  uint64_t last_change = meta.last_change;
  {
    std::unique_ptr<rocksdb::Iterator> it(ck.db()->NewIterator(ck.ro, ck.cf(kChanges)));
    it->SeekForPrev(ChangeKey(meta.id, UINT64_MAX));
    if (it->Valid() && it->key().size() == 12 && it->key().starts_with(cc.begin)) {
      last_change = std::max(last_change, ReadBigEndian64(it->key().data() + 4));
    }
    RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "reading the change log of " + cc.name));
  }
  CollectionMeta fixed = meta;
  fixed.count = cc.owner.size();
  fixed.next_record_id = std::max(meta.next_record_id, cc.max_id + 1);
  fixed.last_change = last_change;
  if (cc.check_terms) {
    fixed.text_docs = cc.text_docs;
    fixed.text_terms = cc.text_terms;
  }
  ck.report().records += cc.owner.size();
  const bool texts_differ =
      fixed.text_docs != meta.text_docs || fixed.text_terms != meta.text_terms;
  if (fixed.count == meta.count && fixed.next_record_id == meta.next_record_id &&
      fixed.last_change == meta.last_change && !texts_differ) {
    return Status::OK();
  }
  ++ck.report().recounted;
  std::string line = cc.name + ": catalog said " + std::to_string(meta.count) + " records, " +
                     std::to_string(fixed.count) + " are whole";
  if (texts_differ) {
    line += "; it said " + std::to_string(meta.text_docs) + " texts of " +
            std::to_string(meta.text_terms) + " terms, the records have " +
            std::to_string(fixed.text_docs) + " of " + std::to_string(fixed.text_terms);
  }
  ck.Problem(std::move(line));
  return ck.Put(kCatalog, meta.spec.name, EncodeCollection(fixed));
}

// 6. Entries of collection ids the catalog does not have.
Status RemoveOrphanCollections(Checker& ck, const std::vector<uint32_t>& known) {
  ck.ro.iterate_upper_bound = nullptr;
  for (int family : kCollectionFamilies) {
    std::unique_ptr<rocksdb::Iterator> it = ck.NewIterator(family);
    for (it->SeekToFirst(); it->Valid();) {
      if (it->key().size() < 4) {
        ++ck.report().orphan_entries;
        ck.Problem(std::string("an entry of ") + kFamilyNames[family] + " has a bad key");
        RELATE_RETURN_IF_ERROR(ck.Remove(family, it->key()));
        it->Next();
        continue;
      }
      const uint32_t id = ReadBigEndian32(it->key().data());
      if (std::find(known.begin(), known.end(), id) != known.end()) {
        it->Seek(CollectionEnd(id));
        continue;
      }
      uint64_t n = 0;
      const std::string end = CollectionEnd(id);
      for (; it->Valid() && it->key().compare(end) < 0; it->Next()) ++n;
      ck.report().orphan_entries += n;
      ck.Problem(std::to_string(n) + " entries of " + kFamilyNames[family] +
                 " belong to collection id " + std::to_string(id) +
                 ", which the catalog does not have");
      RELATE_RETURN_IF_ERROR(ck.RemoveRange(family, CollectionPrefix(id), end));
    }
    RELATE_RETURN_IF_ERROR(FromRocks(it->status(), "scanning storage"));
  }
  return ck.Flush();
}

Status CheckCollection(Checker& ck, const CollectionMeta& meta, const Store::TermsOf* terms) {
  CollectionCheck cc(meta, terms);
  ck.ro.iterate_upper_bound = &cc.upper;
  RELATE_RETURN_IF_ERROR(CheckRecords(ck, cc));
  RELATE_RETURN_IF_ERROR(CheckKeyEntries(ck, cc));
  RELATE_RETURN_IF_ERROR(SettleKeys(ck, cc));
  RELATE_RETURN_IF_ERROR(CheckOrphanVectors(ck, cc));
  for (int kind : {kFieldKind, kPostingKind}) RELATE_RETURN_IF_ERROR(CountEntries(ck, cc, kind));
  RELATE_RETURN_IF_ERROR(CheckExpectedEntries(ck, cc));
  for (int kind : {kFieldKind, kPostingKind}) {
    RELATE_RETURN_IF_ERROR(RemoveExtraEntries(ck, cc, kind));
  }
  RELATE_RETURN_IF_ERROR(Recount(ck, cc));
  ck.ro.iterate_upper_bound = nullptr;
  return ck.Flush();
}

}  // namespace

Result<ConsistencyReport> Store::CheckConsistency(bool fix, const TermsOf* terms) {
  if (fix && rep_->read_only) return Status::FailedPrecondition("the database is open read-only");
  ConsistencyReport report;
  RELATE_ASSIGN_OR_RETURN(auto catalog, LoadCatalog());
  Checker ck(rep_->db.get(), rep_->handles, fix, &report);
  std::vector<uint32_t> known;
  for (const auto& meta : catalog) {
    known.push_back(meta.id);
    RELATE_RETURN_IF_ERROR(CheckCollection(ck, meta, terms));
  }
  RELATE_RETURN_IF_ERROR(RemoveOrphanCollections(ck, known));
  return report;
}

}  // namespace relate::storage
