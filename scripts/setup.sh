#!/usr/bin/env bash
# Idempotent set-up shared by the demo and the test suite: Debian packages, npm packages, build.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(etcd-server etcd-client systemd-container docker.io busybox-static iproute2 dbus openssh-server openssh-client openssl)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  echo "setup: installing npm dependencies" >&2
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null; else npm install --no-audit --no-fund >/dev/null; fi
  touch "$stamp"
fi

echo "setup: building" >&2

npx tsc -p tsconfig.json
chmod +x dist/fleetd/main.js dist/fleetctl/main.js dist/cloud-config/main.js dist/lab/main.js 2>/dev/null || true
