/**
 * Many new units scheduled on one machine at once (`fleetctl start` of 60 units, issue 13): the agent writes and
 * links them all, reloads systemd once, then starts them all, with the loads and the starts each run concurrently
 * (at most STOP_CONCURRENCY at a time) instead of one D-Bus round trip after another. Real agent code on an
 * in-memory unit manager whose calls take a few milliseconds and record what overlapped.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { waitFor } from '../harness/wait.js';
import { Agent, STOP_CONCURRENCY } from '../../fleetd/agent/agent.js';
import type { InstalledUnit, UnitManager, UnitManagerEvents, UnitRuntimeState } from '../../fleetd/agent/unit-manager.js';
import type { MachinePresence, Registry, ScheduleEntry, WatchHandle } from '../../lib/registry/index.js';
import { parseUnitFile, unitHash } from '../../lib/unit/index.js';

const CALL_MS = 5;
const INACTIVE: UnitRuntimeState = { loadState: 'loaded', activeState: 'inactive', subState: 'dead' };

type Call = 'load' | 'reload' | 'start';

/** Records every call in order and the most calls of each kind under way at once. */
class RecordingManager extends EventEmitter<UnitManagerEvents> implements UnitManager {
  readonly log: { call: Call; unit?: string; phase: 'begin' | 'end' }[] = [];
  readonly started = new Set<string>();
  private readonly inFlight = new Map<Call, number>();
  readonly most = new Map<Call, number>();
  private async call(call: Call, unit?: string): Promise<void> {
    this.log.push({ call, unit, phase: 'begin' });
    const n = (this.inFlight.get(call) ?? 0) + 1;
    this.inFlight.set(call, n);
    this.most.set(call, Math.max(this.most.get(call) ?? 0, n));
    await new Promise((r) => setTimeout(r, CALL_MS));
    this.inFlight.set(call, this.inFlight.get(call)! - 1);
    this.log.push({ call, unit, phase: 'end' });
  }
  async inventory(): Promise<Map<string, InstalledUnit>> {
    return new Map();
  }
  async load(name: string): Promise<void> {
    await this.call('load', name);
  }
  async unload(): Promise<void> {}
  async reload(): Promise<void> {
    await this.call('reload');
  }
  async start(name: string): Promise<void> {
    await this.call('start', name);
    this.started.add(name);
  }
  async restart(): Promise<void> {}
  async stop(): Promise<void> {}
  async readState(): Promise<UnitRuntimeState> {
    return INACTIVE;
  }
  async selfRestarting(): Promise<boolean> {
    return false;
  }
  async close(): Promise<void> {}
}

function handle(): WatchHandle {
  return { revision: '1', close: async () => undefined };
}

t.test('60 new units scheduled here: every load, then one reload, then every start; loads and starts concurrent', async (t) => {
  const n = 60;
  const texts = new Map<string, string>();
  const schedule = new Map<string, ScheduleEntry>();
  for (let i = 1; i <= n; i++) {
    const name = `u-${String(i).padStart(2, '0')}.service`;
    const text = `[Unit]\nDescription=${name}\n\n[Service]\nExecStart=/bin/sleep 1000\n`;
    const hash = unitHash(parseUnitFile(text, name));
    texts.set(hash, text);
    schedule.set(name, { name, hash, desiredState: 'launched' });
  }
  const fake = {
    watchSchedule: async (_id: string, cb: (s: Map<string, ScheduleEntry>) => void) => (cb(schedule), handle()),
    watchGlobalUnits: async (cb: (s: Map<string, never>) => void) => (cb(new Map<string, never>()), handle()),
    getTarget: async () => 'this-machine',
    getUnitTexts: async (hashes: Iterable<string>) => new Map([...hashes].map((h) => [h, texts.get(h)!])),
    publishUnitStates: async () => undefined,
    deleteUnitState: async () => undefined,
  };
  const presence = { machineId: 'this-machine', ttlSeconds: 30, silentMs: 0, alive: true };
  const manager = new RecordingManager();
  const agent = new Agent({
    registry: fake as unknown as Registry,
    presence: presence as unknown as MachinePresence,
    manager,
    metadata: () => ({}),
    reconcileIntervalMs: 60_000,
    rejoinSettleMs: 0,
  });
  t.teardown(() => agent.stop({ unloadAll: false }));
  await agent.start();
  await waitFor('every unit started', () => manager.started.size === n, { timeoutMs: 10_000, intervalMs: 10 });
  const calls = manager.log.filter((e) => e.phase === 'begin');
  t.equal(calls.filter((e) => e.call === 'load').length, n, 'each unit loaded once');
  t.equal(calls.filter((e) => e.call === 'reload').length, 1, 'one daemon reload for all of them');
  const reloadBegins = manager.log.findIndex((e) => e.call === 'reload' && e.phase === 'begin');
  const reloadEnds = manager.log.findIndex((e) => e.call === 'reload' && e.phase === 'end');
  t.ok(manager.log.slice(reloadBegins).every((e) => e.call !== 'load'), 'every load ended before the reload began');
  t.ok(manager.log.slice(0, reloadEnds).every((e) => e.call !== 'start'), 'no start began before the reload ended');
  t.ok((manager.most.get('load') ?? 0) > 1, `loads run concurrently (${manager.most.get('load')} at once)`);
  t.ok((manager.most.get('start') ?? 0) > 1, `starts run concurrently (${manager.most.get('start')} at once)`);
  t.ok((manager.most.get('load') ?? 0) <= STOP_CONCURRENCY && (manager.most.get('start') ?? 0) <= STOP_CONCURRENCY, `at most ${STOP_CONCURRENCY} at once`);
});
