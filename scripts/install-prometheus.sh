#!/usr/bin/env bash
# Installs the real Prometheus server and promtool (Debian's `prometheus` package) when
# they are missing, for the alert-rule tests (`promtool check rules`, `promtool test rules`)
# and the scrape test (test/deploy/prometheus.test.ts starts its own server, in the
# foreground, on a free loopback port, with a config and a data directory of its own).
# Idempotent and non-interactive; needs root to install. The system service is never
# started (a policy-rc.d that forbids it is put in place for the install, unless one is
# there already). Prints the versions either way.
set -euo pipefail

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-prometheus: prometheus/promtool missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

promtool --version 2>&1 | sed -n 1p
prometheus --version 2>&1 | sed -n 1p
