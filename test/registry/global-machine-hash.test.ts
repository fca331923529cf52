/**
 * Per-machine hash overrides of a global unit (Registry.setGlobalMachineHash, keys.globalMachine), the piece a
 * rolling update of a Global unit is built on: set and clear, refused for a text the registry does not hold or a
 * unit that is not global, fenced like applySchedule, gone with the unit (destroy, no longer global), kept by
 * createUnit, and the texts they name kept by collectUnitTexts. The same cases run against the in-memory fake
 * (lib/registry/fake.ts), which agent tests stand on, so fake and real behave alike. Real etcd.
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import {
  FencedError,
  InvalidKeyError,
  UnitNotFoundError,
  UnitNotGlobalError,
  UnitTextNotFoundError,
  type Fence,
  type GlobalUnitEntry,
} from '../../lib/registry/index.js';
import { FakeRegistry } from '../../lib/registry/fake.js';
import type { TestRegistry } from '../harness/registry.js';
import { freshRegistry, sha1, spec, unitText, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

const NEVER_STORED = sha1('no unit has this text');

/** Watches the global units of a registry (real or fake) and keeps the last snapshot. */
async function watchGlobals(
  t: Test,
  reg: { watchGlobalUnits: TestRegistry['watchGlobalUnits'] },
): Promise<() => ReadonlyMap<string, GlobalUnitEntry>> {
  let seen: ReadonlyMap<string, GlobalUnitEntry> = new Map();
  const w = await reg.watchGlobalUnits((snap) => {
    seen = new Map(snap);
  });
  t.teardown(() => w.close());
  return () => seen;
}

t.test('set and clear an override: agents see it in GlobalUnitEntry.machineHashes; createUnit leaves it', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const seen = await watchGlobals(t, reg);
  const v1 = spec('g.service', { global: true, desiredState: 'launched', desc: 'v1' });
  const v2 = spec('g.service', { global: true, desiredState: 'launched', desc: 'v2' });
  await reg.createUnit(v1);
  await reg.createUnit(v2);
  const key = reg.keyspace.globalMachine('g.service', 'm1');
  t.equal(key, `${reg.prefix}global/g.service/machine/m1`);

  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash);
  t.equal(await etcd.client.get(key).string(), JSON.stringify({ hash: v1.hash }), 'stored as {"hash"}');
  await waitFor('override seen', () => seen().get('g.service')?.machineHashes !== undefined);
  t.same(seen().get('g.service'), { name: 'g.service', hash: v2.hash, desiredState: 'launched', machineHashes: { m1: v1.hash } });

  await reg.createUnit(v2);
  t.equal(await etcd.client.get(key).string(), JSON.stringify({ hash: v1.hash }), 'submitting the global unit again keeps it');

  await reg.setGlobalMachineHash('g.service', 'm1', null);
  t.equal(await etcd.client.get(key).string(), null, 'null removes it');
  await waitFor('override gone', () => seen().get('g.service')?.machineHashes === undefined);
  t.same(seen().get('g.service'), { name: 'g.service', hash: v2.hash, desiredState: 'launched' });
  await reg.setGlobalMachineHash('g.service', 'm1', null); // removing an absent override is no error
});

t.test('setting an override rewrites the text, so a collection that found it unreferenced cannot delete it', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const v1 = spec('g.service', { global: true, desc: 'v1' });
  const v2 = spec('g.service', { global: true, desc: 'v2' });
  await reg.createUnit(v1);
  await reg.createUnit(v2);
  const before = (await etcd.client.get(reg.keyspace.unit(v1.hash)).exec()).kvs[0]?.mod_revision;
  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash);
  const after = (await etcd.client.get(reg.keyspace.unit(v1.hash)).exec()).kvs[0]?.mod_revision;
  t.ok(before !== undefined && after !== undefined && BigInt(after) > BigInt(before), `mod revision ${before} -> ${after}`);
});

t.test('refused: a text not stored, a missing or non-global unit, invalid arguments; nothing written', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const g = spec('g.service', { global: true });
  const plain = spec('p.service', { desc: 'plain' });
  await reg.createUnit(g);
  await reg.createUnit(plain);
  await t.rejects(reg.setGlobalMachineHash('g.service', 'm1', NEVER_STORED), UnitTextNotFoundError, 'text not stored');
  await t.rejects(reg.setGlobalMachineHash('nope.service', 'm1', g.hash), UnitNotFoundError, 'no such unit');
  await t.rejects(reg.setGlobalMachineHash('p.service', 'm1', plain.hash), UnitNotGlobalError, 'not global');
  await t.rejects(reg.setGlobalMachineHash('g.service', 'a/b', g.hash), InvalidKeyError, 'machine id');
  await t.rejects(reg.setGlobalMachineHash('g.service', 'm1', 'abc'), InvalidKeyError, 'hash');
  const written = await etcd.client.getAll().prefix(`${reg.prefix}global/g.service/machine/`).keys();
  t.same(written, []);
  t.equal(await etcd.client.get(`${reg.prefix}global/p.service/machine/m1`).string(), null);
});

t.test('fenced: written only while the fence holds', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const v1 = spec('g.service', { global: true, desc: 'v1' });
  const v2 = spec('g.service', { global: true, desc: 'v2' });
  await reg.createUnit(v1);
  await reg.createUnit(v2);
  const fenceKey = `${reg.prefix}engine/test-leader`;
  const fence = await reg.claimFence(fenceKey);
  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash, fence);
  const key = reg.keyspace.globalMachine('g.service', 'm1');
  t.equal(await etcd.client.get(key).string(), JSON.stringify({ hash: v1.hash }));

  await etcd.client.delete().key(fenceKey);
  await reg.claimFence(fenceKey); // a new leader: another create revision
  await t.rejects(reg.setGlobalMachineHash('g.service', 'm1', null, fence), FencedError, 'a stale fence clears nothing');
  await t.rejects(reg.setGlobalMachineHash('g.service', 'm2', v1.hash, fence), FencedError, 'a stale fence sets nothing');
  t.equal(await etcd.client.get(key).string(), JSON.stringify({ hash: v1.hash }), 'm1 unchanged');
  t.equal(await etcd.client.get(reg.keyspace.globalMachine('g.service', 'm2')).string(), null, 'm2 not written');
  await t.rejects(reg.setGlobalMachineHash('g.service', 'm1', null, { key: fenceKey, createRevision: 'x' } as Fence), InvalidKeyError);
});

t.test('destroy and becoming non-global delete the overrides', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const v1 = spec('g.service', { global: true, desc: 'v1' });
  const v2 = spec('g.service', { global: true, desc: 'v2' });
  const dir = `${reg.prefix}global/g.service/machine/`;
  await reg.createUnit(v1);
  await reg.createUnit(v2);
  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash);
  await reg.setGlobalMachineHash('g.service', 'm2', v1.hash);
  t.equal((await etcd.client.getAll().prefix(dir).keys()).length, 2);
  await reg.destroyUnit('g.service');
  t.same(await etcd.client.getAll().prefix(dir).keys(), [], 'destroyed: gone');

  await reg.createUnit(v2);
  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash);
  await reg.createUnit(spec('g.service', { desc: 'v2' }));
  t.same(await etcd.client.getAll().prefix(dir).keys(), [], 'no longer global: gone');
});

t.test('collectUnitTexts keeps every text an override names', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const v1 = spec('g.service', { global: true, desc: 'v1' });
  const v2 = spec('g.service', { global: true, desc: 'v2' });
  await reg.createUnit(v1);
  await reg.createUnit(v2);
  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash);
  t.same((await reg.collectUnitTexts()).removed, [], 'v1 is still run on m1');
  t.equal(await reg.getUnitText(v1.hash), v1.text);
  await reg.setGlobalMachineHash('g.service', 'm1', null);
  t.same((await reg.collectUnitTexts()).removed, [v1.hash], 'cleared: v1 unreferenced');
});

t.test('a malformed override is ignored (logged), the others still apply', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const seen = await watchGlobals(t, reg);
  const v1 = spec('g.service', { global: true, desc: 'v1' });
  const v2 = spec('g.service', { global: true, desc: 'v2' });
  await reg.createUnit(v1);
  await reg.createUnit(v2);
  await etcd.client.put(reg.keyspace.globalMachine('g.service', 'm9')).value('{"hash":"nope"}');
  await etcd.client.put(reg.keyspace.globalMachine('g.service', 'm8')).value('not json');
  await reg.setGlobalMachineHash('g.service', 'm1', v1.hash);
  await waitFor('override seen', () => seen().get('g.service')?.machineHashes !== undefined);
  t.same(seen().get('g.service')?.machineHashes, { m1: v1.hash });
  t.same((await reg.collectUnitTexts()).removed, [], 'collection still works');
});

/**
 * The same behaviour through the in-memory fake and the real registry: what agents see, what is refused, and
 * that the overrides go with the unit. `store` stores a text (hash back), `global`/`plain`/`remove` set the unit.
 */
interface Driver {
  readonly reg: Pick<FakeRegistry, 'setGlobalMachineHash' | 'watchGlobalUnits'>;
  store(text: string): Promise<string>;
  global(name: string, hash: string): Promise<void>;
  plain(name: string, hash: string): Promise<void>;
  remove(name: string): Promise<void>;
  fence(): Promise<Fence>;
  newLeader(): Promise<void>;
}

async function contract(t: Test, d: Driver): Promise<void> {
  const seen = await watchGlobals(t, d.reg);
  const h1 = await d.store(unitText('v1'));
  const h2 = await d.store(unitText('v2'));
  const hp = await d.store(unitText('plain'));
  await d.global('g.service', h2);
  await d.plain('p.service', hp);
  const fence = await d.fence();
  await d.reg.setGlobalMachineHash('g.service', 'm1', h1, fence);
  await d.reg.setGlobalMachineHash('g.service', 'm2', h2);
  await waitFor('both overrides seen', () => Object.keys(seen().get('g.service')?.machineHashes ?? {}).length === 2);
  t.same(seen().get('g.service'), { name: 'g.service', hash: h2, desiredState: 'launched', machineHashes: { m1: h1, m2: h2 } });
  await d.reg.setGlobalMachineHash('g.service', 'm2', null);
  await waitFor('m2 cleared', () => Object.keys(seen().get('g.service')?.machineHashes ?? {}).length === 1);
  t.same(seen().get('g.service')?.machineHashes, { m1: h1 });
  await d.global('g.service', h2);
  await t.rejects(d.reg.setGlobalMachineHash('g.service', 'm1', NEVER_STORED), UnitTextNotFoundError);
  await t.rejects(d.reg.setGlobalMachineHash('nope.service', 'm1', h1), UnitNotFoundError);
  await t.rejects(d.reg.setGlobalMachineHash('p.service', 'm1', h1), UnitNotGlobalError);
  await t.rejects(d.reg.setGlobalMachineHash('g.service', 'a/b', h1), InvalidKeyError);
  await t.rejects(d.reg.setGlobalMachineHash('g.service', 'm1', 'abc'), InvalidKeyError);
  await d.newLeader();
  await t.rejects(d.reg.setGlobalMachineHash('g.service', 'm1', null, fence), FencedError);
  await new Promise((r) => setTimeout(r, 50));
  t.same(seen().get('g.service')?.machineHashes, { m1: h1 }, 'submitting again, refusals: override unchanged');
  await d.remove('g.service');
  await d.global('g.service', h2);
  await waitFor('unit back', () => seen().has('g.service'));
  await new Promise((r) => setTimeout(r, 50));
  t.same(seen().get('g.service'), { name: 'g.service', hash: h2, desiredState: 'launched' }, 'destroyed with the unit');
}

t.test('contract: the real registry', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const texts = new Map<string, string>();
  const fenceKey = `${reg.prefix}engine/test-leader`;
  await contract(t, {
    reg,
    async store(text) {
      // a text is stored by submitting a unit with it
      const hash = sha1(text);
      texts.set(hash, text);
      await reg.createUnit({ name: 'store.service', text, hash, desiredState: 'inactive', global: false });
      return hash;
    },
    async global(name, hash) {
      await reg.createUnit({ name, text: texts.get(hash)!, hash, desiredState: 'launched', global: true });
    },
    async plain(name, hash) {
      await reg.createUnit({ name, text: texts.get(hash)!, hash, desiredState: 'launched', global: false });
    },
    remove: (name) => reg.destroyUnit(name),
    fence: () => reg.claimFence(fenceKey),
    async newLeader() {
      await etcd.client.delete().key(fenceKey);
      await reg.claimFence(fenceKey);
    },
  });
});

t.test('contract: the in-memory fake', async (t) => {
  const reg = new FakeRegistry();
  let leader = 0;
  const fenceNow = (): Fence => ({ key: '/fake/engine/leader', createRevision: String(10 + leader) });
  reg.leaderFence = fenceNow();
  await contract(t, {
    reg,
    store: async (text) => reg.addUnitText('store.service', text),
    global: async (name, hash) => reg.setGlobal({ name, hash, desiredState: 'launched' }),
    plain: async (name, hash) => {
      reg.setGlobal({ name, remove: true });
      reg.schedule('m1', name, hash, 'launched');
    },
    remove: async (name) => reg.setGlobal({ name, remove: true }),
    fence: async () => fenceNow(),
    async newLeader() {
      leader++;
      reg.leaderFence = fenceNow();
    },
  });
});
