#!/usr/bin/env bash
# The whole test suite. Installs what it needs, builds, runs every test file, prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
files=$(find dist/test -name '*.test.js' | sort)
if [ "$#" -gt 0 ]; then files="$*"; fi
set +e
# shellcheck disable=SC2086
npx tap --disable-coverage --reporter=tap --timeout=900 --jobs="${TEST_JOBS:-2}" $files 2>&1 | node scripts/tap-count.mjs
status=${PIPESTATUS[1]}
exit "$status"
