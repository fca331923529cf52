/**
 * fleet #1091 on a real lab machine: a unit whose ExecStart fails the first time is launched but failed in
 * systemd; `fleetctl start` of it asks its machine's agent to reset the failed state and start it, and it runs.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetctl as runFleetctl, type Run } from '../fleetctl/helpers.js';
import { startLab } from '../harness/lab.js';
import { eventually } from '../examples/helpers.js';

const WAIT = 90_000;
const U = 'flaky.service';

const lab = await startLab(t, { machines: 1, agentTtl: '5s', prefix: 'heal' });
const [m] = await lab.machines();
const work = mkdtempSync(join(tmpdir(), 'fleetctl-heal-lab-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const fleetctl = (...args: string[]): Promise<Run> => runFleetctl(args, { env: { ...lab.env }, cwd: work, timeoutMs: 180_000 });
const isActive = async (unit: string): Promise<string> => (await lab.exec(m!.name, ['systemctl', 'is-active', unit])).stdout.trim();

// fails on its first run, runs from then on
writeFileSync(
  join(work, U),
  ['[Service]', "ExecStart=/bin/sh -c 'if [ -e /run/flaky-ran ]; then exec sleep 100000; fi; touch /run/flaky-ran; exit 1'", ''].join('\n'),
);

t.test('start of a launched unit that failed starts it again', async (t) => {
  await eventually('fleetctl reaches the cluster', async () => ((await fleetctl('list-machines', '--no-legend')).stdout.trim() !== '' ? true : undefined), WAIT);
  await fleetctl('start', U); // may or may not see it active before it fails
  await eventually(`${U} failed`, async () => ((await isActive(U)) === 'failed' ? true : undefined), WAIT);
  const listed = await eventually('list-units shows it failed', async () => {
    const r = await fleetctl('list-units', '--no-legend', '--fields=unit,active');
    return /flaky\.service\s+failed/.test(r.stdout) ? r : undefined;
  }, WAIT);
  t.ok(listed);

  const r = await fleetctl('start', U);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^Unit flaky\.service launched on /);
  t.equal(await isActive(U), 'active', 'systemd runs it again');
  t.same(await fleetctl('start', U), { code: 0, stdout: '', stderr: '' }, 'running: nothing to do');
  t.equal(await isActive(U), 'active');
});
