/**
 * Reschedule=on-failure through etcd: a failure an agent records (Registry.recordFailure) makes the engine move
 * the unit to another machine after its delay, at most RescheduleAttempts times; a unit without the option stays;
 * a new text starts a new history; list-units' states say what happened (reschedule).
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

t.test('a failed unit moves after its delay, then gives up; one without the option stays', async (t) => {
  const f = new Fixture(etcd, t);
  const presences = new Map([['m1', await f.addMachine('m1')], ['m2', await f.addMachine('m2')]]);
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  // a long safety-net period: the move must come from the engine's reschedule timer, not a periodic pass
  await f.startEngine('e1', { reconcileIntervalMs: 60_000 });
  await f.waitLeader();
  const resched = unitSpec('flaky.service', { xfleet: ['Reschedule=on-failure', 'RescheduleAttempts=1', 'RescheduleDelaySec=1'] });
  const plain = unitSpec('plain.service');
  await f.createUnits([resched, plain]);
  await waitFor('both placed', () => obs.placed().size === 2);
  const first = obs.placed().get('flaky.service')!;
  const other = first === 'm1' ? 'm2' : 'm1';
  const plainAt = obs.placed().get('plain.service')!;

  const failedAt = Date.now();
  t.equal(await f.registry.recordFailure(presences.get(first)!, { name: 'flaky.service', hash: resched.hash, at: new Date().toISOString(), attempts: 1 }), true);
  t.equal(await f.registry.recordFailure(presences.get(plainAt)!, { name: 'plain.service', hash: plain.hash, at: new Date().toISOString(), attempts: 3 }), true);
  await waitFor('flaky moved', () => obs.placed().get('flaky.service') === other, 10_000);
  const waited = Date.now() - failedAt;
  t.ok(waited >= 900, `it waited its delay (${waited} ms)`);
  t.comment(`flaky.service moved ${waited} ms after its failure was recorded (RescheduleDelaySec=1)`);
  t.equal(obs.placed().get('plain.service'), plainAt, 'the unit without the option stays where it failed');

  // fails again on the other machine: attempts (1) used up, it stays there
  await f.registry.publishUnitState(presences.get(other)!, {
    name: 'flaky.service', machineId: other, hash: resched.hash, loadState: 'loaded', activeState: 'failed', subState: 'failed', agentState: 'launched',
  });
  await f.registry.recordFailure(presences.get(other)!, { name: 'flaky.service', hash: resched.hash, at: new Date().toISOString(), attempts: 1 });
  await sleep(2500);
  await obs.catchUp();
  t.equal(obs.placed().get('flaky.service'), other, 'gave up: it stays failed where it is');
  t.equal(obs.moves, 1, 'one move in all');
  const states = await f.registry.listUnitStates({ unitName: 'flaky.service' });
  t.match(states, [{ machineId: other, activeState: 'failed', reschedule: { gaveUp: true, reason: /gave up after 1 move: failed on m1, m2/ } }]);
  const job = (await f.registry.listUnits()).find((u) => u.name === 'flaky.service');
  t.ok(job, 'the unit is still there');

  // a new text starts a new history; a failure of the old text is not recorded any more
  const v2 = unitSpec('flaky.service', { xfleet: ['Reschedule=on-failure', 'RescheduleAttempts=1', 'RescheduleDelaySec=1'], desc: 'v2' });
  await f.registry.createUnit(v2);
  t.equal(await f.registry.recordFailure(presences.get(other)!, { name: 'flaky.service', hash: resched.hash, at: new Date().toISOString(), attempts: 1 }), false, 'old contents: not recorded');
  const after = await f.registry.listUnitStates({ unitName: 'flaky.service' });
  t.notOk(after.some((s) => s.reschedule !== undefined), 'no reschedule status for the new contents');
});
