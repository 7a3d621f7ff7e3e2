#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium) when it is missing, for the dashboard
# test (test/dashboard/dashboard.browser.test.ts drives it with playwright-core, which
# never downloads a browser of its own). Idempotent and non-interactive; needs root to
# install. Prints the version either way.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium: /usr/bin/chromium missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

/usr/bin/chromium --version 2>/dev/null | sed -n 1p
