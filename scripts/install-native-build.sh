#!/usr/bin/env bash
# Installs what native/relay/build.sh needs when it is missing: gcc and the C library
# headers (Debian gcc, libc6-dev) and liburing (liburing-dev, for the io_uring mode).
# Idempotent and non-interactive: scripts/test.mjs runs it as root before the build,
# so the native data path's suites run on a clean machine. The N-API headers come
# from the npm package node-api-headers.
set -euo pipefail

missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
[ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-native-build: ${missing[*]} missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
gcc --version | sed -n 1p
