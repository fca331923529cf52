/**
 * The lab's fleet-v1 flavor: three lab machines run real fleet v1.0.0's fleetd (against the lab's etcd with its
 * v2 API on); real fleetctl over fleet's socket-activated API lists the three machines and starts a unit that
 * becomes active in systemd; a re-up with our flavor replaces fleetd in the same machines and ours registers.
 * Skipped with one line when the fleet v1.0.0 binaries are absent (FLEET_V1_DIR).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultProjectDir } from '../../lab/cluster.js';
import { apiUrl } from '../../lab/endpoint.js';
import { fleetV1Dir, fleetV1Missing } from '../../lab/fleet-v1.js';
import { run } from '../../lab/run.js';
import { startLab } from '../harness/lab.js';
import { waitFor } from '../harness/wait.js';

const missing = fleetV1Missing(defaultProjectDir());
const OUR_FLEETCTL = fileURLToPath(new URL('../../fleetctl/main.cjs', import.meta.url));

if (missing) {
  t.test('a lab running real fleet v1.0.0', { skip: missing }, async () => undefined);
} else {
  const realFleetctl = path.join(fleetV1Dir(defaultProjectDir()), 'fleetctl');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-v1-lab-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };

  t.test('a lab running real fleet v1.0.0', async (t) => {
    const lab = await startLab(t, { machines: 3, prefix: 'vs', flavor: 'fleet-v1', agentTtl: '30s' });
    t.same(lab.warnings, [], 'up without warnings');
    const machines = await lab.machines();
    const endpoint = apiUrl(machines[0]!.ip);
    const fleetctl = (args: readonly string[]) =>
      run(realFleetctl, ['--driver=API', `--endpoint=${endpoint}`, ...args], { env, timeoutMs: 60_000 });

    await t.test('fleet.service runs fleet v1.0.0', async (t) => {
      const r = await lab.exec('m1', ['sh', '-c', 'systemctl is-active fleet.service fleet.socket; systemctl show -p ExecStart fleet.service']);
      t.match(r.stdout, /^active\nactive\n/, 'fleet.service and fleet.socket active');
      t.match(r.stdout, /fleet-v1\/fleetd/, 'ExecStart is the fleet v1.0.0 binary');
    });

    await t.test('real fleetctl lists the three machines', async (t) => {
      const lines = await waitFor(
        'three machines in fleet v1.0.0',
        async () => {
          const r = await fleetctl(['list-machines', '--no-legend', '--full']);
          const l = r.stdout.trim().split('\n').filter((x) => x !== '');
          return r.code === 0 && l.length === 3 ? l : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      for (const m of machines) t.ok(lines.some((l) => l.startsWith(m.machineId) && l.includes(m.ip)), `${m.name} listed with its address`);
    });

    await t.test('real fleetctl starts a unit that becomes active', async (t) => {
      const file = path.join(dir, 'vs-hello.service');
      writeFileSync(file, '[Unit]\nDescription=fleet v1 lab test\n\n[Service]\nExecStart=/bin/sleep 1000000\n');
      const r = await fleetctl(['start', file]);
      t.equal(r.code, 0, `fleetctl start: ${r.stderr}`);
      const line = await waitFor(
        'vs-hello.service active',
        async () => {
          const l = (await fleetctl(['list-units', '--no-legend', '--full'])).stdout.split('\n').find((x) => x.startsWith('vs-hello.service'));
          return l && /\sactive\s+running/.test(l) ? l : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const on = machines.find((m) => line.includes(m.ip));
      t.ok(on, `listed on a lab machine: ${line}`);
      const st = await (await lab.systemd(on!.name)).getUnitState('vs-hello.service');
      t.equal(st.activeState, 'active', 'systemd in that machine runs it');
      const d = await fleetctl(['destroy', 'vs-hello.service']);
      t.equal(d.code, 0, `fleetctl destroy: ${d.stderr}`);
    });

    await t.test('a re-up with our flavor puts our fleetd into the same machines', async (t) => {
      const up = await lab.lab.up({ machines: 3, flavor: 'ours' });
      t.same(up.warnings, [], 'up without warnings');
      const r = await lab.exec('m1', ['sh', '-c', 'systemctl show -p ExecStart fleet.service; test -e /etc/systemd/system/fleet.socket && echo socket left']);
      t.match(r.stdout, /fleetd\/main\.js/, 'fleet.service runs our fleetd');
      t.notMatch(r.stdout, /socket left/, "fleet v1's socket unit is gone");
      const ours = (args: readonly string[]) => run(process.execPath, [OUR_FLEETCTL, '--driver=API', `--endpoint=${endpoint}`, ...args], { env, timeoutMs: 60_000 });
      await waitFor(
        'three machines in our fleet',
        async () => {
          const l = await ours(['list-machines', '--no-legend']);
          return l.code === 0 && l.stdout.trim().split('\n').length === 3;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      t.pass('our fleetctl lists three machines from our fleetd');
    });
  });
}
