#!/usr/bin/env bash
# Builds relate's libFuzzer targets with clang and runs each for a bounded time,
# then prints a markdown table: executions, coverage, corpus and crashes per target.
#
#   bench/fuzz/run.sh [TARGET...]      (default: every target)
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60)
#   BUILD_DIR      the clang build directory (default <repo>/build-fuzz)
#   FUZZ_CXX       the clang++ to build with (default clang++)
#   FUZZ_JOBS      build parallelism (default 2)
#   FUZZ_DATA      a directory of real vector files to seed from, if present
#                  (default <repo>/../shared/data/vectors/gensim-testdata)
#
# Needs (Debian 12): the project's build dependencies plus clang-14 (package
# `clang`), libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) and
# libomp-14-dev (OpenMP for clang):
#   apt-get install clang libclang-rt-14-dev libomp-14-dev
#
# The corpus of each target is kept in BUILD_DIR/fuzz-corpus/<target> and grows from
# run to run; a crash, hang or leak leaves its input in BUILD_DIR/fuzz-artifacts/
# <target>/ (libFuzzer stops that target at its first one). Reproduce with
#   BUILD_DIR/bench/fuzz/fuzz_<target> <artifact file>
# The exit status is 1 if any target found a crash.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
build=${BUILD_DIR:-$repo/build-fuzz}
cxx=${FUZZ_CXX:-clang++}
jobs=${FUZZ_JOBS:-2}
data=${FUZZ_DATA:-$repo/../shared/data/vectors/gensim-testdata}

# target:max_len (bytes) — long enough for a few rows of each format, short enough
# to keep runs fast.
all_targets=(jsonl:4096 query:1024 word2vec_text:4096 word2vec_binary:4096 glove:4096
             vectors_auto:4096 fasttext_bin:8192 record:2048 export_stream:4096 where:1024)
if (($# > 0)); then
  targets=()
  for want in "$@"; do
    found=
    for t in "${all_targets[@]}"; do [[ ${t%%:*} == "$want" ]] && targets+=("$t") && found=1; done
    [[ -n $found ]] || { echo "run.sh: unknown target $want" >&2; exit 2; }
  done
else
  targets=("${all_targets[@]}")
fi

mkdir -p "$build"
echo "== building the fuzz targets in $build with $cxx" >&2
cmake -S "$repo" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRELATE_FUZZ=ON -DRELATE_BUILD_TESTS=OFF -DRELATE_BUILD_BENCH=OFF >"$build/fuzz-configure.log" 2>&1 ||
  { cat "$build/fuzz-configure.log" >&2; exit 1; }
cmake --build "$build" --target relate_fuzz -j "$jobs" >"$build/fuzz-build.log" 2>&1 ||
  { tail -50 "$build/fuzz-build.log" >&2; exit 1; }

seeds=$build/fuzz-seeds
rm -rf "$seeds"
"$here/make_seeds.sh" "$seeds"
# Real files in the formats users bring, when the project's shared data is there.
extra() {  # target files...
  local t=$1
  shift
  for f in "$@"; do [[ -f $data/$f ]] && cp "$data/$f" "$seeds/$t/real-$f"; done
  return 0
}
extra word2vec_text toy-model.vec high_precision.kv.txt crime-and-punishment.vec
extra word2vec_binary high_precision.kv.bin
extra glove test_glove.txt
extra vectors_auto toy-model.vec high_precision.kv.txt high_precision.kv.bin test_glove.txt
extra fasttext_bin toy-model.bin toy-model-pretrained.bin

scratch=$(mktemp -d "${TMPDIR:-/tmp}/relate-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export RELATE_FUZZ_SCRATCH=$scratch/files
# Targets whose seeds need relate's own writers (export_stream) write them here.
export RELATE_FUZZ_SEED_DIR=$seeds

rows=()
failed=0
for t in "${targets[@]}"; do
  name=${t%%:*}
  max_len=${t#*:}
  corpus=$build/fuzz-corpus/$name
  artifacts=$build/fuzz-artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  log=$build/fuzz-$name.log
  echo "== fuzz_$name for ${seconds}s (max_len $max_len), log $log" >&2
  start=$(date +%s)
  status=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a reader that reserves
  # memory a small file cannot fill is a bug too.
  "$build/bench/fuzz/fuzz_$name" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "$seeds/$name" >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  crash=$(grep -oE 'Test unit written to [^ ]+' "$log" | sed 's/Test unit written to //' | tail -1 || true)
  if ((status != 0)) || [[ -n $crash ]]; then
    failed=1
    kind=$(grep -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-zA-Z-]+|fuzz invariant broken: .*|runtime error: .*' "$log" | head -1 || true)
    result="**crash** (${kind:-exit $status}): \`$crash\`"
  else
    result="none"
  fi
  rows+=("| $name | $elapsed | ${execs:-?} | ${rate:-?} | ${corp:-?} | ${cov:-?} | ${ft:-?} | $max_len | $result |")
done

echo
echo "libFuzzer with ASan+UBSan, clang $("$cxx" -dumpversion), ${seconds} s per target, $(nproc) cores," \
  "$(date -u +%Y-%m-%d)"
echo
echo "| target | seconds | executions | exec/s | corpus (inputs/bytes) | cov | ft | max_len | crashes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
exit $failed
