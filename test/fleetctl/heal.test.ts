/**
 * fleetctl against a real API server and a real etcd, for the fleet complaints about units stopped or not
 * replaced by the commands meant to run them (docs/fleet-compat.md#fleetctl): `load` of a launched unit never
 * stops it (#1428), and `start --replace` of an instance follows its changed local template (#1691). Both
 * drivers; and `start` of a launched unit that failed asks its machine to start it again (#1091). Every value a unit's target state takes is recorded through an etcd watch, so a momentary drop
 * (launched -> inactive -> launched) shows too.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { M1, M2, addMachine, startApi } from '../api/fixture.js';
import type { TestRegistry as Registry } from '../harness/registry.js';
import { driverEnv, fleetctl, simulateCluster } from './helpers.js';
import { waitFor } from '../harness/wait.js';

const etcd = await startEtcd(t);

/** Every target state written to `unit` from now on, in order. */
async function recordTargetStates(t: Test, reg: Registry, unit: string): Promise<string[]> {
  const seen: string[] = [];
  const key = reg.keyspace.jobTargetState(unit);
  const w = await reg.etcd.watch().key(key).create();
  w.on('put', (kv) => seen.push(kv.value.toString('utf8')));
  t.teardown(() => w.cancel());
  return seen;
}

for (const driver of ['API', 'etcd'] as const) {
  t.test(`driver ${driver}`, async (t) => {
    const f = await startApi(t, { etcd, machineId: M1 });
    const reg = f.registry;
    const machines = new Map([
      [M1, await addMachine(t, reg, M1, '198.18.0.11')],
      [M2, await addMachine(t, reg, M2, '198.18.0.12')],
    ]);
    simulateCluster(t, reg, machines);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-heal-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const env = driverEnv(driver, { socket: f.socket, etcdEndpoint: etcd.endpoint, prefix: reg.prefix });
    const run = (...args: string[]) => fleetctl(args, { env, cwd: dir });

    t.test('load and load --replace never stop a launched unit (#1428)', async (t) => {
      writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 1000\n');
      const started = await run('start', 'a.service');
      t.equal(started.code, 0, started.stderr);
      const states = await recordTargetStates(t, reg, 'a.service');

      const loaded = await run('load', 'a.service');
      t.same(loaded, { code: 0, stdout: '', stderr: '' }, 'load of a launched unit: nothing to do');
      t.equal((await reg.getUnit('a.service'))!.desiredState, 'launched');

      const before = (await reg.getUnit('a.service'))!.hash;
      writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 2000\n');
      const replaced = await run('load', '--replace', 'a.service');
      t.equal(replaced.code, 0, replaced.stderr);
      t.equal(replaced.stderr, '');
      t.match(replaced.stdout, /^Unit a\.service launched on [0-9a-f]{8}\.\.\.\/198\.18\.0\.1[12]\n$/);
      const after = (await reg.getUnit('a.service'))!;
      t.not(after.hash, before, 'the new text replaced the old one');
      t.match(after.text, /sleep 2000/);
      t.equal(after.desiredState, 'launched');
      t.equal(after.machineId !== undefined, true, 'still scheduled');
      t.same(states.filter((s) => s !== 'launched'), [], 'the target state never left launched');

      // a loaded unit is still replaced and loaded as before
      const stopped = await run('stop', 'a.service');
      t.equal(stopped.code, 0, stopped.stderr);
      writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 3000\n');
      const again = await run('load', '--replace', 'a.service');
      t.equal(again.code, 0, again.stderr);
      t.match(again.stdout, /^Unit a\.service inactive\nUnit a\.service loaded on /);
      t.equal((await reg.getUnit('a.service'))!.desiredState, 'loaded');
    });

    t.test('start of a launched unit that failed starts it again (#1091)', async (t) => {
      writeFileSync(path.join(dir, 'f.service'), '[Service]\nExecStart=/bin/false\n');
      t.equal((await run('start', 'f.service')).code, 0);
      const u = (await reg.getUnit('f.service'))!;
      const presence = machines.get(u.machineId!)!;
      const state = (activeState: string, subState: string) =>
        reg.publishUnitState(presence, { name: 'f.service', machineId: u.machineId!, hash: u.hash, loadState: 'loaded', activeState, subState, agentState: 'launched' });
      await state('failed', 'failed'); // what the agent publishes once the unit failed
      const startKey = reg.keyspace.scheduleStart(u.machineId!, 'f.service');
      t.equal(await etcd.client.get(startKey).string(), null);
      // the agent's part: on a new start request, reset and start the unit, which now runs
      const agent = (async () => {
        const request = await waitFor('start request', async () => (await etcd.client.get(startKey).string()) ?? undefined, 30_000);
        await state('active', 'running');
        return request;
      })();
      const r = await run('start', 'f.service');
      t.equal(r.code, 0, r.stderr);
      t.match(r.stdout, /^Unit f\.service launched on [0-9a-f]{8}\.\.\.\/198\.18\.0\.1[12]\n$/);
      t.ok(await agent, 'fleetctl asked the machine to start it again');
      t.equal((await reg.getUnit('f.service'))!.desiredState, 'launched');

      const before = await etcd.client.get(startKey).string();
      t.same(await run('start', 'f.service'), { code: 0, stdout: '', stderr: '' }, 'running: nothing to do');
      t.equal(await etcd.client.get(startKey).string(), before, 'and no new request');

      // it fails again at once: fleetctl says so after its wait
      await state('failed', 'failed');
      const again = await run('start', '--block-attempts=1', 'f.service');
      t.equal(again.code, 1);
      t.match(again.stderr, /Failed to find an active unit f\.service .*systemd reports loaded\/failed\/failed/);
      t.not(await etcd.client.get(startKey).string(), before, 'a new request was made');
    });

    t.test('start of a launched global unit that failed somewhere asks its machines to start it again', async (t) => {
      writeFileSync(path.join(dir, 'g.service'), '[Service]\nExecStart=/bin/false\n[X-Fleet]\nGlobal=true\n');
      t.same(await run('start', 'g.service'), { code: 0, stdout: 'Unit g.service \nTriggered global unit g.service start\n', stderr: '' });
      const startKey = reg.keyspace.globalStart('g.service');
      t.same(await run('start', 'g.service'), { code: 0, stdout: '', stderr: '' }, 'running everywhere: nothing to do');
      t.equal(await etcd.client.get(startKey).string(), null);
      const g = (await reg.getUnit('g.service'))!;
      await waitFor('published', async () => (await reg.listUnitStates({ unitName: 'g.service', machineId: M2 })).length === 1);
      await reg.publishUnitState(machines.get(M2)!, { name: 'g.service', machineId: M2, hash: g.hash, loadState: 'loaded', activeState: 'failed', subState: 'failed', agentState: 'launched' });
      t.same(await run('start', 'g.service'), { code: 0, stdout: 'Triggered global unit g.service start\n', stderr: '' });
      t.not(await etcd.client.get(startKey).string(), null, 'a start request for the machines running it');
    });

    t.test('start --replace of an instance follows its changed local template (#1691)', async (t) => {
      writeFileSync(path.join(dir, 'web@.service'), '[Unit]\nDescription=Web %i v1\n[Service]\nExecStart=/bin/sleep 1000\n');
      const sub = await run('submit', 'web@.service');
      t.equal(sub.code, 0, sub.stderr);
      const started = await run('start', 'web@1.service');
      t.equal(started.code, 0, started.stderr);
      t.match((await reg.getUnit('web@1.service'))!.text, /v1/);

      writeFileSync(path.join(dir, 'web@.service'), '[Unit]\nDescription=Web %i v2\n[Service]\nExecStart=/bin/sleep 1000\n');
      const replaced = await run('start', '--replace', 'web@1.service');
      t.equal(replaced.code, 0, replaced.stderr);
      const u = (await reg.getUnit('web@1.service'))!;
      t.match(u.text, /v2/, 'the instance runs the local template now, although the registry holds the old one');
      t.equal(u.desiredState, 'launched');
      t.match((await reg.getUnit('web@.service'))!.text, /v1/, 'the template in the registry is left as it was');

      // the same when the template is not in the registry (worked before; kept)
      writeFileSync(path.join(dir, 'api@.service'), '[Unit]\nDescription=Api %i v1\n[Service]\nExecStart=/bin/sleep 1000\n');
      t.equal((await run('start', 'api@1.service')).code, 0);
      writeFileSync(path.join(dir, 'api@.service'), '[Unit]\nDescription=Api %i v2\n[Service]\nExecStart=/bin/sleep 1000\n');
      t.equal((await run('start', '--replace', 'api@1.service')).code, 0);
      t.match((await reg.getUnit('api@1.service'))!.text, /v2/);
    });
  });
}
