#!/usr/bin/env bash
# Builds dist/ with tsc (incremental: dist/.tsbuildinfo), and not at all when dist/ is already newer than every
# source. "Newer" is judged against dist/.build-stamp, taken before tsc starts, so an edit made while tsc runs
# is built next time; directories count too, so an added, renamed or deleted file triggers a build.
# FORCE_BUILD=1 builds anyway; rm -rf dist builds from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."

sources=(lib fleetd fleetctl cloud-config lab test bench)
stamp=dist/.build-stamp
if [ "${FORCE_BUILD:-0}" != 1 ] && [ -f "$stamp" ] && [ -f dist/.tsbuildinfo ] &&
   [ -z "$(find "${sources[@]}" tsconfig.json package.json package-lock.json -newer "$stamp" \( -type d -o -name '*.ts' -o -name '*.json' \) -print -quit 2>/dev/null)" ]; then
  echo "setup: dist/ is up to date" >&2
  exit 0
fi

echo "setup: building" >&2
mkdir -p dist
next=$(mktemp dist/.build-stamp.XXXXXX)
trap 'rm -f "$next"' EXIT
# A bundle older than the .js tsc emits would run stale code: until it is rebuilt, fleetctl runs the ES modules.
rm -f dist/fleetctl/quick.cjs dist/fleetctl/full.cjs
node_modules/.bin/tsc -p tsconfig.json
# fleetctl's start-up code and its full CLI as two CommonJS files, dist/fleetctl/quick.cjs and full.cjs (issue 13).
node scripts/bundle.mjs dist
chmod +x dist/fleetd/main.js dist/fleetctl/main.cjs dist/cloud-config/main.js dist/lab/main.js 2>/dev/null || true
mv -f "$next" "$stamp"
trap - EXIT
