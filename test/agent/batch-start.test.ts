/**
 * Many new units scheduled on one machine at once (`fleetctl start` of 60 units, issue 13): the agent writes and
 * links them all, reloads systemd once, then starts them all, with the loads and the starts each run concurrently
 * (at most STOP_CONCURRENCY at a time) instead of one D-Bus round trip after another; and leaves the reload out
 * when every unit it loads is new to systemd and started in the same run. Real agent code on an
 * in-memory unit manager whose calls take a few milliseconds and record what overlapped.
 */
import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import { waitFor } from '../harness/wait.js';
import { Agent, STOP_CONCURRENCY } from '../../fleetd/agent/agent.js';
import type { InstalledUnit, LoadResult, UnitManager, UnitManagerEvents, UnitRuntimeState } from '../../fleetd/agent/unit-manager.js';
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
  /** what load answers for a unit: nothing (a manager that cannot tell), or whether it starts without a reload */
  constructor(private readonly answer: (name: string) => LoadResult | void = () => undefined) {
    super();
  }
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
  async load(name: string): Promise<LoadResult | void> {
    await this.call('load', name);
    return this.answer(name);
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

interface Run {
  manager: RecordingManager;
  calls: Call[];
}

/** An agent with `n` units scheduled here (u-01..), `loadedOnly` of them to be loaded, not launched; runs until every
 * launched unit was started and the run is over. */
async function runAgent(t: Test, n: number, manager: RecordingManager, loadedOnly: ReadonlySet<string> = new Set()): Promise<Run> {
  const texts = new Map<string, string>();
  const schedule = new Map<string, ScheduleEntry>();
  for (let i = 1; i <= n; i++) {
    const name = `u-${String(i).padStart(2, '0')}.service`;
    const text = `[Unit]\nDescription=${name}\n\n[Service]\nExecStart=/bin/sleep 1000\n`;
    const hash = unitHash(parseUnitFile(text, name));
    texts.set(hash, text);
    schedule.set(name, { name, hash, desiredState: loadedOnly.has(name) ? 'loaded' : 'launched' });
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
  await waitFor('every launched unit started', () => manager.started.size === n - loadedOnly.size, { timeoutMs: 10_000, intervalMs: 10 });
  await waitFor('the run is over', () => agent.units().size === n && [...agent.units().values()].every((u) => u.state === (loadedOnly.has(u.name) ? 'loaded' : 'launched')), { timeoutMs: 10_000, intervalMs: 10 });
  return { manager, calls: manager.log.filter((e) => e.phase === 'begin').map((e) => e.call) };
}

t.test('60 new units scheduled here: every load, then one reload, then every start; loads and starts concurrent', async (t) => {
  const n = 60;
  const { manager, calls } = await runAgent(t, n, new RecordingManager());
  t.equal(calls.filter((c) => c === 'load').length, n, 'each unit loaded once');
  t.equal(calls.filter((c) => c === 'reload').length, 1, 'one daemon reload for all of them');
  const reloadBegins = manager.log.findIndex((e) => e.call === 'reload' && e.phase === 'begin');
  const reloadEnds = manager.log.findIndex((e) => e.call === 'reload' && e.phase === 'end');
  t.ok(manager.log.slice(reloadBegins).every((e) => e.call !== 'load'), 'every load ended before the reload began');
  t.ok(manager.log.slice(0, reloadEnds).every((e) => e.call !== 'start'), 'no start began before the reload ended');
  t.ok((manager.most.get('load') ?? 0) > 1, `loads run concurrently (${manager.most.get('load')} at once)`);
  t.ok((manager.most.get('start') ?? 0) > 1, `starts run concurrently (${manager.most.get('start')} at once)`);
  t.ok((manager.most.get('load') ?? 0) <= STOP_CONCURRENCY && (manager.most.get('start') ?? 0) <= STOP_CONCURRENCY, `at most ${STOP_CONCURRENCY} at once`);
});

t.test('every unit loaded is new to systemd and started in the same run: no reload', async (t) => {
  const { calls } = await runAgent(t, 20, new RecordingManager(() => ({ startsUnloaded: true })));
  t.equal(calls.filter((c) => c === 'reload').length, 0, 'no reload');
  t.equal(calls.filter((c) => c === 'start').length, 20, 'every unit started');
});

t.test('one unit that is not new to systemd, or one only loaded: the reload as before', async (t) => {
  const one = await runAgent(t, 20, new RecordingManager((name) => ({ startsUnloaded: name !== 'u-07.service' })));
  t.equal(one.calls.filter((c) => c === 'reload').length, 1, 'a unit systemd knew: one reload');
  const loadedOnly = await runAgent(t, 20, new RecordingManager(() => ({ startsUnloaded: true })), new Set(['u-03.service']));
  t.equal(loadedOnly.calls.filter((c) => c === 'reload').length, 1, 'a unit loaded, not started (systemd would show it not-found): one reload');
  t.ok(loadedOnly.calls.indexOf('reload') < loadedOnly.calls.indexOf('start'), 'before the starts');
});
