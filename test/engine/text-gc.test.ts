/**
 * The engine leader deletes unit texts no unit references any more from its pass (Registry.maybeCollectUnitTexts),
 * after one collection interval of grace, and keeps the texts units use. Real etcd, the interval shortened.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { Keyspace } from '../../lib/registry/index.js';
import { Fixture, unitSpec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

t.test('texts of replaced and destroyed units go; texts in use stay', async (t) => {
  const f = new Fixture(etcd, t);
  await f.addMachine('m1');
  const old = unitSpec('a.service', { desc: 'a, old' });
  const gone = unitSpec('b.service');
  const kept = unitSpec('c.service');
  await f.createUnits([old, gone, kept]);
  const current = unitSpec('a.service', { desc: 'a, new' });
  await f.registry.createUnit(current);
  await f.registry.destroyUnit('b.service');
  const stored = async (hash: string): Promise<boolean> => (await f.client.get(new Keyspace(f.registry.prefix).unit(hash)).string()) !== null;
  t.ok(await stored(old.hash));

  const h = await f.startEngine('e1', { reconcileIntervalMs: 100 });
  h.registry.textGcIntervalMs = 300;
  await f.waitLeader();
  await waitFor('unreferenced texts deleted', async () => !(await stored(old.hash)) && !(await stored(gone.hash)), 15_000);
  t.ok(await stored(current.hash), 'the text a unit uses stays');
  t.ok(await stored(kept.hash));
  t.equal((await f.registry.getUnit('a.service'))?.text, current.text);
});
