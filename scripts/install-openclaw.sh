#!/usr/bin/env bash
# Installs the real OpenClaw gateway (npm package openclaw@2026.9.6) into .cache/openclaw,
# for the interop suite (test/interop/openclaw.interop.test.ts).
#
# openclaw's preinstall script refuses Node < 24.16, so Node 24 (scripts/install-node24.sh)
# is installed first and put at the front of PATH: npm itself stays the system npm, but the
# lifecycle scripts it runs pick up Node 24. Non-interactive; skips everything when that
# version is already installed. Takes about 40-50 s on a fresh clone (~770 MB on disk).
#
# Prints the absolute path of openclaw's CLI entry (run it as `<node24> <entry> ...`).
set -euo pipefail

version="2026.9.6"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.cache/openclaw"
pkg="$prefix/node_modules/openclaw/package.json"
# Written only after a complete install, so an interrupted one is done again.
marker="$prefix/.installed-openclaw-$version"

node24="$(bash "$root/scripts/install-node24.sh")"

installed_version() {
  [ -f "$pkg" ] || return 1
  "$node24" -p 'require(process.argv[1]).version' "$pkg" 2>/dev/null
}

if [ ! -f "$marker" ] || [ "$(installed_version || true)" != "$version" ]; then
  rm -f "$prefix"/.installed-openclaw-*
  mkdir -p "$prefix"
  [ -f "$prefix/package.json" ] || printf '{"name":"stratix-openclaw","private":true}\n' >"$prefix/package.json"
  # openclaw's install scripts leave a Node compile cache in the temp dir: give them one of
  # their own and remove it afterwards.
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! PATH="$(dirname "$node24"):$PATH" TMPDIR="$tmp" npm install --prefix "$prefix" --no-audit --no-fund \
      --no-save --loglevel=error "openclaw@$version" >"$tmp/npm.log" 2>&1; then
    cat "$tmp/npm.log" >&2
    exit 1
  fi
  if [ "$(installed_version || true)" != "$version" ]; then
    echo "install-openclaw: openclaw@$version is not in $prefix after install" >&2
    exit 1
  fi
  touch "$marker"
fi

# The CLI entry is the package's "bin.openclaw" (a node script).
"$node24" -e '
  const path = require("node:path");
  const dir = path.dirname(process.argv[1]);
  const pkg = require(process.argv[1]);
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin.openclaw;
  console.log(path.resolve(dir, bin));
' "$pkg"
