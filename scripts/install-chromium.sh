#!/usr/bin/env bash
# Installs Debian's chromium (/usr/bin/chromium) when it is missing: the real browser
# for the dashboard test (test/dashboard/) and the client SDK's Chromium suites
# (*.chromium.test.js), both driven by playwright-core with executablePath
# /usr/bin/chromium (never a browser download of its own). Idempotent and
# non-interactive; needs root to install: scripts/test.mjs runs it before those
# suites. Prints the version either way.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: chromium is missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

/usr/bin/chromium --version 2>/dev/null | sed -n 1p  # sed reads to the end: no SIGPIPE under pipefail
