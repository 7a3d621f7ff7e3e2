#!/usr/bin/env bash
# Profiles one relay kind of bench/relay during its throughput window: perf (cpu-clock,
# call graphs) on the relay process for 5 s, and each thread's utime/stime ticks from
# /proc/<pid>/task/*/stat before and after (the native relay's thread apart from Node's).
#
#   bash bench/native/profile.sh native-uring /tmp/prof-uring    # or native-relay, raw-relay
#   perf report -i /tmp/prof-uring.data --children --sort sym --stdio -g none
#
# Needs perf (Debian linux-perf) and a built tree (npx tsc -p .; bash native/relay/build.sh).
set -u
kind=$1
out=$2
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
node dist/bench/relay/run.js --proxy "$kind" --phases throughput --runs 1 > "$out.log" 2>&1 &
runner=$!
# The proxy's window starts once its 1,000 sessions are open (the second "opened" line: direct's is first).
for _ in $(seq 1 240); do
  if grep -q "throughput: $kind" "$out.log" && [ "$(grep -c 'opened 1000/1000' "$out.log")" -ge 2 ]; then break; fi
  sleep 0.5
done
sleep 3
pid=$(pgrep -f "$root/dist/bench/(native/native-relay|relay/reference-raw-relay).js" -n)
echo "pid $pid" >> "$out.log"
ticks() { for t in /proc/"$pid"/task/*; do echo "$(basename "$t") $(awk '{print $14, $15}' "$t/stat")"; done; }
ticks > "$out.tasks0"
perf record -e cpu-clock -g -p "$pid" -o "$out.data" -- sleep 5 2>> "$out.log"
ticks > "$out.tasks1"
wait "$runner"
