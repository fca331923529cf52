/**
 * A global unit's rollout end to end on a real etcd: the engine leader switches each machine through the
 * registry's per-machine hash override (setGlobalMachineHash), real agents (fleetd members with the in-memory unit
 * manager) run it; at most one machine is without the unit at any sample (every 10 ms), every machine ends on the
 * new text, the unit itself gets it and no override is left; a failing text is rolled back on the first machine.
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { Keyspace } from '../../lib/registry/index.js';
import { RolloutCluster, unitOf } from './helpers.js';

const etcd = await startEtcd(t);
const G = 'g.service';
const text = (v: string) => `[Unit]\nDescription=global ${v}\n\n[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nGlobal=true\n`;

async function cluster(t: Test) {
  const c = new RolloutCluster(etcd, t);
  for (const id of ['m1', 'm2', 'm3']) await c.addMachine(id);
  await c.f.startEngine('e1', { reconcileIntervalMs: 1000 });
  await c.f.waitLeader();
  const v1 = unitOf(G, text('v1'));
  await c.f.registry.createUnit({ ...v1, desiredState: 'launched', global: true });
  const activeOn = () => c.machines.filter((m) => m.manager.activeText(G) !== undefined);
  await waitFor('active on 3 machines', () => activeOn().length === 3 || undefined, 20_000);
  let minUp = 3;
  const timer = setInterval(() => (minUp = Math.min(minUp, activeOn().length)), 10);
  t.teardown(() => clearInterval(timer));
  const overrides = async () => (await c.f.client.getAll().prefix(`${new Keyspace(c.f.prefix).global(G)}/machine/`).keys()).length;
  return { c, v1, minUp: () => minUp, overrides };
}

const finished = (c: RolloutCluster, id: string) => c.waitPhase(id, ['succeeded', 'failed', 'rolled-back'], 40_000);

t.test('rolled machine by machine: never two machines without it; the unit gets the new text', async (t) => {
  const { c, minUp, overrides } = await cluster(t);
  const v2 = unitOf(G, text('v2'));
  const spec = await c.f.registry.createRollout({ units: [v2], maxUnavailable: 1, minHealthyMs: 500, deadlineMs: 10_000, rollback: true });
  const end = await finished(c, spec.id);
  t.equal(end.status!.phase, 'succeeded');
  t.equal(minUp(), 2, 'at most one machine without it');
  t.equal((await c.f.registry.getUnit(G))?.hash, v2.hash);
  await waitFor('overrides removed', async () => (await overrides()) === 0, 10_000);
  await waitFor('every machine on v2', () => c.machines.every((m) => m.manager.activeText(G)?.includes('global v2')) || undefined, 10_000);
});

t.test('a failing text: rolled back on the first machine; the unit keeps its text', async (t) => {
  const { c, v1, minUp, overrides } = await cluster(t);
  const spec = await c.f.registry.createRollout({ units: [unitOf(G, text('v2 FAILS'))], maxUnavailable: 1, minHealthyMs: 500, deadlineMs: 10_000, rollback: true });
  const end = await finished(c, spec.id);
  t.equal(end.status!.phase, 'rolled-back');
  t.match(end.status!.failure, { unit: G, machine: 'm1' });
  t.equal(minUp(), 2);
  t.equal((await c.f.registry.getUnit(G))?.hash, v1.hash);
  t.equal(await overrides(), 0);
  await waitFor('every machine on v1', () => c.machines.every((m) => m.manager.activeText(G)?.includes('global v1')) || undefined, 10_000);
});
