#!/usr/bin/env bash
# Idempotent set-up shared by the demo and the test suite: Debian packages, npm packages, build.
#   bash scripts/setup.sh               everything (installs missing Debian packages when run as root)
#   bash scripts/setup.sh --build-only  npm packages and build only: what the unit tier needs, works as any user
# The build is skipped when dist/ is newer than every source (scripts/build.sh), so a second run costs almost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
case "${1:-}" in
  --build-only) build_only=1 ;;
  '') ;;
  *) echo "usage: bash scripts/setup.sh [--build-only]" >&2; exit 2 ;;
esac

if [ "$build_only" -eq 0 ]; then
  apt_packages=(etcd-server etcd-client systemd-container docker.io busybox-static iproute2 dbus openssh-server openssh-client openssl)
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "setup: missing Debian packages: ${missing[*]}; run as root or install them (the unit tier needs none: npm run test:unit)" >&2
      exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# npm packages: again only when the lock file (or, without one, package.json) changed since the last install
stamp=node_modules/.setup-stamp
manifest=package.json
[ -f package-lock.json ] && manifest=package-lock.json
if [ ! -f "$stamp" ] || [ "$manifest" -nt "$stamp" ]; then
  echo "setup: installing npm dependencies" >&2
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null; else npm install --no-audit --no-fund >/dev/null; fi
  touch "$stamp"
fi

# tap compiles its plugin set (package.json "tap".plugin) into node_modules; do it here, not in the first test run
tap_stamp=node_modules/.tap-plugins-stamp
if [ ! -f "$tap_stamp" ] || [ package.json -nt "$tap_stamp" ] || [ "$stamp" -nt "$tap_stamp" ]; then
  echo "setup: building tap's plugin set" >&2
  node_modules/.bin/tap build >/dev/null
  touch "$tap_stamp"
fi

bash scripts/build.sh
