# How the gateway's cost grows with the number of sessions on one instance (issue 11):
# RSS and RSS per session from 1k to 150k idle sessions; the connect rate and the
# gateway's CPU per connect at each step; CPU per round trip and latency at 1k, 10k and
# 100k clients, Stratix beside nginx. Data: the CSV files the scale
# benchmark writes (`node dist/bench/scale/run.js ... --csv-dir docs/data`).
#
#   bash scripts/install-gnuplot.sh && gnuplot bench/plot/sessions-growth.gp    # from the repository root
#
# Writes docs/scale-growth.png (-e "note='...'" adds a line to the title). A series whose CSV is missing is left out.
if (!exists("datadir")) datadir = 'docs/data'
if (!exists("output")) output = 'docs/scale-growth.png'
if (!exists("note")) note = ''
sessions = datadir.'/scale-sessions-stratix.csv'
stratix = datadir.'/scale-load-stratix.csv'
nginx = datadir.'/scale-load-nginx.csv'
# Data: scale-sessions-stratix.csv, scale-load-{stratix,nginx}.csv, scale-latency-{stratix,nginx}.csv
have(f) = system('test -f '.f.' && echo 1 || echo 0') eq "1"

set terminal pngcairo size 1400,900 font ',10'
set output output
set datafile separator ','
set key top left
set grid
set multiplot layout 2,2 title 'Stratix Gateway on one 2-core instance: cost against sessions (bench/scale, docs/benchmarks.md)'.note

set title 'idle sessions: memory (a straight line = linear growth)'
set xrange [0:160000]
set format x '%.0s%c'
set xlabel 'idle proxied sessions'
set ylabel 'RSS of primary + workers (MiB)'
set y2label 'KiB per session ((RSS - RSS at 0) / N)'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set key bottom right
plot sessions using 1:2 with linespoints lw 2 pt 7 title 'RSS (MiB; at 0: the fixed cost)', \
     sessions using 1:3 axes x1y2 with linespoints lw 2 pt 5 title 'KiB per session'

set title 'connecting: sessions opened per second and the gateway CPU per connect'
set ylabel 'sessions opened per second in the step'
set y2label 'gateway CPU per connect (ms)'
set key top right
plot sessions using 1:5 with linespoints lw 2 pt 7 title 'connects/s', \
     sessions using 1:6 axes x1y2 with linespoints lw 2 pt 5 title 'CPU ms per connect'
unset y2label
unset y2tics
set ytics mirror
set key top left

set title 'saturated (closed loop): CPU per round trip'
set logscale x
set xrange [500:200000]
set xlabel 'clients connected'
set ylabel 'proxy CPU-s per 100k round trips'
set yrange [0:*]
if (have(nginx)) {
  plot stratix using 1:7 with linespoints lw 2 pt 7 title 'Stratix', nginx using 1:7 with linespoints lw 2 pt 5 title 'nginx'
} else {
  plot stratix using 1:7 with linespoints lw 2 pt 7 title 'Stratix'
}

set title 'latency, open loop: p99 at 1,000 and at 10,000 messages/s offered'
set ylabel 'round trip p99 (ms)'
set logscale y
set yrange [1:*]
# one series per (proxy, rate): the rows of scale-latency-<proxy>.csv at that rate
at(f, rate) = sprintf("< awk -F, 'NR > 1 && $2 == %d' %s", rate, f)
slat = datadir.'/scale-latency-stratix.csv'
nlat = datadir.'/scale-latency-nginx.csv'
if (have(nlat)) {
  plot at(slat, 1000) using 1:4 with linespoints lw 2 pt 7 lc 1 title 'Stratix at 1,000/s', at(slat, 10000) using 1:4 with linespoints lw 2 pt 7 lc 1 dt 2 title 'Stratix at 10,000/s', \
       at(nlat, 1000) using 1:4 with linespoints lw 2 pt 5 lc 2 title 'nginx at 1,000/s', at(nlat, 10000) using 1:4 with linespoints lw 2 pt 5 lc 2 dt 2 title 'nginx at 10,000/s', \
       10 with lines lc rgb 'red' dt 3 title 'target 10 ms'
} else {
  plot at(slat, 1000) using 1:4 with linespoints lw 2 pt 7 title 'Stratix at 1,000/s', at(slat, 10000) using 1:4 with linespoints lw 2 pt 7 dt 2 title 'Stratix at 10,000/s', \
       10 with lines lc rgb 'red' dt 3 title 'target 10 ms'
}
unset multiplot
