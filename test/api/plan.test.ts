import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import type { PlanResponse } from '../../lib/api/schema.js';
import { HELLO, M1, M2, addMachine, request, scheduleUnit, startApi, submitUnit, unitOptions } from './fixture.js';
import { dryRunInWorker } from '../../fleetd/api/plan.js';
import { PLAN_IN_WORKER_ABOVE, type ClusterState, type SchedUnit } from '../../lib/schedule/index.js';
import { NO_REQUIREMENTS } from '../../lib/unit/index.js';

t.test('POST /plan: placements with reasons, unplaceable units explained, nothing written', async (t) => {
  const etcd = await startEtcd(t);
  const f = await startApi(t, { etcd });
  await addMachine(t, f.registry, M1, '198.18.0.11', { region: 'eu' });
  await addMachine(t, f.registry, M2, '198.18.0.12', { region: 'us' });
  await submitUnit(f.registry, 'busy.service', HELLO, 'launched');
  await scheduleUnit(f.registry, 'busy.service', M1);

  const before = await etcd.client.getAll().prefix(f.registry.prefix).strings();
  const r = await request(f, 'POST', '/fleet/v1/plan', {
    body: {
      units: [
        { name: 'web.service', options: unitOptions('[Service]\nExecStart=/bin/true\n') },
        { name: 'asia.service', options: unitOptions('[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetadata=region=asia\n') },
        { name: 'busy.service' },
      ],
    },
  });
  t.equal(r.status, 200);
  const p = r.json as PlanResponse;
  t.same(p.units.map((u) => u.unit), ['web.service', 'asia.service', 'busy.service'], 'request order');
  t.equal(p.units[0]!.machineId, M2, 'least loaded machine');
  t.match(p.units[0]!.outcome, /^placed on /);
  t.equal(p.units[1]!.machineId, undefined);
  t.match(p.units[1]!.outcome, /^pending: /);
  t.equal(p.units[1]!.machines.length, 2);
  t.ok(p.units[1]!.machines.every((m) => !m.eligible && /region/.test(m.reason)), 'each machine says why not');
  t.match(p.units[2]!.outcome, /^stays on /);
  t.match(p.ops, [{ kind: 'place', unit: 'web.service', machineId: M2 }]);
  t.match(p.pending, [{ unit: 'asia.service' }]);
  t.same(await etcd.client.getAll().prefix(f.registry.prefix).strings(), before, 'a dry run writes nothing');

  const cases: [unknown, number, RegExp][] = [
    [{}, 400, /expected \{"units"/],
    [{ units: [] }, 400, /no units to plan/],
    [{ units: [{ name: 'bad' }] }, 400, /invalid unit name/],
    [{ units: [{ name: 'x.service' }] }, 404, /x.service does not exist and no options were given/],
    [{ units: [{ name: 'a.service', options: [] }, { name: 'a.service' }] }, 400, /listed twice/],
    [{ units: [{ name: 'a.service', options: unitOptions('[X-Fleet]\nGlobal=true\nMachineOf=b.service\n') }] }, 400, /Global cannot be used with MachineOf/],
    [{ units: [{ name: 'a.service', options: [{ section: 'S', name: 1 }] }] }, 400, /options\[0\]/],
  ];
  for (const [body, status, msg] of cases) {
    const res = await request(f, 'POST', '/fleet/v1/plan', { body });
    t.equal(res.status, status, JSON.stringify(body));
    t.match(res.json, { error: { message: msg } });
  }
  t.equal((await request(f, 'GET', '/fleet/v1/plan')).status, 405);
  t.equal((await request(f, 'POST', '/fleet/v1/plan', { raw: '{}', headers: { 'Content-Type': 'text/plain' } })).status, 415);
});

t.test('POST /plan in the worker thread (the cluster at the threshold) answers what the inline plan answers', async (t) => {
  const etcd = await startEtcd(t);
  const inline = await startApi(t, { etcd, prefix: '/plan-worker-test/' });
  const worker = await startApi(t, { etcd, prefix: '/plan-worker-test/', server: { planInWorkerAbove: 0 } });
  await addMachine(t, inline.registry, M1, '198.18.0.11', { region: 'eu' });
  await addMachine(t, inline.registry, M2, '198.18.0.12', { region: 'us' });
  await submitUnit(inline.registry, 'busy.service', HELLO, 'launched');
  await scheduleUnit(inline.registry, 'busy.service', M1);
  const body = {
    units: [
      { name: 'web.service', options: unitOptions('[Service]\nExecStart=/bin/true\n') },
      { name: 'asia.service', options: unitOptions('[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetadata=region=asia\n') },
      { name: 'busy.service' },
    ],
  };
  const a = await request(inline, 'POST', '/fleet/v1/plan', { body });
  const b = await request(worker, 'POST', '/fleet/v1/plan', { body });
  t.equal(b.status, 200);
  t.same(b.json, a.json, 'the same plan, the cluster state encoded for the worker');
  const bad = await request(worker, 'POST', '/fleet/v1/plan', { body: { units: [{ name: 'x.service' }] } });
  t.equal(bad.status, 404, 'a client error found in the worker is answered as such');
});

t.test('dryRunInWorker: a cluster of PLAN_IN_WORKER_ABOVE units plans in the worker even without a glob', async (t) => {
  const unit = (i: number): SchedUnit => ({ name: `u${i}.service`, hash: 'h', desiredState: 'launched', requirements: NO_REQUIREMENTS });
  const state = (n: number): ClusterState => ({ units: Array.from({ length: n }, (_, i) => unit(i)), machines: [], schedule: {} });
  const requested = [{ name: 'new.service', options: [] }];
  t.equal(dryRunInWorker(state(PLAN_IN_WORKER_ABOVE - 1), requested), false, 'below: inline');
  t.equal(dryRunInWorker(state(PLAN_IN_WORKER_ABOVE), requested), true, 'at the threshold: the worker (a plan of 100,000 units is seconds of CPU)');
  const globs = [{ name: 'g.service', options: unitOptions('[X-Fleet]\nConflicts=' + Array.from({ length: 200 }, (_, i) => `x${i}*`).join(' ') + '\n') }];
  t.equal(dryRunInWorker(state(100), globs), true, 'a small cluster with many globs sent: the worker');
});
