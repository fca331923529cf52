/**
 * The agent stops units it must no longer run (stale copies after a partition heals, or every unit on a clean
 * stop) concurrently, at most STOP_CONCURRENCY at a time: N unloads take about ceil(N / limit) unit stop times,
 * not N. Real agent code on an in-memory unit manager whose unload takes a fixed time, and an in-memory
 * registry that places every unit on another machine (what the agent sees after a heal).
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { waitFor } from '../harness/wait.js';
import { Agent, STOP_CONCURRENCY } from '../../fleetd/agent/agent.js';
import type { InstalledUnit, UnitManager, UnitManagerEvents, UnitRuntimeState } from '../../fleetd/agent/unit-manager.js';
import type { MachinePresence, Registry, WatchHandle } from '../../lib/registry/index.js';

const STOP_MS = 200;
const ACTIVE: UnitRuntimeState = { loadState: 'loaded', activeState: 'active', subState: 'running' };

/** Units that run here; unload takes STOP_MS (systemd stopping the service), and counts how many overlap. */
class SlowStopManager extends EventEmitter<UnitManagerEvents> implements UnitManager {
  readonly units = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;
  unloads = 0;
  constructor(names: readonly string[]) {
    super();
    for (const n of names) this.units.add(n);
  }
  async inventory(): Promise<Map<string, InstalledUnit>> {
    return new Map([...this.units].map((name) => [name, { name, hash: 'a'.repeat(40), running: true }]));
  }
  async load(): Promise<void> {}
  async unload(name: string): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, STOP_MS));
    this.inFlight--;
    this.unloads++;
    this.units.delete(name);
  }
  async reload(): Promise<void> {}
  async start(): Promise<void> {}
  async restart(): Promise<void> {}
  async stop(): Promise<void> {}
  async readState(): Promise<UnitRuntimeState> {
    return ACTIVE;
  }
  async selfRestarting(): Promise<boolean> {
    return false;
  }
  async close(): Promise<void> {}
}

function handle(): WatchHandle {
  return { revision: '1', close: async () => undefined };
}

/** The registry as the agent of a healed machine sees it: nothing scheduled here, every unit placed elsewhere. */
function healedRegistry(): Registry {
  const fake = {
    watchSchedule: async (_id: string, cb: (s: Map<string, never>) => void) => (cb(new Map<string, never>()), handle()),
    watchGlobalUnits: async (cb: (s: Map<string, never>) => void) => (cb(new Map<string, never>()), handle()),
    getTarget: async () => 'other-machine',
    getUnitTexts: async () => new Map<string, string>(),
    publishUnitStates: async () => undefined,
    deleteUnitState: async () => undefined,
  };
  return fake as unknown as Registry;
}

function presence(): MachinePresence {
  const fake = { machineId: 'this-machine', ttlSeconds: 30, silentMs: 0, alive: true };
  return fake as unknown as MachinePresence;
}


t.test('stale copies placed elsewhere are unloaded concurrently, at most STOP_CONCURRENCY at a time', async (t) => {
  const n = 3 * STOP_CONCURRENCY + 2;
  const names = Array.from({ length: n }, (_, i) => `stale-${String(i).padStart(3, '0')}.service`);
  const manager = new SlowStopManager(names);
  const agent = new Agent({
    registry: healedRegistry(),
    presence: presence(),
    manager,
    metadata: () => ({}),
    reconcileIntervalMs: 60_000,
    // the rejoin hold keeps units not scheduled here, except those placed on another machine: all of them here
    rejoinSettleMs: 60_000,
  });
  t.teardown(() => agent.stop({ unloadAll: false }));
  const began = Date.now();
  await agent.start();
  await waitFor('every stale copy unloaded', () => manager.units.size === 0, { timeoutMs: n * STOP_MS + 5000, intervalMs: 10 });
  const tookMs = Date.now() - began;
  const rounds = Math.ceil(n / STOP_CONCURRENCY);
  t.equal(manager.unloads, n, `all ${n} unloaded`);
  t.equal(manager.maxInFlight, STOP_CONCURRENCY, `at most ${STOP_CONCURRENCY} unloads at once, and that many`);
  // one by one this is n stop times (10 s); concurrently ceil(n/limit) stop times plus scheduling slack
  t.ok(tookMs < (rounds + 3) * STOP_MS, `took ${tookMs} ms for ${n} units: about ${rounds} x ${STOP_MS} ms, not ${n} x ${STOP_MS} ms`);
  t.equal(agent.units().size, 0, 'the agent no longer counts them as its units');
});

t.test('a clean stop (unloadAll) unloads concurrently as well', async (t) => {
  const n = 2 * STOP_CONCURRENCY;
  const names = Array.from({ length: n }, (_, i) => `u-${i}.service`);
  const manager = new SlowStopManager(names);
  const registry = healedRegistry();
  // scheduled here: nothing is stale, the stop's unloadAll does the unloading
  const scheduled = new Map(names.map((name) => [name, { name, hash: 'a'.repeat(40), desiredState: 'launched' }]));
  (registry as unknown as { watchSchedule: unknown }).watchSchedule = async (_id: string, cb: (s: typeof scheduled) => void) => (cb(scheduled), handle());
  (registry as unknown as { getTarget: unknown }).getTarget = async () => 'this-machine';
  const agent = new Agent({ registry, presence: presence(), manager, metadata: () => ({}), reconcileIntervalMs: 60_000, rejoinSettleMs: 0 });
  await agent.start();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(manager.unloads, 0, 'nothing unloaded while scheduled here');
  const began = Date.now();
  await agent.stop({ unloadAll: true });
  const tookMs = Date.now() - began;
  t.equal(manager.units.size, 0, 'every unit unloaded on the clean stop');
  t.equal(manager.maxInFlight, STOP_CONCURRENCY);
  t.ok(tookMs < (Math.ceil(n / STOP_CONCURRENCY) + 3) * STOP_MS, `took ${tookMs} ms`);
});
