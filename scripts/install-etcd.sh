#!/usr/bin/env bash
# Installs the real etcd (Debian's etcd-server + etcd-client) when it is missing.
# Idempotent and non-interactive: CI runs it as root before the tests that start etcd
# (test/helpers/etcd-server.ts looks for `etcd` on PATH or ETCD_BIN).
# Prints the etcd version either way.
set -euo pipefail

if ! command -v etcd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-etcd: etcd is missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's package may try to start a system etcd service; no init system here lets it,
  # and the tests never use it (they start their own on free ports).
  apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null
fi

etcd --version | sed -n 1p  # sed reads to the end: head would leave etcd a SIGPIPE, which pipefail reports
