/**
 * Start requests (fleet #1091): setDesiredState(launched) of a unit already launched leaves a fresh value under
 * keys.scheduleStart, which the machine's agent sees as ScheduleEntry.startRequest; the request goes with the
 * schedule entry (unschedule, move, destroy); a global unit's request is beside its global entry. Real etcd.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import type { Fence, GlobalUnitEntry, ScheduleEntry } from '../../lib/registry/index.js';
import type { TestRegistry as Registry } from '../harness/registry.js';
import { freshRegistry, machine, spec, waitFor } from './helpers.js';

const etcd = await startEtcd(t);

async function leaderFence(reg: Registry): Promise<Fence> {
  const key = `${reg.prefix}engine/test-leader`;
  await etcd.client.put(key).value('me');
  return reg.fenceFor(key);
}

t.test('a start request reaches the agent of the unit\'s machine and goes with the entry', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  const p1 = await reg.registerMachine(machine('m1'), 30);
  const p2 = await reg.registerMachine(machine('m2'), 30);
  t.teardown(() => Promise.all([p1.close(), p2.close()]));
  const fence = await leaderFence(reg);
  const a = spec('a.service', { desiredState: 'loaded' });
  await reg.createUnit(a);
  await reg.applySchedule([{ type: 'place', name: 'a.service', machineId: 'm1', hash: a.hash, desiredState: 'loaded' }], fence);

  let seen: ReadonlyMap<string, ScheduleEntry> = new Map();
  const w = await reg.watchSchedule('m1', (snap) => {
    seen = new Map(snap);
  });
  t.teardown(() => w.close());
  const startKey = reg.keyspace.scheduleStart('m1', 'a.service');

  await reg.setDesiredState('a.service', 'launched');
  t.equal(await etcd.client.get(startKey).string(), null, 'loaded -> launched is a plain state change');
  await reg.syncScheduleState([{ name: 'a.service', machineId: 'm1', hash: a.hash, desiredState: 'launched' }], fence);
  await waitFor('entry launched', () => seen.get('a.service')?.desiredState === 'launched');
  t.equal(seen.get('a.service')?.startRequest, undefined);

  await reg.setDesiredState('a.service', 'launched');
  const first = await waitFor('start request', () => seen.get('a.service')?.startRequest);
  t.same(seen.get('a.service'), { name: 'a.service', hash: a.hash, desiredState: 'launched', startRequest: first });
  await reg.setDesiredState('a.service', 'launched');
  const second = await waitFor('a newer request', () => (seen.get('a.service')?.startRequest !== first ? seen.get('a.service')?.startRequest : undefined));
  t.not(second, first);
  t.same((await reg.listSchedule()).map((e) => e.name), ['a.service'], 'listings do not take the request for an entry');

  await reg.applySchedule([{ type: 'move', name: 'a.service', from: 'm1', to: 'm2', hash: a.hash, desiredState: 'launched' }], fence);
  t.equal(await etcd.client.get(startKey).string(), null, 'moved: the request stays behind with nothing');
  await reg.setDesiredState('a.service', 'launched');
  t.not(await etcd.client.get(reg.keyspace.scheduleStart('m2', 'a.service')).string(), null);
  await reg.applySchedule([{ type: 'unschedule', name: 'a.service', machineId: 'm2' }], fence);
  t.equal(await etcd.client.get(reg.keyspace.scheduleStart('m2', 'a.service')).string(), null, 'unscheduled: gone');

  await reg.applySchedule([{ type: 'place', name: 'a.service', machineId: 'm1', hash: a.hash, desiredState: 'launched' }], fence);
  await reg.setDesiredState('a.service', 'launched');
  t.not(await etcd.client.get(startKey).string(), null);
  await reg.destroyUnit('a.service');
  t.equal(await etcd.client.get(startKey).string(), null, 'destroyed: gone');

});

t.test('a start request of a global unit reaches every agent through the global entry', async (t) => {
  const reg = freshRegistry(etcd);
  t.teardown(() => reg.close());
  let seen: ReadonlyMap<string, GlobalUnitEntry> = new Map();
  const w = await reg.watchGlobalUnits((snap) => {
    seen = new Map(snap);
  });
  t.teardown(() => w.close());
  const g = spec('g.service', { global: true, desiredState: 'loaded' });
  await reg.createUnit(g);
  await reg.setDesiredState('g.service', 'launched');
  await waitFor('launched', () => seen.get('g.service')?.desiredState === 'launched');
  t.equal(seen.get('g.service')?.startRequest, undefined, 'loaded -> launched is a plain state change');
  await reg.setDesiredState('g.service', 'launched');
  const token = await waitFor('start request', () => seen.get('g.service')?.startRequest);
  t.same(seen.get('g.service'), { name: 'g.service', hash: g.hash, desiredState: 'launched', startRequest: token });
  t.same((await etcd.client.getAll().prefix(reg.keyspace.schedulesDir).keys()).filter((k) => k.endsWith('/start')), [], 'no schedule key');
  await reg.createUnit({ ...spec('g.service', { desiredState: 'launched' }) });
  t.equal(await etcd.client.get(reg.keyspace.globalStart('g.service')).string(), null, 'no longer global: gone');
  await reg.createUnit(g);
  await reg.setDesiredState('g.service', 'launched');
  await reg.setDesiredState('g.service', 'launched');
  t.not(await etcd.client.get(reg.keyspace.globalStart('g.service')).string(), null);
  await reg.destroyUnit('g.service');
  t.equal(await etcd.client.get(reg.keyspace.globalStart('g.service')).string(), null, 'destroyed: gone');
});
