#!/usr/bin/env bash
# Installs Node 24 (the npm package `node@24`) into .cache/node24, so that
# .cache/node24/node_modules/.bin/node is a Node >= 24.16 binary.
#
# Used for two things:
#   - running the whole test suite a second time under Node 24
#     (PATH=.cache/node24/node_modules/.bin:$PATH npm test; npm stays the system npm),
#   - running the real OpenClaw gateway, which requires Node >= 24.16 (see install-openclaw.sh).
#
# Idempotent and quiet: when the binary is already there with a fitting version it only
# prints its path. Prints the absolute path of the node binary on stdout, nothing else.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.cache/node24"
bin="$prefix/node_modules/.bin/node"

# Node >= 24.16 and < 25 (what openclaw@2026.9.6 accepts on the 24 line).
fits() {
  [ -x "$bin" ] || return 1
  local v
  v="$("$bin" --version 2>/dev/null)" || return 1
  [[ "$v" =~ ^v24\.([0-9]+)\. ]] && [ "${BASH_REMATCH[1]}" -ge 16 ]
}

if ! fits; then
  mkdir -p "$prefix"
  # A package.json of our own keeps npm from walking up to the project's package.json.
  [ -f "$prefix/package.json" ] || printf '{"name":"stratix-node24","private":true}\n' >"$prefix/package.json"
  log="$(mktemp)"
  if ! npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error node@24 >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  if ! fits; then
    echo "install-node24: $bin is not Node >= 24.16 after install (got: $("$bin" --version 2>&1 || true))" >&2
    exit 1
  fi
fi

echo "$bin"
