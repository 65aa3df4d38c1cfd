// relate-demo-data: the embedded default data set of the README's main job.
//
// Writes JSON Lines records about eight topics: each record's vector is its
// topic's direction plus noise, and its text is drawn from the topic's words,
// so that "most related" has an answer a person can check by reading.
//   relate-demo-data --records N --dim D [--no-vectors]  records on stdout
//   relate-demo-data --dim D --query-topic NAME      a query vector for a topic
//   relate-demo-data --dim D --model FILE            word vectors (word2vec text) for
//                                                    the topics' words, near their topic
//   relate-demo-data --wordnet DIR --corpus FILE --docs FILE
//                     real text from Debian's wordnet-base (/usr/share/wordnet): every
//                     synset's words and gloss, one a line, to train a model on; and
//                     the same as JSON Lines records (key, text, metadata) to ingest
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <array>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Topic {
  const char* name;
  std::array<const char*, 8> words;
};

constexpr std::array<Topic, 8> kTopics = {{
    {"astronomy", {"star", "galaxy", "orbit", "telescope", "comet", "nebula", "planet", "eclipse"}},
    {"cooking", {"flour", "oven", "simmer", "garlic", "recipe", "butter", "roast", "spice"}},
    {"sailing", {"mast", "harbour", "tide", "keel", "anchor", "rigging", "gale", "voyage"}},
    {"music", {"melody", "violin", "chord", "rhythm", "symphony", "tempo", "choir", "sonata"}},
    {"botany", {"fern", "pollen", "root", "orchid", "seedling", "leaf", "moss", "bloom"}},
    {"chess", {"bishop", "gambit", "castle", "endgame", "pawn", "opening", "check", "rook"}},
    {"medicine", {"fever", "dose", "surgeon", "vaccine", "pulse", "clinic", "remedy", "nerve"}},
    {"railways",
     {"locomotive", "platform", "signal", "timetable", "carriage", "junction", "steam", "track"}},
}};

std::vector<float> TopicDirection(size_t topic, size_t dim) {
  std::mt19937 rng(static_cast<uint32_t>(1000 + topic));
  std::normal_distribution<float> normal;
  std::vector<float> v(dim);
  for (auto& x : v) x = normal(rng);
  return v;
}

// One synset of a WordNet data.* file: its words and its gloss.
struct Synset {
  std::string offset;
  std::vector<std::string> words;
  std::string gloss;
};

// Parses a data.noun / data.verb / ... line (see wndb(5WN)); false for the
// licence lines at the top, which start with spaces.
bool ParseSynset(const std::string& line, Synset* out) {
  if (line.empty() || line[0] == ' ') return false;
  const size_t bar = line.find(" | ");
  if (bar == std::string::npos) return false;
  std::istringstream fields(line.substr(0, bar));
  std::string lex_filenum, ss_type, hex_count;
  if (!(fields >> out->offset >> lex_filenum >> ss_type >> hex_count)) return false;
  const unsigned long count = std::stoul(hex_count, nullptr, 16);
  out->words.clear();
  for (unsigned long i = 0; i < count; ++i) {
    std::string word, lex_id;
    if (!(fields >> word >> lex_id)) return false;
    // "ice_cream" is two words; adjectives may carry a marker: "beautiful(a)".
    if (const size_t paren = word.find('('); paren != std::string::npos) word.resize(paren);
    for (char& c : word) c = c == '_' ? ' ' : c;
    out->words.push_back(word);
  }
  out->gloss = line.substr(bar + 3);
  while (!out->gloss.empty() && (out->gloss.back() == ' ' || out->gloss.back() == '\n')) {
    out->gloss.pop_back();
  }
  return true;
}

int WriteWordNet(const std::string& dir, const std::string& corpus_file,
                 const std::string& docs_file) {
  std::ofstream corpus(corpus_file), docs(docs_file);
  size_t synsets = 0;
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    const std::string path = dir + "/data." + pos;
    std::ifstream in(path);
    if (!in) {
      std::cerr << "relate-demo-data: cannot read " << path << " (install Debian's wordnet-base)\n";
      return 1;
    }
    std::string line;
    Synset s;
    while (std::getline(in, line)) {
      if (!ParseSynset(line, &s)) continue;
      std::string words;
      for (const auto& w : s.words) words += (words.empty() ? "" : ", ") + w;
      corpus << words << ": " << s.gloss << "\n";
      nlohmann::json record = {{"key", fmt::format("{}.{}.{}", s.words[0], pos, s.offset)},
                               {"text", words + ": " + s.gloss},
                               {"metadata", {{"pos", pos}, {"words", s.words.size()}}}};
      for (char& c : record["key"].get_ref<std::string&>()) c = c == ' ' ? '_' : c;
      docs << record.dump() << "\n";
      ++synsets;
    }
  }
  if (!corpus || !docs) {
    std::cerr << "relate-demo-data: cannot write the WordNet files\n";
    return 1;
  }
  std::cerr << "relate-demo-data: " << synsets << " WordNet synsets written\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes the demo records of relate's README"};
  size_t records = 10000, dim = 128;
  uint32_t seed = 42;
  std::string query_topic;
  std::string model_file;
  bool no_vectors = false;
  app.add_option("--records", records, "How many records (default 10000)");
  app.add_option("--dim", dim, "Vector dimension (default 128)")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "Random seed (default 42)");
  app.add_option("--query-topic", query_topic, "Print a query vector for this topic instead");
  app.add_option("--model", model_file, "Write word vectors for the topics' words to this file");
  app.add_flag("--no-vectors", no_vectors, "Records with text only, for a collection with a model");
  std::string wordnet, corpus_file, docs_file;
  app.add_option("--wordnet", wordnet, "Read WordNet's data files from this folder");
  app.add_option("--corpus", corpus_file, "With --wordnet: write the training text here");
  app.add_option("--docs", docs_file, "With --wordnet: write the records here");
  CLI11_PARSE(app, argc, argv);

  if (!wordnet.empty()) {
    if (corpus_file.empty() || docs_file.empty()) {
      std::cerr << "relate-demo-data: --wordnet needs --corpus and --docs\n";
      return 2;
    }
    return WriteWordNet(wordnet, corpus_file, docs_file);
  }

  if (!query_topic.empty()) {
    for (size_t t = 0; t < kTopics.size(); ++t) {
      if (query_topic == kTopics[t].name) {
        std::cout << nlohmann::json(TopicDirection(t, dim)).dump() << "\n";
        return 0;
      }
    }
    std::cerr << "relate-demo-data: unknown topic \"" << query_topic << "\"\n";
    return 2;
  }

  std::vector<std::vector<float>> directions;
  for (size_t t = 0; t < kTopics.size(); ++t) directions.push_back(TopicDirection(t, dim));
  std::mt19937 rng(seed);

  if (!model_file.empty()) {
    // Each topic word: its topic's direction plus noise, so words of a topic are
    // related and texts made of them land near their topic.
    std::ofstream out(model_file);
    std::normal_distribution<float> word_noise(0.0f, 0.6f);
    out << kTopics.size() * 8 + 4 << " " << dim << "\n";
    for (size_t t = 0; t < kTopics.size(); ++t) {
      for (const char* word : kTopics[t].words) {
        out << word;
        for (size_t j = 0; j < dim; ++j) out << " " << directions[t][j] + word_noise(rng);
        out << "\n";
      }
    }
    // Words every text shares, pointing nowhere in particular.
    for (const char* word : {"a", "note", "on", "the"}) {
      out << word;
      for (size_t j = 0; j < dim; ++j) out << " " << word_noise(rng);
      out << "\n";
    }
    if (!out) {
      std::cerr << "relate-demo-data: cannot write " << model_file << "\n";
      return 1;
    }
    return 0;
  }
  std::normal_distribution<float> noise(0.0f, 0.9f);
  std::uniform_int_distribution<size_t> pick_topic(0, kTopics.size() - 1), pick_word(0, 7);
  std::uniform_int_distribution<int> pick_year(1850, 2024);
  std::vector<float> v(dim);
  for (size_t i = 0; i < records; ++i) {
    const size_t t = pick_topic(rng);
    const Topic& topic = kTopics[t];
    std::string text = fmt::format("A note on {}:", topic.name);
    while (text.size() < 190) text += fmt::format(" {}", topic.words[pick_word(rng)]);
    for (size_t j = 0; j < dim; ++j) v[j] = directions[t][j] + noise(rng);
    nlohmann::json line = {{"key", fmt::format("doc-{}", i)},
                           {"text", text},
                           {"metadata",
                            {{"topic", topic.name},
                             {"year", pick_year(rng)},
                             {"tags", {topic.words[pick_word(rng)], topic.words[pick_word(rng)]}}}},
                           {"vector", v}};
    if (no_vectors) line.erase("vector");
    std::cout << line.dump() << "\n";
  }
  return 0;
}
