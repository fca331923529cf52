/** Booting and stopping one machine: systemd-nspawn on the machine's overlay, in its network namespace. */
import { ENTER_CGROUPS_AND_EXEC, machineCgroups, removeCgroupTree } from './cgroup.js';
import { initArgsOf } from './boot.js';
import { LabError } from './errors.js';
import { tail } from './logs.js';
import { nspawnMachineName, PROJECT_MOUNT } from './names.js';
import { BOOT_TARGET, isOverlayRoot, machinePaths } from './overlay.js';
import { childrenOf, isAlive, nsPid, record, signal, sleep, spawnDetached, stopProcess, waitGone, type ProcRecord } from './proc.js';
import type { MachineRecord } from './state.js';
import { connectSystemd, systemBusAddressOf } from '../lib/systemd/index.js';

export const NSPAWN_BIN = process.env.FLEET_LAB_NSPAWN ?? '/usr/bin/systemd-nspawn';

/** SIGRTMIN+4: systemd's "poweroff" signal. */
const SIGRTMIN_PLUS_4 = 38;

export interface BootContext {
  readonly cluster: string;
  readonly projectDir: string;
  /** extra binds: [host path, machine path, read-only] */
  readonly binds: ReadonlyArray<readonly [string, string, boolean]>;
}

export function machineRunning(m: MachineRecord): boolean {
  return isAlive(m.nspawn) && isAlive(m.init);
}

export function nspawnArgs(m: MachineRecord, ctx: BootContext): string[] {
  const p = machinePaths(m.dir);
  return [
    '--quiet',
    '--register=no',
    '--keep-unit',
    '--settings=no',
    `--directory=${p.root}`,
    `--machine=${nspawnMachineName(ctx.cluster, m.name)}`,
    `--uuid=${m.machineId}`,
    `--network-namespace-path=/run/netns/${m.netns}`,
    // a bare machine has nothing of ours inside
    ...(m.boot?.bare ? [] : [`--bind-ro=${ctx.projectDir}:${PROJECT_MOUNT}`]),
    ...ctx.binds.map(([host, inside, ro]) => `${ro ? '--bind-ro' : '--bind'}=${host}:${inside}`),
    '--boot',
    '--',
    `systemd.unit=${BOOT_TARGET}`,
    'systemd.firstboot=off',
    // systemd in a container takes its arguments as its kernel command line
    ...initArgsOf(m.boot),
  ];
}

/**
 * Start systemd-nspawn for a prepared machine (overlay mounted, identity written, netns ready).
 * `persist` is called as soon as pids are known, so a failure later still leaves them recorded.
 */
export async function bootMachine(m: MachineRecord, ctx: BootContext, persist: () => Promise<void>): Promise<void> {
  const p = machinePaths(m.dir);
  if (!(await isOverlayRoot(p.root))) {
    throw new LabError(`${m.name}: ${p.root} is not an overlay mount; refusing to boot on a shared root`);
  }
  const cgroups = machineCgroups(ctx.cluster, m.name);
  for (const cg of cgroups) await removeCgroupTree(cg);
  m.nspawn = spawnDetached('/bin/sh', ['-c', ENTER_CGROUPS_AND_EXEC, NSPAWN_BIN, ...nspawnArgs(m, ctx)], {
    log: p.log,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', FLEET_LAB_CGROUPS: cgroups.join(' ') },
  });
  m.init = undefined;
  await persist();
  m.init = await findInit(m, p.log);
  await persist();
  await waitForBus(m, p.log);
}

async function findInit(m: MachineRecord, log: string): Promise<ProcRecord> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!isAlive(m.nspawn)) throw new LabError(`${m.name}: systemd-nspawn exited during boot; ${log}:\n${await tail(log)}`);
    const queue = childrenOf(m.nspawn.pid);
    while (queue.length > 0) {
      const pid = queue.shift()!;
      const ns = nsPid(pid);
      if (ns && ns.depth > 1 && ns.inner === 1) {
        const rec = record(pid);
        if (rec) return rec;
      }
      queue.push(...childrenOf(pid));
    }
    if (Date.now() > deadline) throw new LabError(`${m.name}: no init process under nspawn pid ${m.nspawn.pid} after 20 s`);
    await sleep(20);
  }
}

/** Wait until the machine's system bus answers and systemd on it has finished booting. */
export async function waitForBus(m: MachineRecord, log: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!machineRunning(m)) throw new LabError(`${m.name}: machine stopped during boot; ${log}:\n${await tail(log)}`);
    try {
      const c = await connectSystemd(systemBusAddressOf(m.init!.pid), { connectTimeoutMs: 2000, callTimeoutMs: 2000 });
      try {
        const state = await c.systemState();
        if (state !== 'initializing' && state !== 'starting') return;
        last = `system state ${state}`;
      } finally {
        await c.close();
      }
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new LabError(
    `${m.name}: did not finish booting within ${timeoutMs / 1000} s (${String(last)}); ${log}:\n${await tail(log)}`,
  );
}

/** Power a machine off like a poweroff request; after `graceMs` kill it. Resolves when nspawn is gone. */
export async function powerOffMachine(cluster: string, m: MachineRecord, graceMs = 30_000): Promise<void> {
  if (isAlive(m.init)) signal(m.init, SIGRTMIN_PLUS_4);
  else if (isAlive(m.nspawn)) signal(m.nspawn, 'SIGTERM');
  if (m.nspawn && !(await waitGone(m.nspawn, graceMs))) {
    if (isAlive(m.init)) signal(m.init, 'SIGKILL');
    if (!(await waitGone(m.nspawn, 5000))) await stopProcess(m.nspawn, 'SIGKILL', 5000);
  }
  await stopProcess(m.init, 'SIGKILL', 5000);
  m.nspawn = undefined;
  m.init = undefined;
  for (const cg of machineCgroups(cluster, m.name)) await removeCgroupTree(cg);
}
