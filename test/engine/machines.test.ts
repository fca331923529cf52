/**
 * Machine presence and the schedule: a lost machine's units (and only those) move, a joining machine takes
 * nothing away from others, and the grace delay keeps units on a lost machine that long.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

function onMachine(placed: ReadonlyMap<string, string>, m: string): string[] {
  return [...placed].filter(([, at]) => at === m).map(([u]) => u).sort();
}

t.test('a lost machine moves only its own units; a joining machine moves nothing', async (t) => {
  const f = new Fixture(etcd, t);
  for (const m of ['m1', 'm2', 'm3', 'm4']) await f.addMachine(m, m === 'm2' ? { role: 'db' } : {});
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const e = await f.startEngine('e1');
  await f.waitLeader();
  const specs = [
    ...Array.from({ length: 39 }, (_, i) => unitSpec(`u-${String(i).padStart(2, '0')}.service`)),
    unitSpec('db.service', { xfleet: ['MachineMetadata=role=db'] }),
  ];
  await f.createUnits(specs);
  await waitFor('40 units placed', () => obs.placed().size === 40);
  const before = new Map(obs.placed());
  t.equal(before.get('db.service'), 'm2');
  const victims = onMachine(before, 'm2');
  t.ok(victims.length >= 5, `m2 runs ${victims.length} units`);

  const lostAt = Date.now();
  await f.removeMachine('m2');
  await waitFor('m2 emptied', () => onMachine(obs.placed(), 'm2').length === 0);
  await waitFor('its movable units placed elsewhere', () => obs.placed().size === 39);
  const ms = Date.now() - lostAt;
  t.ok(ms < 1000, `units of the lost machine moved within ${ms} ms`);
  await sleep(200);
  await obs.catchUp();
  const after = obs.placed();
  for (const [u, m] of before) {
    if (m !== 'm2') t.equal(after.get(u), m, `${u} stayed on ${m}`);
  }
  t.equal(obs.moves, victims.length - 1, 'one move per unit of the lost machine');
  t.equal(obs.unschedules, 1, 'db.service, which fits nowhere else, is unscheduled');
  t.equal(after.get('db.service'), undefined);
  t.match(e.engine.plan.pending, [{ unit: 'db.service', reason: /role/ }]);
  t.equal(e.engine.stats.pending, 1);

  const writes = obs.scheduleWrites;
  await f.addMachine('m5');
  await sleep(800);
  await obs.catchUp();
  t.same(obs.placed(), after, 'a new machine takes no unit from the others');
  t.equal(obs.scheduleWrites, writes, 'no schedule write at all');

  await f.createUnits([unitSpec('fresh.service')]);
  await waitFor('fresh placed', () => obs.placed().has('fresh.service'));
  t.equal(obs.placed().get('fresh.service'), 'm5', 'new work goes to the least-loaded machine');

  await f.addMachine('m2', { role: 'db' });
  await waitFor('db.service back on m2', () => obs.placed().get('db.service') === 'm2');
  t.equal(e.engine.stats.pending, 0);
  await sleep(300);
  await obs.catchUp();
  t.same(obs.violations, []);
});

t.test('the grace delay keeps units on a lost machine, then moves them', async (t) => {
  const f = new Fixture(etcd, t);
  for (const m of ['m1', 'm2', 'm3']) await f.addMachine(m);
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const graceMs = 1500;
  const e = await f.startEngine('e1', { machineLostGraceMs: graceMs, reconcileIntervalMs: 60_000 });
  await f.waitLeader();
  await f.createUnits(Array.from({ length: 12 }, (_, i) => unitSpec(`g-${i}.service`)));
  await waitFor('placed', () => obs.placed().size === 12);
  const before = new Map(obs.placed());
  const onM1 = onMachine(before, 'm1');

  // back within the grace period: nothing moves
  await f.removeMachine('m2');
  await sleep(500);
  await f.addMachine('m2');
  await sleep(graceMs + 500);
  await obs.catchUp();
  t.same(obs.placed(), before, 'a machine back within the grace period keeps its units');
  t.equal(obs.moves, 0);

  const lostAt = Date.now();
  await f.removeMachine('m1');
  await sleep(graceMs - 400);
  t.same(onMachine(obs.placed(), 'm1'), onM1, 'units wait on the lost machine during the grace period');
  t.match(e.engine.plan.pending, onM1.map((u) => ({ unit: u, reason: /machine m1 lost, moving in/ })));
  await waitFor('units moved after the grace period', () => onMachine(obs.placed(), 'm1').length === 0, 5000);
  const ms = Date.now() - lostAt;
  t.ok(ms >= graceMs, `moved after ${ms} ms (grace ${graceMs} ms)`);
  t.ok(ms < graceMs + 1000, 'a timer, not the 60 s periodic pass, moved them');
  t.equal(obs.moves, onM1.length);
  t.same(obs.violations, []);
});

t.test('a machine whose presence lease expires loses its units', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const dying = await f.addMachine('m2', {}, 2);
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  await f.startEngine('e1');
  await f.waitLeader();
  await f.createUnits(Array.from({ length: 6 }, (_, i) => unitSpec(`x-${i}.service`)));
  await waitFor('placed on both', () => onMachine(obs.placed(), 'm2').length === 3 && obs.placed().size === 6);
  await dying.close({ revoke: false });
  await waitFor('moved to m1 after the lease expired', () => onMachine(obs.placed(), 'm1').length === 6, 10000);
  t.equal(obs.moves, 3);
  t.same(obs.violations, []);
});
