#!/usr/bin/env bash
# Makes sure `systemd-analyze` is there (Debian's `systemd` package), for the test that
# runs `systemd-analyze verify` on the shipped unit (test/deploy/systemd.test.ts). Only
# the tool is used: no service is started or enabled. Idempotent and non-interactive;
# needs root to install. Prints the version either way.
set -euo pipefail

if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-systemd-analyze: systemd-analyze missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

systemd-analyze --version | sed -n 1p
