/**
 * `fleetctl start --rolling` and `fleetctl rollout` against a real fleetd API server (and, for the etcd driver,
 * etcd itself), with in-process fleetd members and an engine leader driving the rollout (test/rollout/helpers.ts):
 * progress and success; a failing text reported with its unit and machine and rolled back; fleetctl killed
 * mid-rollout and the rollout completing anyway; status, list, pause and abort.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import { startApi } from '../api/fixture.js';
import { spawn } from 'node:child_process';
import { FLEETCTL, driverEnv, fleetctl } from '../fleetctl/helpers.js';
import { RolloutCluster, Sampler, unitOf, webText } from './helpers.js';

const etcd = await startEtcd(t);
const NAMES = [1, 2, 3, 4, 5, 6].map((i) => `web@${i}.service`);

async function setup(t: Test, driver: 'API' | 'etcd') {
  const c = new RolloutCluster(etcd, t);
  for (const id of ['m1', 'm2', 'm3']) await c.addMachine(id);
  await c.f.startEngine('e1', { reconcileIntervalMs: 1000 });
  await c.f.waitLeader();
  await c.launch(NAMES.map((n) => unitOf(n, webText('v1'))));
  const api = await startApi(t, { etcd, prefix: c.f.prefix });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-rollout-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = driverEnv(driver, { socket: api.socket, etcdEndpoint: etcd.endpoint, prefix: c.f.prefix });
  const run = (args: string[]) => fleetctl(args, { env, cwd: dir });
  const template = (text: string) => writeFileSync(path.join(dir, 'web@.service'), text);
  return { c, run, template, dir, env };
}

/** The environment fleetctl() gives its child: no FLEETCTL_* or TAP* of ours, plus `env`. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FLEETCTL_') && !k.startsWith('TAP')) out[k] = v;
  return { ...out, ...env };
}

const hashOf = async (c: RolloutCluster, n: string) => (await c.f.registry.getUnit(n))?.hash;

for (const driver of ['API', 'etcd'] as const) {
  t.test(`driver ${driver}: start --rolling replaces six instances one at a time and reports success`, async (t) => {
    const { c, run, template } = await setup(t, driver);
    template(webText('v2'));
    const s = new Sampler(c, NAMES);
    const r = await run(['start', '--rolling', '--min-healthy-time=300ms', ...NAMES]);
    s.stop();
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^Rollout \S+ started: 6 units, at most 1 unavailable at a time, healthy after 0\.3s\n/);
    t.match(r.stdout, /web@1\.service: replaced on m\d, waiting until it is active and healthy\nweb@1\.service: healthy on m\d\n/);
    t.match(r.stdout, /Rollout \S+ succeeded: 6 units on the new version\n$/);
    t.equal(s.minActive, 5, 'never fewer than five active');
    for (const n of NAMES) t.not(await hashOf(c, n), unitOf(n, webText('v1')).hash, `${n} replaced`);
    const list = await run(['rollout', 'list']);
    t.match(list.stdout, /^ID\s+PHASE\s+UNITS\s+PROGRESS\s+CREATED\n\S+\s+succeeded\s+6\s+6\/6 healthy\s/);
    const st = await run(['rollout', 'status']);
    t.match(st.stdout, /Phase:\s+succeeded\n/);
    t.match(st.stdout, /web@6\.service\s+healthy\s+m\d/);
  });
}

t.test('a failing text: exit 1 naming the unit and its machine; rolled back', async (t) => {
  const { c, run, template } = await setup(t, 'API');
  template(webText('v2 FAILS'));
  const r = await run(['start', '--rolling', '--min-healthy-time=1s', ...NAMES]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^Rollout \S+ rolled-back: unit web@1\.service on machine m\d: failed \(failed\/failed\)\n/);
  t.match(r.stdout, /web@1\.service: rolled back on m\d\n/);
  for (const n of NAMES) t.equal(await hashOf(c, n), unitOf(n, webText('v1')).hash, `${n} on its old text`);
});

t.test('fleetctl killed mid-rollout: the rollout completes; pause and abort from another fleetctl', async (t) => {
  const { c, run, template, dir, env } = await setup(t, 'API');
  template(webText('v2'));
  const child = spawn(process.execPath, [FLEETCTL, 'start', '--rolling', '--min-healthy-time=500ms', ...NAMES], { cwd: dir, env: childEnv(env), stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const id = await waitFor('the first unit replaced', async () => {
    const r = (await c.f.registry.listRollouts())[0];
    return r?.status?.units['web@1.service']?.state === 'updating' ? r.spec.id : undefined;
  }, 20_000);
  child.kill('SIGKILL');
  t.equal(await exited, null, 'fleetctl killed while following');
  const end = await c.waitPhase(id!, ['succeeded', 'failed', 'rolled-back']);
  t.equal(end.status!.phase, 'succeeded', 'completed without fleetctl');

  template(webText('v3'));
  const started = await run(['start', '--rolling', '--no-block', '--min-healthy-time=2s', ...NAMES]);
  t.equal(started.code, 0, started.stderr);
  const id2 = /^Rollout (\S+) started/.exec(started.stdout)?.[1]!;
  t.match(started.stdout, `Follow it with: fleetctl rollout status ${id2}`);
  const again = await run(['start', '--rolling', ...NAMES]);
  t.equal(again.code, 1);
  t.match(again.stderr, new RegExp(`^Error starting rollout: unit web@1\\.service is in rollout ${id2}, which is still running`));
  t.same(await run(['rollout', 'pause', id2]), { code: 0, stdout: `Asked rollout ${id2} to pause\n`, stderr: '' });
  await c.waitPhase(id2, ['paused']);
  t.equal((await run(['rollout', 'abort', id2])).code, 0);
  await c.waitPhase(id2, ['aborted']);
  const f = await run(['rollout', 'follow', id2]);
  t.equal(f.code, 1);
  t.match(f.stderr, `Rollout ${id2} was aborted`);
  writeFileSync(path.join(dir, 'nosuch.service'), webText('v1'));
  const absent = await run(['start', '--rolling', 'nosuch.service']);
  t.same(absent, { code: 1, stdout: '', stderr: 'Error starting rollout: unit nosuch.service does not exist: a rolling update replaces running units; start it first\n' });
  const missing = await run(['rollout', 'status', 'nosuch']);
  t.same(missing, { code: 1, stdout: '', stderr: 'Rollout nosuch does not exist\n' });
});
