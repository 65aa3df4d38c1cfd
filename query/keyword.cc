// Keyword search: the records' secondary-index and keyword entries, written
// in the record's own batch, and BM25 ranking over the keyword index.
//
// Keyword terms are the text's words as the default tokenizer gives them
// (Unicode word boundaries, lower case, numbers kept, punctuation dropped),
// whatever model the collection has: a new model version does not change
// which records a keyword search finds.
//
// BM25 (Robertson and Zaragoza 2009, with Lucene's non-negative idf):
//   score(d, q) = sum over distinct terms t of q in d of
//     idf(t) x tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))
//   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
// with N = records with indexed text, df = those containing t, |d| = d's terms,
// avgdl = the mean |d|.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "embed/tokenizer.h"
#include "query/db_impl.h"

namespace relate::query {

Result<std::vector<storage::TermCount>> KeywordTermsOf(std::string_view text, uint32_t* length) {
  static const embed::Tokenizer tokenizer{embed::TokenizerOptions{}};
  RELATE_ASSIGN_OR_RETURN(auto tokens, tokenizer.Tokenize(text));
  std::unordered_map<std::string, uint32_t> counts;
  for (auto& t : tokens) ++counts[std::move(t)];
  std::vector<storage::TermCount> terms;
  terms.reserve(counts.size());
  for (auto& [term, count] : counts) terms.push_back({term, count});
  std::sort(terms.begin(), terms.end(),
            [](const storage::TermCount& a, const storage::TermCount& b) { return a.term < b.term; });
  *length = static_cast<uint32_t>(std::min<size_t>(tokens.size(), UINT32_MAX));
  return terms;
}

Result<TextTerms> TextTermsFor(const CollectionSpec& spec, std::string_view text) {
  TextTerms out;
  if (!spec.keyword_index || text.empty()) return out;
  RELATE_ASSIGN_OR_RETURN(out.terms, KeywordTermsOf(text, &out.length));
  return out;
}

void DBImpl::PutSearchEntries(const Collection& c, storage::Batch& batch, uint64_t id,
                              const Record& record, const TextTerms& terms,
                              storage::CollectionMeta& meta) const {
  const CollectionSpec& spec = c.meta.spec;
  if (!spec.filterable.empty()) {
    batch.PutFieldEntries(c.meta.id, id, spec.filterable, record.metadata);
  }
  if (!terms.terms.empty()) {
    batch.PutPostings(c.meta.id, id, terms.terms, terms.length);
    ++meta.text_docs;
    meta.text_terms += terms.length;
  }
}

Status DBImpl::DeleteSearchEntries(const Collection& c, storage::Batch& batch,
                                   const StoredRecord& old, storage::CollectionMeta& meta) const {
  const CollectionSpec& spec = c.meta.spec;
  if (!spec.filterable.empty()) {
    batch.DeleteFieldEntries(c.meta.id, old.id, spec.filterable, old.metadata);
  }
  RELATE_ASSIGN_OR_RETURN(TextTerms terms, TextTermsFor(spec, old.text));
  if (!terms.terms.empty()) {
    batch.DeletePostings(c.meta.id, old.id, terms.terms);
    meta.text_docs -= std::min<uint64_t>(meta.text_docs, 1);
    meta.text_terms -= std::min<uint64_t>(meta.text_terms, terms.length);
  }
  return Status::OK();
}

Status DBImpl::DeleteOldSearchEntries(const Collection& c, storage::Batch& batch,
                                      std::span<const std::optional<storage::KeyEntry>> existing,
                                      storage::CollectionMeta& meta) {
  const CollectionSpec& spec = c.meta.spec;
  if (spec.filterable.empty() && !spec.keyword_index) return Status::OK();
  std::vector<uint64_t> ids;
  for (const auto& e : existing) {
    if (e) ids.push_back(e->id);
  }
  if (ids.empty()) return Status::OK();
  RELATE_ASSIGN_OR_RETURN(auto olds, store_->GetRecords(c.meta.id, ids, false));
  for (size_t i = 0; i < olds.size(); ++i) {
    if (!olds[i]) {
      return Status::Corruption("record id " + std::to_string(ids[i]) +
                                " has a key entry but no record (run `relate repair`)");
    }
    RELATE_RETURN_IF_ERROR(DeleteSearchEntries(c, batch, *olds[i], meta));
  }
  return Status::OK();
}

}  // namespace relate::query
