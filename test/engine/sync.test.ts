/**
 * The leader mirrors job changes into schedule entries within milliseconds, unschedules inactive units, and a
 * new or restarted leader changes nothing in a converged cluster.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

t.test('desired state and content changes reach the schedule entry at once; inactive unschedules', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const leader = await f.startEngine('e1', { reconcileIntervalMs: 60_000 });
  await f.waitLeader();
  const specs = ['a', 'b', 'c', 'd'].map((n) => unitSpec(`${n}.service`));
  await f.createUnits(specs);
  await waitFor('4 units placed', () => obs.placed().size === 4);

  const entry = async (name: string) => (await f.registry.listSchedule()).find((e) => e.name === name);
  const timed = async (what: string, change: () => Promise<unknown>, done: () => Promise<boolean>): Promise<number> => {
    const started = Date.now();
    await change();
    await waitFor(what, async () => (await done()) || undefined, 5000);
    const ms = Date.now() - started;
    t.ok(ms < 1000, `${what} within ${ms} ms (periodic pass is 60 s away)`);
    return ms;
  };

  await timed('launched -> loaded mirrored', () => f.registry.setDesiredState('a.service', 'loaded'), async () => (await entry('a.service'))?.desiredState === 'loaded');
  await timed('loaded -> launched mirrored', () => f.registry.setDesiredState('a.service', 'launched'), async () => (await entry('a.service'))?.desiredState === 'launched');

  const before = obs.placed().get('b.service');
  const replaced = unitSpec('b.service', { desc: 'b, new contents' });
  await timed('new contents mirrored', () => f.registry.createUnit(replaced), async () => (await entry('b.service'))?.hash === replaced.hash);
  t.equal(obs.placed().get('b.service'), before, 'a replaced unit is redeployed in place');

  await timed('inactive unschedules', () => f.registry.setDesiredState('c.service', 'inactive'), async () => (await entry('c.service')) === undefined);
  t.equal((await f.registry.getUnit('c.service'))?.machineId, undefined);
  await timed('active again is placed again', () => f.registry.setDesiredState('c.service', 'loaded'), async () => (await entry('c.service'))?.desiredState === 'loaded');

  await f.registry.destroyUnit('d.service');
  await sleep(200);
  await obs.catchUp();
  t.same(obs.violations, []);
  t.equal(obs.moves, 0, 'nothing moved');
  t.ok(leader.engine.stats.opsApplied >= 4 + 4);
  t.equal(leader.engine.stats.reconcileFailures, 0);
  t.equal(leader.engine.stats.pending, 0);
});

t.test('a new leader and a restarted leader change nothing in a converged cluster', async (t) => {
  const f = new Fixture(etcd, t);
  for (const m of ['m1', 'm2', 'm3']) await f.addMachine(m, { zone: m === 'm3' ? 'b' : 'a' });
  const specs = [
    ...Array.from({ length: 30 }, (_, i) => unitSpec(`plain-${i}.service`)),
    unitSpec('db.service'),
    unitSpec('db-sidekick.service', { xfleet: ['MachineOf=db.service'] }),
    unitSpec('zoned.service', { xfleet: ['MachineMetadata=zone=b'] }),
    unitSpec('loaded-only.service', { desiredState: 'loaded' }),
    unitSpec('off.service', { desiredState: 'inactive' }),
    ...Array.from({ length: 3 }, (_, i) => unitSpec(`excl-${i}.service`, { xfleet: ['Conflicts=excl-*.service'] })),
  ];
  await f.createUnits(specs);
  const e1 = await f.startEngine('e1');
  await f.waitLeader();
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  await waitFor('all active units placed', () => obs.placed().size === specs.length - 1);
  await sleep(300);
  await obs.catchUp();
  const converged = new Map(obs.placed());
  const writes = obs.scheduleWrites;

  // a second engine takes over when the first steps down
  const e2 = await f.startEngine('e2');
  await sleep(200);
  t.notOk(e2.engine.isLeader, 'a second engine waits while the first leads');
  await e1.engine.stop();
  await f.waitLeader(10000);
  t.ok(e2.engine.isLeader, 'the other engine leads after a resignation');
  await waitFor('e2 ran a pass', () => e2.engine.stats.reconciles >= 2);
  await sleep(500);
  await obs.catchUp();
  t.same(obs.placed(), converged, 'same placement after the leader change');
  t.equal(obs.scheduleWrites, writes, 'the new leader wrote nothing');

  // a restarted engine (new instance, same machine id) leading again changes nothing either
  await e2.engine.stop();
  const e1b = await f.startEngine('e1');
  await f.waitLeader(10000);
  t.ok(e1b.engine.isLeader);
  await waitFor('restarted engine ran a pass', () => e1b.engine.stats.reconciles >= 2);
  await sleep(500);
  await obs.catchUp();
  t.same(obs.placed(), converged);
  t.equal(obs.scheduleWrites, writes, 'the restarted leader wrote nothing');
  t.same(obs.violations, []);
});

t.test('a leader that lost its lease and leads again changes nothing', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  const e = await f.startEngine('e1', { leaseTtlSeconds: 2 });
  await f.waitLeader();
  await f.createUnits(Array.from({ length: 20 }, (_, i) => unitSpec(`s-${i}.service`)));
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  await waitFor('placed', () => obs.placed().size === 20);
  await sleep(300);
  await obs.catchUp();
  const converged = new Map(obs.placed());
  const writes = obs.scheduleWrites;
  const terms = e.engine.stats.elections;

  e.proxy.freeze('both');
  t.teardown(() => e.proxy.thaw());
  await waitFor('deposed', () => !e.engine.isLeader, 5000);
  e.proxy.thaw();
  await waitFor('leading again', () => e.engine.isLeader && e.engine.stats.elections === terms + 1, 15000);
  const passes = e.engine.stats.reconciles;
  await waitFor('a pass of the new term', () => e.engine.stats.reconciles > passes);
  await sleep(300);
  await obs.catchUp();
  t.same(obs.placed(), converged);
  t.equal(obs.scheduleWrites, writes, 'the new term wrote nothing');
  t.same(obs.violations, []);
});

t.test('a new leader mirrors changes made while there was none', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const e1 = await f.startEngine('e1');
  await f.waitLeader();
  await f.createUnits([unitSpec('x.service'), unitSpec('y.service')]);
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  await waitFor('placed', () => obs.placed().size === 2);
  await e1.engine.stop();
  await f.registry.setDesiredState('x.service', 'loaded');
  await f.registry.createUnit(unitSpec('y.service', { desc: 'y v2' }));
  await sleep(100);
  t.equal((await f.registry.listSchedule()).find((e) => e.name === 'x.service')?.desiredState, 'launched', 'nobody mirrors without a leader');
  await f.startEngine('e2');
  await waitFor('x mirrored', async () => (await f.registry.listSchedule()).find((e) => e.name === 'x.service')?.desiredState === 'loaded');
  await waitFor('y mirrored', async () => (await f.registry.listSchedule()).find((e) => e.name === 'y.service')?.hash === unitSpec('y.service', { desc: 'y v2' }).hash);
  t.equal(obs.moves, 0);
  t.same(obs.violations, []);
});

t.test('with watches disabled the periodic pass still converges', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const e = await f.startEngine('e1', { disableWatches: true, reconcileIntervalMs: 300 });
  await f.waitLeader();
  await f.createUnits([unitSpec('p.service')]);
  await waitFor('placed by the periodic pass', async () => (await f.registry.listSchedule()).length === 1, 5000);
  t.ok(e.engine.stats.reconciles >= 1);
});

t.test('passes read nothing from etcd but the texts of new units', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  await f.createUnits(Array.from({ length: 50 }, (_, i) => unitSpec(`q-${i}.service`)));
  const e = await f.startEngine('e1', { reconcileIntervalMs: 100 });
  await f.waitLeader();
  await waitFor('placed', async () => (await f.registry.listSchedule()).length === 50);
  await sleep(300);

  const calls: string[] = [];
  const kv = e.client.kv;
  for (const m of ['range', 'txn', 'put', 'deleteRange'] as const) {
    const orig = kv[m].bind(kv) as (...a: unknown[]) => Promise<unknown>;
    (kv as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
      calls.push(m);
      return orig(...a);
    };
  }
  const passes = e.engine.stats.reconciles;
  await sleep(1000);
  t.ok(e.engine.stats.reconciles - passes >= 5, `${e.engine.stats.reconciles - passes} periodic passes`);
  t.same(calls, [], 'a converged cluster costs no etcd request per pass');

  await f.registry.setDesiredState('q-1.service', 'loaded');
  await waitFor('synced', async () => (await f.registry.listSchedule()).find((x) => x.name === 'q-1.service')?.desiredState === 'loaded');
  await sleep(300);
  t.same(calls, ['txn'], 'a desired-state change costs one write');

  calls.length = 0;
  await f.createUnits([unitSpec('q-new.service')]);
  await waitFor('placed', async () => (await f.registry.listSchedule()).some((x) => x.name === 'q-new.service'));
  await sleep(300);
  t.same(calls, ['txn', 'txn'], 'a new unit costs reading its text and one write');
});
