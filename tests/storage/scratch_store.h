// A fresh Store in a scratch directory, for the storage suites.
#pragma once

#include <boost/test/unit_test.hpp>
#include <memory>

#include "storage/store.h"
#include "tests/testutil/testutil.h"

namespace relate::storage::testing {

struct ScratchStore {
  testutil::ScratchDir dir;
  std::unique_ptr<Store> store;
  ScratchStore() { store = Store::Open(dir.path() / "store", {.create = true}).value(); }

  // Writes a collection's catalog entry.
  void PutCollection(const CollectionMeta& meta) {
    Batch w(*store);
    w.PutCollection(meta);
    BOOST_TEST_REQUIRE(store->Write(w, false).ok());
  }
};

}  // namespace relate::storage::testing
