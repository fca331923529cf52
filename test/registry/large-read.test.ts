/**
 * Whole-prefix reads at scale (issue 13): they come in pages (lib/registry/etcd.ts readPages), every page at the
 * revision of the first, so a prefix with more keys than a page is read completely and a write made between two
 * pages does not show up (one consistent snapshot); a watch opened on such a prefix starts after that snapshot.
 * A unit list whose texts together pass gRPC's 4 MiB default still works with the 64 MiB receive limit. Pages after
 * the first adapt to the bytes per key (few walks of etcd 3.4's index) and shrink when an answer is over the receive
 * limit; a consumer takes each page as it comes instead of the result keeping it.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../harness/etcd.js';
import { openEtcd, Registry, type UnitState } from '../../lib/registry/index.js';
import { MAX_PAGE_KEYS, nextPageKeys, PAGE_BYTES, PAGE_KEYS, prefixEnd, readPages } from '../../lib/registry/etcd.js';
import { enableRawRange, observeRanges, rangeRaw } from '../../lib/registry/raw-range.js';
import type { IKeyValue } from 'etcd3';
import { encodeMachineState } from '../../lib/registry/codec.js';
import { freshRegistry, machine, sha1, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

/** Runs `write` once, just before the first continuation page (a plain range) of a paged read through `client`. */
function writeBetweenPages(client: Etcd3, write: () => Promise<unknown>): { pages: () => number; restore: () => void } {
  let pages = 0;
  const restore = observeRanges(client, async () => {
    if (pages++ === 0) await write();
  });
  return { pages: () => pages, restore };
}

t.test('readPages: more keys than a page, read completely at one revision; a write between pages does not show', async (t) => {
  const client = etcd.newClient();
  t.teardown(() => client.close());
  const p = `/paged-${Date.now()}/`;
  for (let i = 0; i < 250; i += 50) {
    await client.kv.txn({
      compare: [], failure: [],
      success: Array.from({ length: 50 }, (_, j) => ({ request_put: { key: Buffer.from(`${p}a/${String(i + j).padStart(4, '0')}`), value: Buffer.from('v1') } })),
    });
  }
  await client.put(`${p}b/only`).value('x').exec();
  const spy = writeBetweenPages(client, async () => {
    await client.put(`${p}a/0000`).value('v2').exec(); // on the first page: already read
    await client.put(`${p}a/0200`).value('v2').exec(); // on a later page: must still read v1
    await client.put(`${p}a/9999`).value('new').exec(); // a new key after the last page
  });
  const snap = await readPages(client, [{ prefix: `${p}a/`, pageKeys: 40 }, { prefix: `${p}b/`, pageKeys: 40 }]);
  spy.restore();
  t.equal(spy.pages(), Math.ceil(250 / 40) - 1, 'the first page in one txn, then one range per further page');
  t.equal(snap.kvs[0]!.length, 250, 'every key of the first snapshot, none added after it');
  t.ok(snap.kvs[0]!.every((kv) => kv.value.toString() === 'v1'), 'every value as of the first page\'s revision');
  t.same(snap.kvs[0]!.map((kv) => kv.key.toString()), Array.from({ length: 250 }, (_, i) => `${p}a/${String(i).padStart(4, '0')}`), 'in key order, once each');
  t.same(snap.kvs[1]!.map((kv) => kv.key.toString()), [`${p}b/only`]);
  const after = await readPages(client, [{ prefix: `${p}a/`, pageKeys: 40 }]);
  t.equal(after.kvs[0]!.length, 251, 'the writes are there for the next read');
  t.ok(BigInt(after.revision) > BigInt(snap.revision));
});

/** Writes `n` keys `<p><0000..>` with `value`, 50 per transaction. */
async function fill(client: Etcd3, p: string, n: number, value: string): Promise<void> {
  for (let i = 0; i < n; i += 50) {
    await client.kv.txn({
      compare: [], failure: [],
      success: Array.from({ length: Math.min(50, n - i) }, (_, j) => ({ request_put: { key: Buffer.from(`${p}${String(i + j).padStart(4, '0')}`), value: Buffer.from(value) } })),
    });
  }
}

t.test('nextPageKeys: the first page as given, then as many keys as fit PAGE_BYTES, within [first, MAX_PAGE_KEYS]', async (t) => {
  t.equal(nextPageKeys(0, 0, 500), 500, 'nothing read yet: the first page\'s size');
  t.equal(nextPageKeys(100, 100 * 1024, 10), PAGE_BYTES / 1024, '1 KiB per key');
  t.equal(nextPageKeys(100, 100 * PAGE_BYTES, 10), 10, 'keys larger than a page: never below the first page\'s size');
  t.equal(nextPageKeys(100, 100, 10), MAX_PAGE_KEYS, 'tiny keys: at most MAX_PAGE_KEYS');
});

t.test('readPages: adaptive pages grow after the first; a consumer gets every page in key order, at one revision', async (t) => {
  const client = etcd.newClient();
  t.teardown(() => client.close());
  const p = `/adaptive-${Date.now()}/`;
  await fill(client, p, 300, 'v1');
  const spy = writeBetweenPages(client, () => client.put(`${p}0299`).value('v2').exec());
  const pages: { first: boolean; keys: string[] }[] = [];
  const snap = await readPages(client, [
    { prefix: p, firstPageKeys: 10, consume: (kvs: readonly IKeyValue[], first: boolean) => pages.push({ first, keys: kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`) }) },
  ]);
  spy.restore();
  t.equal(spy.pages(), 1, 'after a first page of 10 small keys, the other 290 come in one page (fixed pages of 10: 29)');
  t.same(pages.map((x) => [x.first, x.keys.length]), [[true, 10], [false, 290]], 'the consumer got both pages, the first marked');
  t.same(pages.flatMap((x) => x.keys), Array.from({ length: 300 }, (_, i) => `${p}${String(i).padStart(4, '0')}=v1`), 'in key order, as of the first page\'s revision');
  t.same(snap.kvs[0], [], 'consumed pages are not kept in the result');
});

t.test('lean range decoding gives what etcd3 gives: leases, revisions, empty values, keys only, an old revision', async (t) => {
  const client = etcd.newClient();
  t.teardown(() => client.close());
  const p = `/lean-${Date.now()}/`;
  const lease = client.lease(60, { autoKeepAlive: false });
  t.teardown(() => lease.revoke().catch(() => undefined));
  await lease.put(`${p}leased`).value('on a lease').exec();
  await client.put(`${p}empty`).value('').exec();
  const old = (await client.put(`${p}twice`).value('first').exec()).header.revision;
  await client.put(`${p}twice`).value('second').exec();
  const norm = (r: { header: { revision: string }; kvs: IKeyValue[]; more: boolean; count: string }) => ({
    revision: r.header.revision, more: r.more, count: r.count,
    kvs: r.kvs.map((kv) => ({ ...kv, key: kv.key.toString('hex'), value: kv.value.toString('hex') })),
  });
  for (const req of [
    { key: Buffer.from(p), range_end: prefixEnd(p) },
    { key: Buffer.from(p), range_end: prefixEnd(p), limit: 2 },
    { key: Buffer.from(p), range_end: prefixEnd(p), keys_only: true },
    { key: Buffer.from(p), range_end: prefixEnd(p), revision: old },
  ]) {
    const lean = await rangeRaw(client, req);
    const theirs = await client.kv.range({ ...req, ...(req.limit ? { limit: req.limit } : {}) });
    t.same(norm(lean), norm(theirs), JSON.stringify({ ...req, key: p, range_end: undefined }));
  }
  t.not((await rangeRaw(client, { key: Buffer.from(p), range_end: prefixEnd(p) })).kvs.find((kv) => kv.lease !== '0')?.lease, undefined, 'the lease id is there');
});

for (const lean of [true, false]) {
  t.test(`readPages: a page over the receive limit is read again in smaller pages (${lean ? 'lean decoding' : "etcd3's decoding"})`, async (t) => {
    // a 64 KiB receive limit, and a breaker that lets the over-limit answers through (etcd3's opens on the first)
    const client = new Etcd3({
      hosts: [etcd.endpoint],
      grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 },
      faultHandling: { host: () => circuitBreaker(handleWhen(() => false), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(100) }) },
    });
    t.teardown(() => client.close());
    if (lean) enableRawRange(client, { policy: noop, timeoutMs: 5000 });
    const p = `/shrink-${lean ? 'lean' : 'etcd3'}-${Date.now()}/`;
    await fill(client, p, 200, 'x'.repeat(1024));
    const limits: number[] = [];
    const restore = observeRanges(client, (req) => void limits.push(Number(req.limit)));
    const snap = await readPages(client, [{ prefix: p, firstPageKeys: 10 }]);
    restore();
    t.equal(snap.kvs[0]!.length, 200, 'every key read');
    t.same(snap.kvs[0]!.map((x) => x.key.toString()), Array.from({ length: 200 }, (_, i) => `${p}${String(i).padStart(4, '0')}`), 'in key order, once each');
    t.ok(snap.kvs[0]!.every((x) => x.value.toString() === 'x'.repeat(1024)), 'with their values');
    t.ok(limits[0]! * 1024 > 64 * 1024, `the first adaptive page asked for more than the limit holds (${limits[0]} keys of 1 KiB)`);
    t.ok(limits.some((l) => l * 1024 < 64 * 1024), `and then for pages that fit (${limits.join(', ')})`);
  });
}

t.test('listUnitStates and a watch: more states than a page, one snapshot; the watch delivers the later write', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('many'), 60);
  t.teardown(() => p.close());
  const n = PAGE_KEYS + 200;
  const state = (i: number, activeState = 'active'): UnitState => {
    const name = `u${String(i).padStart(5, '0')}.service`;
    return { name, machineId: 'many', hash: sha1(name), loadState: 'loaded', activeState, subState: 'running', agentState: 'launched' };
  };
  await reg.publishUnitStates(p, Array.from({ length: n }, (_, i) => state(i)));
  const spy = writeBetweenPages(reg.etcd, () => reg.publishUnitStates(p, [state(n - 1, 'failed'), state(n)]));
  const listed = await reg.listUnitStates();
  spy.restore();
  t.ok(spy.pages() >= 1, 'read in more than one page');
  t.equal(listed.length, n, 'every state, none written after the first page');
  t.equal(listed[n - 1]!.activeState, 'active', 'the last state as of the snapshot');
  t.equal((await reg.listUnitStates()).length, n + 1, 'the write is there for the next read');
});

t.test('a watch opened on a prefix read in pages starts right after its snapshot', async (t) => {
  const reg = freshRegistry(etcd);
  const client = etcd.newClient();
  t.teardown(() => client.close());
  const watching = new Registry(client, reg.prefix);
  t.teardown(() => watching.close());
  const names = Array.from({ length: PAGE_KEYS + 10 }, (_, i) => `m${String(i).padStart(5, '0')}`);
  for (let i = 0; i < names.length; i += 100) {
    await reg.etcd.kv.txn({
      compare: [], failure: [],
      success: names.slice(i, i + 100).map((m) => ({ request_put: { key: Buffer.from(`${reg.prefix}machines/${m}/object`), value: Buffer.from(encodeMachineState(machine(m))) } })),
    });
  }
  const spy = writeBetweenPages(client, () => reg.etcd.put(`${reg.prefix}machines/zz-late/object`).value(encodeMachineState(machine('zz-late'))).exec());
  let seen = new Set<string>();
  let initial = -1;
  const handle = await watching.watchMachines((snapshot, _changed, info) => {
    if (info.reason === 'initial') initial = snapshot.size;
    seen = new Set(snapshot.keys());
  });
  spy.restore();
  t.teardown(() => handle.close());
  t.equal(initial, names.length, 'the initial snapshot has every machine of the first page\'s revision, not the late one');
  await waitFor('the late machine', () => seen.has('zz-late'), 10_000);
  t.equal(seen.size, names.length + 1, 'the write made between pages arrives as an update');
});

t.test('a unit list whose texts pass gRPC\'s 4 MiB default succeeds', async (t) => {
  const client = openEtcd({ endpoints: [etcd.endpoint] });
  t.teardown(() => client.close());
  const reg = new Registry(client, `/big-${Date.now()}/`);
  const filler = 'x'.repeat(100_000);
  for (let i = 0; i < 60; i++) {
    const text = `[Service]\nExecStart=/bin/true ${i} ${filler}\n`;
    const hash = createHash('sha1').update(text).digest('hex');
    await reg.createUnit({ name: `big-${i}.service`, text, hash, desiredState: 'inactive', global: false });
  }
  const fresh = new Registry(client, reg.prefix); // no texts cached
  t.equal((await fresh.listUnits()).length, 60);
  const texts = await client.getAll().prefix(`${reg.prefix}unit/`).strings();
  t.ok(Object.values(texts).reduce((n, v) => n + v.length, 0) > 5 * 1024 * 1024, 'more than 5 MiB of texts');
});
