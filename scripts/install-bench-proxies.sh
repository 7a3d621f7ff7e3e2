#!/usr/bin/env bash
# Installs the real nginx and HAProxy (Debian's nginx and haproxy) when they are missing,
# for the relay benchmark's reference proxies (bench/relay/reference-nginx.ts and
# reference-haproxy.ts start them in the foreground, with configs of their own, on free
# loopback ports).
# Idempotent and non-interactive; needs root to install. The system services are never
# started: a policy-rc.d that forbids it is put in place for the install (unless one is
# there already), and a service that started all the same is stopped and disabled.
# Prints both versions either way.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-bench-proxies: ${missing[*]} missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package `nginx`, not `nginx-light`: in bookworm nginx-light is only a transitional
  # package that installs nginx plus the echo module (which the benchmark does not load).
  packages=("${missing[@]}")
  # invoke-rc.d asks /usr/sbin/policy-rc.d whether a package may start its service;
  # 101 means no. Our own is removed again afterwards; an existing one is left alone.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  # Should a service have started anyway (e.g. under systemd), stop and disable it:
  # the benchmark starts its own processes and the ports 80 and 8404 must stay free.
  for service in nginx haproxy; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now "$service" >/dev/null 2>&1 || true
    elif [ -s "/run/$service.pid" ]; then
      kill "$(cat "/run/$service.pid")" 2>/dev/null || true
    fi
  done
fi

PATH="$PATH:/usr/sbin"
nginx -v 2>&1 | sed -n 1p
haproxy -v | sed -n 1p
