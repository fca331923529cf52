import t from 'tap';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEtcd } from '../harness/etcd.js';
import { waitFor } from '../harness/wait.js';
import type { UnitInspector } from '../../fleetd/machine/inspector.js';
import { HELLO, M1, M2, addMachine, startApi } from '../api/fixture.js';
import { fleetctl, golden, simulateCluster } from './helpers.js';

const etcd = await startEtcd(t);

/** Answers status/journal like fleetd's systemd inspector would, from canned text. */
const inspector: UnitInspector = {
  async status(unit) {
    return { text: `● ${unit} - Hello World\n   Loaded: loaded (/run/fleet/units/${unit}; linked-runtime)\n   Active: active (running)\n`, exitCode: 0 };
  },
  journal(unit, req) {
    return Readable.from(Array.from({ length: req.lines }, (_, i) => `Nov 24 20:00:0${i} m1 sh[42]: ${unit} ${req.output} line ${i + 1}\n`));
  },
};

const f = await startApi(t, { etcd, machineId: M1, server: { inspector } });
const reg = f.registry;
const machines = new Map([
  [M1, await addMachine(t, reg, M1, '198.18.0.11')],
  [M2, await addMachine(t, reg, M2, '198.18.0.12')],
]);
simulateCluster(t, reg, machines);

const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-units-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'hello.service'), HELLO);
writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 1000\n');
writeFileSync(path.join(dir, 'b.service'), '[Service]\nExecStart=/bin/sleep 2000\n');
writeFileSync(path.join(dir, 'web@.service'), '[Unit]\nDescription=Web %i\n[Service]\nExecStart=/bin/echo %i\n[X-Fleet]\nConflicts=web@*.service\n');
writeFileSync(path.join(dir, 'g.service'), '[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n');
writeFileSync(path.join(dir, 'c.service'), '[Service]\nExecStart=/bin/true\n');
writeFileSync(path.join(dir, 'bad.service'), 'ExecStart=/bin/true\n');

const env = { FLEETCTL_ENDPOINT: `unix://${f.socket}` };
const run = (...args: string[]) => fleetctl(args, { env, cwd: dir });
const on1 = '113f16a7.../198.18.0.11';

t.test('start, stop, unload, load, restart, destroy: fleet\'s lines and exit codes', async (t) => {
  t.same(await run('start', 'hello'), { code: 0, stdout: `Unit hello.service inactive\nUnit hello.service launched on ${on1}\n`, stderr: '' });
  t.same(await run('start', 'hello.service'), { code: 0, stdout: '', stderr: '' }, 'already launched: nothing to do');
  t.same(await run('stop', 'hello'), { code: 0, stdout: `Unit hello.service loaded on ${on1}\n`, stderr: 'Successfully stopped units [hello.service].\n' });
  t.same(await run('stop', 'hello'), { code: 0, stdout: '', stderr: 'Successfully stopped units [].\n' }, 'already loaded: skipped');
  t.same(await run('unload', 'hello'), { code: 0, stdout: 'Unit hello.service inactive\n', stderr: 'Successfully unloaded units [hello.service].\n' });
  t.same(await run('stop', 'hello'), { code: 1, stdout: '', stderr: 'Unable to stop unit hello.service in state inactive\n' });
  t.same(await run('load', 'hello'), { code: 0, stdout: `Unit hello.service loaded on ${on1}\n`, stderr: '' });
  t.same(await run('restart', 'hello'), { code: 0, stdout: `Unit hello.service launched on ${on1}\n`, stderr: '' }, 'restart of a loaded unit starts it');
  t.same(await run('restart', 'hello'), { code: 0, stdout: `Unit hello.service loaded on ${on1}\nUnit hello.service launched on ${on1}\n`, stderr: '' });
  t.same(await run('status', 'hello'), { code: 0, stdout: (await inspector.status('hello.service')).text, stderr: '' });
  t.same(await run('status', '--no-block', 'hello'), { code: 0, stdout: (await inspector.status('hello.service')).text, stderr: '' }, "status takes --no-block (fleet's functional test passes it); it never blocks anyway");
  const j = await run('journal', '--lines', '2', '--output=cat', 'hello');
  t.same(j, { code: 0, stdout: 'Nov 24 20:00:00 m1 sh[42]: hello.service cat line 1\nNov 24 20:00:01 m1 sh[42]: hello.service cat line 2\n', stderr: '' });
  t.same(await run('journal', '--output=xml', 'hello'), { code: 1, stdout: '', stderr: "Unknown output format 'xml'.\n" }, "an unknown mode: journalctl's line, as real fleetctl showed it");
  t.same(await run('destroy', 'hello', 'nope'), { code: 0, stdout: 'Destroyed hello.service\n', stderr: '' });
  t.same(await run('destroy', 'hello'), { code: 0, stdout: '', stderr: 'Units not found in registry\n' });
  t.same(await run('status', 'hello'), { code: 1, stdout: '', stderr: 'Unit hello.service does not exist.\n' });
});

t.test('submit is idempotent; local changes warn; --replace replaces', async (t) => {
  t.same(await run('submit', 'a.service', 'b'), { code: 0, stdout: 'Unit a.service inactive\nUnit b.service inactive\n', stderr: '' });
  t.same(await run('submit', 'a.service'), { code: 0, stdout: '', stderr: '' });
  const before = (await reg.getUnit('a.service'))!.hash;
  writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 3000\n');
  t.same(await run('submit', 'a.service'), {
    code: 0,
    stdout: '',
    stderr: 'WARNING: Unit a.service in registry differs from local unit file a.service. Add --replace to override.\n',
  });
  t.equal((await reg.getUnit('a.service'))!.hash, before);
  t.same(await run('submit', '--replace', 'a.service'), { code: 0, stdout: 'Unit a.service inactive\n', stderr: '' });
  t.not((await reg.getUnit('a.service'))!.hash, before);
  t.same(await run('start', '--replace', 'a.service'), {
    code: 0,
    stdout: `Found same Unit(a.service) in Registry, nothing to do\nUnit a.service launched on ${on1}\n`,
    stderr: '',
  });
  writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 4000\n');
  t.same(await run('load', '--replace', 'a.service'), {
    code: 0,
    stdout: `Unit a.service launched on ${on1}\n`,
    stderr: '',
  }, 'load replaces a launched unit and keeps it launched (fleet refused, then stopped it: #1428)');
  t.match((await reg.getUnit('a.service'))!.text, /sleep 4000/);
  t.equal((await reg.getUnit('a.service'))!.desiredState, 'launched');
  writeFileSync(path.join(dir, 'a.service'), '[Service]\nExecStart=/bin/sleep 5000\n');
  const r = await run('start', '--replace', 'a.service');
  t.equal(r.code, 0);
  t.match(r.stdout, /^Unit a\.service inactive\nUnit a\.service launched on /, 'replaced, then started again');
  t.match((await reg.getUnit('a.service'))!.text, /sleep 5000/);

  const bad = await run('submit', 'bad.service');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^Error creating units: failed getting Unit\(bad\.service\) from file: bad\.service:1: assignment outside of any section/);
  t.same(await run('submit', 'missing.service'), { code: 1, stdout: '', stderr: 'Error creating units: unable to find Unit(missing.service) in Registry or on filesystem\n' });
  t.same(await run('submit'), { code: 0, stdout: '', stderr: 'No units given\n' });
});

t.test('templates, --no-block, global units', async (t) => {
  const r = await run('start', 'web@1', 'web@2.service');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Unit web@1\.service inactive\nUnit web@2\.service inactive\n/);
  t.match(r.stdout, /Unit web@1\.service launched on [0-9a-f]{8}\.\.\.\/198\.18\.0\.1[12]\n/);
  t.match(r.stdout, /Unit web@2\.service launched on [0-9a-f]{8}\.\.\.\/198\.18\.0\.1[12]\n/);
  t.match((await reg.getUnit('web@2.service'))!.text, /Description=Web %i/, 'instance stored with the template\'s contents');
  t.notOk(await reg.getUnit('web@.service'), 'the template itself is not submitted');

  t.same(await run('start', '--no-block', 'c'), { code: 0, stdout: 'Unit c.service inactive\nTriggered unit c.service start\n', stderr: '' });
  t.same(await run('start', 'g'), { code: 0, stdout: 'Unit g.service \nTriggered global unit g.service start\n', stderr: '' });
  t.same(await run('journal', 'g'), { code: 1, stdout: '', stderr: 'Unable to retrieve journal of global unit g.service.\n' });
  t.same(await run('stop', 'g'), { code: 0, stdout: 'Triggered global unit g.service stop\n', stderr: 'Successfully stopped units [].\n' });
  t.same(await run('unload', 'g'), { code: 0, stdout: 'Triggered global unit g.service unload\n', stderr: 'Successfully unloaded units [].\n' });
  t.same(await run('unload', '--no-block', 'c'), { code: 0, stdout: 'Triggered unit c.service unload\n', stderr: 'Successfully unloaded units [c.service].\n' });
});

t.test('plan', async (t) => {
  // the stand-in cluster withdraws c.service (unloaded above) within 100 ms; until then plan would also list it
  await waitFor('c.service withdrawn', async () => !(await run('list-units', '--no-legend')).stdout.includes('c.service') || undefined, { intervalMs: 100 });
  writeFileSync(path.join(dir, 'eu.service'), '[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineMetadata=region=eu\n');
  const r = await run('plan', 'eu.service');
  t.equal(r.code, 3, 'some unit cannot be placed');
  golden(t, 'plan-unplaceable.txt', r.stdout);
  const ok = await run('plan', '--no-legend', 'b');
  t.equal(ok.code, 0);
  t.match(ok.stdout, /^b\.service\t[0-9a-f]{8}\.\.\.\/198\.18\.0\.1[12]\tplaced on [0-9a-f]{32}: /);
  const json = JSON.parse((await run('plan', '--output=json', 'b')).stdout) as { units: { unit: string }[] };
  t.equal(json.units[0]!.unit, 'b.service');
});

t.test('on a terminal, blocking commands redraw one line per unit in place', async (t) => {
  writeFileSync(path.join(dir, 'tty.service'), '[Service]\nExecStart=/bin/true\n');
  const { FLEETCTL } = await import('./helpers.js');
  const { spawn } = await import('node:child_process');
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(FLEETCTL)} start tty.service`;
  // `script` gives fleetctl a pseudo-terminal; this process keeps serving the API meanwhile.
  const r = await new Promise<string>((resolve, reject) => {
    const p = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: dir, env: { ...process.env, ...env, COLUMNS: '100' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`))));
  });
  t.match(r, /\r\x1b\[2Ktty\.service: waiting for launched/, 'a progress line');
  t.match(r, /\x1b\[1A\r\x1b\[2KUnit tty\.service launched on [0-9a-f]{8}\.\.\.\/198\.18\.0\.1[12]/, 'replaced in place by fleet\'s line');
});

t.test('status of a unit with Reschedule=on-failure (ours) says what happened after systemctl\'s output', async (t) => {
  writeFileSync(path.join(dir, 'flaky.service'), '[Service]\nExecStart=/bin/false\n[X-Fleet]\nReschedule=on-failure\nRescheduleAttempts=1\n');
  t.equal((await run('start', 'flaky.service')).code, 0);
  const plain = await run('status', 'flaky.service');
  t.same(plain, { code: 0, stdout: (await inspector.status('flaky.service')).text, stderr: '' }, 'no failure yet: systemctl\'s output only');
  const u = (await reg.getUnit('flaky.service'))!;
  for (const p of machines.values()) await reg.recordFailure(p, { name: u.name, hash: u.hash, at: '2026-01-01T00:00:00.000Z', attempts: 1 });
  const r = await run('status', 'flaky.service');
  t.equal(r.code, 0);
  t.equal(r.stdout, `${(await inspector.status('flaky.service')).text}Reschedule: gave up after 1 move: failed on ${[M1, M2].sort().join(', ')}\n`);
  t.equal((await run('destroy', 'flaky.service')).code, 0);
});
