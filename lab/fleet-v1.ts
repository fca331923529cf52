/**
 * The `fleet-v1` flavor of a lab machine: real CoreOS fleet v1.0.0's fleetd as fleet.service instead of ours, for
 * side-by-side tests and the versus-fleet benchmark. The binary is copied into the machine's root; fleetd is
 * configured only by FLEET_* variables (it ignores command-line options) in a drop-in of its own; the one
 * coreos-cloudinit writes for ours is removed while fleet v1 runs, and fleet v1's when ours comes back. Its API exists only through systemd
 * socket activation: fleet.socket listens on /var/run/fleet.sock and on the machine's address at API_PORT, as
 * ours does, so fleetctl reaches either flavor the same way. fleet v1 speaks only etcd's v2 API: the lab's
 * etcd is started with --enable-v2=true for it (ours keeps using v3 on the same etcd; the keyspaces differ).
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { connectSystemd } from '../lib/systemd/index.js';
import type { BootstrapContext, MachineBootstrap } from './bootstrap.js';
import { FLEET_UNIT } from './bootstrap.js';
import { API_PORT } from './endpoint.js';
import { LabError } from './errors.js';
import type { FleetFlavor } from './state.js';
import { FLEET_DROP_IN } from './user-data.js';
import { errorMessage } from '../lib/errors.js';

export type { FleetFlavor };
export const FLEET_FLAVORS: readonly FleetFlavor[] = ['ours', 'fleet-v1'];

export const FLEET_SOCKET = 'fleet.socket';
const SOCKET_PATH = `/etc/systemd/system/${FLEET_SOCKET}`;
/** in /etc: the lab writes through the machine's root, and /run inside a machine is its own tmpfs */
const DROP_IN_PATH = `/etc/systemd/system/${FLEET_UNIT}.d/fleet-v1.conf`;
/** Where the binary is put inside a machine. */
export const FLEETD_V1_PATH = '/usr/local/lib/fleet-v1/fleetd';

/**
 * The folder with fleet v1.0.0's `fleetd` and `fleetctl`: FLEET_V1_DIR, else `../shared/tools/fleet-v1.0.0`
 * from the project directory, else /work/shared/tools/fleet-v1.0.0 (where the build box keeps it).
 */
export function fleetV1Dir(projectDir: string): string {
  const env = process.env.FLEET_V1_DIR;
  if (env) return env;
  const near = resolve(projectDir, '../shared/tools/fleet-v1.0.0');
  return existsSync(near) ? near : '/work/shared/tools/fleet-v1.0.0';
}

/** `undefined` when both binaries are there, else one line saying what is missing (for a test's skip). */
export function fleetV1Missing(projectDir: string): string | undefined {
  const dir = fleetV1Dir(projectDir);
  const missing = ['fleetd', 'fleetctl'].filter((b) => !existsSync(join(dir, b)));
  return missing.length === 0 ? undefined : `fleet v1.0.0 ${missing.join(' and ')} not found in ${dir} (set FLEET_V1_DIR)`;
}

export function fleetV1Unit(): string {
  return [
    '[Unit]',
    'Description=fleet daemon (CoreOS fleet v1.0.0, fleet-lab flavor fleet-v1)',
    `Requires=${FLEET_SOCKET}`,
    `After=${FLEET_SOCKET} network.target dbus.socket dbus.service`,
    'Wants=dbus.socket',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    `ExecStart=${FLEETD_V1_PATH}`,
    'Restart=always',
    'RestartSec=1s',
    '',
  ].join('\n');
}

export function fleetV1Socket(ip: string): string {
  return [
    '[Unit]',
    'Description=fleet API (fleet-lab flavor fleet-v1)',
    '',
    '[Socket]',
    'ListenStream=/var/run/fleet.sock',
    `ListenStream=${ip}:${API_PORT}`,
    `Service=${FLEET_UNIT}`,
    '',
  ].join('\n');
}

/** The FLEET_* drop-in: the only configuration fleetd v1.0.0 reads besides its config file. */
export function fleetV1DropIn(ctx: Pick<BootstrapContext, 'etcdServers' | 'machine' | 'agentTtl'>): string {
  const env: [string, string][] = [
    ['FLEET_ETCD_SERVERS', ctx.etcdServers.join(',')],
    ['FLEET_PUBLIC_IP', ctx.machine.ip],
  ];
  if (ctx.machine.metadata !== '') env.push(['FLEET_METADATA', ctx.machine.metadata]);
  if (ctx.agentTtl) env.push(['FLEET_AGENT_TTL', ctx.agentTtl]);
  const q = (v: string): string => v.replace(/["\\]/g, '');
  return ['# written by fleet-lab (flavor fleet-v1)', '[Service]', ...env.map(([k, v]) => `Environment="${k}=${q(v)}"`), ''].join('\n');
}

async function copyBinary(from: string, root: string): Promise<boolean> {
  const to = join(root, FLEETD_V1_PATH);
  const [src, dst] = await Promise.all([stat(from), stat(to).catch(() => undefined)]);
  if (dst && dst.size === src.size && dst.mtimeMs >= src.mtimeMs) return false;
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to);
  return true;
}

/**
 * Install fleet v1.0.0 as fleet.service (+ fleet.socket) and (re)start it; a running fleetd of either flavor is
 * restarted when anything changed. The lab calls it instead of its bootstrap for machines of the fleet-v1 flavor.
 */
export const fleetV1Bootstrap: MachineBootstrap = async (ctx) => {
  const { name, ip } = ctx.machine;
  if (!ctx.machineRoot) throw new LabError(`${name}: the fleet-v1 flavor needs the machine's root to copy fleetd into`);
  const missing = fleetV1Missing(ctx.projectDir);
  if (missing) throw new LabError(missing);
  let changed = await copyBinary(join(fleetV1Dir(ctx.projectDir), 'fleetd'), ctx.machineRoot);
  for (const [path, text] of [
    [`/etc/systemd/system/${FLEET_UNIT}`, fleetV1Unit()],
    [SOCKET_PATH, fleetV1Socket(ip)],
    [DROP_IN_PATH, fleetV1DropIn(ctx)],
  ] as const) {
    if ((await ctx.readFile(path)) !== text) {
      await ctx.writeFile(path, text);
      changed = true;
    }
  }
  if (ctx.exec) {
    // our flavor's FLEET_* drop-in (written inside the machine by coreos-cloudinit) would override fleet v1's
    const r = await ctx.exec(['sh', '-c', `test -e ${FLEET_DROP_IN} && rm -f ${FLEET_DROP_IN} && echo removed || true`]);
    if (r.stdout.includes('removed')) changed = true;
  }
  const systemd = await connectSystemd(ctx.busAddress);
  try {
    if (changed) {
      await systemd.reload();
      const st = await systemd.getUnitState(FLEET_UNIT);
      // a running fleetd (ours, or fleet's with an old configuration) is stopped first: the socket must be bound
      // before fleet's fleetd starts, and ours may hold /var/run/fleet.sock itself
      if (st.activeState === 'active' || st.activeState === 'activating') await systemd.stopUnit(FLEET_UNIT, { wait: true });
      await systemd.stopUnit(FLEET_SOCKET, { wait: true });
    }
    const job = await systemd.startUnit(FLEET_UNIT, { wait: true });
    if (job.result !== 'done') {
      throw new LabError(`${name}: starting fleet v1.0.0 as ${FLEET_UNIT} ended with "${job.result}"; see \`fleet-lab exec ${name} -- journalctl -u fleet\``);
    }
  } catch (err) {
    if (err instanceof LabError) throw err;
    throw new LabError(`${name}: installing fleet v1.0.0 failed: ${errorMessage(err)}`);
  } finally {
    await systemd.close();
  }
};

/**
 * Before a machine of the fleet-v1 flavor gets ours again: stop and remove fleet.socket (it holds the API
 * addresses ours binds itself); stopping it stops fleet's fleetd too (Requires=), which stops its units.
 * Nothing happens on a machine that never had the fleet-v1 flavor.
 */
export async function leaveFleetV1(ctx: BootstrapContext): Promise<void> {
  if ((await ctx.readFile(SOCKET_PATH)) === undefined) return;
  if (!ctx.exec) throw new LabError(`${ctx.machine.name}: leaving the fleet-v1 flavor needs a way to run commands inside the machine`);
  const r = await ctx.exec(['sh', '-c', `systemctl stop ${FLEET_SOCKET} ${FLEET_UNIT} && rm -f ${SOCKET_PATH} ${DROP_IN_PATH} && systemctl daemon-reload`], {
    timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new LabError(`${ctx.machine.name}: removing fleet v1.0.0's ${FLEET_SOCKET} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}
