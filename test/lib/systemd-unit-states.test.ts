/**
 * The systemd client's tracking of watched units' states (lib/systemd/unit-states.ts), against a fake bus that
 * behaves like systemd 252 behind dbus-daemon: a unit's PropertiesChanged carries ActiveState and SubState but not
 * LoadState, and the bus refuses a call once a connection has too many replies pending (LimitsExceeded). The
 * attacks are what made 16 concurrent starts leave units published inactive/dead: one state read per signal went
 * past the limit and the refused reads were dropped; a read answered before a signal but handled after it; a unit
 * whose only signals are UnitNew and its job's end although it already runs; a daemon-reload that changes load
 * states silently; and a unit each read of which loads it again (UnitNew), which must not make the reads endless.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { BusCallError, type BusConnection, type CallSpec, type Signal } from '../../lib/systemd/bus.js';
import { SystemdClient, unitNameOfPath, unitObjectPath, type UnitState } from '../../lib/systemd/index.js';
import { MAX_PENDING_CALLS } from '../../lib/systemd/client.js';
import { UnitStateTracker } from '../../lib/systemd/unit-states.js';

const LIMITS_EXCEEDED = 'org.freedesktop.DBus.Error.LimitsExceeded';
const MANAGER_PATH = '/org/freedesktop/systemd1';

/** systemd and dbus-daemon as one fake: unit states, replies a turn later, a cap on pending replies. */
class FakeBus extends EventEmitter {
  readonly address = 'fake:';
  readonly closed = false;
  readonly states = new Map<string, UnitState>();
  readonly calls: string[] = [];
  refused = 0;
  private pending = 0;
  /** the most replies pending at once */
  mostPending = 0;
  /** runs after a ListUnitsByNames was answered (its rows are of before) and before its reply is handed over */
  beforeListReply: (() => void) | undefined;
  /**
   * systemd's unit objects in memory, when set: a ListUnitsByNames of a unit not among them loads it, which systemd
   * announces with UnitNew after the reply, and its garbage collector drops an inactive unit nothing holds again
   * right after (undefined: every unit stays in memory, no UnitNew)
   */
  inMemory: Set<string> | undefined;

  constructor(public maxPending: number) {
    super();
  }

  async call(spec: CallSpec): Promise<unknown[]> {
    this.calls.push(spec.member);
    if (this.pending >= this.maxPending) {
      this.refused++;
      throw new BusCallError(LIMITS_EXCEEDED, 'The maximum number of pending replies has been reached');
    }
    this.pending++;
    this.mostPending = Math.max(this.mostPending, this.pending);
    try {
      const reply = this.answer(spec); // the state as of the call
      await new Promise((resolve) => setImmediate(resolve));
      if (spec.member === 'ListUnitsByNames') this.beforeListReply?.();
      if (spec.member === 'ListUnitsByNames' && this.inMemory) this.loadAndCollect(spec.body?.[0] as string[]);
      return reply;
    } finally {
      this.pending--;
    }
  }

  async addMatch(): Promise<void> {}

  async close(): Promise<void> {}

  private state(name: string): UnitState {
    return this.states.get(name) ?? { loadState: 'not-found', activeState: 'inactive', subState: 'dead' };
  }

  private answer(spec: CallSpec): unknown[] {
    const body = spec.body ?? [];
    switch (spec.member) {
      case 'Subscribe':
        return [];
      case 'GetUnit':
      case 'LoadUnit':
        return [unitObjectPath(String(body[0]))];
      case 'Get': {
        const s = this.state(unitNameOfPath(spec.path) ?? '');
        const prop = String(body[1]);
        return [prop === 'LoadState' ? s.loadState : prop === 'ActiveState' ? s.activeState : s.subState];
      }
      case 'ListUnitsByNames':
        return [(body[0] as string[]).map((n) => [n, '', this.state(n).loadState, this.state(n).activeState, this.state(n).subState, '', '/', 0, '', '/'])];
      default:
        throw new Error(`fake bus: ${spec.member} not expected`);
    }
  }

  /** What systemd 252 sends when a unit's active state changes: ActiveState and SubState, no LoadState. */
  setActive(name: string, activeState: string, subState: string, loadState = 'loaded'): void {
    this.states.set(name, { loadState, activeState, subState });
    const sig: Signal = {
      sender: ':1.0',
      path: unitObjectPath(name),
      iface: 'org.freedesktop.DBus.Properties',
      member: 'PropertiesChanged',
      body: ['org.freedesktop.systemd1.Unit', { ActiveState: activeState, SubState: subState }, []],
    };
    this.emit('signal', sig);
  }

  /** Units a read loaded are announced (UnitNew) once the reply is out, then collected again (UnitRemoved). */
  private loadAndCollect(units: readonly string[]): void {
    const loaded = units.filter((u) => !this.inMemory!.has(u));
    for (const u of loaded) this.inMemory!.add(u);
    setImmediate(() => {
      for (const u of loaded) this.managerSignal('UnitNew', [u, unitObjectPath(u)]);
      setImmediate(() => {
        for (const u of loaded) {
          this.inMemory!.delete(u);
          this.managerSignal('UnitRemoved', [u, unitObjectPath(u)]);
        }
      });
    });
  }

  managerSignal(member: string, body: unknown[]): void {
    this.emit('signal', { sender: ':1.0', path: MANAGER_PATH, iface: 'org.freedesktop.systemd1.Manager', member, body });
  }
}

function client(bus: FakeBus): { sys: SystemdClient; last: Map<string, UnitState> } {
  const sys = new SystemdClient(bus as unknown as BusConnection, 1000);
  const last = new Map<string, UnitState>();
  sys.on('unitStateChanged', (ev) => last.set(ev.unit, ev.state));
  return { sys, last };
}

async function settled(check: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return check();
}

const RUNNING: UnitState = { loadState: 'loaded', activeState: 'active', subState: 'running' };
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `busy-${i}.service`);

t.test('200 units start at once, their signals lack LoadState and the bus caps pending replies: every state arrives', async (t) => {
  const bus = new FakeBus(16);
  const { sys, last } = client(bus);
  const units = names(200);
  await sys.watchUnits(units);
  for (const u of units) bus.setActive(u, 'active', 'running');
  const all = await settled(() => units.every((u) => JSON.stringify(last.get(u)) === JSON.stringify(RUNNING)));
  t.ok(all, `every unit's state is loaded/active/running (${units.filter((u) => JSON.stringify(last.get(u)) === JSON.stringify(RUNNING)).length} of ${units.length})`);
  t.equal(bus.refused, 0, 'no call was refused for too many pending replies');
  t.ok(bus.calls.filter((c) => c === 'ListUnitsByNames').length <= 2, 'the units were read in a batch, not one call each');
  await sys.close();
});

t.test('a read refused by the bus is tried again: the state is not dropped', async (t) => {
  const bus = new FakeBus(16);
  const { sys, last } = client(bus);
  await sys.watchUnits(['a.service']);
  bus.maxPending = 0; // every call refused
  bus.setActive('a.service', 'active', 'running');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(bus.refused > 0, 'the read was refused');
  bus.maxPending = 16;
  t.ok(await settled(() => JSON.stringify(last.get('a.service')) === JSON.stringify(RUNNING)), 'read again once the bus takes calls');
  await sys.close();
});

t.test('a read answered before a signal but handled after it does not undo the signal', async (t) => {
  const bus = new FakeBus(16);
  const { sys, last } = client(bus);
  await sys.watchUnits(['a.service']);
  bus.states.set('a.service', { loadState: 'loaded', activeState: 'inactive', subState: 'dead' });
  // the start's signal was sent after the reply, but is emitted before the reply's promise settles
  bus.beforeListReply = () => {
    bus.beforeListReply = undefined;
    bus.setActive('a.service', 'active', 'running');
  };
  const read = await sys.readUnitStates(['a.service']);
  t.same(read.get('a.service'), { loadState: 'loaded', activeState: 'inactive', subState: 'dead' }, 'the first read knew no better');
  t.ok(await settled(() => JSON.stringify(last.get('a.service')) === JSON.stringify(RUNNING)), 'read again: the newer state stands');
  t.same(await sys.readUnitStates(['a.service']), new Map([['a.service', RUNNING]]));
  await sys.close();
});

t.test('a daemon-reload is followed by a read of every watched unit', async (t) => {
  const bus = new FakeBus(16);
  const { sys, last } = client(bus);
  await sys.watchUnits(['a.service', 'b.service']);
  await sys.readUnitStates(['a.service', 'b.service']);
  t.same(last.get('b.service'), { loadState: 'not-found', activeState: 'inactive', subState: 'dead' });
  bus.states.set('b.service', { loadState: 'loaded', activeState: 'inactive', subState: 'dead' }); // loaded by a reload
  bus.managerSignal('Reloading', [true]);
  bus.managerSignal('Reloading', [false]);
  t.ok(await settled(() => last.get('b.service')?.loadState === 'loaded'), 'reload: every watched unit read again');
  await sys.close();
});

t.test('a signal of a unit known as not loaded is merged and the unit read: its LoadState changed unsignalled', async (t) => {
  const bus = new FakeBus(16);
  const { sys, last } = client(bus);
  const states: string[] = [];
  sys.on('unitStateChanged', (ev) => states.push(`${ev.state.loadState}/${ev.state.activeState}/${ev.state.subState}`));
  await sys.watchUnits(['a.service']);
  await sys.readUnitStates(['a.service']);
  bus.setActive('a.service', 'active', 'running'); // systemd loaded it from disk when it was started
  t.ok(await settled(() => JSON.stringify(last.get('a.service')) === JSON.stringify(RUNNING)), 'loaded/active/running in the end');
  t.same(states, ['not-found/inactive/dead', 'loaded/active/running'], 'never the mix not-found/active/running');
  await sys.close();
});

t.test('tracker: unwatched units are read for the caller but not tracked; closed, a read fails', async (t) => {
  const seen: string[] = [];
  const tracker = new UnitStateTracker({
    read: async (ns) => ns.map((name) => ({ name, description: '', ...RUNNING })),
    changed: (unit) => seen.push(unit),
  });
  t.same(await tracker.read(['x.service']), new Map([['x.service', RUNNING]]));
  t.same(seen, [], 'no change reported for a unit nobody watches');
  tracker.watch(['y.service']);
  t.same(await tracker.read(['y.service']), new Map([['y.service', RUNNING]]));
  t.same(seen, ['y.service']);
  tracker.close();
  await t.rejects(tracker.read(['y.service']), { name: 'SystemdConnectionError' });
});

t.test('a burst of calls queues in the client instead of going past the cap of the bus on pending replies', async (t) => {
  const bus = new FakeBus(128); // dbus-daemon's max_replies_per_connection
  const { sys } = client(bus);
  const units = names(300);
  // each getUnitState is GetUnit, then three Gets at once: 900 calls wanted at the same time
  const states = await Promise.all(units.map((u) => sys.getUnitState(u)));
  t.equal(states.length, units.length);
  t.equal(bus.refused, 0, 'no call refused');
  t.ok(bus.mostPending <= MAX_PENDING_CALLS, `at most ${MAX_PENDING_CALLS} calls in flight (${bus.mostPending})`);
  await sys.close();
});

t.test('a unit that a read loads (UnitNew) and systemd collects again is not read over and over', async (t) => {
  // systemctl status of a stopped unit (LoadUnit) made systemd announce it with UnitNew; the client read it, which
  // loaded it again (UnitNew), and so on: fleetd and PID 1 at 66 % and 47 % CPU for good, in a lab machine
  const bus = new FakeBus(16);
  bus.inMemory = new Set();
  const { sys, last } = client(bus);
  const stopped = { loadState: 'loaded', activeState: 'inactive', subState: 'dead' };
  bus.states.set('a.service', stopped);
  await sys.watchUnits(['a.service']);
  await sys.readUnitStates(['a.service']);
  t.same(last.get('a.service'), stopped);
  const reads = (): number => bus.calls.filter((c) => c === 'ListUnitsByNames').length;
  const before = reads();
  bus.managerSignal('UnitNew', ['a.service', unitObjectPath('a.service')]); // someone else loaded it
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.ok(reads() - before <= 2, `at most two more reads in 300 ms (${reads() - before})`);
  await sys.close();
});

t.test('a job of a watched unit that ends (JobRemoved) is followed by a read: a start that left only UnitNew', async (t) => {
  const bus = new FakeBus(16);
  const { sys, last } = client(bus);
  await sys.watchUnits(['a.service']);
  await sys.readUnitStates(['a.service']);
  bus.states.set('a.service', RUNNING); // started by someone else: systemd's only signals were UnitNew and the job's
  bus.managerSignal('UnitNew', ['a.service', unitObjectPath('a.service')]);
  bus.managerSignal('JobRemoved', [7, '/org/freedesktop/systemd1/job/7', 'a.service', 'done']);
  t.ok(await settled(() => JSON.stringify(last.get('a.service')) === JSON.stringify(RUNNING)), 'read after the job');
  await sys.close();
});
