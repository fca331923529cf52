/**
 * fleetd's member lifecycle (fleetd/member.ts) on a real etcd, with the in-memory unit manager: a machine whose
 * presence is lost registers again and re-publishes its machine state as it is now (a change made while the
 * presence was lost included) and the states of its units; a second live machine with its id is fatal.
 */
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { TestRegistry } from '../harness/registry.js';
import { FatalError, Member } from '../../fleetd/member.js';
import { MemoryUnitManager } from '../../fleetd/agent/memory-unit-manager.js';
import type { MachineState } from '../../lib/registry/index.js';
import { loadUnit } from '../../lib/unit/index.js';

const etcd = await startEtcd(t);

function state(id: string, metadata: Record<string, string>, instance = `test-${id}`): MachineState {
  return { id, publicIP: '198.18.0.7', metadata, version: '1.0.0-test', disableEngine: true, instance };
}

function member(reg: TestRegistry, s: MachineState, manager = new MemoryUnitManager()): Member {
  return new Member({ registry: reg, manager, state: s, agentTtl: 2, rejoinSettleMs: 5000, machineIdSource: 'the test' });
}

t.test('presence lost: re-registers and re-publishes the machine state as it is now, and its unit states', async (t) => {
  const reg = new TestRegistry(etcd.newClient(), `/member-${Date.now()}/`);
  const manager = new MemoryUnitManager();
  const m = member(reg, state('m1', { role: 'old' }), manager);
  t.teardown(async () => {
    await m.stop({ unloadAll: false, revoke: true });
    await manager.close();
    await reg.close();
  });
  await m.start();
  t.same((await reg.getMachine('m1'))?.metadata, { role: 'old' }, 'registered');

  const u = loadUnit('a.service', '[Service]\nExecStart=/bin/sleep 1000\n');
  await reg.createUnit({ name: u.name, text: u.text, hash: u.hash, desiredState: 'launched', global: false });
  const fence = await reg.claimFence(`${reg.prefix}test-leader`);
  await reg.applySchedule([{ type: 'place', name: u.name, machineId: 'm1', hash: u.hash, desiredState: 'launched' }], fence);
  await waitFor('the unit state published', async () => (await reg.listUnitStates({ unitName: u.name })).length === 1, 10_000);

  // while the presence is lost, the machine's state changes (as on SIGHUP): it cannot be published yet
  const presence = m.presence!;
  presence.onLost(() => void m.update(state('m1', { role: 'new' })));
  const lostLease = presence.leaseId;
  await reg.etcd.leaseClient.leaseRevoke({ ID: lostLease });
  await waitFor('the presence lost', () => m.stats.presenceLosses === 1, 10_000);
  const back = await waitFor('registered again', async () => {
    const rec = await reg.getMachine('m1');
    return presence.alive && presence.leaseId !== lostLease && rec ? rec : undefined;
  }, 10_000);
  await waitFor('the new state published', async () => (await reg.getMachine('m1'))?.metadata.role === 'new', 5_000);
  t.pass(`registered again (was ${JSON.stringify(back.metadata)}); the state changed while lost is published`);
  t.same(m.state.metadata, { role: 'new' });
  await waitFor('its unit state published again', async () => (await reg.listUnitStates({ unitName: u.name })).length === 1, 10_000);
  t.equal(m.stats.presenceLosses, 1);
});

t.test('another live machine with the same id: start fails with FatalError naming where the id came from', async (t) => {
  const reg = new TestRegistry(etcd.newClient(), `/member-dup-${Date.now()}/`);
  const a = member(reg, state('dup', {}, 'one'));
  const b = member(reg, state('dup', {}, 'two'));
  t.teardown(async () => {
    await a.stop({ unloadAll: false, revoke: true });
    await b.stop({ unloadAll: false, revoke: true });
    await reg.close();
  });
  await a.start();
  await t.rejects(b.start(), FatalError);
  await t.rejects(b.start(), /machine id dup \(from the test\) is already registered/);
});
