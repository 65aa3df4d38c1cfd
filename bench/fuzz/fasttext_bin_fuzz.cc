// Fuzzes FastTextModel::Read on the fuzz input as a .bin file, then asks the model
// it accepts for word vectors (vocabulary words, n-gram words, "</s>", a label).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "bench/fuzz/fuzz_util.h"
#include "embed/fasttext_model.h"

namespace {

using relate::fuzz::Check;

void CheckVector(const relate::embed::FastTextModel& model, std::string_view word) {
  const relate::Result<std::vector<float>> v = model.WordVector(word);
  if (!v.has_value()) return;  // not UTF-8, or a label
  Check(v->size() == model.dim(), "a word vector has the wrong size");
  for (const float x : *v) Check(std::isfinite(x), "a word vector holds a non-finite value");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static relate::fuzz::MemoryFile file;
  const std::filesystem::path& path = file.Hold(data, size);
  const relate::Result<relate::embed::FastTextModel> model =
      relate::embed::FastTextModel::Read(path);
  if (!model.has_value()) {
    relate::fuzz::Verbose(model.error().ToString());
    Check(model.error().message().find(path.string()) != std::string::npos,
          "an error message does not name the file");
    return 0;
  }
  const relate::embed::WordVectors& words = model->words();
  relate::fuzz::Verbose("accepted " + std::to_string(words.vocabulary.size()) + " words, " +
                        std::to_string(model->buckets()) + " buckets");
  Check(model->dim() > 0, "accepted a model of dimension 0");
  Check(words.vocabulary.size() == words.table.rows(), "vocabulary and table sizes differ");
  for (const float x : words.table.data()) Check(std::isfinite(x), "accepted a non-finite value");
  for (const float x : model->bucket_rows().data()) {
    Check(std::isfinite(x), "accepted a non-finite n-gram row");
  }
  for (uint32_t id = 0; id < words.vocabulary.size() && id < 8; ++id) {
    CheckVector(*model, words.vocabulary.Token(id));
    CheckVector(*model, words.vocabulary.Token(id) + "x");
  }
  for (const std::string& label : model->labels()) CheckVector(*model, label);
  CheckVector(*model, "</s>");
  CheckVector(*model, "relatedness");
  CheckVector(*model, "");
  return 0;
}
