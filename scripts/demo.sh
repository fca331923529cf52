#!/usr/bin/env bash
# The main job: a local 3-machine fleet cluster (fleet-lab) running the example units, Docker included.
# Every machine is bootstrapped by cloud-config, as a CoreOS host is; fleetctl talks to fleetd's HTTP API
# over TCP. Run as root. Idempotent: running it again keeps the cluster and re-applies the units.
#
# Environment: FLEET_LAB_NAME  cluster name (default demo); several clusters can coexist
#              FLEET_DEMO_SKIP_SETUP=1  skip scripts/setup.sh (packages and build already done, as in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
NAME=${FLEET_LAB_NAME:-demo}
STEPS=6
step_no=0
current=""
started=$SECONDS
step_started=$SECONDS

lab_cmd="node $root/dist/lab/main.js --name $NAME"
step() {
  [ "$step_no" -gt 0 ] && printf '    done in %ss\n' "$((SECONDS - step_started))" >&2
  step_no=$((step_no + 1))
  current="$1"
  step_started=$SECONDS
  printf '\n==> [%s/%s] %s\n' "$step_no" "$STEPS" "$current" >&2
}
note() { printf '    %s\n' "$*" >&2; }
fail() {
  printf '\nFAILED at step %s/%s (%s):\n%s\n' "$step_no" "$STEPS" "$current" "$1" >&2
  if [ -n "${2:-}" ]; then printf 'What to do: %s\n' "$2" >&2; fi
  if [ "$step_no" -ge 3 ]; then
    printf 'Inspect the cluster: %s status\nTear it down:        %s down\n' "$lab_cmd" "$lab_cmd" >&2
  fi
  exit 1
}

step "checking privileges"
[ "$(id -u)" -eq 0 ] || fail "fleet-lab creates network namespaces and containers; this is not root." "run it as root: sudo bash scripts/demo.sh"

step "installing Debian and npm packages, building"
if [ "${FLEET_DEMO_SKIP_SETUP:-}" = 1 ]; then
  note "skipped (FLEET_DEMO_SKIP_SETUP=1)"
  [ -f dist/lab/main.js ] && [ -f dist/fleetctl/main.cjs ] || fail "dist/ is not built." "run bash scripts/setup.sh, or unset FLEET_DEMO_SKIP_SETUP"
else
  bash scripts/setup.sh || fail "setup failed; the messages above say whether apt, npm or the build failed." "fix that, then run this script again"
fi

lab() { node "$root/dist/lab/main.js" --name "$NAME" "$@"; }
fleetctl() { node "$root/dist/fleetctl/main.cjs" "$@"; }

step "bringing up etcd, Docker and 3 machines, each bootstrapped by cloud-config (fleet-lab up)"
note "about half a minute on a first run"
up_err=$(mktemp)
trap 'rm -f "$up_err"' EXIT
if ! lab up --machines 3 --docker \
  --metadata 'm1:role=worker,az=1' --metadata 'm2:role=worker,az=2' --metadata 'm3:role=edge,az=1' \
  2>"$up_err" >/dev/null; then
  cat "$up_err" >&2
  fail "fleet-lab up failed; the message above says which part." "fix it and run this script again (it continues where it stopped)"
fi
cat "$up_err" >&2
if grep -q 'fleet not started' "$up_err"; then
  fail "cloud-config did not start fleet on every machine (see the warnings above: each names its machine and shows cloud-config's messages)." \
    "read the machine's user-data in /var/lib/fleet-lab/$NAME/machines/<machine>/user-data and its journal: $lab_cmd exec <machine> -- journalctl -u fleet"
fi
lab list >&2 || true

eval "$(lab env 2>/dev/null)"
export FLEETCTL_ENDPOINT FLEETCTL_DRIVER
note "fleetctl talks to fleetd's API at $FLEETCTL_ENDPOINT"

step "waiting for all 3 machines to join the cluster"
n=0
seen=-1
for _ in $(seq 1 90); do
  n=$(fleetctl list-machines --no-legend 2>/dev/null | grep -c . || true)
  if [ "$n" != "$seen" ]; then note "$n of 3 machines registered"; seen=$n; fi
  [ "$n" -ge 3 ] && break
  sleep 1
done
if [ "$n" -lt 3 ]; then
  why=$(fleetctl list-machines 2>&1 >/dev/null | head -3 || true)
  fail "only $n of 3 machines registered within 90 s${why:+ (fleetctl: $why)}." \
    "look at fleetd on a machine that is missing: $lab_cmd exec m1 -- journalctl -u fleet --no-pager | tail -30"
fi

step "starting the example units (units/examples) with fleetctl"
cd units/examples
for u in hello.service web@1.service web@2.service web-discovery@1.service monitor.service; do
  note "fleetctl start $u"
  if ! out=$(fleetctl start --block-attempts=60 "$u" 2>&1); then
    printf '%s\n' "$out" | sed 's/^/      /' >&2
    fail "fleetctl start $u failed; see above." \
      "see why the unit does not run: fleetctl status $u; fleetctl journal $u (with the environment from: $lab_cmd env)"
  fi
  printf '%s\n' "$out" | sed 's/^/      /' >&2
done
cd "$root"

step "the cluster"
printf '    done in %ss (%ss in all)\n' "$((SECONDS - step_started))" "$((SECONDS - started))" >&2
echo
fleetctl list-machines
echo
fleetctl list-unit-files
echo
fleetctl list-units

ssh_dir=${FLEET_LAB_STATE_DIR:-/var/lib/fleet-lab/$NAME}/ssh
m1_ip=${FLEETCTL_ENDPOINT#http://}
m1_ip=${m1_ip%:*}
cat <<EOT

The cluster "$NAME" is up. Use it with fleetctl (through fleetd's TCP API on m1):
  eval "\$($lab_cmd env)"
  node $root/dist/fleetctl/main.cjs list-units
  node $root/dist/fleetctl/main.cjs status web@1.service
  node $root/dist/fleetctl/main.cjs journal web@1.service
Or through etcd directly: eval "\$($lab_cmd env --etcd)"
SSH, as to CoreOS hosts (user core, the cluster's key; fleetctl ssh, --tunnel, status/journal over SSH):
  eval "\$(ssh-agent)"; ssh-add $ssh_dir/id_ecdsa
  export FLEETCTL_KNOWN_HOSTS_FILE=$ssh_dir/known_hosts   # the machines' own host keys
  node $root/dist/fleetctl/main.cjs ssh \$(node $root/dist/fleetctl/main.cjs list-machines --full --no-legend | awk 'NR==1{print \$1}') -- hostname
  node $root/dist/fleetctl/main.cjs --tunnel $m1_ip list-machines   # the API through m1, over SSH
  eval "\$($lab_cmd env --etcd)"; node $root/dist/fleetctl/main.cjs status web@1.service   # from its machine, over SSH
  ssh -i $ssh_dir/id_ecdsa -o UserKnownHostsFile=$ssh_dir/known_hosts core@<machine ip>   # fleetctl is on its PATH
Inside a machine:         $lab_cmd exec m1 -- journalctl -u fleet
Tear it down:             $lab_cmd down
EOT
