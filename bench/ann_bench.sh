#!/bin/bash
# Runs relate_ann_bench on the issue's two datasets (N=1M d=100, N=100k d=768), keeps
# each run's table and TSV files in OUT, and plots single-query QPS against recall for
# each dataset (OUT/ann-<dataset>.png, with gnuplot).
#
#   BENCH=build-bench/bench/relate_ann_bench OUT=/tmp/relate-ann-bench bash bench/ann_bench.sh [FLAGS]
#
# FLAGS go to every run. DATASETS picks the presets (default "1m-100 100k-768").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-build-bench/bench/relate_ann_bench}
out=${OUT:-/tmp/relate-ann-bench}
datasets=${DATASETS:-1m-100 100k-768}

if [[ ! -x $bench ]]; then
  echo "ann_bench.sh: $bench is not an executable; build relate_ann_bench (bench/README.md)" >&2
  exit 1
fi
if ! command -v gnuplot >/dev/null; then
  echo "ann_bench.sh: gnuplot is missing (Debian: gnuplot-nox); the runs go on, without plots" >&2
fi

for ds in $datasets; do
  start=$(date +%s)
  "$bench" --dataset "$ds" --out "$out" "$@" | tee "$out/ann-$ds.txt"
  echo "ann_bench.sh: $ds took $(( $(date +%s) - start )) s" >&2
  if command -v gnuplot >/dev/null && [[ -f $out/ann-$ds-curve.tsv ]]; then
    gnuplot -c "$here/ann_plot.gp" "$out/ann-$ds-curve.tsv" "$out/ann-$ds.png" \
      "relate_ann_bench $ds: single-query QPS against recall"
    echo "ann_bench.sh: plot in $out/ann-$ds.png" >&2
  fi
done
