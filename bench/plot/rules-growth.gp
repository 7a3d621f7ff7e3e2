# RSS growth per rule of the gateway's primary and of its largest worker, against the
# number of rules (10k to 1M), from bench/routing/million-rules.bench.ts's CSV:
#   gnuplot -e "csv='docs/rules-growth.csv'; out='docs/rules-growth.png'" bench/plot/rules-growth.gp
# A flat line is linear growth (constant bytes per rule); a rising one grows faster.
# Install gnuplot with scripts/install-gnuplot.sh.
if (!exists("csv")) csv = 'docs/rules-growth.csv'
if (!exists("out")) out = 'docs/rules-growth.png'
set terminal png size 1000,600 font ",11"
set output out
set datafile separator ","
set key outside right top
set logscale x 10
set xrange [5000:2000000]
set yrange [0:*]
set xlabel "rules (clientIdPrefix, seed format)"
set ylabel "RSS growth per rule, bytes (settled)"
set title "A million rules in every process: RSS growth per rule"
set grid
set arrow from 5000,200 to 2000000,200 nohead dt 2 lw 2 lc rgb "red"
set label "target 200 B" at 6000,210 tc rgb "red"
sel(s, w) = sprintf("< awk -F, '$2==\"%s\" && $3==\"%s\"' %s", s, w, csv)
plot \
  sel("file","auto") using 4:6 with linespoints lw 2 pt 7 title "file, auto: primary", \
  sel("file","auto") using 4:7 with linespoints lw 2 pt 5 title "file, auto: largest worker", \
  sel("file","16") using 4:6 with linespoints lw 2 pt 7 dt 3 title "file, 16: primary", \
  sel("file","16") using 4:7 with linespoints lw 2 pt 5 dt 3 title "file, 16: largest worker", \
  sel("etcd","auto") using 4:6 with linespoints lw 2 pt 9 title "etcd, auto: primary", \
  sel("etcd","auto") using 4:7 with linespoints lw 2 pt 11 title "etcd, auto: largest worker", \
  sel("etcd","16") using 4:6 with linespoints lw 2 pt 9 dt 3 title "etcd, 16: primary", \
  sel("etcd","16") using 4:7 with linespoints lw 2 pt 11 dt 3 title "etcd, 16: largest worker"
