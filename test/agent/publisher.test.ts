/**
 * fleetd/agent/publisher.ts on the in-memory registry and a manual clock: a state equal to the last one published
 * is not written again; a unit's state waits for its last task of a batch (one write per launch, no
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
  const real = registry.publishUnitState.bind(registry);
  registry.publishUnitState = async (p, s) => {
    await real(p, s);
    written.push(`${s.name} ${s.agentState}/${s.activeState}`);
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
