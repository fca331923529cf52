/**
 * Fencing and failover: a leader cut off from etcd whose lease expired cannot write; its write still in flight
 * when it comes back fails with FencedError, nothing of it lands, and it steps down. A leader that dies without
 * resigning is replaced within its lease TTL (plus etcd's expiry granularity).
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { FencedError } from '../../lib/registry/index.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor, type EngineHandle } from './helpers.js';

const etcd = await startEtcd(t);

const names = Array.from({ length: 20 }, (_, i) => `f-${String(i).padStart(2, '0')}.service`);

/**
 * A leader whose requirements cache already holds the units (so planning needs no etcd read), then frozen on
 * the way to etcd right before the units are activated: it plans and sends its write into the frozen connection.
 */
async function leaderWithWriteInFlight(f: Fixture, t: Test): Promise<EngineHandle> {
  const a = await f.startEngine('a', { leaseTtlSeconds: 2, requestTimeoutMs: 30_000 });
  await f.waitLeader();
  await f.createUnits(names.map((n) => unitSpec(n, { desiredState: 'inactive' })));
  const seen = a.engine.stats.reconciles;
  await waitFor('the leader saw the units', () => a.engine.stats.reconciles > seen);
  await sleep(200);
  const fenced: FencedError[] = [];
  a.engine.on('fenced', (err) => fenced.push(err));
  t.teardown(() => a.proxy.thaw());
  a.proxy.freeze('up');
  await Promise.all(names.map((n) => f.registry.setDesiredState(n, 'launched')));
  await waitFor('its write held in the frozen connection', () => a.proxy.heldChunks('up') > 0 && a.engine.stats.reconciles > seen + 1);
  await sleep(300);
  t.equal(a.engine.stats.opsApplied, 0, 'nothing written yet');
  return a;
}

t.test('a deposed leader cannot write: its in-flight write is fenced and nothing of it lands', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const a = await leaderWithWriteInFlight(f, t);
  const key = a.engine.election.key;

  await waitFor('the frozen leader lease to expire in etcd', async () => (await f.client.get(key).exec()).kvs.length === 0, 10000);
  // another leader (this test) holds the key: the old fence no longer matches, while every op's own
  // preconditions (target absent, job unchanged, machine alive) still hold
  await f.client.put(key).value(JSON.stringify({ machineId: 'usurper', since: new Date().toISOString() })).exec();
  await waitFor('the old leader noticed it lost its lease', () => !a.engine.isLeader, 5000);

  const fencedBefore = a.engine.stats.fencedWrites;
  a.proxy.thaw();
  await waitFor('the held write to fail with FencedError', () => a.engine.stats.fencedWrites > fencedBefore, 10000);
  await sleep(500);
  await obs.catchUp();
  t.same(await f.registry.listSchedule(), [], 'no schedule entry was written');
  t.equal(obs.scheduleWrites, 0, 'not a single schedule write happened');
  t.equal(obs.placements, 0);
  t.equal(a.engine.stats.opsApplied, 0);
  t.notOk(a.engine.isLeader, 'the old leader stepped down');
  await waitFor('it sees the new leader', () => a.engine.election.leader === 'usurper', 5000);
  await sleep(500);
  t.notOk(a.engine.isLeader, 'and does not take over while the key is held');

  await f.client.delete().key(key).exec();
  await waitFor('it leads again once the key is free', () => a.engine.isLeader, 10000);
  await waitFor('and schedules everything', () => obs.placed().size === names.length, 10000);
  t.same(obs.violations, []);
  t.equal(obs.moves, 0);
});

t.test('a new leader takes over from a frozen one; the old one comes back fenced', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const a = await leaderWithWriteInFlight(f, t);
  const errors: FencedError[] = [];
  a.engine.on('fenced', (e) => errors.push(e));
  const b = await f.startEngine('b', { leaseTtlSeconds: 2 });
  await waitFor('b leads', () => b.engine.isLeader, 10000);
  await waitFor('b placed every unit', () => obs.placed().size === names.length, 10000);
  t.notOk(a.engine.isLeader, 'the frozen engine knows it lost its lease');

  a.proxy.thaw();
  await waitFor('the old write to fail with FencedError', () => errors.length > 0, 10000);
  t.type(errors[0], FencedError);
  t.equal(errors[0]!.expectedCreateRevision !== errors[0]!.actualCreateRevision, true);
  await sleep(500);
  await obs.catchUp();
  t.equal(obs.placements, names.length, 'every unit was placed exactly once');
  t.equal(obs.moves, 0);
  t.equal(obs.unschedules, 0);
  t.same(obs.violations, []);
  t.ok(b.engine.isLeader, 'b still leads');
  t.notOk(a.engine.isLeader);
  t.equal(a.engine.election.leader, 'b');
});

t.test('failover after a leader dies without resigning takes at most the lease TTL', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const ttl = 4; // fleetd's default engine_lease_ttl
  const es = [await f.startEngine('e1', { leaseTtlSeconds: ttl }), await f.startEngine('e2', { leaseTtlSeconds: ttl })];
  const first = await f.waitLeader();
  await sleep(300);
  const killedAt = Date.now();
  first.kill();
  const next = await f.waitLeader(15000, first);
  const ms = Date.now() - killedAt;
  t.ok(ms <= ttl * 1000 + 1500, `another engine leads ${ms} ms after the leader died (TTL ${ttl} s)`);
  t.not(next, first);
  await waitFor('the dead leader knows', () => !first.engine.isLeader, 3000);
  t.equal(es.filter((e) => e.engine.isLeader).length, 1);

  // frozen (like SIGSTOP) instead of dead: same bound
  const frozenAt = Date.now();
  next.proxy.freeze('both');
  t.teardown(() => next.proxy.thaw());
  const third = await f.startEngine('e3', { leaseTtlSeconds: ttl });
  await waitFor('e3 leads', () => third.engine.isLeader, 15000);
  const ms2 = Date.now() - frozenAt;
  t.ok(ms2 <= ttl * 1000 + 1500, `a frozen leader is replaced after ${ms2} ms`);

  // a clean stop hands over at once
  next.proxy.thaw();
  const fourth = await f.startEngine('e4', { leaseTtlSeconds: ttl });
  await sleep(300);
  const stoppedAt = Date.now();
  await third.engine.stop();
  const successor = await waitFor('a successor', () => f.leaders()[0], 5000);
  const ms3 = Date.now() - stoppedAt;
  t.ok(ms3 < 1000, `resignation hands over in ${ms3} ms (to ${successor.id})`);
  t.ok(successor === fourth || successor === next);
});

t.test('a leader whose key disappears ends its term at once and campaigns again', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const a = await f.startEngine('a', { leaseTtlSeconds: 10 });
  await f.waitLeader();
  const fence = a.engine.election.current!;
  const ended: string[] = [];
  a.engine.on('stepped-down', (reason) => ended.push(reason));
  await f.client.delete().key(a.engine.election.key).exec();
  await waitFor('the term to end', () => ended.length > 0, 2000);
  t.match(ended[0], /deleted/);
  await waitFor('a new term', () => a.engine.isLeader && a.engine.stats.elections === 2, 5000);
  t.not(a.engine.election.current?.createRevision, fence.createRevision, 'with a new fence');
  await f.createUnits([unitSpec('k.service')]);
  await waitFor('it schedules', async () => (await f.registry.listSchedule()).length === 1);
});
