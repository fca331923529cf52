/**
 * A malformed engine leader record, written into etcd by anyone: engines never crash on it, never take it for a
 * leader's id, never lead twice, and a leaseless one (which nothing would ever remove) does not leave the cluster
 * without a leader. One on a live lease is waited out like any holder.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { Fixture, ScheduleObserver, sleep, unitSpec, waitFor, type EngineHandle } from './helpers.js';

const etcd = await startEtcd(t);

const GARBAGE = ['not json {', '{"machineId":5,"since":"2026-01-01T00:00:00Z"}', '["a"]', '{"machineId":"a/b","since":"x"}'];

/** Every leader id either engine reported (election 'leader' events). */
function reportedLeaders(hs: readonly EngineHandle[]): Set<string | undefined> {
  const seen = new Set<string | undefined>();
  for (const h of hs) h.engine.election.on('leader', (id) => seen.add(id));
  return seen;
}

t.test('garbage in the leader key: no crash, no leader named after it, one leader again', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  await f.addMachine('m2');
  const obs = await ScheduleObserver.start(f.client, f.prefix, t);
  const names = ['g-1.service', 'g-2.service', 'g-3.service'];
  const a = await f.startEngine('a');
  const b = await f.startEngine('b');
  const engines = [a, b];
  const seen = reportedLeaders(engines);
  await f.waitLeader();
  await f.createUnits(names.map((n) => unitSpec(n)));
  await waitFor('the units placed', () => obs.placed().size === names.length, 10000);
  const key = a.engine.election.key;
  t.equal(key, `${f.prefix}engine/leader`, 'the leader key is Keyspace.engineLeader');

  for (const garbage of GARBAGE) {
    await f.client.put(key).value(garbage).exec();
    const leader = await waitFor(`one leader again after ${JSON.stringify(garbage)}`, async () => {
      const l = f.leaders();
      if (l.length !== 1) return undefined;
      const raw = (await f.client.get(key).string()) ?? '';
      return raw.includes(`"machineId":"${l[0]!.id}"`) ? l[0] : undefined;
    }, 10000);
    await waitFor('both engines name it', () => engines.every((h) => h.engine.election.leader === leader.id), 5000);
  }
  for (const id of seen) t.ok(id === undefined || id === 'a' || id === 'b', `reported leader ${String(id)} is an engine`);

  // a malformed record on a live lease is a holder like any other: waited out, never named, never deleted
  await Promise.all(engines.map((h) => h.engine.stop()));
  const lease = f.client.lease(2);
  const leaseId = await lease.grant();
  await f.client.delete().key(key).exec();
  await f.client.put(key).value('held {').lease(leaseId).exec();
  const c = await f.startEngine('c');
  await sleep(1500);
  t.notOk(c.engine.isLeader, 'nobody leads over a live malformed record');
  t.equal(await f.client.get(key).string(), 'held {', 'the record on a live lease is left alone');
  t.equal(c.engine.election.leader, undefined, 'and it names no leader');
  await lease.revoke();
  await waitFor('a new engine leads once it is gone', () => c.engine.isLeader, 10000);

  await f.createUnits([unitSpec('g-4.service')]);
  await waitFor('a new unit placed', () => obs.placed().size === names.length + 1, 10000);
  await obs.catchUp();
  t.same(obs.violations, [], 'the schedule invariant held throughout (no two leaders wrote)');
});
