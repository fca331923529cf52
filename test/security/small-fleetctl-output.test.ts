/**
 * fleetctl's stdout failing: a full disk (/dev/full) is an error (exit 1, one line on stderr, no stack trace) for
 * every command that prints; a pipe whose reader went away (`| head -0`) ends fleetctl silently with 141, the
 * status a shell shows for a program killed by SIGPIPE (what fleet's Go binary and coreutils give).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import t from 'tap';
import { startEtcd } from '../harness/etcd.js';
import { HELLO, M1, addMachine, publishState, scheduleUnit, startApi, submitUnit } from '../api/fixture.js';
import { FLEETCTL } from '../fleetctl/helpers.js';

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs fleetctl with stdout on `stdout` (an fd) or on a pipe whose reading end is closed at once. */
function run(args: readonly string[], env: Record<string, string>, stdout: number | 'closed-pipe'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLEETCTL, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', stdout === 'closed-pipe' ? 'pipe' : stdout, 'pipe'],
    });
    if (stdout === 'closed-pipe') child.stdout!.destroy();
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

const etcd = await startEtcd(t);
const f = await startApi(t, { etcd });
const p1 = await addMachine(t, f.registry, M1, '198.18.0.11');
await submitUnit(f.registry, 'hello.service', HELLO, 'launched');
await scheduleUnit(f.registry, 'hello.service', M1);
await publishState(f.registry, p1, 'hello.service');
const env = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };

const printing: string[][] = [
  ['version'],
  ['--version'],
  ['help'],
  ['help', 'start'],
  ['start', '--help'],
  ['list-machines'],
  ['list-units'],
  ['list-unit-files'],
  ['cat', 'hello'],
  ['plan', 'hello'],
  ['completion'],
];

t.test('stdout on a full device: exit 1 with one line on stderr, for every command that prints', async (t) => {
  const full = openSync('/dev/full', 'w');
  t.teardown(() => closeSync(full));
  for (const args of printing) {
    const r = await run(args, env, full);
    t.equal(r.code, 1, `fleetctl ${args.join(' ')}: exit status 1`);
    t.match(r.stderr, /^Error: cannot write to stdout: .*no space left on device.*\n$/i, `fleetctl ${args.join(' ')}: one line naming the failure`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // a command that changes the cluster and then prints: the change is made, the lost output still fails it
  await submitUnit(f.registry, 'gone.service', HELLO);
  const r = await run(['destroy', 'gone'], env, full);
  t.equal(r.code, 1, 'destroy: exit status 1');
  t.match(r.stderr, /^Error: cannot write to stdout: /);
});

t.test('stderr failing too: still exit 1, quietly', async (t) => {
  const full = openSync('/dev/full', 'w');
  t.teardown(() => closeSync(full));
  const r = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [FLEETCTL, 'list-units'], { env: { ...env, PATH: process.env.PATH ?? '' }, stdio: ['ignore', full, full] });
    child.on('close', (code) => resolve(code));
  });
  t.equal(r, 1);
});

t.test('stdout a pipe nobody reads any more: silent, status 141 (as if killed by SIGPIPE)', async (t) => {
  for (const args of [['help'], ['list-units'], ['cat', 'hello']]) {
    const r = await run(args, env, 'closed-pipe');
    t.same(r, { code: 141, signal: null, stderr: '' }, `fleetctl ${args.join(' ')} | head -0`);
  }
});
