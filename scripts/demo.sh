#!/usr/bin/env bash
# The main job: a local 3-machine fleet cluster (fleet-lab) running the example units, Docker included.
# Run as root. Idempotent: running it again keeps the cluster and re-applies the units.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
NAME=${FLEET_LAB_NAME:-demo}

step() { printf '\n==> %s\n' "$*" >&2; }
fail() {
  printf '\nFAILED at step: %s\n%s\n' "$current" "$1" >&2
  printf 'Inspect with: node %s/dist/lab/main.js --name %s status\nTear down with: node %s/dist/lab/main.js --name %s down\n' "$root" "$NAME" "$root" "$NAME" >&2
  exit 1
}
current="checking privileges"
[ "$(id -u)" -eq 0 ] || fail "fleet-lab creates network namespaces and containers: run this script as root."

current="installing Debian and npm packages, building"
step "$current"
bash scripts/setup.sh || fail "setup failed; see the messages above (apt or npm)."

lab() { node "$root/dist/lab/main.js" --name "$NAME" "$@"; }
current="bringing up etcd, Docker and 3 machines (fleet-lab up)"
step "$current"
lab up --machines 3 --docker --metadata 'm1:role=worker,az=1' --metadata 'm2:role=worker,az=2' --metadata 'm3:role=edge,az=1' \
  || fail "fleet-lab up failed; the message above says which part."

eval "$(lab env)"
export FLEETCTL_ENDPOINT FLEETCTL_DRIVER
fleetctl() { node "$root/dist/fleetctl/main.js" "$@"; }

current="waiting for all 3 machines to join"
step "$current"
for _ in $(seq 1 60); do
  n=$(fleetctl list-machines --no-legend 2>/dev/null | wc -l || true)
  [ "$n" -ge 3 ] && break
  sleep 1
done
[ "${n:-0}" -ge 3 ] || fail "only ${n:-0} of 3 machines registered; check: node dist/lab/main.js --name $NAME exec m1 -- journalctl -u fleet"

current="starting the example units"
step "$current"
cd units/examples
fleetctl start --block-attempts=30 hello.service web@1.service web@2.service web-discovery@1.service monitor.service \
  || fail "fleetctl start failed; see above."
cd "$root"

step "the cluster"
fleetctl list-machines
echo
fleetctl list-unit-files
echo
fleetctl list-units

cat <<EOT

The cluster is up. To use it:
  eval "\$(node $root/dist/lab/main.js --name $NAME env)"
  node $root/dist/fleetctl/main.js list-units
  node $root/dist/fleetctl/main.js journal web@1.service
Tear it down:
  node $root/dist/lab/main.js --name $NAME down
EOT
