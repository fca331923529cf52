#!/usr/bin/env bash
# The installable packages (issue 15). Both are built from dist/ (built first if stale) and run offline.
#   bash scripts/package.sh deb [OUTDIR]   fleet-ts_<version>_all.deb (dpkg-deb): fleetd, fleetctl and
#       coreos-cloudinit in /usr/bin, the code in /usr/lib/fleet-ts with its runtime node_modules, fleet.service,
#       fleet.socket and the cloud-config boot units in /lib/systemd/system (user-config.target enabled by
#       postinst), fleet.conf.sample and the docs in /usr/share/doc/fleet-ts. Depends on Debian's nodejs.
#   bash scripts/package.sh npm [OUTDIR]   fleet-ts-<version>.tgz (npm pack) with the same programs as "bin"
#       and the runtime dependencies bundled, so `npm install -g ./fleet-ts-<version>.tgz` needs no registry.
# OUTDIR defaults to build/. PACKAGE_COMPRESS=none|gzip|xz (default xz) sets the .deb's compression.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-}
out=${2:-build}
case "$kind" in deb|npm) ;; *) echo "usage: bash scripts/package.sh deb|npm [OUTDIR]" >&2; exit 2 ;; esac
command -v node >/dev/null || { echo "package.sh: node is not installed" >&2; exit 1; }
bash scripts/build.sh
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(node -p 'require("./package.json").version')
stage=$(mktemp -d "${TMPDIR:-/tmp}/fleet-ts-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# The programs' compiled code: what fleetd, fleetctl and coreos-cloudinit import (never tests, benchmarks or
# the lab), without source maps and declarations.
copy_dist() {
  local to=$1
  mkdir -p "$to/dist"
  for d in lib fleetd fleetctl cloud-config; do cp -a "dist/$d" "$to/dist/"; done
  # .cjs: fleetctl's entry (main.cjs) and its bundles (quick.cjs, full.cjs, by scripts/bundle.mjs).
  find "$to/dist" -type f ! -name '*.js' ! -name '*.cjs' -delete
  # tsc never deletes what it emitted for a source since removed: ship only the output of sources that exist.
  (cd "$to/dist" && find . -name '*.js' -print) | while read -r f; do
    [ -f "${f%.js}.ts" ] || rm -f "$to/dist/$f"
  done
  chmod 0755 "$to/dist/fleetd/main.js" "$to/dist/fleetctl/main.cjs" "$to/dist/cloud-config/main.js"
}

# package.json as installed: the runtime fields only, the three programs as bin.
write_package_json() {
  node -e '
    const p = require("./package.json");
    const out = {
      name: p.name, version: p.version, description: p.description, type: p.type, license: "Apache-2.0",
      engines: p.engines,
      bin: { fleetd: "dist/fleetd/main.js", fleetctl: "dist/fleetctl/main.cjs", "coreos-cloudinit": "dist/cloud-config/main.js" },
      dependencies: p.dependencies,
    };
    if (process.argv[1] === "npm") { out.bundleDependencies = Object.keys(p.dependencies); out.files = ["dist", "units", "docs", "README.md", "fleet.conf.sample"]; }
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  ' "$1" > "$2/package.json"
}

# The runtime dependencies and theirs (npm ls), copied from node_modules: no registry needed.
copy_node_modules() {
  local to=$1
  mkdir -p "$to/node_modules"
  # Top-level packages only: each is copied with its own nested node_modules.
  # npm ls exits non-zero for extraneous or invalid packages; what it lists is still the tree to copy.
  { npm ls --omit=dev --all --parseable 2>/dev/null || true; } | tail -n +2 | while read -r dir; do
    rel=${dir#"$PWD/"}
    [[ "$rel" =~ ^node_modules/(@[^/]+/)?[^/]+$ ]] || continue
    [ -e "$to/$rel" ] && continue
    mkdir -p "$to/$(dirname "$rel")"
    cp -a "$dir" "$to/$rel"
  done
  [ -d "$to/node_modules/etcd3" ] || { echo "package.sh: node_modules lacks the runtime dependencies (run bash scripts/setup.sh)" >&2; exit 1; }
}

# Every option fleetd reads (lib/fleet-options.ts), commented out: the sample never drifts from the code.
fleet_conf_sample() {
  node --input-type=module -e '
    const { FLEET_OPTION_TABLE } = await import(process.argv[1]);
    const lines = [
      "# /etc/fleet/fleet.conf: fleetd options, one name=value per line. Each may also be given as FLEET_<NAME> in the",
      "# environment or as --name=value on the command line. Uncomment what you need; see fleetd --help for each.",
      "# For example: etcd_servers=https://10.0.0.1:2379,https://10.0.0.2:2379 and metadata=region=us-west,disk=ssd",
    ];
    for (const o of FLEET_OPTION_TABLE) if (o.ignored === undefined) lines.push(`# ${o.name}=`);
    process.stdout.write(lines.join("\n") + "\n");
  ' "$PWD/dist/lib/fleet-options.js"
}

if [ "$kind" = npm ]; then
  pkg=$stage/pkg
  mkdir -p "$pkg"
  copy_dist "$pkg"
  copy_node_modules "$pkg"
  cp -a units docs README.md "$pkg/"
  fleet_conf_sample > "$pkg/fleet.conf.sample"
  write_package_json npm "$pkg"
  (cd "$pkg" && npm pack --silent --pack-destination "$out" >/dev/null)
  echo "$out/fleet-ts-$version.tgz"
  exit 0
fi

command -v dpkg-deb >/dev/null || { echo "package.sh: dpkg-deb is not installed (apt-get install dpkg)" >&2; exit 1; }
root=$stage/root
lib=$root/usr/lib/fleet-ts
mkdir -p "$lib" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/fleet-ts" "$root/DEBIAN"
copy_dist "$lib"
copy_node_modules "$lib"
write_package_json deb "$lib"
ln -s ../lib/fleet-ts/dist/fleetd/main.js "$root/usr/bin/fleetd"
ln -s ../lib/fleet-ts/dist/fleetctl/main.cjs "$root/usr/bin/fleetctl"
ln -s ../lib/fleet-ts/dist/cloud-config/main.js "$root/usr/bin/coreos-cloudinit"
# fleet.service as installed runs /usr/bin/fleetd (the repository's copy runs the lab's /opt/fleet checkout).
sed 's|^ExecStart=.*|ExecStart=/usr/bin/fleetd|; s|^Documentation=.*|Documentation=file:///usr/share/doc/fleet-ts|' units/fleet.service > "$root/lib/systemd/system/fleet.service"
cp units/fleet.socket units/boot/* "$root/lib/systemd/system/"
cp README.md docs/*.md "$root/usr/share/doc/fleet-ts/"
fleet_conf_sample > "$root/usr/share/doc/fleet-ts/fleet.conf.sample"
chmod -R u+rwX,go+rX,go-w "$root"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: fleet-ts
Version: $version
Architecture: all
Maintainer: fleet-ts developers <fleet-ts@localhost>
Depends: nodejs (>= 20), systemd, dbus
Installed-Size: $size
Section: admin
Priority: optional
Homepage: file:///usr/share/doc/fleet-ts
Description: distributed init system in the style of CoreOS fleet
 fleetd (agent, engine and HTTP API), fleetctl and coreos-cloudinit. Machines
 elect one engine through etcd, which assigns systemd units to them by their
 [X-Fleet] constraints. The cloud-config boot units (user-config.target) apply
 the host's user-data at boot, from a file, the kernel command line, a config
 drive or the cloud's metadata service.
CONTROL
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
# Applies cloud-config at every boot (user-config.target), as CoreOS did; fleet.service is started by the
# user-data (coreos.units) or by hand, never by installing the package.
set -e
if [ "$1" = configure ]; then
  systemctl enable user-config.target >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
POSTINST
cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
if [ "$1" = remove ]; then
  systemctl disable user-config.target >/dev/null 2>&1 || true
  if [ -d /run/systemd/system ]; then systemctl stop fleet.service fleet.socket >/dev/null 2>&1 || true; fi
fi
PRERM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
deb=$out/fleet-ts_${version}_all.deb
dpkg-deb --root-owner-group -Z"${PACKAGE_COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
