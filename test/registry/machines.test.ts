import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { startTcpProxy } from '../harness/proxy.js';
import {
  DuplicateMachineError,
  PresenceLostError,
  Registry,
  type PresenceLostError as Lost,
  type UnitState,
} from '../../lib/registry/index.js';
import { freshRegistry, machine, sha1, waitFor } from './helpers.js';
import { errorMessage } from '../../lib/errors.js';

const etcd = await startEtcd(t);

function unitState(name: string, machineId: string): UnitState {
  return {
    name,
    machineId,
    hash: sha1(name),
    loadState: 'loaded',
    activeState: 'active',
    subState: 'running',
    agentState: 'launched',
  };
}

t.test('register, list, update, close', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('m1', { region: 'eu' }), 10);
  t.ok(p.alive);
  t.equal(p.machineId, 'm1');
  t.match(p.leaseId, /^[0-9]+$/);
  t.same(await reg.listMachines(), [machine('m1', { region: 'eu' })]);

  await p.update({ ...machine('m1', { region: 'us' }), publicIP: '198.18.0.9' });
  const [m] = await reg.listMachines();
  t.equal(m.publicIP, '198.18.0.9');
  t.same(m.metadata, { region: 'us' });
  await t.rejects(p.update(machine('m2')), /cannot change machine id/);

  const kv = (await etcd.client.get(`${reg.prefix}machines/m1/object`).exec()).kvs[0];
  t.equal(kv.lease, p.leaseId, 'machine object is bound to the lease');

  await p.close();
  t.notOk(p.alive);
  t.same(await reg.listMachines(), [], 'revoked on close: gone at once');
});

t.test('a live machine id cannot be registered twice', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('dup'), 10);
  t.teardown(() => p.close());
  const other = new Registry(etcd.newClient(), reg.prefix);
  const err = await other.registerMachine({ ...machine('dup'), publicIP: '198.18.0.2' }, 10).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, DuplicateMachineError);
  t.match(errorMessage(err), /dup is already registered.*198\.18\.0\.1/);
  t.equal((await reg.listMachines())[0].publicIP, '198.18.0.1', 'the first registration is untouched');
  const leases = await etcd.client.leaseClient.leaseLeases();
  t.equal(leases.leases.length, 1, 'the refused registration revoked its lease');
  await p.close();
  const again = await other.registerMachine(machine('dup'), 10);
  t.ok(again.alive, 'free again after the first one left');
  await again.close();
});

t.test('lease expiry: a silent machine and its unit states vanish by themselves', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('short'), 2);
  await reg.publishUnitState(p, unitState('a.service', 'short'));
  await reg.publishUnitState(p, unitState('b.service', 'short'));
  t.equal((await reg.listUnitStates()).length, 2);
  await reg.setMachineMetadata('short', 'role', 'db');

  await p.close({ revoke: false });
  const t0 = Date.now();
  t.equal((await reg.listMachines()).length, 1, 'still there right after keep-alives stop');
  await waitFor('machine to expire', async () => ((await reg.listMachines()).length === 0 ? true : undefined), 10000);
  t.ok(Date.now() - t0 >= 1000, 'expired by TTL, not at once');
  t.same(await reg.listUnitStates(), [], 'its unit states expired with it');
  t.equal(
    await etcd.client.get(`${reg.prefix}machines/short/metadata/role`).string(),
    'db',
    'metadata overrides are not lease-bound',
  );
});

t.test('keep-alive holds the machine well past its TTL', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('kept'), 2);
  t.teardown(() => p.close());
  await new Promise((r) => setTimeout(r, 5000));
  t.ok(p.alive);
  t.equal((await reg.listMachines()).length, 1);
});

t.test('metadata overrides merge over published metadata', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('md', { region: 'eu', disk: 'ssd' }), 10);
  t.teardown(() => p.close());
  await reg.setMachineMetadata('md', 'region', 'us');
  await reg.setMachineMetadata('md', 'disk', null);
  await reg.setMachineMetadata('md', 'rack', '7');
  await reg.setMachineMetadata('absent', 'x', 'y');
  const ms = await reg.listMachines();
  t.same(
    ms.map((m) => [m.id, m.metadata]),
    [['md', { rack: '7', region: 'us' }]],
    'overrides win, null hides a key, machines without a live object are not listed',
  );
  t.equal(await etcd.client.get(`${reg.prefix}machines/md/metadata/disk`).string(), '', 'deletion stored as ""');
  await p.update(machine('md', { region: 'asia', gpu: 'yes' }));
  t.same((await reg.listMachines())[0].metadata, { gpu: 'yes', rack: '7', region: 'us' });
});

t.test('unit states need a live presence of the same machine', async (t) => {
  const reg = freshRegistry(etcd);
  const p = await reg.registerMachine(machine('pub'), 10);
  await t.rejects(reg.publishUnitState(p, unitState('a.service', 'other')), /names machine other/);
  await reg.publishUnitState(p, unitState('a.service', 'pub'));
  const kv = (await etcd.client.get(`${reg.prefix}states/a.service/pub`).exec()).kvs[0];
  t.equal(kv.lease, p.leaseId, 'unit state bound to the machine lease');
  t.same(JSON.parse(kv.value.toString()), {
    name: 'a.service',
    machineID: 'pub',
    hash: sha1('a.service'),
    loadState: 'loaded',
    activeState: 'active',
    subState: 'running',
    agentState: 'launched',
  });
  await p.close();
  t.same(await reg.listUnitStates(), [], 'revoking the lease removed the state');
  await t.rejects(reg.publishUnitState(p, unitState('a.service', 'pub')), PresenceLostError);
});

t.test('losing etcd past the TTL is reported, and the machine can register again', async (t) => {
  const proxy = await startTcpProxy(etcd.clientPort, t);
  const cutClient = etcd.newClient({ endpoint: proxy.endpoint, requestTimeoutMs: 1000 });
  const reg = freshRegistry(etcd, cutClient);
  const observer = new Registry(etcd.client, reg.prefix);
  const p = await reg.registerMachine(machine('flaky'), 2);
  t.teardown(() => p.close());
  await reg.publishUnitState(p, unitState('a.service', 'flaky'));
  const oldLease = p.leaseId;
  const lost: Lost[] = [];
  p.onLost((e) => lost.push(e));

  await proxy.cut();
  await waitFor('loss to be reported', () => (lost.length > 0 ? true : undefined), 10000);
  t.notOk(p.alive);
  t.type(lost[0], PresenceLostError);
  await waitFor('etcd to expire the machine', async () => ((await observer.listMachines()).length === 0 ? true : undefined));
  t.same(await observer.listUnitStates(), [], 'states expired with the lease');
  await t.rejects(reg.publishUnitState(p, unitState('a.service', 'flaky')), PresenceLostError);

  await proxy.restore();
  await waitFor('re-registration', async () => {
    try {
      await p.reregister();
      return true;
    } catch {
      return undefined;
    }
  }, 20000);
  t.ok(p.alive);
  t.not(p.leaseId, oldLease, 'a new lease');
  t.same((await observer.listMachines()).map((m) => m.id), ['flaky']);
  await reg.publishUnitState(p, unitState('a.service', 'flaky'));
  t.equal((await observer.listUnitStates()).length, 1);
  t.equal(lost.length, 1, 'one loss, one report');
});

t.test('re-registration is refused while another live machine holds the id', async (t) => {
  const proxy = await startTcpProxy(etcd.clientPort, t);
  const reg = freshRegistry(etcd, etcd.newClient({ endpoint: proxy.endpoint, requestTimeoutMs: 1000 }));
  const observer = new Registry(etcd.client, reg.prefix);
  const p = await reg.registerMachine(machine('taken'), 2);
  t.teardown(() => p.close());
  await proxy.cut();
  await waitFor('loss', () => (p.alive ? undefined : true), 10000);
  await waitFor('expiry', async () => ((await observer.listMachines()).length === 0 ? true : undefined));
  const usurper = await observer.registerMachine(machine('taken'), 10);
  t.teardown(() => usurper.close());
  await proxy.restore();
  const err = await waitFor('an answer from etcd', async () => {
    try {
      await p.reregister();
      return 'registered';
    } catch (e) {
      return e instanceof DuplicateMachineError ? e : undefined;
    }
  }, 20000);
  t.type(err, DuplicateMachineError);
  t.notOk(p.alive);
});
