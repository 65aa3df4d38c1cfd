// Stores two records, searches, and exits 0 only if the nearest one is right.
#include <relate/relate.h>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto db = relate::DB::Open(argv[1], {.create_if_missing = true});
  if (!db) return std::fprintf(stderr, "%s\n", db.error().ToString().c_str()), 1;
  relate::Status s = (*db)->CreateCollection({.name = "c", .dimension = 2});
  if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  std::vector<relate::Record> records{{.key = "east", .text = "points east", .vector = {1, 0}},
                                      {.key = "north", .text = "points north", .vector = {0, 1}}};
  s = (*db)->Upsert("c", records);
  if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  std::vector<float> query{0.9f, 0.1f};
  auto hits = (*db)->Search("c", query, {.k = 1});
  if (!hits || hits->size() != 1 || (*hits)[0].key != "east") return 1;
  std::printf("nearest to [0.9, 0.1]: %s (%.3f)\n", (*hits)[0].text.c_str(), (*hits)[0].score);
  return 0;
}
