#!/usr/bin/env bash
# Crash torture, long run (issue 6): SIGKILLs a writing process at random moments,
# hundreds of times on the same database, and checks after every kill that every
# acknowledged write is there whole, every acknowledged delete gone, storage and
# index agree, and the replayed index answers like one rebuilt from storage
# (tests/crash/torture.cc says how). Prints the figures; exits non-zero on any violation.
#
# usage: bench/crash_torture.sh [--kills N] [--seed S] [--dir D] [--build B] [--keep] [--verbose]
#   --kills N  kills (default 250)
#   --seed S   workload and kill-time seed (default 1)
#   --dir D    new or empty scratch directory (default /tmp/relate-torture-<pid>)
#   --build B  build directory, configured Release and built here if needed
#              (default build-crash)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
kills=250
seed=1
dir=""
build="$root/build-crash"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --keep|--verbose) extra+=("$1"); shift ;;
    *) echo "crash_torture.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$dir" ]] || dir="/tmp/relate-torture-$$"

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRELATE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j2 --target relate_crash_torture >/dev/null

echo "crash torture: $kills kills, seed $seed, scratch $dir ($(nproc) cores, $(uname -r))"
exec "$build/tests/relate_crash_torture" --kills "$kills" --seed "$seed" --dir "$dir" "${extra[@]}"
