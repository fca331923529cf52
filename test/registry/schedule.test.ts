import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import {
  FencedError,
  InvalidKeyError,
  Registry,
  type Fence,
  type MachinePresence,
  type ScheduleOp,
} from '../../lib/registry/index.js';
import { freshRegistry, machine, spec } from './helpers.js';
import type { TestRegistry } from '../harness/registry.js';
import { errorMessage } from '../../lib/errors.js';

const etcd = await startEtcd(t);

/** Elects a leader with etcd3's own Election under the engine namespace; returns its fence. */
async function elect(t: Test, reg: TestRegistry, value: string): Promise<{ fence: Fence; resign: () => Promise<void> }> {
  const campaign = etcd.client.namespace(`${reg.prefix}engine/`).election('leader', 5).campaign(value);
  t.teardown(() => campaign.resign().catch(() => undefined));
  await campaign.wait();
  const key = await campaign.getCampaignKey();
  return { fence: await reg.fenceFor(key), resign: () => campaign.resign() };
}

async function machines(reg: Registry, ...ids: string[]): Promise<MachinePresence[]> {
  return Promise.all(ids.map((id) => reg.registerMachine(machine(id), 10)));
}

async function dump(reg: Registry): Promise<Record<string, string>> {
  const all = await etcd.client.getAll().prefix(reg.prefix).strings();
  return Object.fromEntries(Object.entries(all).filter(([k]) => !k.includes('/engine/')));
}

t.test('place, sync, move, unschedule keep target and schedule entries in step', async (t) => {
  const reg = freshRegistry(etcd);
  const ps = await machines(reg, 'm1', 'm2');
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  const { fence } = await elect(t, reg, 'engine-1');
  t.match(fence.key, new RegExp(`^${reg.prefix}engine/election/leader/`));
  const u = spec('u.service', { desiredState: 'launched' });
  await reg.createUnit(u);

  const place: ScheduleOp = { type: 'place', name: 'u.service', machineId: 'm1', hash: u.hash, desiredState: 'launched' };
  t.same(await reg.applySchedule([place], fence), [{ op: place, applied: true }]);
  t.equal((await reg.getUnit('u.service'))?.machineId, 'm1');
  t.equal(await reg.getTarget('u.service'), 'm1', 'getTarget reads the same target alone');
  t.same(await reg.listSchedule('m1'), [{ machineId: 'm1', name: 'u.service', hash: u.hash, desiredState: 'launched' }]);

  await reg.setDesiredState('u.service', 'loaded');
  const staleSync = await reg.syncScheduleState(
    [{ name: 'u.service', machineId: 'm1', hash: u.hash, desiredState: 'launched' }],
    fence,
  );
  t.notOk(staleSync[0].applied, 'sync with an outdated desired state is refused');
  const sync = await reg.syncScheduleState([{ name: 'u.service', machineId: 'm1', hash: u.hash, desiredState: 'loaded' }], fence);
  t.ok(sync[0].applied);
  t.equal((await reg.listSchedule('m1'))[0].desiredState, 'loaded');

  const move: ScheduleOp = { type: 'move', name: 'u.service', from: 'm1', to: 'm2', hash: u.hash, desiredState: 'loaded' };
  t.ok((await reg.applySchedule([move], fence))[0].applied);
  t.same(await reg.listSchedule('m1'), []);
  t.same((await reg.listSchedule('m2')).map((e) => e.name), ['u.service']);
  t.equal((await reg.getUnit('u.service'))?.machineId, 'm2');
  t.equal(await reg.getTarget('u.service'), 'm2');
  t.notOk((await reg.applySchedule([move], fence))[0].applied, 'a move from a machine it is not on is refused');

  const wrongUnschedule: ScheduleOp = { type: 'unschedule', name: 'u.service', machineId: 'm1' };
  t.notOk((await reg.applySchedule([wrongUnschedule], fence))[0].applied);
  t.ok((await reg.applySchedule([{ type: 'unschedule', name: 'u.service', machineId: 'm2' }], fence))[0].applied);
  t.same(await reg.listSchedule(), []);
  t.equal((await reg.getUnit('u.service'))?.machineId, undefined);
  t.equal(await reg.getTarget('u.service'), undefined, 'unscheduled: no target');
  t.equal(await reg.getTarget('never-submitted.service'), undefined);
});

t.test('a stale fence changes nothing', async (t) => {
  const reg = freshRegistry(etcd);
  const ps = await machines(reg, 'm1');
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  const u = spec('f.service', { desiredState: 'launched' });
  await reg.createUnit(u);
  const old = await elect(t, reg, 'engine-old');
  await old.resign();
  const current = await elect(t, reg, 'engine-new');
  t.not(current.fence.createRevision, old.fence.createRevision);
  const before = await dump(reg);

  const ops: ScheduleOp[] = [{ type: 'place', name: 'f.service', machineId: 'm1', hash: u.hash, desiredState: 'launched' }];
  const err = await reg.applySchedule(ops, old.fence).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, FencedError);
  t.match(errorMessage(err), /no longer exists.*no longer the leader/);
  t.same(await dump(reg), before, 'nothing written');

  // same key recreated (e.g. the same lease id campaigning again) has a new create revision: still fenced
  await etcd.client.put(old.fence.key).value('impostor');
  await t.rejects(reg.applySchedule(ops, old.fence), FencedError);
  await etcd.client.delete().key(old.fence.key);
  t.same(await dump(reg), before);

  t.ok((await reg.applySchedule(ops, current.fence))[0].applied, 'the current leader can write');

  await t.rejects(reg.applySchedule(ops, { key: current.fence.key, createRevision: '0' }), InvalidKeyError);
  await t.rejects(reg.applySchedule(ops, { key: '', createRevision: '5' }), InvalidKeyError);
  await t.rejects(reg.fenceFor(`${reg.prefix}engine/none`), FencedError);
});

t.test('place never double-places, even when racing', async (t) => {
  const reg = freshRegistry(etcd);
  const ids = ['m1', 'm2', 'm3', 'm4'];
  const ps = await machines(reg, ...ids);
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  const { fence } = await elect(t, reg, 'engine');
  const u = spec('race.service', { desiredState: 'launched' });
  await reg.createUnit(u);
  const engines = ids.map(() => new Registry(etcd.newClient(), reg.prefix));
  const results = await Promise.all(
    engines.map((e, i) =>
      e.applySchedule([{ type: 'place', name: 'race.service', machineId: ids[i], hash: u.hash, desiredState: 'launched' }], fence),
    ),
  );
  const winners = results.flat().filter((r) => r.applied);
  t.equal(winners.length, 1, 'exactly one place applied');
  const target = (await reg.getUnit('race.service'))?.machineId;
  t.equal(target, winners[0].op.type === 'place' ? winners[0].op.machineId : undefined);
  t.same((await reg.listSchedule()).map((e) => e.machineId), [target], 'one schedule entry, on the target');
});

t.test('place checks the unit and the machine it was decided on', async (t) => {
  const reg = freshRegistry(etcd);
  const ps = await machines(reg, 'm1');
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  const { fence } = await elect(t, reg, 'engine');
  const v1 = spec('p.service', { desc: 'v1', desiredState: 'launched' });
  const v2 = spec('p.service', { desc: 'v2', desiredState: 'launched' });
  await reg.createUnit(v2);
  const g = spec('g.service', { global: true, desiredState: 'launched' });
  await reg.createUnit(g);

  const res = await reg.applySchedule(
    [
      { type: 'place', name: 'p.service', machineId: 'm1', hash: v1.hash, desiredState: 'launched' },
      { type: 'place', name: 'gone.service', machineId: 'm1', hash: v1.hash, desiredState: 'launched' },
      { type: 'place', name: 'g.service', machineId: 'm1', hash: g.hash, desiredState: 'launched' },
    ],
    fence,
  );
  t.same(res.map((r) => r.applied), [false, false, false], 'outdated hash, destroyed unit, global unit');
  const ok = await reg.applySchedule(
    [{ type: 'place', name: 'p.service', machineId: 'ghost', hash: v2.hash, desiredState: 'launched' }],
    fence,
  );
  t.notOk(ok[0].applied, 'never onto a machine that is not registered');
  const loaded = await reg.applySchedule(
    [{ type: 'place', name: 'p.service', machineId: 'm1', hash: v2.hash, desiredState: 'loaded' }],
    fence,
  );
  t.notOk(loaded[0].applied, 'desired state changed since the decision');
  t.same(await reg.listSchedule(), []);
});

t.test('one op per unit, many ops per call', async (t) => {
  const reg = freshRegistry(etcd);
  const ps = await machines(reg, 'm1', 'm2');
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  const { fence } = await elect(t, reg, 'engine');
  const u = spec('one.service', { desiredState: 'loaded' });
  await t.rejects(
    reg.applySchedule(
      [
        { type: 'place', name: 'one.service', machineId: 'm1', hash: u.hash, desiredState: 'loaded' },
        { type: 'unschedule', name: 'one.service', machineId: 'm1' },
      ],
      fence,
    ),
    InvalidKeyError,
  );
  await t.rejects(
    reg.applySchedule([{ type: 'place', name: 'one.service', machineId: 'm1', hash: u.hash, desiredState: 'inactive' as 'loaded' }], fence),
    InvalidKeyError,
  );

  const units = Array.from({ length: 300 }, (_, i) => spec(`bulk-${i}.service`, { desiredState: 'launched' }));
  for (const x of units) await reg.createUnit(x);
  const res = await reg.applySchedule(
    units.map((x, i) => ({ type: 'place', name: x.name, machineId: i % 2 ? 'm1' : 'm2', hash: x.hash, desiredState: 'launched' })),
    fence,
  );
  t.equal(res.filter((r) => r.applied).length, 300, 'split over several fenced transactions');
  t.equal((await reg.listSchedule('m1')).length, 150);
  t.equal((await reg.listSchedule('m2')).length, 150);
});
