/**
 * Planning in a worker thread: the same plan as inline, errors reported, pending plans failed on close; and an
 * engine that plans every pass in the worker schedules a real cluster.
 */
import t from 'tap';
import { plan, type ClusterState, type SchedMachine, type SchedUnit } from '../../lib/schedule/index.js';
import { NO_REQUIREMENTS } from '../../lib/unit/index.js';
import { DEFAULT_WORKER_ABOVE_GLOB_MATCHES, Planner, PlannerError } from '../../fleetd/engine/planner.js';
import { globMatchesOf } from '../../lib/schedule/index.js';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, unitSpec, waitFor } from './helpers.js';

function sampleState(): ClusterState {
  const units = Array.from({ length: 40 }, (_, i): SchedUnit => ({
    name: `u${i}.service`,
    hash: `h${i}`,
    desiredState: 'launched',
    requirements: {
      ...NO_REQUIREMENTS,
      conflicts: i % 5 === 0 ? ['u*0.service'] : [],
      metadata: i % 3 === 0 ? { role: ['web'] } : ({} as Record<string, string[]>),
      machineOf: i % 7 === 1 ? [`u${i - 1}.service`] : [],
    },
  }));
  const machines = ['a', 'b', 'c', 'd'].map((id, i): SchedMachine => ({ id, metadata: i % 2 === 0 ? { role: 'web' } : {} }));
  return { units, machines, schedule: { 'u2.service': 'b', 'u4.service': 'gone' }, options: { now: 1000, graceMs: 0 } };
}

t.test('a worker plans exactly what plan() plans inline', async (t) => {
  const planner = new Planner(0);
  t.teardown(() => planner.close());
  const state = sampleState();
  const [a, b] = await Promise.all([planner.plan(state), planner.plan({ ...state, schedule: {} })]);
  t.same(a, plan(state), 'same ops and pending');
  t.same(b, plan({ ...state, schedule: {} }), 'concurrent requests each get their own answer');
  t.ok(a.ops.length > 0, 'the sample state has work to do');
});

t.test('below the threshold the plan is computed inline', async (t) => {
  const planner = new Planner(1_000);
  t.teardown(() => planner.close());
  const state = sampleState();
  t.same(await planner.plan(state), plan(state));
});

t.test('a few units with many wildcard globs plan in the worker, whatever the cluster size', async (t) => {
  const planner = new Planner(1_000);
  t.teardown(() => planner.close());
  const state = sampleState();
  t.notOk(planner.usesWorker(state), '8 wildcard globs x 40 units: inline');
  const globs = Array.from({ length: 64 }, (_, i) => `*x${i}*`);
  const heavy: ClusterState = {
    ...state,
    units: state.units.map((u, i) => (i < 4 ? { ...u, requirements: { ...u.requirements, conflicts: globs, machineOf: [] } } : u)),
  };
  t.ok(globMatchesOf(heavy) >= DEFAULT_WORKER_ABOVE_GLOB_MATCHES, `${globMatchesOf(heavy)} glob matches at most`);
  t.ok(planner.usesWorker(heavy), 'planned in the worker');
  t.same(await planner.plan(heavy), plan(heavy), 'the same plan');
  const literal: ClusterState = { ...state, units: state.units.map((u) => ({ ...u, requirements: { ...u.requirements, conflicts: ['u1.service', 'u2.service'], machineOf: [] } })) };
  t.notOk(planner.usesWorker(literal), 'literal globs cost no matching');
});

t.test('a plan that throws in the worker rejects with PlannerError; the worker keeps serving', async (t) => {
  const planner = new Planner(0);
  t.teardown(() => planner.close());
  const broken = { units: [{ name: 'x.service' }], machines: [], schedule: {} } as unknown as ClusterState;
  await t.rejects(planner.plan(broken), { name: 'PlannerError', message: /^scheduling failed: / });
  const state = sampleState();
  t.same(await planner.plan(state), plan(state), 'next plan still works');
});

t.test('close fails a plan in flight', async (t) => {
  const planner = new Planner(0);
  const pending = t.rejects(planner.plan(sampleState()), PlannerError);
  await planner.close();
  await pending;
});

t.test('an engine planning in a worker thread schedules and moves units on a real etcd', async (t) => {
  const etcd = await startEtcd(t);
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  await f.startEngine('e1', { planInWorkerAbove: 0 });
  await f.waitLeader();
  await f.createUnits(['a', 'b', 'c', 'd'].map((n) => unitSpec(`${n}.service`)));
  await waitFor('4 units placed', () => obs.placed().size === 4 || undefined);
  await f.removeMachine('m1');
  await waitFor('every unit on m2', () => ([...obs.placed().values()].every((m) => m === 'm2') && obs.placed().size === 4) || undefined);
  t.same(obs.violations, [], 'never two entries, entry always where the target says');
});
