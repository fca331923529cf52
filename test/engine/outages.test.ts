/** Outages the engine rides out: an etcd restart, a network blip shorter than the lease TTL. */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

t.test('etcd restarts under a converged cluster', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  await f.startEngine('e1', { leaseTtlSeconds: 2 });
  await f.startEngine('e2', { leaseTtlSeconds: 2 });
  await f.waitLeader();
  await f.createUnits(Array.from({ length: 30 }, (_, i) => unitSpec(`r-${i}.service`)));
  await waitFor('placed', async () => (await f.registry.listSchedule()).length === 30);
  const before = new Map((await f.registry.listSchedule()).map((e) => [e.name, e.machineId]));

  await etcd.restart();
  await f.waitLeader(20000);
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  await f.createUnits([unitSpec('after-restart.service')]);
  await waitFor('new unit placed after the restart', () => obs.placed().has('after-restart.service'), 20000);
  await sleep(500);
  await obs.catchUp();
  const placed = obs.placed();
  for (const [u, m] of before) t.equal(placed.get(u), m, `${u} kept its machine`);
  t.equal(obs.moves, 0);
  t.equal(obs.unschedules, 0);
  t.same(obs.violations, []);
  t.equal(f.leaders().length, 1);
});

t.test('a network blip shorter than the lease TTL costs no leadership', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const e = await f.startEngine('e1', { leaseTtlSeconds: 4 });
  await f.startEngine('e2', { leaseTtlSeconds: 4 });
  const leader = await f.waitLeader();
  await sleep(500);
  leader.proxy.cut();
  await sleep(1000);
  leader.proxy.restore();
  const terms = leader.engine.stats.elections;
  await f.createUnits([unitSpec('blip.service')]);
  await waitFor('placed after the blip', async () => (await f.registry.listSchedule()).length === 1, 10000);
  await sleep(4500);
  t.ok(leader.engine.isLeader, 'the leader kept its lease');
  t.equal(leader.engine.stats.elections, terms, 'without a new term');
  t.equal(f.leaders().length, 1);
  t.ok(e === leader || !e.engine.isLeader);
});
