#!/usr/bin/env bash
# The test suite in three tiers (test/harness/tiers.ts sorts every test file by what it starts; nobody keeps a list):
#   unit  needs neither root nor etcd         npm run test:unit   (builds only; runs as any user)
#   etcd  starts a real etcd, no root         npm run test:etcd
#   lab   lab machines: root, nspawn, docker  npm run test:lab
# bash scripts/test.sh                   all three tiers in one run, one "N passed, N failed" line at the end
# bash scripts/test.sh --tier unit ...   only those tiers (--tier may repeat)
# bash scripts/test.sh dist/test/x.test.js ...   only those files
# TEST_JOBS sets how many test files run at once (default 2).
# The unit tier alone runs with test/harness/run-files.ts (each file as `node file`: no per-file loader hook, about
# 0.7 s of CPU less per file than tap's runner); everything else runs with tap's runner.
set -euo pipefail
cd "$(dirname "$0")/.."

tiers=()
files=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --tier) [ "$#" -ge 2 ] || { echo "test.sh: --tier needs unit, etcd or lab" >&2; exit 2; }; tiers+=("$2"); shift 2 ;;
    --tier=*) tiers+=("${1#--tier=}"); shift ;;
    *) files+=("$1"); shift ;;
  esac
done
for tier in "${tiers[@]}"; do
  case "$tier" in unit|etcd|lab) ;; *) echo "test.sh: unknown tier '$tier' (unit, etcd or lab)" >&2; exit 2 ;; esac
done

if [ "${#tiers[@]}" -gt 0 ] && [ "${tiers[*]}" = unit ]; then
  bash scripts/setup.sh --build-only
else
  bash scripts/setup.sh
fi
jobs=${TEST_JOBS:-2}

if [ "${#files[@]}" -eq 0 ]; then
  [ "${#tiers[@]}" -gt 0 ] || tiers=(unit etcd lab)
  for tier in "${tiers[@]}"; do
    mapfile -t -O "${#files[@]}" files < <(node dist/test/harness/tiers.js list "$tier")
  done
  if [ "${#files[@]}" -eq 0 ]; then echo "test.sh: no test files in tier ${tiers[*]}" >&2; exit 1; fi
fi

set +e
if [ "${#tiers[@]}" -gt 0 ] && [ "${tiers[*]}" = unit ]; then
  node dist/test/harness/run-files.js --timeout 900 --jobs "$jobs" "${files[@]}" 2>&1 | node scripts/tap-count.mjs
else
  node_modules/.bin/tap --disable-coverage --reporter=tap --timeout=900 --jobs="$jobs" "${files[@]}" 2>&1 | node scripts/tap-count.mjs
fi
status=${PIPESTATUS[1]}
exit "$status"
