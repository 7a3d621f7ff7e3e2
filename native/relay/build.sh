#!/usr/bin/env bash
# Builds the native data path's addon: native/relay/build/stratix_relay.node
# (docs/native-data-path.md). N-API is ABI-stable, so one build serves Node 20, 22
# and 24. Headers: the npm package node-api-headers (a devDependency), else Debian's
# nodejs headers (/usr/include/node). io_uring mode when liburing (Debian
# liburing-dev) is there, linked statically; else epoll only.
# STRATIX_NATIVE_URING=0 builds epoll only even with liburing, and
# STRATIX_NATIVE_OUT names another output file (test/relay/native-build.test.ts).
# Called by scripts/build-native.mjs (npm run build, npm test).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cc="${CC:-gcc}"
inc=""
for d in "$root/node_modules/node-api-headers/include" /usr/include/node; do
  if [ -f "$d/node_api.h" ]; then inc="$d"; break; fi
done
if [ -z "$inc" ]; then echo "native/relay/build.sh: no node_api.h (npm install installs node-api-headers)" >&2; exit 1; fi
mkdir -p "$here/build"
uring=()
lib="$("$cc" -print-file-name=liburing.a)"
if [ "${STRATIX_NATIVE_URING:-1}" != 0 ] && [ -f /usr/include/liburing.h ] && [ -f "$lib" ]; then uring=(-DHAVE_LIBURING "$lib"); fi
out="${STRATIX_NATIVE_OUT:-$here/build/stratix_relay.node}"
"$cc" -O2 -g -Wall -Wextra -shared -fPIC -pthread -DNODE_GYP_MODULE_NAME=stratix_relay -I"$inc" \
  "$here/relay.c" -o "$out.tmp" "${uring[@]}"
mv "$out.tmp" "$out"
echo "built $out (headers: $inc; io_uring: $([ ${#uring[@]} -gt 0 ] && echo yes || echo no))"
