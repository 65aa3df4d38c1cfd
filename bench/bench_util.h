// Helpers the benchmark drivers share: timing, medians, the machine they ran on,
// and failing loudly (a benchmark that cannot run prints why and exits 1).
#pragma once

#include <errno.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "relate/status.h"

// OpenBLAS reports its build and thread count; absent with another BLAS.
extern "C" char* openblas_get_config() __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace relate::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// A figure for a table: whole numbers from 100 up, one decimal from 10, two
// from 1, three significant digits below; "—" for a figure not measured (NaN).
inline std::string Figure(double v) {
  if (std::isnan(v)) return "—";
  if (std::fabs(v) >= 100) return fmt::format("{:.0f}", v);
  if (std::fabs(v) >= 10) return fmt::format("{:.1f}", v);
  if (std::fabs(v) >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

inline void Check(const relate::Status& s, std::string_view what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

template <typename T>
T Take(relate::Result<T> r, std::string_view what) {
  if (!r) Die(std::string(what) + ": " + r.error().ToString());
  return std::move(r).value();
}

// Parses a comma-separated list of positive integers given to `flag`; exits on
// anything else.
inline std::vector<uint32_t> ParsePositiveList(const std::string& s, std::string_view flag) {
  std::vector<uint32_t> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + comma, v);
    if (ec != std::errc() || p != s.data() + comma || v == 0) {
      Die("bad " + std::string(flag) + " \"" + s +
          "\": expected positive integers separated by commas");
    }
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

inline std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

// The SIMD extensions of interest that /proc/cpuinfo lists for this CPU, widest first.
inline std::string CpuSimdFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::string flags = " " + line.substr(line.find(':') + 1) + " ";
    std::string out;
    for (const char* f : {"avx512f", "avx512bw", "avx512vl", "avx2", "fma", "avx", "sse4_2"}) {
      if (flags.find(std::string(" ") + f + " ") != std::string::npos) {
        out += out.empty() ? "" : " ";
        out += f;
      }
    }
    return out.empty() ? "none of avx512f/avx2/fma/avx/sse4_2" : out;
  }
  return "unknown";
}

// The widest SIMD extension the including file is compiled for.
inline const char* CompiledSimd() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__)
  return "AVX2";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#else
  return "SSE2 (x86-64 baseline)";
#endif
}

// The BLAS loaded at run time, when it is OpenBLAS.
struct BlasInfo {
  bool openblas = false;  // false: another BLAS, the other fields are empty
  std::string config;     // openblas_get_config(): version, build options, core
  int threads = 0;
  // Built on pthreads, so it runs its own thread pool next to OpenMP's.
  bool own_thread_pool = false;
};

inline BlasInfo OpenBlas() {
  BlasInfo info;
  if (openblas_get_config == nullptr || openblas_get_num_threads == nullptr) return info;
  info.openblas = true;
  info.config = openblas_get_config();
  info.threads = openblas_get_num_threads();
  info.own_thread_pool = info.config.find("USE_OPENMP") == std::string::npos;
  return info;
}

inline std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return in ? a + " " + b + " " + c : "unknown";
}

inline std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

inline uint64_t DiskBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

// `dir`, or /tmp/<stem>-<pid> when it is empty, created new or empty; exits if
// it holds files, so a benchmark never deletes what it did not make.
inline fs::path ScratchDirectory(const std::string& dir, const std::string& stem) {
  const fs::path path =
      dir.empty() ? fs::path("/tmp") / (stem + "-" + std::to_string(getpid())) : fs::path(dir);
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_empty(path, ec)) {
    Die(path.string() + " exists and is not empty; give --dir a new or empty directory");
  }
  fs::create_directories(path, ec);
  if (ec) Die("creating " + path.string() + ": " + ec.message());
  return path;
}

// Removes the scratch directory unless asked to keep it; a failure is reported,
// not fatal, since the figures are already printed.
inline void RemoveScratchDirectory(const fs::path& path, bool keep) {
  if (keep) return;
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    std::fprintf(stderr, "%s: removing %s: %s\n", program_invocation_short_name, path.c_str(),
                 ec.message().c_str());
  }
}

// The table's title and the machine it ran on: date, CPU, load.
inline void PrintMachine(const char* title) {
  std::printf("# %s\n\n", title);
  std::printf("date:        %s\n", NowUtc().c_str());
  std::printf("cpu:         %s, %u logical cores\n", CpuModel().c_str(),
              std::thread::hardware_concurrency());
  std::printf("load avg:    %s (at start)\n", LoadAverage().c_str());
}

}  // namespace relate::bench
