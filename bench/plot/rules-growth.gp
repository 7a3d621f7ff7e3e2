# RSS growth of the gateway's primary and of its largest worker against the number of
# rules (10k to 1M), from bench/routing/million-rules.bench.ts's CSV:
#   gnuplot -e "csv='docs/rules-growth.csv'; out='docs/rules-growth.png'" bench/plot/rules-growth.gp
# Left: total growth, log-log: linear growth runs parallel to the 200 B/rule line; a
# steeper line grows faster than linearly. Right: growth per rule (fixed costs dominate
# at 10k). Install gnuplot with scripts/install-gnuplot.sh.
if (!exists("csv")) csv = 'docs/rules-growth.csv'
if (!exists("out")) out = 'docs/rules-growth.png'
set terminal png size 1400,560 font ",10"
set output out
set datafile separator ","
# Rows of one bench run: `date` (the CSV's first column), by default the last run's.
if (!exists("date")) date = system(sprintf("tail -n 1 %s | cut -d, -f1", csv))
sel(s, w) = sprintf("< awk -F, '$1==\"%s\" && $2==\"%s\" && $3==\"%s\"' %s", date, s, w, csv)
mib(b, n) = (b * n / 1048576.0 > 0.1) ? b * n / 1048576.0 : 0.1
set multiplot layout 1,2 title sprintf("A million rules in every process (seed-format clientIdPrefix rules), run of %s", date)
set grid
set logscale x 10
set xrange [5000:2000000]
set xlabel "rules"
set key left top
set logscale y 10
set yrange [0.5:2000]
set ylabel "RSS growth, MiB (3 s after ready)"
set title "total growth (log-log)"
plot \
  200.0 * x / 1048576.0 with lines lw 2 dt 2 lc rgb "red" title "200 B/rule", \
  sel("file","auto") using 4:(mib($6,$4)) with linespoints lw 2 pt 7 title "file, auto: primary", \
  sel("file","auto") using 4:(mib($7,$4)) with linespoints lw 2 pt 5 title "file, auto: largest worker", \
  sel("file","16") using 4:(mib($6,$4)) with linespoints lw 2 pt 7 dt 3 title "file, 16: primary", \
  sel("file","16") using 4:(mib($7,$4)) with linespoints lw 2 pt 5 dt 3 title "file, 16: largest worker", \
  sel("etcd","auto") using 4:(mib($6,$4)) with linespoints lw 2 pt 9 title "etcd, auto: primary", \
  sel("etcd","auto") using 4:(mib($7,$4)) with linespoints lw 2 pt 11 title "etcd, auto: largest worker", \
  sel("etcd","16") using 4:(mib($6,$4)) with linespoints lw 2 pt 9 dt 3 title "etcd, 16: primary", \
  sel("etcd","16") using 4:(mib($7,$4)) with linespoints lw 2 pt 11 dt 3 title "etcd, 16: largest worker"
unset logscale y
set yrange [0:800]
set ylabel "RSS growth per rule, bytes"
set title "per rule (values above 800 are cut)"
set key right top
plot \
  200 with lines lw 2 dt 2 lc rgb "red" title "target 200 B", \
  sel("file","auto") using 4:6 with linespoints lw 2 pt 7 title "file, auto: primary", \
  sel("file","auto") using 4:7 with linespoints lw 2 pt 5 title "file, auto: largest worker", \
  sel("file","16") using 4:6 with linespoints lw 2 pt 7 dt 3 title "file, 16: primary", \
  sel("file","16") using 4:7 with linespoints lw 2 pt 5 dt 3 title "file, 16: largest worker", \
  sel("etcd","auto") using 4:6 with linespoints lw 2 pt 9 title "etcd, auto: primary", \
  sel("etcd","auto") using 4:7 with linespoints lw 2 pt 11 title "etcd, auto: largest worker", \
  sel("etcd","16") using 4:6 with linespoints lw 2 pt 9 dt 3 title "etcd, 16: primary", \
  sel("etcd","16") using 4:7 with linespoints lw 2 pt 11 dt 3 title "etcd, 16: largest worker"
unset multiplot
