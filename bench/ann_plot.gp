# Single-query QPS (log scale) against recall@k, one line per engine, from a curve
# file written by relate_ann_bench (columns: dataset engine k ef recall qps qps_median).
#
#   gnuplot -c bench/ann_plot.gp CURVE.tsv OUT.png [TITLE] [XMIN]
#
# XMIN is the left end of the recall axis (default 0.8); points left of it are cut.
if (ARGC < 2) {
  print "usage: gnuplot -c ann_plot.gp CURVE.tsv OUT.png [TITLE] [XMIN]"
  exit status 2
}
curve = ARG1
title = ARGC >= 3 ? ARG3 : curve
xmin = ARGC >= 4 ? real(ARG4) : 0.8

set datafile separator "\t"
stats curve using 3 skip 1 nooutput
k = int(STATS_min)

set terminal pngcairo size 960,640 font ",11" noenhanced
set output ARG2
set title title
set xlabel sprintf("recall@%d", k)
set ylabel "queries per second, one query per call (log scale)"
set logscale y
set xrange [xmin:1.002]
set grid xtics ytics mytics
set key bottom left box opaque
set arrow 1 from 0.95, graph 0 to 0.95, graph 1 nohead dashtype 2 linecolor "gray40"
set arrow 2 from 0.99, graph 0 to 0.99, graph 1 nohead dashtype 2 linecolor "gray40"

label(e) = e eq "faiss" ? "raw FAISS IndexHNSWFlat" : e eq "hnswlib" ? "hnswlib (-O3 -march=native)" : e
plot for [e in "relate hnswlib faiss"] curve skip 1 \
     using (strcol(2) eq e ? $5 : NaN):6 with linespoints linewidth 2 pointtype 7 title label(e)
