/**
 * Reschedule=on-failure in the plan (lib/schedule/reschedule.ts, plan.ts rescheduleFailed): a unit that failed on
 * its machine moves after its delay, doubled per move, never back to a machine where it failed, at most
 * `attempts` times; a unit without the option, or with no machine to go to, stays. Pure: no root, no etcd.
 */
import t from 'tap';
import { nextRescheduleAt, plan, rescheduleDelayMs, rescheduleVerdict, type SchedUnit } from '../../lib/schedule/index.js';
import { brief, machines, pendingNames, state, unit } from './helpers.js';

const RESCHED = { reschedule: { attempts: 2, delaySec: 10 } };
const failedUnit = (failedOn: Record<string, number>, r = RESCHED): SchedUnit => ({ ...unit('a.service', r), failedOn });

t.test('the delay doubles per move and is capped', async (t) => {
  t.equal(rescheduleDelayMs(10, 1), 10_000);
  t.equal(rescheduleDelayMs(10, 2), 20_000);
  t.equal(rescheduleDelayMs(10, 3), 40_000);
  t.equal(rescheduleDelayMs(1000, 5), 3_600_000, 'capped at an hour');
  t.equal(rescheduleDelayMs(3600, 1), 3_600_000);
});

t.test('a failed unit waits out its delay, then moves to a machine where it did not fail', async (t) => {
  const u = failedUnit({ m1: 1000 });
  const at = (now: number) => plan(state([u], machines('m1', 'm2', 'm3'), { 'a.service': 'm1' }, { now }));
  t.same(brief(at(10_999).ops), [], 'within the delay it stays');
  t.match(rescheduleVerdict(u, 'm1', 10_999), { kind: 'wait', at: 11_000 });
  t.equal(nextRescheduleAt(state([u], machines('m1', 'm2'), { 'a.service': 'm1' }), 5000), 11_000, 'the engine wakes then');
  const p = at(11_000);
  t.same(brief(p.ops), ['move a.service m1>m2']);
  t.match(p.ops[0]!.reason, /failed on machine m1 \(Reschedule=on-failure, move 1 of 2\)/);
  t.equal(nextRescheduleAt(state([u], machines('m1', 'm2'), { 'a.service': 'm2' }), 5000), undefined, 'nothing due once moved');
});

t.test('second failure: the delay doubles, machines where it failed are avoided', async (t) => {
  const u = failedUnit({ m1: 1000, m2: 50_000 });
  const s = (now: number) => state([u], machines('m1', 'm2', 'm3'), { 'a.service': 'm2' }, { now });
  t.same(brief(plan(s(69_999)).ops), [], 'second move waits 20 s');
  t.same(brief(plan(s(70_000)).ops), ['move a.service m2>m3'], 'not back to m1 although it is as loaded');
});

t.test('after `attempts` moves it gives up and stays, failed', async (t) => {
  const u = failedUnit({ m1: 1000, m2: 50_000, m3: 90_000 });
  t.same(brief(plan(state([u], machines('m1', 'm2', 'm3', 'm4'), { 'a.service': 'm3' }, { now: 10_000_000 })).ops), []);
  t.match(rescheduleVerdict(u, 'm3', 10_000_000), { kind: 'gaveUp', why: /gave up after 2 moves/ });
});

t.test('no other machine fits: it stays where it failed, not unscheduled', async (t) => {
  const u = failedUnit({ m1: 1000 });
  const p = plan(state([u], machines('m1'), { 'a.service': 'm1' }, { now: 100_000 }));
  t.same(brief(p.ops), []);
  t.same(pendingNames(p), []);
});

t.test('a failed unit the user stopped (desired state loaded) is not moved', async (t) => {
  const u: SchedUnit = { ...failedUnit({ m1: 1000 }), desiredState: 'loaded' };
  t.same(brief(plan(state([u], machines('m1', 'm2'), { 'a.service': 'm1' }, { now: 100_000 })).ops), []);
  t.same(rescheduleVerdict(u, 'm1', 100_000), { kind: 'none' });
});

t.test('without the option a failure changes nothing', async (t) => {
  const u = failedUnit({ m1: 1000 }, {} as typeof RESCHED);
  t.same(brief(plan(state([u], machines('m1', 'm2'), { 'a.service': 'm1' }, { now: 100_000 })).ops), []);
});

t.test('a unit placed anew (its machine went away) avoids the machines where it failed', async (t) => {
  const u = failedUnit({ m1: 1000 });
  const p = plan(state([u, unit('b.service')], machines('m1', 'm3'), { 'a.service': 'm2', 'b.service': 'm3' }, { now: 2000 }));
  t.same(brief(p.ops), ['move a.service m2>m3'], 'm1 is less loaded, but it failed there');
});

t.test('a MachineOf follower moves with the unit that failed', async (t) => {
  const u = failedUnit({ m1: 1000 });
  const f = unit('f.service', { machineOf: ['a.service'] });
  const p = plan(state([u, f], machines('m1', 'm2'), { 'a.service': 'm1', 'f.service': 'm1' }, { now: 100_000 }));
  t.same(brief(p.ops).sort(), ['move a.service m1>m2', 'move f.service m1>m2']);
});
