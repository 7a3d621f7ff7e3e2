#!/usr/bin/env bash
# Installs Debian's gnuplot (the terminal-less build, gnuplot-nox) when it is missing.
# Only the benchmark plots (docs/*.png) need it: `bench/plot/*.gp` scripts render the
# benchmark's CSV tables with it. Idempotent and non-interactive. Prints the version.
set -euo pipefail

if ! command -v gnuplot >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-gnuplot: gnuplot is missing and this is not root; run: sudo $0" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi

gnuplot --version
