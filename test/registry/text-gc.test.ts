/**
 * Collecting unit texts no unit references any more (Registry.collectUnitTexts, maybeCollectUnitTexts): texts of
 * destroyed and replaced units go, texts still named by a job, a schedule entry or a global entry stay, and a
 * submit racing the collection never loses its text. Real etcd.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { FencedError, TEXT_GC_INTERVAL_MS, type Fence } from '../../lib/registry/index.js';
import type { TestRegistry as Registry } from '../harness/registry.js';
import { freshRegistry, machine, spec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

async function leaderFence(reg: Registry): Promise<Fence> {
  const key = `${reg.prefix}engine/test-leader`;
  await etcd.client.put(key).value('me');
  return reg.fenceFor(key);
}

const stored = async (reg: Registry, hash: string): Promise<boolean> =>
  (await etcd.client.get(reg.keyspace.unit(hash)).string()) !== null;

t.test('unreferenced texts are removed, referenced ones kept', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const gone = spec('gone.service');
  const v1 = spec('web.service', { desc: 'v1' });
  const v2 = spec('web.service', { desc: 'v2' });
  const shared = spec('a.service', { desc: 'shared' });
  const glob = spec('g.service', { global: true, desiredState: 'launched' });
  await reg.createUnit(gone);
  await reg.destroyUnit('gone.service');
  await reg.createUnit(v1);
  await reg.createUnit(v2); // v1's text is unreferenced now
  await reg.createUnit(shared);
  await reg.createUnit({ ...shared, name: 'b.service' });
  await reg.destroyUnit('a.service'); // b.service still uses the text
  await reg.createUnit(glob);

  // a schedule entry still naming an old hash (the engine has not synced yet) keeps that text
  const p = await reg.registerMachine(machine('m1'), 30);
  t.teardown(() => p.close());
  const sched = spec('s.service', { desc: 's-old', desiredState: 'launched' });
  await reg.createUnit(sched);
  const fence = await leaderFence(reg);
  const [placed] = await reg.applySchedule([{ type: 'place', name: 's.service', machineId: 'm1', hash: sched.hash, desiredState: 'launched' }], fence);
  t.ok(placed?.applied);
  const schedNew = spec('s.service', { desc: 's-new', desiredState: 'launched' });
  await reg.createUnit(schedNew);

  const r = await reg.collectUnitTexts({ fence });
  t.same([...r.removed].sort(), [gone.hash, v1.hash].sort());
  t.notOk(await stored(reg, gone.hash));
  t.notOk(await stored(reg, v1.hash));
  for (const kept of [v2, shared, glob, sched, schedNew]) t.ok(await stored(reg, kept.hash), `${kept.name} ${kept.text.split('\n')[1]} kept`);
  t.equal((await reg.getUnit('web.service'))?.text, v2.text);
  t.equal((await reg.getUnit('b.service'))?.text, shared.text);
  t.same((await reg.collectUnitTexts()).removed, [], 'nothing left to remove');

  // a fence that no longer holds deletes nothing
  await reg.destroyUnit('b.service');
  await etcd.client.delete().key(fence.key);
  await t.rejects(reg.collectUnitTexts({ fence }), FencedError);
  t.ok(await stored(reg, shared.hash));
});

t.test('onlyAmong: only texts already found unreferenced earlier are removed', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const a = spec('a.service');
  const b = spec('b.service');
  await reg.createUnit(a);
  await reg.createUnit(b);
  await reg.destroyUnit('a.service');
  const first = await reg.collectUnitTexts({ onlyAmong: new Set() });
  t.same(first.removed, []);
  t.same([...first.unreferenced], [a.hash]);
  await reg.destroyUnit('b.service');
  const second = await reg.collectUnitTexts({ onlyAmong: first.unreferenced });
  t.same(second.removed, [a.hash]);
  t.ok(await stored(reg, b.hash), 'b became unreferenced only now: kept until the next collection');
});

t.test('maybeCollectUnitTexts runs at most once per interval, with one interval of grace', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const fence = await leaderFence(reg);
  const a = spec('a.service');
  await reg.createUnit(a);
  await reg.destroyUnit('a.service');
  const t0 = 1_000_000_000;
  reg.maybeCollectUnitTexts(fence, t0); // finds a unreferenced, deletes nothing yet
  await reg.close();
  t.ok(await stored(reg, a.hash), 'kept for one interval');
  reg.maybeCollectUnitTexts(fence, t0 + TEXT_GC_INTERVAL_MS - 1); // too early: does not run
  await reg.close();
  t.ok(await stored(reg, a.hash));
  reg.maybeCollectUnitTexts(fence, t0 + TEXT_GC_INTERVAL_MS);
  await waitFor('text removed', async () => !(await stored(reg, a.hash)));
});

t.test('a submit racing the collection never loses its text', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const rounds = 60;
  let lostRaces = 0;
  for (let i = 0; i < rounds; i++) {
    const u = spec(`r${i}.service`);
    // the text is there but unreferenced: the collection wants it, the submit reuses it
    await reg.createUnit({ ...u, name: `old${i}.service` });
    await reg.destroyUnit(`old${i}.service`);
    const [r] = await Promise.all([reg.collectUnitTexts(), reg.createUnit(u)]);
    if (r.removed.includes(u.hash)) lostRaces++;
    t.ok(await stored(reg, u.hash), `round ${i}: text of the submitted unit is stored`);
    t.equal((await reg.getUnit(u.name))?.text, u.text);
  }
  t.comment(`the collection saw the text unreferenced and deleted it first in ${lostRaces} of ${rounds} rounds`);
});
