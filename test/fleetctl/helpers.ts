/** Runs the real fleetctl binary against a real API server on a real etcd; golden files; a stand-in cluster. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { compareStrings } from '../../lib/compare.js';
import { runNode } from '../harness/run.js';
import { filesIn } from '../../fleetctl/context.js';
import { runFleetctl } from '../../fleetctl/entry.js';
import { BufferOutput } from '../../fleetctl/output.js';
import type { MachinePresence } from '../../lib/registry/index.js';
import type { TestRegistry } from '../harness/registry.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FLEETCTL = path.resolve(here, '../../fleetctl/main.cjs');
/** Goldens live in the source tree (test/fleetctl/golden), not in dist. */
export const GOLDEN_DIR = path.resolve(here, '../../../test/fleetctl/golden');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Run main.cts as a child process: for what only the process does (module loading, NODE_OPTIONS, signals). */
  child?: boolean;
}

/** fleetctl's environment for one driver: the API on fleetd's unix socket, or etcd under the registry's prefix. */
export function driverEnv(driver: 'API' | 'etcd', o: { socket: string; etcdEndpoint: string; prefix: string }): Record<string, string> {
  return driver === 'API'
    ? { FLEETCTL_ENDPOINT: `unix://${o.socket}` }
    : { FLEETCTL_DRIVER: 'etcd', FLEETCTL_ENDPOINT: o.etcdEndpoint, FLEETCTL_ETCD_KEY_PREFIX: o.prefix };
}

/**
 * `fleetctl args...`; env starts from a clean slate (no FLEETCTL_* of the caller). By default the command runs
 * inside the test process through entry.ts's runFleetctl, the function main.cts runs (a child costs a Node start-up
 * and the CLI's module loading per command, and these tests run hundreds); `child: true` runs the real binary.
 * A run that outlives timeoutMs (60 s by default, as for a child) gives code 128, as a killed child does.
 */
export async function fleetctl(args: readonly string[], o: RunOpts = {}): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FLEETCTL_') && !k.startsWith('TAP')) env[k] = v;
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  if (o.child) {
    const r = await runNode(FLEETCTL, args, { cwd: o.cwd, env, timeoutMs: o.timeoutMs });
    return { code: r.code ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr };
  }
  const out = new BufferOutput();
  const run = runFleetctl({ argv: args, env, out, files: filesIn(o.cwd ?? '') });
  const timeoutMs = o.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<number>((resolve) => {
    timer = setTimeout(() => resolve(128), timeoutMs);
  });
  try {
    const code = await Promise.race([run, timedOut]);
    return { code, stdout: out.stdout, stderr: out.stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Compares with test/fleetctl/golden/<name>; UPDATE_GOLDEN=1 rewrites the file. */
export function golden(t: Test, name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    if (process.env.UPDATE_GOLDEN !== '1') t.fail(`golden ${name} did not exist; written, check it and rerun`);
    else t.pass(`golden ${name} written`);
    return;
  }
  t.equal(actual, readFileSync(file, 'utf8'), `golden ${name}`);
}

/**
 * A stand-in for the engine and the agents while fleetd is not part of these tests: every 100 ms it
 * schedules units with a non-inactive desired state (least-loaded machine, by id), publishes the state each
 * agent would report (loaded: inactive/dead, launched: active/running), and withdraws inactive ones.
 */
export function simulateCluster(t: Test, reg: TestRegistry, machines: ReadonlyMap<string, MachinePresence>, opts: { place?: (unit: string) => string | undefined } = {}): { stop(): void } {
  const published = new Map<string, string>();
  let running = true;
  let busy: Promise<void> = Promise.resolve();
  const fenceKey = `${reg.prefix}sim-leader`;
  const pub = async (name: string, machineId: string, hash: string, state: 'loaded' | 'launched'): Promise<void> => {
    const key = `${name}@${machineId}`;
    const val = `${hash}/${state}`;
    if (published.get(key) === val) return;
    const p = machines.get(machineId);
    if (!p) return;
    await reg.publishUnitState(p, {
      name,
      machineId,
      hash,
      loadState: 'loaded',
      activeState: state === 'launched' ? 'active' : 'inactive',
      subState: state === 'launched' ? 'running' : 'dead',
      agentState: state,
    });
    published.set(key, val);
  };
  const withdraw = async (name: string, machineId: string): Promise<void> => {
    const key = `${name}@${machineId}`;
    if (!published.has(key)) return;
    const p = machines.get(machineId);
    if (p) await reg.deleteUnitState(p, name);
    published.delete(key);
  };
  const tick = async (): Promise<void> => {
    const fence = await reg.claimFence(fenceKey, 'sim');
    const units = await reg.listUnits();
    const names = new Set(units.map((u) => u.name));
    for (const key of [...published.keys()]) {
      // unit names may hold '@' (template instances), machine ids never do
      const at = key.lastIndexOf('@');
      const name = key.slice(0, at);
      if (!names.has(name)) await withdraw(name, key.slice(at + 1));
    }
    const load = new Map<string, number>([...machines.keys()].map((m) => [m, 0]));
    for (const u of units) if (u.machineId && load.has(u.machineId)) load.set(u.machineId, load.get(u.machineId)! + 1);
    for (const u of units) {
      if (u.global) {
        for (const m of machines.keys()) {
          if (u.desiredState === 'inactive') await withdraw(u.name, m);
          else await pub(u.name, m, u.hash, u.desiredState);
        }
        continue;
      }
      if (u.desiredState === 'inactive') {
        if (u.machineId) {
          await reg.applySchedule([{ type: 'unschedule', name: u.name, machineId: u.machineId }], fence);
          await withdraw(u.name, u.machineId);
        }
        continue;
      }
      let m = u.machineId;
      if (!m) {
        m = opts.place ? opts.place(u.name) : [...load.entries()].sort((a, b) => a[1] - b[1] || compareStrings(a[0], b[0]))[0]?.[0];
        if (!m) continue;
        const [r] = await reg.applySchedule([{ type: 'place', name: u.name, machineId: m, hash: u.hash, desiredState: u.desiredState }], fence);
        if (!r?.applied) continue;
        load.set(m, (load.get(m) ?? 0) + 1);
      }
      await pub(u.name, m, u.hash, u.desiredState);
    }
  };
  const loop = async (): Promise<void> => {
    while (running) {
      busy = tick().catch(() => undefined);
      await busy;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  void loop();
  const stop = (): void => {
    running = false;
  };
  t.teardown(async () => {
    stop();
    await busy;
  });
  return { stop };
}
