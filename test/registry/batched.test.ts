/**
 * The registry's batched calls against real etcd (issue 13's scale goals): getUnitTexts reads many texts with one
 * transaction per MAX_OPS_PER_TXN (100, below etcd's limit of 128 ops), publishUnitStates writes many unit states the same way, on the machine's
 * lease; both give the same results as the one-at-a-time calls. Requests are counted on the test's own client.
 */
import t from 'tap';
import type { Etcd3 } from 'etcd3';
import { startEtcd } from '../harness/etcd.js';
import { Registry, type UnitState } from '../../lib/registry/index.js';
import { MAX_OPS_PER_TXN } from '../../lib/registry/schedule.js';
import { freshRegistry, machine, sha1, spec } from './helpers.js';

const etcd = await startEtcd(t);

/** Counts the transactions made through `client` while `fn` runs. */
async function countTxns<T>(client: Etcd3, fn: () => Promise<T>): Promise<{ result: T; txns: number }> {
  const kv = client.kv;
  const real = kv.txn.bind(kv);
  let txns = 0;
  kv.txn = (...args: Parameters<typeof kv.txn>) => {
    txns++;
    return real(...args);
  };
  try {
    return { result: await fn(), txns };
  } finally {
    kv.txn = real;
  }
}

function state(name: string, machineId: string, activeState = 'active'): UnitState {
  return { name, machineId, hash: sha1(name), loadState: 'loaded', activeState, subState: 'running', agentState: 'launched' };
}

t.test('getUnitTexts: 300 texts with 4 transactions; a missing hash is absent; cached texts are not read again', async (t) => {
  const writer = freshRegistry(etcd);
  const specs = Array.from({ length: 300 }, (_, i) => spec(`u${i}.service`));
  for (const s of specs) await writer.createUnit(s);
  const client = etcd.newClient();
  t.teardown(() => client.close());
  const reg = new Registry(client, writer.prefix);
  const missing = sha1('no such text');
  const { result, txns } = await countTxns(client, () => reg.getUnitTexts([...specs.map((s) => s.hash), missing]));
  t.equal(txns, Math.ceil(301 / MAX_OPS_PER_TXN), 'ceil(301 / 100) transactions');
  t.equal(result.size, 300);
  t.ok(specs.every((s) => result.get(s.hash) === s.text), 'every text as stored');
  t.notOk(result.has(missing), 'no text for a hash never stored');
  const again = await countTxns(client, () => reg.getUnitTexts(specs.slice(0, 10).map((s) => s.hash)));
  t.equal(again.txns, 0, 'texts read once are cached (contents are immutable)');
  await t.rejects(reg.getUnitTexts(['not-a-hash']), /invalid unit hash/);
});

t.test('publishUnitStates: 300 states with 3 transactions, all on the machine lease', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('batch'), 30);
  t.teardown(() => p.close());
  const states = Array.from({ length: 300 }, (_, i) => state(`u${String(i).padStart(3, '0')}.service`, 'batch'));
  const { txns } = await countTxns(reg.etcd, () => reg.publishUnitStates(p, states));
  t.equal(txns, Math.ceil(300 / MAX_OPS_PER_TXN), 'ceil(300 / 100) transactions');
  const listed = await reg.listUnitStates({ machineId: 'batch' });
  t.same(listed, states, 'every state as published');
  const leases = await reg.etcd.leaseClient.leaseTimeToLive({ ID: p.leaseId, keys: true });
  t.equal(leases.keys.length, 301, 'the machine object and 300 states on the machine lease');
  await t.rejects(reg.publishUnitStates(p, [state('x.service', 'other')]), /names machine other/, 'only this machine\'s states');
  await p.close();
  t.same(await reg.listUnitStates({ machineId: 'batch' }), [], 'they go with the machine');
});
