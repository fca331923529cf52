import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import {
  InvalidKeyError,
  Registry,
  UnitExistsError,
  UnitNotFoundError,
  type Fence,
} from '../../lib/registry/index.js';
import { freshRegistry, machine, spec } from './helpers.js';
import type { TestRegistry } from '../harness/registry.js';

const etcd = await startEtcd(t);

async function leaderFence(reg: TestRegistry): Promise<Fence> {
  return reg.claimFence(`${reg.prefix}engine/test-leader`, 'me');
}

t.test('create, read, list, set desired state, destroy', async (t) => {
  const reg = freshRegistry(etcd);
  const a = spec('a.service', { desiredState: 'launched' });
  const res = await reg.createUnit(a);
  t.same(res, { created: true });

  const got = await reg.getUnit('a.service');
  t.same(got, {
    name: 'a.service',
    hash: a.hash,
    text: a.text,
    desiredState: 'launched',
    global: false,
    currentState: 'inactive',
  });
  t.equal(await reg.getUnit('nope.service'), undefined);
  t.equal(await reg.getUnitText(a.hash), a.text);
  // the text is stored content-addressed under its hash
  t.equal(await etcd.client.get(`${reg.prefix}unit/${a.hash}`).string(), a.text);
  t.equal(await etcd.client.get(`${reg.prefix}job/a.service/target-state`).string(), 'launched');
  t.same(JSON.parse((await etcd.client.get(`${reg.prefix}job/a.service/object`).string()) ?? ''), {
    name: 'a.service',
    hash: a.hash,
    global: false,
  });

  await reg.createUnit(spec('b.service'));
  await reg.createUnit(spec('0.service', { desiredState: 'loaded' }));
  t.same(
    (await reg.listUnits()).map((u) => [u.name, u.desiredState]),
    [
      ['0.service', 'loaded'],
      ['a.service', 'launched'],
      ['b.service', 'inactive'],
    ],
  );

  await reg.setDesiredState('b.service', 'loaded');
  t.equal((await reg.getUnit('b.service'))?.desiredState, 'loaded');
  await t.rejects(reg.setDesiredState('nope.service', 'loaded'), UnitNotFoundError);

  await reg.destroyUnit('a.service');
  t.equal(await reg.getUnit('a.service'), undefined);
  t.same((await etcd.client.getAll().prefix(`${reg.prefix}job/a.service/`).keys()), []);
  t.equal(await reg.getUnitText(a.hash), a.text, 'unit text stays (content addressed)');
  await t.rejects(reg.destroyUnit('a.service'), UnitNotFoundError);
  t.same((await reg.listUnits()).map((u) => u.name), ['0.service', 'b.service']);
});

t.test('identical texts are stored once', async (t) => {
  const reg = freshRegistry(etcd);
  const a = spec('x.service', { desc: 'same' });
  const b = { ...spec('y.service', { desc: 'same' }) };
  t.equal(a.hash, b.hash);
  await reg.createUnit(a);
  await reg.createUnit(b);
  t.equal(await etcd.client.getAll().prefix(`${reg.prefix}unit/`).count(), 1);
  const fresh = new Registry(etcd.client, reg.prefix);
  t.same((await fresh.listUnits()).map((u) => [u.name, u.text]), [
    ['x.service', a.text],
    ['y.service', a.text],
  ]);
});

t.test('replace: new hash visible at once, target kept, previous hash reported', async (t) => {
  const reg = freshRegistry(etcd);
  const presence = await reg.registerMachine(machine('m1'), 10);
  t.teardown(() => presence.close());
  const v1 = spec('r.service', { desc: 'v1', desiredState: 'launched' });
  await reg.createUnit(v1);
  const [placed] = await reg.applySchedule(
    [{ type: 'place', name: 'r.service', machineId: 'm1', hash: v1.hash, desiredState: 'launched' }],
    await leaderFence(reg),
  );
  t.ok(placed.applied);

  const v2 = spec('r.service', { desc: 'v2', desiredState: 'launched' });
  const res = await reg.createUnit(v2);
  t.same(res, { created: false, previousHash: v1.hash });
  const got = await reg.getUnit('r.service');
  t.equal(got?.hash, v2.hash);
  t.equal(got?.text, v2.text);
  t.equal(got?.machineId, 'm1', 'target kept on replace');

  await t.rejects(reg.createUnit(spec('r.service', { desc: 'v3' }), { ifAbsent: true }), UnitExistsError);
  t.equal((await reg.getUnit('r.service'))?.hash, v2.hash, 'ifAbsent changed nothing');
});

t.test('replace is one transaction: a concurrent reader never sees a mixed unit', async (t) => {
  const reg = freshRegistry(etcd);
  const versions = [0, 1, 2, 3, 4, 5].map((i) =>
    spec('mix.service', { desc: `v${i}`, desiredState: i % 2 ? 'launched' : 'loaded' }),
  );
  await reg.createUnit(versions[0]);
  const expected = new Map(versions.map((v) => [v.hash, v.desiredState]));
  let stop = false;
  let reads = 0;
  const reader = (async () => {
    const other = new Registry(etcd.newClient(), reg.prefix);
    while (!stop) {
      const u = await other.getUnit('mix.service');
      t.ok(u, 'unit always visible');
      if (u) {
        t.equal(u.desiredState, expected.get(u.hash), 'hash and target-state come from the same write');
        reads++;
      }
    }
  })();
  for (const v of versions.slice(1)) await reg.createUnit(v);
  stop = true;
  await reader;
  t.ok(reads > 0);
});

t.test('global units carry a global entry kept in step with the job', async (t) => {
  const reg = freshRegistry(etcd);
  const g = spec('g.service', { global: true, desiredState: 'launched' });
  await reg.createUnit(g);
  const globalKey = `${reg.prefix}global/g.service`;
  t.same(JSON.parse((await etcd.client.get(globalKey).string()) ?? ''), { hash: g.hash, desiredState: 'launched' });
  await reg.setDesiredState('g.service', 'loaded');
  t.same(JSON.parse((await etcd.client.get(globalKey).string()) ?? ''), { hash: g.hash, desiredState: 'loaded' });

  // turning it into a non-global unit removes the global entry
  await reg.createUnit({ ...g, global: false });
  t.equal(await etcd.client.get(globalKey).string(), null);

  await reg.createUnit(g);
  await reg.destroyUnit('g.service');
  t.equal(await etcd.client.get(globalKey).string(), null);
});

t.test('making a scheduled unit global removes its target and schedule entry', async (t) => {
  const reg = freshRegistry(etcd);
  const presence = await reg.registerMachine(machine('m1'), 10);
  t.teardown(() => presence.close());
  const u = spec('s.service', { desiredState: 'loaded' });
  await reg.createUnit(u);
  await reg.applySchedule(
    [{ type: 'place', name: 's.service', machineId: 'm1', hash: u.hash, desiredState: 'loaded' }],
    await leaderFence(reg),
  );
  t.equal((await reg.listSchedule('m1')).length, 1);
  await reg.createUnit({ ...u, global: true });
  t.equal((await reg.getUnit('s.service'))?.machineId, undefined);
  t.same(await reg.listSchedule('m1'), []);
});

t.test('destroy removes the schedule entry of a scheduled unit', async (t) => {
  const reg = freshRegistry(etcd);
  const presence = await reg.registerMachine(machine('m1'), 10);
  t.teardown(() => presence.close());
  const u = spec('d.service', { desiredState: 'launched' });
  await reg.createUnit(u);
  await reg.applySchedule(
    [{ type: 'place', name: 'd.service', machineId: 'm1', hash: u.hash, desiredState: 'launched' }],
    await leaderFence(reg),
  );
  t.same((await reg.listSchedule()).map((e) => `${e.machineId}/${e.name}`), ['m1/d.service']);
  await reg.destroyUnit('d.service');
  t.same(await reg.listSchedule(), []);
});

t.test('current state is derived like fleet', async (t) => {
  const reg = freshRegistry(etcd);
  const m1 = await reg.registerMachine(machine('m1'), 10);
  const m2 = await reg.registerMachine(machine('m2'), 10);
  t.teardown(() => Promise.all([m1.close(), m2.close()]));
  const u = spec('c.service', { desiredState: 'launched' });
  await reg.createUnit(u);
  const state = (machineId: string, agentState: 'loaded' | 'launched') => ({
    name: 'c.service',
    machineId,
    hash: u.hash,
    loadState: 'loaded',
    activeState: agentState === 'launched' ? 'active' : 'inactive',
    subState: agentState === 'launched' ? 'running' : 'dead',
    agentState,
  });
  const current = async () => (await reg.getUnit('c.service'))?.currentState;

  t.equal(await current(), 'inactive', 'not scheduled');
  await reg.publishUnitState(m2, state('m2', 'launched'));
  t.equal(await current(), 'inactive', 'a state from a machine that is not the target does not count');

  await reg.applySchedule(
    [{ type: 'place', name: 'c.service', machineId: 'm1', hash: u.hash, desiredState: 'launched' }],
    await leaderFence(reg),
  );
  t.equal(await current(), 'inactive', 'scheduled, but the target publishes nothing yet');
  await reg.publishUnitState(m1, state('m1', 'loaded'));
  t.equal(await current(), 'loaded');
  await reg.publishUnitState(m1, state('m1', 'launched'));
  t.equal(await current(), 'launched');
  t.equal((await reg.listUnits())[0].currentState, 'launched');
  await reg.deleteUnitState(m1, 'c.service');
  t.equal(await current(), 'inactive');

  const g = spec('glob.service', { global: true, desiredState: 'launched' });
  await reg.createUnit(g);
  const gstate = (machineId: string, agentState: 'loaded' | 'launched') => ({ ...state(machineId, agentState), name: 'glob.service' });
  t.equal((await reg.getUnit('glob.service'))?.currentState, 'inactive');
  await reg.publishUnitState(m1, gstate('m1', 'loaded'));
  t.equal((await reg.getUnit('glob.service'))?.currentState, 'loaded');
  await reg.publishUnitState(m2, gstate('m2', 'launched'));
  t.equal((await reg.getUnit('glob.service'))?.currentState, 'launched');

  t.same(
    (await reg.listUnitStates({ machineId: 'm2' })).map((s) => s.name),
    ['c.service', 'glob.service'],
  );
  t.same(
    (await reg.listUnitStates({ unitName: 'glob.service' })).map((s) => [s.machineId, s.agentState]),
    [
      ['m1', 'loaded'],
      ['m2', 'launched'],
    ],
  );
  t.same((await reg.listUnitStates({ unitName: 'glob.service', machineId: 'm1' })).length, 1);
  t.equal((await reg.listUnitStates()).length, 3);
});

t.test('names that would escape their key are refused before any write', async (t) => {
  const reg = freshRegistry(etcd);
  for (const name of ['a/b.service', '', '..', 'a b.service', 'x\n.service']) {
    await t.rejects(reg.createUnit({ ...spec('ok.service'), name }), InvalidKeyError, JSON.stringify(name));
    await t.rejects(reg.getUnit(name), InvalidKeyError);
  }
  await t.rejects(reg.createUnit({ ...spec('ok.service'), hash: 'abc' }), InvalidKeyError);
  await t.rejects(reg.setMachineMetadata('m/1', 'k', 'v'), InvalidKeyError);
  await t.rejects(reg.setMachineMetadata('m1', 'a/b', 'v'), InvalidKeyError);
  await t.rejects(reg.listUnitStates({ machineId: 'a/b' }), InvalidKeyError);
  t.same(await etcd.client.getAll().prefix(reg.prefix).keys(), [], 'nothing written');
});
