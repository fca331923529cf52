/**
 * Rolling-restart requests of a global unit (fleetctl restart): requestRestart writes a fresh token for one
 * machine beside the global entry, agents see the pending ones as GlobalUnitEntry.restartRequests, settleRestart
 * answers only the pending token, and the requests go with the unit (destroy, no longer global). Real etcd.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { UnitNotFoundError, type GlobalUnitEntry } from '../../lib/registry/index.js';
import { freshRegistry, spec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

t.test('a restart request reaches the agents, is settled once, and goes with the unit', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  let seen: ReadonlyMap<string, GlobalUnitEntry> = new Map();
  const w = await reg.watchGlobalUnits((snap) => {
    seen = new Map(snap);
  });
  t.teardown(() => w.close());
  await t.rejects(reg.requestRestart('g.service', 'm1'), UnitNotFoundError, 'no such unit');
  const plain = spec('p.service', { desiredState: 'launched' });
  await reg.createUnit(plain);
  await t.rejects(reg.requestRestart('p.service', 'm1'), UnitNotFoundError, 'not a global unit');

  const g = spec('g.service', { global: true, desiredState: 'launched' });
  await reg.createUnit(g);
  const t1 = await reg.requestRestart('g.service', 'm1');
  const t2 = await reg.requestRestart('g.service', 'm2');
  await waitFor('both requests seen', () => Object.keys(seen.get('g.service')?.restartRequests ?? {}).length === 2);
  t.same(seen.get('g.service'), { name: 'g.service', hash: g.hash, desiredState: 'launched', restartRequests: { m1: t1, m2: t2 } });
  t.same(await reg.getRestartRequest('g.service', 'm1'), { token: t1, status: 'pending' });

  await reg.settleRestart('g.service', 'm1', 'ffff', { ok: true });
  t.same(await reg.getRestartRequest('g.service', 'm1'), { token: t1, status: 'pending' }, 'another token settles nothing');
  await reg.settleRestart('g.service', 'm1', t1, { ok: true });
  await reg.settleRestart('g.service', 'm2', t2, { ok: false, message: 'job failed' });
  t.same(await reg.getRestartRequest('g.service', 'm1'), { token: t1, status: 'done' });
  t.same(await reg.getRestartRequest('g.service', 'm2'), { token: t2, status: 'failed', message: 'job failed' });
  await waitFor('settled requests leave the entry', () => seen.get('g.service')?.restartRequests === undefined);
  await reg.settleRestart('g.service', 'm1', t1, { ok: false, message: 'late' });
  t.same(await reg.getRestartRequest('g.service', 'm1'), { token: t1, status: 'done' }, 'settled once');

  const t3 = await reg.requestRestart('g.service', 'm1');
  t.not(t3, t1, 'a fresh token each time');
  await reg.destroyUnit('g.service');
  t.equal(await reg.getRestartRequest('g.service', 'm1'), undefined, 'destroyed: gone');

  await reg.createUnit(g);
  await reg.requestRestart('g.service', 'm1');
  await reg.createUnit(spec('g.service', { desiredState: 'launched' }));
  t.equal(await reg.getRestartRequest('g.service', 'm1'), undefined, 'no longer global: gone');
});
