import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { startTcpProxy } from '../harness/proxy.js';
import { Registry, type ChangeListener, type Fence, type WatchInfo } from '../../lib/registry/index.js';
import { freshRegistry, machine, sleep, spec, waitFor } from './helpers.js';
import type { TestRegistry } from '../harness/registry.js';

const etcd = await startEtcd(t);

interface Call<V> {
  snapshot: Map<string, V>;
  changed: string[];
  info: WatchInfo;
}

/** A listener recording copies of what it was given. */
function recorder<V>(): { calls: Call<V>[]; listener: ChangeListener<V>; last(): Call<V> | undefined } {
  const calls: Call<V>[] = [];
  return {
    calls,
    listener: (snapshot, changed, info) => {
      calls.push({ snapshot: new Map(snapshot), changed: [...changed].sort(), info });
    },
    last: () => calls[calls.length - 1],
  };
}

async function fenceOf(reg: TestRegistry): Promise<Fence> {
  return reg.claimFence(`${reg.prefix}engine/test-leader`, 'me');
}

t.test("an agent's schedule watch sees only its own machine", async (t) => {
  const reg = freshRegistry(etcd);
  const ps = await Promise.all(['m1', 'm10', 'm2'].map((id) => reg.registerMachine(machine(id), 10)));
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  const fence = await fenceOf(reg);
  const units = ['a', 'b', 'c', 'd'].map((n) => spec(`${n}.service`, { desiredState: 'launched' }));
  for (const u of units) await reg.createUnit(u);
  await reg.applySchedule([{ type: 'place', name: 'a.service', machineId: 'm1', hash: units[0].hash, desiredState: 'launched' }], fence);

  const m1 = recorder<{ name: string; hash: string; desiredState: string }>();
  const h = await reg.watchSchedule('m1', m1.listener);
  t.teardown(() => h.close());
  t.equal(m1.calls.length, 1);
  t.equal(m1.calls[0].info.reason, 'initial');
  t.same(m1.calls[0].changed, ['a.service']);
  t.same(m1.calls[0].snapshot.get('a.service'), { name: 'a.service', hash: units[0].hash, desiredState: 'launched' });

  // traffic elsewhere: other machines' schedules (m10 shares the "m1" prefix), jobs, states, machines
  await reg.applySchedule(
    [
      { type: 'place', name: 'b.service', machineId: 'm2', hash: units[1].hash, desiredState: 'launched' },
      { type: 'place', name: 'c.service', machineId: 'm10', hash: units[2].hash, desiredState: 'launched' },
    ],
    fence,
  );
  await reg.setDesiredState('d.service', 'loaded');
  await reg.setMachineMetadata('m2', 'x', 'y');
  await reg.applySchedule([{ type: 'unschedule', name: 'b.service', machineId: 'm2' }], fence);
  await sleep(500);
  t.equal(m1.calls.length, 1, 'no callback for writes outside P/schedule/m1/');

  await reg.applySchedule([{ type: 'place', name: 'd.service', machineId: 'm1', hash: units[3].hash, desiredState: 'loaded' }], fence);
  await waitFor('place on m1', () => (m1.calls.length === 2 ? true : undefined));
  t.same(m1.last()?.changed, ['d.service']);
  t.equal(m1.last()?.info.reason, 'update');
  t.same([...(m1.last()?.snapshot.keys() ?? [])], ['a.service', 'd.service']);

  await reg.setDesiredState('a.service', 'loaded');
  await reg.syncScheduleState([{ name: 'a.service', machineId: 'm1', hash: units[0].hash, desiredState: 'loaded' }], fence);
  await waitFor('sync on m1', () => (m1.calls.length === 3 ? true : undefined));
  t.same(m1.last()?.changed, ['a.service']);
  t.equal(m1.last()?.snapshot.get('a.service')?.desiredState, 'loaded');

  await reg.destroyUnit('a.service');
  await waitFor('destroy', () => (m1.calls.length === 4 ? true : undefined));
  t.same(m1.last()?.changed, ['a.service']);
  t.notOk(m1.last()?.snapshot.has('a.service'), 'removed ids are in changed but not in the map');
  t.ok(BigInt(h.revision) > 0n);
});

t.test('jobs, machines and global watches deliver only real changes', async (t) => {
  const reg = freshRegistry(etcd);
  const jobs = recorder<{ desiredState: string; hash: string }>();
  const machines = recorder<{ metadata: Record<string, string> }>();
  const globals = recorder<{ desiredState: string }>();
  const hs = [await reg.watchJobs(jobs.listener), await reg.watchMachines(machines.listener), await reg.watchGlobalUnits(globals.listener)];
  t.teardown(() => Promise.all(hs.map((h) => h.close())));
  t.same([jobs.calls.length, machines.calls.length, globals.calls.length], [1, 1, 1]);
  t.equal(jobs.calls[0].snapshot.size, 0);

  const u = spec('j.service', { desiredState: 'launched' });
  await reg.createUnit(u);
  await waitFor('job created', () => (jobs.calls.length === 2 ? true : undefined));
  t.same(jobs.last()?.changed, ['j.service']);
  t.same(jobs.last()?.snapshot.get('j.service'), { name: 'j.service', hash: u.hash, global: false, desiredState: 'launched' });

  await reg.createUnit(u);
  await reg.setDesiredState('j.service', 'loaded');
  await waitFor('desired state', () => (jobs.calls.length >= 3 ? true : undefined));
  t.equal(jobs.calls.length, 3, 'rewriting identical values produced no callback');
  t.equal(jobs.last()?.snapshot.get('j.service')?.desiredState, 'loaded');

  const g = spec('g.service', { global: true, desiredState: 'launched' });
  await reg.createUnit(g);
  await waitFor('global', () => (globals.calls.length === 2 ? true : undefined));
  t.same(globals.last()?.snapshot.get('g.service'), { name: 'g.service', hash: g.hash, desiredState: 'launched' });
  await reg.setDesiredState('g.service', 'inactive');
  await waitFor('global inactive', () => (globals.last()?.snapshot.get('g.service')?.desiredState === 'inactive' ? true : undefined));

  const p = await reg.registerMachine(machine('w1', { role: 'web' }), 10);
  await waitFor('machine', () => (machines.calls.length === 2 ? true : undefined));
  t.same(machines.last()?.changed, ['w1']);
  await reg.setMachineMetadata('w1', 'role', 'db');
  await waitFor('override', () => (machines.last()?.snapshot.get('w1')?.metadata.role === 'db' ? true : undefined));
  t.same(machines.last()?.changed, ['w1']);
  await reg.setMachineMetadata('w9', 'role', 'db');
  await p.close();
  await waitFor('machine gone', () => (machines.last()?.snapshot.has('w1') === false ? true : undefined));
  t.same(machines.last()?.changed, ['w1'], 'an override for an unregistered machine is no change');
});

t.test('listener calls never overlap and stop after close', async (t) => {
  const reg = freshRegistry(etcd);
  let active = 0;
  let overlap = false;
  let calls = 0;
  const h = await reg.watchJobs(async () => {
    active++;
    if (active > 1) overlap = true;
    calls++;
    await sleep(30);
    active--;
  });
  for (let i = 0; i < 10; i++) await reg.createUnit(spec(`o${i}.service`));
  await waitFor('all changes', async () => ((await reg.listUnits()).length === 10 && active === 0 && calls > 1 ? true : undefined));
  await sleep(300);
  t.notOk(overlap);
  await h.close();
  const before = calls;
  await reg.createUnit(spec('after-close.service'));
  await sleep(300);
  t.equal(calls, before);
});

t.test('a cut-off watch catches up on what it missed', async (t) => {
  const proxy = await startTcpProxy(etcd.clientPort, t);
  const reg = freshRegistry(etcd);
  const watched = new Registry(etcd.newClient({ endpoint: proxy.endpoint, requestTimeoutMs: 1000 }), reg.prefix);
  await reg.createUnit(spec('keep.service'));
  await reg.createUnit(spec('drop.service'));
  const rec = recorder<{ desiredState: string }>();
  const h = await watched.watchJobs(rec.listener);
  t.teardown(() => h.close());

  await proxy.cut();
  await reg.destroyUnit('drop.service');
  await reg.createUnit(spec('new.service', { desiredState: 'launched' }));
  await reg.setDesiredState('keep.service', 'loaded');
  await sleep(300);
  await proxy.restore();
  await waitFor('catch-up', () => (rec.last()?.snapshot.has('new.service') && rec.last()?.snapshot.get('keep.service')?.desiredState === 'loaded' && !rec.last()?.snapshot.has('drop.service') ? true : undefined), 30000);
  t.same([...(rec.last()?.snapshot.keys() ?? [])].sort(), ['keep.service', 'new.service']);
  t.notOk(rec.calls.some((c) => c.info.reason === 'resync'), 'resumed from its revision, no re-list needed');
});

t.test('a watch whose history was compacted away re-lists and reports the difference', async (t) => {
  const proxy = await startTcpProxy(etcd.clientPort, t);
  const reg = freshRegistry(etcd);
  const watched = new Registry(etcd.newClient({ endpoint: proxy.endpoint, requestTimeoutMs: 1000 }), reg.prefix);
  await reg.createUnit(spec('keep.service'));
  await reg.createUnit(spec('drop.service'));
  const rec = recorder<{ desiredState: string }>();
  const h = await watched.watchJobs(rec.listener);
  t.teardown(() => h.close());

  await proxy.cut();
  await reg.destroyUnit('drop.service');
  await reg.createUnit(spec('new.service', { desiredState: 'launched' }));
  await reg.createUnit(spec('x.service'));
  await reg.destroyUnit('x.service');
  const rev = (await etcd.client.get('anything').exec()).header.revision;
  await etcd.client.kv.compact({ revision: rev, physical: true });
  await proxy.restore();

  const resync = await waitFor('resync', () => rec.calls.find((c) => c.info.reason === 'resync'), 30000);
  t.same([...resync.snapshot.keys()].sort(), ['keep.service', 'new.service']);
  t.same(resync.changed, ['drop.service', 'new.service'], 'x.service came and went unseen: not a change');
  t.ok(BigInt(resync.info.revision) >= BigInt(rev));

  await reg.setDesiredState('new.service', 'loaded');
  await waitFor('updates after resync', () => (rec.last()?.snapshot.get('new.service')?.desiredState === 'loaded' ? true : undefined));
  t.equal(rec.last()?.info.reason, 'update');
});

t.test('watches survive an etcd restart', async (t) => {
  const reg = freshRegistry(etcd);
  const rec = recorder<{ desiredState: string }>();
  const h = await reg.watchJobs(rec.listener);
  t.teardown(() => h.close());
  await reg.createUnit(spec('before.service'));
  await waitFor('before', () => (rec.last()?.snapshot.has('before.service') ? true : undefined));
  const oldPid = etcd.pid;
  await etcd.restart();
  t.not(etcd.pid, oldPid);
  const writer = new Registry(etcd.newClient(), reg.prefix);
  await waitFor('etcd writable', async () => {
    try {
      await writer.createUnit(spec('after.service'));
      return true;
    } catch {
      return undefined;
    }
  }, 30000);
  await waitFor('after', () => (rec.last()?.snapshot.has('after.service') ? true : undefined), 30000);
  t.ok(rec.last()?.snapshot.has('before.service'), 'data kept across restart');
});

t.test("an agent's own machine watch ignores other machines", async (t) => {
  const reg = freshRegistry(etcd);
  const mine = recorder<{ metadata: Record<string, string> }>();
  const h = await reg.watchMachine('m1', mine.listener);
  t.teardown(() => h.close());
  t.equal(mine.calls[0].snapshot.size, 0, 'not registered yet');
  const ps = await Promise.all(['m10', 'm2'].map((id) => reg.registerMachine(machine(id), 10)));
  t.teardown(() => Promise.all(ps.map((p) => p.close())));
  await reg.setMachineMetadata('m10', 'role', 'x');
  const p1 = await reg.registerMachine(machine('m1', { role: 'web' }), 10);
  t.teardown(() => p1.close());
  await waitFor('own registration', () => (mine.last()?.snapshot.has('m1') ? true : undefined));
  await reg.setMachineMetadata('m1', 'role', 'db');
  await waitFor('own override', () => (mine.last()?.snapshot.get('m1')?.metadata.role === 'db' ? true : undefined));
  t.equal(mine.calls.length, 3, 'initial, registration, override: nothing from m10 or m2');
  t.same((await reg.getMachine('m1'))?.metadata, { role: 'db' });
  t.equal(await reg.getMachine('m3'), undefined);
});

t.test('a listener may close its own watch', async (t) => {
  const reg = freshRegistry(etcd);
  let calls = 0;
  let handle: { close(): Promise<void> } | undefined;
  const closed = new Promise<void>((resolve) => {
    void reg
      .watchJobs(async (_m, changed, info) => {
        calls++;
        if (info.reason === 'update' && changed.has('close-me.service')) {
          await handle?.close();
          resolve();
        }
      })
      .then((h) => (handle = h));
  });
  await waitFor('watch started', () => handle);
  await reg.createUnit(spec('close-me.service'));
  await closed;
  await reg.createUnit(spec('later.service'));
  await sleep(300);
  t.equal(calls, 2, 'initial + the update that closed it');
});
