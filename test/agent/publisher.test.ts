/**
 * fleetd/agent/publisher.ts on the in-memory registry and a manual clock: a state equal to the last one published
 * is not written again; states asked for together go in one request, one request in flight at a time (so a unit's
 * states land in order); a unit's state waits for its last task of a batch (one write per launch, no
 * `loaded/inactive` on the way); a failed write is retried after a second while the presence is alive, and not
 * when it failed after the agent stopped; forgetAll() republishes everything.
 */
import t from 'tap';
import { ManualClock } from '../../lib/clock.js';
import { FakeRegistry } from '../../lib/registry/fake.js';
import type { UnitState } from '../../lib/registry/index.js';
import { Publisher } from '../../fleetd/agent/publisher.js';

const ME = 'machine-1';

function setup() {
  const clock = new ManualClock();
  const registry = new FakeRegistry();
  const presence = { machineId: ME, ttlSeconds: 30, silentMs: 0, alive: true };
  const states = new Map<string, UnitState>();
  let stopped = false;
  const written: string[] = [];
  const real = registry.publishUnitStates.bind(registry);
  registry.publishUnitStates = async (p, states) => {
    await real(p, states);
    for (const s of states) written.push(`${s.name} ${s.agentState}/${s.activeState}`);
  };
  const publisher = new Publisher({ registry, presence, clock, stateOf: (n) => states.get(n), stopped: () => stopped });
  const set = (name: string, agentState: 'loaded' | 'launched', activeState: string): void => {
    states.set(name, { name, machineId: ME, hash: 'a'.repeat(40), loadState: 'loaded', activeState, subState: 'x', agentState });
  };
  return { clock, registry, presence, publisher, set, written, stop: () => (stopped = true) };
}

t.test('unchanged states are not written again; forgetAll() republishes', async (t) => {
  const { publisher, set, written } = setup();
  set('a.service', 'launched', 'active');
  await publisher.publish('a.service');
  await publisher.publish('a.service');
  t.same(written, ['a.service launched/active'], 'one write for the same state');
  await publisher.publish('nothing.service');
  t.equal(written.length, 1, 'a unit without a state publishes nothing');
  publisher.forgetAll();
  await publisher.publish('a.service');
  t.equal(written.length, 2, 'written again after forgetAll()');
});

t.test('a unit\'s state waits for its last task of the batch', async (t) => {
  const { publisher, set, written } = setup();
  publisher.beginBatch(new Map([['a.service', 2], ['b.service', 2]]));
  set('a.service', 'loaded', 'inactive');
  await publisher.publish('a.service');
  set('a.service', 'launched', 'active');
  await publisher.publish('a.service');
  publisher.taskDone('a.service', false);
  t.same(written, [], 'nothing while tasks are left');
  publisher.taskDone('a.service', false);
  set('b.service', 'loaded', 'inactive');
  await publisher.publish('b.service');
  publisher.taskDone('b.service', true);
  await Promise.resolve();
  publisher.endBatch();
  await new Promise((r) => setImmediate(r));
  t.same(written.sort(), ['a.service launched/active', 'b.service loaded/inactive'], 'one write each: after the last task, or at once after a failed one');
});

t.test('a failed write is retried after a second while the agent runs', async (t) => {
  const { clock, registry, presence, publisher, set, written, stop } = setup();
  set('a.service', 'launched', 'active');
  registry.unreachable = true;
  await publisher.publish('a.service');
  t.same(written, []);
  registry.unreachable = false;
  await clock.advance(999);
  t.same(written, [], 'not before a second');
  await clock.advance(1);
  t.same(written, ['a.service launched/active'], 'retried');
  set('b.service', 'launched', 'active');
  presence.alive = false;
  await publisher.publish('b.service');
  presence.alive = true;
  await clock.advance(5000);
  t.equal(written.length, 1, 'presence lost: not retried (everything is republished once it is back)');
  stop();
  registry.unreachable = true;
  await publisher.publish('b.service');
  registry.unreachable = false;
  await clock.advance(5000);
  t.equal(written.length, 1, 'a write that fails once the agent stopped is not retried');
});

t.test('states asked for together are written with one request; a state that changes before the write is written once', async (t) => {
  const { registry, publisher, set, written } = setup();
  for (const n of ['a', 'b', 'c']) set(`${n}.service`, 'launched', 'inactive');
  const done = Promise.all(['a', 'b', 'c'].map((n) => publisher.publish(`${n}.service`)));
  set('a.service', 'launched', 'active'); // systemd's signal after the start, before the next turn of the loop
  await publisher.publish('a.service');
  await done;
  t.equal(registry.stats.publishRequests, 1, 'one request for three units');
  t.same(written.sort(), ['a.service launched/active', 'b.service launched/inactive', 'c.service launched/inactive'], 'each unit once, as it is at the write');
});

t.test('one write in flight at a time: a newer state of a unit waits for the older one and lands last', async (t) => {
  const { registry, publisher, set, written } = setup();
  const real = registry.publishUnitStates.bind(registry);
  let inFlight = 0;
  let maxInFlight = 0;
  const gates: (() => void)[] = [];
  registry.publishUnitStates = async (p, states) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise<void>((r) => gates.push(r));
    await real(p, states); // setup's recorder
    inFlight--;
  };
  set('a.service', 'launched', 'activating');
  const first = publisher.publish('a.service');
  await new Promise((r) => setImmediate(r));
  t.equal(gates.length, 1, 'the first write started');
  set('a.service', 'launched', 'active');
  const second = publisher.publish('a.service');
  set('b.service', 'launched', 'active');
  const third = publisher.publish('b.service');
  await new Promise((r) => setImmediate(r));
  t.equal(gates.length, 1, 'no second write while the first is in flight');
  gates.shift()!();
  await first;
  await new Promise((r) => setImmediate(r));
  t.equal(gates.length, 1, 'then the units that waited, together');
  gates.shift()!();
  await Promise.all([second, third]);
  t.equal(maxInFlight, 1);
  t.same(written, ['a.service launched/activating', 'a.service launched/active', 'b.service launched/active'], 'in order');
  t.equal(registry.unitState(ME, 'a.service')?.activeState, 'active', 'the newer state is the one stored');
});
