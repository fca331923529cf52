/** The engine rides out an etcd restart: it leads again (or still), keeps the schedule, and schedules new work. */
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
