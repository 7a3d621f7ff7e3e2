#!/usr/bin/env bash
# Builds the issue-11 experiment's addon: native/relay/build/stratix_relay.node.
# N-API is ABI-stable, so one build serves Node 20, 22 and 24. Headers: the npm
# package node-api-headers when installed, else Debian's nodejs headers (/usr/include/node).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
inc=""
for d in "$root/node_modules/node-api-headers/include" /usr/include/node; do
  if [ -f "$d/node_api.h" ]; then inc="$d"; break; fi
done
if [ -z "$inc" ]; then echo "native/relay/build.sh: no node_api.h (npm i node-api-headers)" >&2; exit 1; fi
mkdir -p "$here/build"
# io_uring mode when liburing is there (Debian liburing-dev), linked statically.
uring=()
if [ -f /usr/include/liburing.h ] && [ -f /usr/lib/x86_64-linux-gnu/liburing.a ]; then uring=(-DHAVE_LIBURING -l:liburing.a); fi
${CC:-gcc} -O2 -g -Wall -Wextra -shared -fPIC -pthread -DNODE_GYP_MODULE_NAME=stratix_relay -I"$inc" \
  "$here/relay.c" -o "$here/build/stratix_relay.node" "${uring[@]}"
echo "built $here/build/stratix_relay.node (headers: $inc; io_uring: ${uring[0]:-no})"
