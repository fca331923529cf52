/**
 * The leader record's `since` is when the term began (leadership acquired), not when the campaign began: a
 * candidate that waits behind a leader and wins later must not claim the earlier time. Real etcd.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { Registry, type Election, type LeaderRecord } from '../../lib/registry/index.js';
import { startEtcd } from '../harness/etcd.js';

const etcd = await startEtcd(t);

function elected(e: Election): Promise<void> {
  return new Promise((resolve) => e.once('elected', () => resolve()));
}

t.test('a candidate that waited behind a leader records since = when it won, not when it campaigned', async (t) => {
  const registry = new Registry(etcd.client, `/small-${randomUUID()}/`);
  const key = `${registry.prefix}engine/leader`;
  const a = registry.election('machine-a', 2);
  const b = registry.election('machine-b', 2);
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  const aWon = elected(a);
  a.start();
  await aWon;
  const bWon = elected(b);
  b.start();
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(b.current, undefined, 'b waits while a leads');
  const handover = Date.now();
  await a.stop();
  await bWon;
  const raw = (await etcd.client.get(key).string()) ?? '';
  const rec = JSON.parse(raw) as LeaderRecord;
  t.equal(rec.machineId, 'machine-b');
  const since = Date.parse(rec.since);
  t.ok(since >= handover, `since ${rec.since} is not before the handover at ${new Date(handover).toISOString()}`);
  t.ok(since <= Date.now(), 'since is not in the future');
});
