/**
 * The README's main job in CI: `bash scripts/demo.sh` on a cluster of its own exits 0, shows its progress,
 * and leaves a cluster that answers fleetctl; the cluster is torn down afterwards, also on failure.
 * The suite has already run scripts/setup.sh, so the demo skips it (a rebuild of dist/ would swap files
 * under the tests running next to this one).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultStateDir } from '../../lab/names.js';
import { record } from '../../lab/proc.js';
import { run, type RunResult } from '../../lab/run.js';
import { fleetctl } from '../fleetctl/helpers.js';
import { LAB_CLI, uniqueLabName } from '../harness/lab.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const WATCHDOG = fileURLToPath(new URL('../../lab/watchdog.js', import.meta.url));

function bash(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return run('bash', [script], { env, timeoutMs });
}

/** If this process dies, the lab's watchdog still takes the cluster down. */
function watch(name: string): void {
  const me = record(process.pid);
  if (!me) return;
  const child = spawn(process.execPath, [WATCHDOG, String(me.pid), String(me.start), name, defaultStateDir(name)], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}

t.test('scripts/demo.sh brings up a 3-machine cluster running the examples', async (t) => {
  const name = uniqueLabName('demo');
  t.teardown(async () => {
    const down = await run(process.execPath, [LAB_CLI, '--name', name, 'down'], { timeoutMs: 300_000 });
    if (down.code !== 0) throw new Error(`fleet-lab --name ${name} down: ${down.stderr}`);
  });
  watch(name);

  const env: NodeJS.ProcessEnv = { ...process.env, FLEET_LAB_NAME: name, FLEET_DEMO_SKIP_SETUP: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('FLEETCTL_') || k.startsWith('TAP')) delete env[k];
  const demo = await bash(`${ROOT}/scripts/demo.sh`, env, 600_000);
  t.equal(demo.code, 0, demo.code === 0 ? 'demo.sh exits 0' : `demo.sh failed:\n${demo.stderr}`);
  for (const [i, what] of ['checking privileges', 'installing', 'bringing up', 'waiting for all 3 machines', 'starting the example units', 'the cluster'].entries()) {
    t.match(demo.stderr, `==> [${i + 1}/6] ${what}`, `progress: step ${i + 1}`);
  }
  t.match(demo.stderr, /3 of 3 machines registered/);
  t.match(demo.stdout, /^UNIT\s+MACHINE\s+ACTIVE\s+SUB$/m, 'prints fleetctl list-units');
  t.match(demo.stdout, `The cluster "${name}" is up`);
  const key = /ssh-add (\S+)/.exec(demo.stdout)?.[1];
  t.equal(key, `${defaultStateDir(name)}/ssh/id_ecdsa`, 'tells how to ssh in, with the cluster key');
  t.ok(key !== undefined && existsSync(key), 'a key that exists');

  const envOut = await run(process.execPath, [LAB_CLI, '--name', name, 'env']);
  t.equal(envOut.code, 0, envOut.stderr);
  const vars = Object.fromEntries([...envOut.stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  t.match(vars, { FLEETCTL_DRIVER: 'API', FLEETCTL_ENDPOINT: /^http:\/\/198\.18\.\d+\.11:49153$/ }, 'the API endpoint the demo told us to use');
  const machines = await fleetctl(['list-machines', '--no-legend'], { env: vars });
  t.equal(machines.code, 0, machines.stderr);
  t.equal(machines.stdout.split('\n').filter((l) => l.trim() !== '').length, 3, 'fleetctl list-machines shows 3 machines');
  const units = await fleetctl(['list-units', '--no-legend', '--fields=unit,active'], { env: vars });
  t.equal(units.code, 0, units.stderr);
  for (const u of ['hello.service', 'web@1.service', 'web@2.service', 'web-discovery@1.service', 'monitor.service']) {
    t.match(units.stdout, new RegExp(`^${u.replace(/[.@]/g, '\\$&')}\\s+active$`, 'm'), `${u} active`);
  }

  const again = await bash(`${ROOT}/scripts/demo.sh`, env, 600_000);
  t.equal(again.code, 0, again.code === 0 ? 'a second run exits 0 too' : `the second demo.sh failed:\n${again.stderr}`);
  t.match(again.stderr, /3 of 3 machines registered/, 'and finds the same cluster');
});

t.test('a failing step is named, with what to do', async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, FLEET_LAB_NAME: 'Not_Valid', FLEET_DEMO_SKIP_SETUP: '1' };
  const demo = await bash(`${ROOT}/scripts/demo.sh`, env, 120_000);
  t.equal(demo.code, 1);
  t.match(demo.stderr, /FAILED at step 3\/6 \(bringing up etcd, Docker and 3 machines/);
  t.match(demo.stderr, 'cluster name "Not_Valid" is not valid', "fleet-lab's own message is shown");
  t.match(demo.stderr, /^What to do: /m);
});
