#!/usr/bin/env bash
# Counts the system calls of each gateway worker for 8 s of a saturated throughput window
# (strace -c), so that writes and reads per round trip can be compared between proxies:
#   bash bench/relay/count-syscalls.sh stratix-reliable
# Needs strace (Debian `strace`) and a built tree (npx tsc -p .). Prints write/read/writev per worker.
set -euo pipefail
PROXY=${1:?usage: count-syscalls.sh PROXY (stratix, stratix-reliable, ...)}
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d)
node dist/bench/relay/run.js --proxy "$PROXY" --phases throughput --runs 1 --duration-s 25 >"$OUT/bench.log" 2>&1 &
BENCH=$!
# The direct baseline opens its sessions first; the proxy's are the second "opened 1000/1000".
for _ in $(seq 1 200); do [ "$(grep -c 'opened 1000/1000' "$OUT/bench.log" 2>/dev/null || true)" -ge 2 ] && break; sleep 1; done
sleep 4
for W in $(pgrep -f "$PWD/dist/src/cluster/worker-main"); do
  timeout -s INT 8 strace -c -f -p "$W" -o "$OUT/$W.strace" >/dev/null 2>&1 &
done
wait "$BENCH" || true
wait
for f in "$OUT"/*.strace; do echo "worker $(basename "$f" .strace): $(grep -E ' (write|read|writev)$' "$f" | awk '{print $NF, $4}' | tr '\n' ' ')"; done
rm -rf "$OUT"
