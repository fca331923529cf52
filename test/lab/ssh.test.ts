/**
 * SSH works on the lab as on a CoreOS host (issue 14): with the cluster's key in an ssh-agent this test starts,
 * our `fleetctl ssh` runs a command on a chosen machine (host keys checked against the lab's known_hosts, so
 * every machine has keys of its own), `--tunnel` reaches the API through a machine, `--driver=etcd`
 * `status`/`journal` show a unit from its machine over SSH, fleetctl is on the machines' PATH, and real
 * fleetctl v1.0's SSH-based `status` works too (that part skipped with one line without FLEET_V1_DIR's binaries).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultProjectDir } from '../../lab/cluster.js';
import { apiUrl } from '../../lab/endpoint.js';
import { fleetV1Dir, fleetV1Missing } from '../../lab/fleet-v1.js';
import { run } from '../../lab/run.js';
import { sshPaths } from '../../lab/ssh.js';
import { startLab } from '../harness/lab.js';
import { waitFor } from '../harness/wait.js';

const OUR_FLEETCTL = fileURLToPath(new URL('../../fleetctl/main.js', import.meta.url));
const UNIT = 'ss-hello.service';

t.test('ssh into a lab cluster', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-lab-ssh-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lab = await startLab(t, { machines: 2, prefix: 'ss', agentTtl: '5s' });
  t.same(lab.warnings, [], 'up without warnings');
  const [m1, m2] = await lab.machines();
  const keys = sshPaths(lab.stateDir);
  t.equal(statSync(keys.identity).mode & 0o777, 0o600, 'the cluster key is private');

  // an agent of the test's own, in the foreground so its pid is ours to stop
  const sock = path.join(dir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  t.teardown(async () => {
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('close', r));
    }
  });
  await waitFor('ssh-agent socket', async () => existsSync(sock) || undefined, { timeoutMs: 10_000, intervalMs: 100 });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, SSH_AUTH_SOCK: sock };
  const add = await run('ssh-add', [keys.identity], { env, timeoutMs: 10_000 });
  t.equal(add.code, 0, `ssh-add: ${add.stderr}`);

  const api = apiUrl(m1!.ip);
  const ours = (args: readonly string[]) =>
    run(process.execPath, [OUR_FLEETCTL, `--known-hosts-file=${keys.knownHosts}`, ...args], { env, timeoutMs: 60_000 });

  await t.test('machines have host keys of their own', async (t) => {
    const a = await lab.exec('m1', ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
    const b = await lab.exec('m2', ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
    t.not(a.stdout, '', 'm1 has one');
    t.not(a.stdout, b.stdout, 'different from m2');
    const host = existsSync('/etc/ssh/ssh_host_ed25519_key.pub') ? (await run('cat', ['/etc/ssh/ssh_host_ed25519_key.pub'])).stdout : '';
    t.not(a.stdout, host, "not the box's");
  });

  await t.test('fleetctl ssh runs a command on the machine asked for', async (t) => {
    await waitFor(
      'both machines in fleet',
      async () => {
        const r = await ours([`--endpoint=${api}`, 'list-machines', '--no-legend', '--full']);
        return r.code === 0 && r.stdout.trim().split('\n').length === 2 || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const r = await ours([`--endpoint=${api}`, 'ssh', m2!.machineId, '--', 'hostname']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), m2!.hostname);
    const w = await ours([`--endpoint=${api}`, 'ssh', m1!.machineId, '--', 'id -un; command -v fleetctl']);
    t.equal(w.stdout, 'core\n/usr/local/bin/fleetctl\n', 'as core, with fleetctl on the PATH');
  });

  await t.test('fleetctl on a machine', async (t) => {
    const r = await lab.exec('m2', ['fleetctl', `--endpoint=${api}`, 'list-machines', '--no-legend']);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim().split('\n').length, 2);
  });

  await t.test('--tunnel through a machine reaches the API', async (t) => {
    const r = await ours([`--tunnel=${m1!.ip}`, `--endpoint=${api}`, 'list-machines', '--no-legend', '--full']);
    t.equal(r.code, 0, r.stderr);
    for (const m of [m1!, m2!]) t.match(r.stdout, m.machineId);
  });

  await t.test('--driver=etcd status and journal of a unit, over SSH', async (t) => {
    const file = path.join(dir, UNIT);
    writeFileSync(file, "[Service]\nExecStart=/bin/sh -c 'echo ss-hello-says-hi; exec sleep 1000000'\n");
    const s = await ours([`--endpoint=${api}`, 'start', file]);
    t.equal(s.code, 0, s.stderr);
    await waitFor(
      `${UNIT} running`,
      async () => /\sactive\s+running/.test((await ours([`--endpoint=${api}`, 'list-units', '--no-legend'])).stdout) || undefined,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const etcd = ['--driver=etcd', `--endpoint=${lab.etcdUrl}`];
    const st = await ours([...etcd, 'status', UNIT]);
    t.equal(st.code, 0, st.stderr);
    t.match(st.stdout, UNIT);
    t.match(st.stdout, /Active: active \(running\)/);
    const j = await waitFor(
      'the unit in its journal',
      async () => {
        const r = await ours([...etcd, 'journal', UNIT]);
        return r.stdout.includes('ss-hello-says-hi') ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1000 },
    );
    t.equal(j.code, 0, j.stderr);
  });

  const missing = fleetV1Missing(defaultProjectDir());
  await t.test("real fleetctl v1.0's SSH-based status", { skip: missing }, async (t) => {
    const real = path.join(fleetV1Dir(defaultProjectDir()), 'fleetctl');
    const r = await run(real, ['--driver=API', `--endpoint=${api}`, '--strict-host-key-checking=false', 'status', UNIT], { env, timeoutMs: 60_000 });
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /Active: active \(running\)/);
  });
});
