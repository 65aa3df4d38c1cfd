#include "index/family.h"

#include <faiss/impl/FaissException.h>

#include <exception>

#include "index/spec.h"

namespace relate::index {

Result<std::unique_ptr<Family>> MakeFamily(uint32_t dimension, Metric metric,
                                           const std::string& spec, const BuildParams& build) {
  try {
    if (spec == "Flat") return MakeExactFamily(dimension, metric);
    if (auto m = NativeHnswM(spec)) return MakeGraphFamily(dimension, metric, *m, build);
    return MakeCodeFamily(dimension, metric, spec, build);
  } catch (const faiss::FaissException& e) {
    return Status::InvalidArgument("index spec \"" + spec +
                                   "\" is not one FAISS can build: " + e.msg);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("index spec \"" + spec + "\": " + e.what());
  }
}

}  // namespace relate::index
