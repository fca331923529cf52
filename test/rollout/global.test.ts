/**
 * A global unit's rollout on a real etcd, driven by a real engine: one target per machine running it, each machine
 * switched through its hash override (RolloutWrites, faked here as the key `P/global/<name>/machine/<id>` until the
 * registry's setGlobalMachineHash is merged), at most one machine without the unit at a time, then the unit itself
 * gets the new text and the overrides go. Stand-in agents run each machine's effective hash (override, else the
 * unit's), taking 300 ms to start a new text; a text marked FAILS fails.
 */
import t, { type Test } from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { Fixture } from '../engine/helpers.js';
import { Engine } from '../../fleetd/engine/engine.js';
import type { RolloutWrites } from '../../fleetd/engine/rollout.js';
import { openEtcd, Registry, type MachinePresence } from '../../lib/registry/index.js';
import { unitOf } from './helpers.js';

const etcd = await startEtcd(t);
const G = 'g.service';
const MACHINES = ['m1', 'm2', 'm3'];
const text = (v: string) => `[Unit]\nDescription=global ${v}\n\n[Service]\nExecStart=/bin/sleep 1000\n\n[X-Fleet]\nGlobal=true\n`;

async function setup(t: Test) {
  const f = new Fixture(etcd, t);
  const presences = new Map<string, MachinePresence>();
  for (const m of MACHINES) presences.set(m, await f.addMachine(m));
  const overrideKey = (m: string) => `${f.prefix}global/${G}/machine/${m}`;
  const writes: RolloutWrites = {
    async setMachineHash(name, machineId, hash) {
      t.equal(name, G);
      if (hash === null) await f.client.delete().key(overrideKey(machineId)).exec();
      else await f.client.put(overrideKey(machineId)).value(JSON.stringify({ hash })).exec();
    },
  };
  const client = openEtcd({ endpoints: [etcd.endpoint], requestTimeoutMs: 5000 });
  const registry = new Registry(client, f.prefix);
  const engine = new Engine({ registry, machineId: 'e1', leaseTtlSeconds: 2, reconcileIntervalMs: 1000, machineLostGraceMs: 0, rolloutWrites: writes });
  t.teardown(async () => {
    await engine.stop();
    await registry.close({ client: true });
  });
  engine.start();
  await waitFor('leader', () => engine.isLeader || undefined);

  const v1 = unitOf(G, text('v1'));
  await f.registry.createUnit({ ...v1, desiredState: 'launched', global: true });
  // stand-in agents: each machine runs its effective hash; a change takes 300 ms (inactive meanwhile)
  const running = new Map<string, { hash: string; since: number }>();
  let maxDown = 0;
  let stop = false;
  const texts = new Map<string, string>();
  const loop = (async () => {
    while (!stop) {
      const unitHash = (await f.registry.getUnit(G))?.hash;
      let down = 0;
      for (const m of MACHINES) {
        const o = await f.client.get(overrideKey(m)).string();
        const want = o ? (JSON.parse(o) as { hash: string }).hash : unitHash;
        if (!want) continue;
        const cur = running.get(m);
        if (!cur || cur.hash !== want) running.set(m, { hash: want, since: Date.now() });
        const r = running.get(m)!;
        if (!texts.has(want)) texts.set(want, (await f.registry.getUnitText(want)) ?? '');
        const up = Date.now() - r.since >= 300 && !texts.get(want)!.includes('FAILS');
        if (!up) down++;
        await f.registry.publishUnitState(presences.get(m)!, {
          name: G, machineId: m, hash: want, loadState: 'loaded', activeState: up ? 'active' : Date.now() - r.since >= 300 ? 'failed' : 'activating',
          subState: up ? 'running' : 'start', agentState: 'launched',
        });
      }
      maxDown = Math.max(maxDown, down);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  t.teardown(async () => {
    stop = true;
    await loop;
  });
  await waitFor('active everywhere', async () => (await f.registry.listUnitStates({ unitName: G })).filter((s) => s.activeState === 'active').length === 3);
  maxDown = 0;
  const overrides = async () => (await f.client.getAll().prefix(`${f.prefix}global/${G}/machine/`).keys()).length;
  return { f, v1, overrides, maxDown: () => maxDown };
}

t.test('a global unit rolls machine by machine and is committed', async (t) => {
  const { f, overrides, maxDown } = await setup(t);
  const v2 = unitOf(G, text('v2'));
  const spec = await f.registry.createRollout({ units: [v2], maxUnavailable: 1, minHealthyMs: 300, deadlineMs: 10_000, rollback: true });
  t.same(spec.units.map((u) => u.machine), MACHINES, 'one target per machine running it');
  const end = await waitFor('finished', async () => {
    const r = await f.registry.getRollout(spec.id);
    return r?.status && ['succeeded', 'failed', 'rolled-back'].includes(r.status.phase) ? r : undefined;
  }, 30_000);
  t.equal(end.status!.phase, 'succeeded');
  t.equal(maxDown(), 1, 'at most one machine without it');
  t.equal((await f.registry.getUnit(G))?.hash, v2.hash, 'the unit has the new text');
  await waitFor('overrides removed', async () => (await overrides()) === 0, 10_000);
});

t.test('a failing new text: rolled back on the first machine, the unit keeps its text', async (t) => {
  const { f, v1, overrides, maxDown } = await setup(t);
  const bad = unitOf(G, text('v2 FAILS'));
  const spec = await f.registry.createRollout({ units: [bad], maxUnavailable: 1, minHealthyMs: 300, deadlineMs: 10_000, rollback: true });
  const end = await waitFor('finished', async () => {
    const r = await f.registry.getRollout(spec.id);
    return r?.status && ['succeeded', 'failed', 'rolled-back'].includes(r.status.phase) ? r : undefined;
  }, 30_000);
  t.equal(end.status!.phase, 'rolled-back');
  t.match(end.status!.failure, { unit: G, machine: 'm1' });
  t.equal(maxDown(), 1);
  t.equal((await f.registry.getUnit(G))?.hash, v1.hash);
  t.equal(await overrides(), 0, 'no override left');
});
