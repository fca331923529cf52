/**
 * `fleetctl restart` of a global unit rolls machine by machine (docs/fleet-compat.md#fleetctl), against a real API
 * server and a real etcd, both drivers. Stand-in agents (one per machine) answer the restart requests the way
 * fleetd's agent does: the unit goes inactive, comes back active, the request is settled. They count how many
 * machines are without the unit at once: never more than one. A loaded global unit stays loaded; a failed
 * restart stops the roll and names the machine.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { M1, M2, M3, addMachine, startApi } from '../api/fixture.js';
import type { MachinePresence } from '../../lib/registry/index.js';
import type { TestRegistry as Registry } from '../harness/registry.js';
import { driverEnv, fleetctl, simulateCluster } from './helpers.js';
import { waitFor } from '../harness/wait.js';

const etcd = await startEtcd(t);
const UNIT = 'g.service';

interface Agents {
  /** machines in the order they restarted */
  readonly restarted: string[];
  /** the most machines without the unit at one time */
  maxDown: number;
}

/**
 * Polls each machine's restart request; a pending one is answered, or failed on `failOn`, or on `vanishOn` the
 * machine's state goes (as when it leaves the cluster) and the request is never answered.
 */
function standInAgents(t: Test, reg: Registry, machines: ReadonlyMap<string, MachinePresence>, failOn?: string, vanishOn?: string): Agents {
  const agents: Agents = { restarted: [], maxDown: 0 };
  const down = new Set<string>();
  let running = true;
  const publish = async (m: string, activeState: string, subState: string): Promise<void> => {
    const u = (await reg.getUnit(UNIT))!;
    await reg.publishUnitState(machines.get(m)!, { name: UNIT, machineId: m, hash: u.hash, loadState: 'loaded', activeState, subState, agentState: 'launched' });
  };
  const loop = async (m: string): Promise<void> => {
    while (running) {
      const r = await reg.getRestartRequest(UNIT, m).catch(() => undefined);
      if (r?.status === 'pending' && m === vanishOn) {
        await reg.deleteUnitState(machines.get(m)!, UNIT);
        return;
      }
      if (r?.status === 'pending') {
        down.add(m);
        agents.maxDown = Math.max(agents.maxDown, down.size);
        await publish(m, 'inactive', 'dead');
        await new Promise((res) => setTimeout(res, 150));
        if (m === failOn) {
          await publish(m, 'failed', 'failed');
          await reg.settleRestart(UNIT, m, r.token, { ok: false, message: 'job failed' });
        } else {
          await publish(m, 'active', 'running');
          down.delete(m);
          agents.restarted.push(m);
          await reg.settleRestart(UNIT, m, r.token, { ok: true });
        }
      }
      await new Promise((res) => setTimeout(res, 30));
    }
  };
  const done = Promise.all([...machines.keys()].map(loop));
  t.teardown(async () => {
    running = false;
    await done;
  });
  return agents;
}

for (const driver of ['API', 'etcd'] as const) {
  t.test(`driver ${driver}`, async (t) => {
    const f = await startApi(t, { etcd, machineId: M1 });
    const reg = f.registry;
    const machines = new Map([
      [M1, await addMachine(t, reg, M1, '198.18.0.11')],
      [M2, await addMachine(t, reg, M2, '198.18.0.12')],
      [M3, await addMachine(t, reg, M3, '198.18.0.13')],
    ]);
    simulateCluster(t, reg, machines);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-restart-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const env = driverEnv(driver, { socket: f.socket, etcdEndpoint: etcd.endpoint, prefix: reg.prefix });
    const run = (...args: string[]) => fleetctl(args, { env, cwd: dir });
    writeFileSync(path.join(dir, UNIT), '[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nGlobal=true\n');
    const publishedEverywhere = () =>
      waitFor('published on 3 machines', async () => (await reg.listUnitStates({ unitName: UNIT })).length === 3);

    t.test('a loaded global unit stays loaded', async (t) => {
      t.equal((await run('load', UNIT)).code, 0);
      await publishedEverywhere();
      const r = await run('restart', UNIT);
      t.same(r, { code: 0, stdout: '', stderr: `Unable to restart global unit ${UNIT} in state loaded: only a launched global unit restarts\n` });
      t.equal((await reg.getUnit(UNIT))!.desiredState, 'loaded');
      for (const m of machines.keys()) t.equal(await reg.getRestartRequest(UNIT, m), undefined, 'no request');
    });

    t.test('a launched global unit restarts machine by machine, never two at once', async (t) => {
      t.equal((await run('start', UNIT)).code, 0);
      await waitFor('active everywhere', async () =>
        (await reg.listUnitStates({ unitName: UNIT })).filter((s) => s.activeState === 'active').length === 3);
      const agents = standInAgents(t, reg, machines);
      const r = await run('restart', '--block-attempts=10', UNIT);
      t.equal(r.code, 0, r.stderr);
      const sorted = [M1, M2, M3].sort();
      t.equal(r.stdout, sorted.map((m) => `Restarted global unit ${UNIT} on machine ${m}\n`).join(''));
      t.same(agents.restarted, sorted, 'each machine once, in machine id order');
      t.equal(agents.maxDown, 1, 'at most one machine without the unit');
      t.equal((await reg.getUnit(UNIT))!.desiredState, 'launched', 'still launched');
    });

    t.test('a failed restart stops the roll and names the machine', async (t) => {
      const sorted = [M1, M2, M3].sort();
      const agents = standInAgents(t, reg, machines, sorted[1]);
      const r = await run('restart', '--block-attempts=10', UNIT);
      t.equal(r.code, 1);
      t.equal(r.stdout, `Restarted global unit ${UNIT} on machine ${sorted[0]}\n`);
      t.match(r.stderr, `Error restarting global unit ${UNIT} on machine ${sorted[1]}: the restart failed: job failed`);
      t.same(agents.restarted, [sorted[0]]);
      const last = await reg.getRestartRequest(UNIT, sorted[2]!);
      t.not(last?.status, 'pending', 'the last machine was not asked this time');
    });

    t.test('a machine that leaves mid-roll stops the roll instead of a wait without bound', async (t) => {
      const sorted = [M1, M2, M3].sort();
      const agents = standInAgents(t, reg, machines, undefined, sorted[0]);
      const r = await run('restart', UNIT);
      t.equal(r.code, 1);
      t.equal(r.stdout, '');
      t.match(r.stderr, `Error restarting global unit ${UNIT} on machine ${sorted[0]}: the machine no longer reports the unit`);
      t.same(agents.restarted, []);
    });
  });
}
