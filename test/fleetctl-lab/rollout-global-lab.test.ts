/**
 * Issue 12's proof for a rolling update of a Global unit on real lab machines: `fleetctl start --rolling` of a new
 * text for a global unit on 3 machines, `systemctl is-active` sampled in each machine every 100 ms: at most one
 * machine is without the unit at any sample, and every machine ends running the new text (the unit's Description,
 * as systemd shows it), through each machine's hash override and then the unit itself. Skipped (no lab started)
 * while the registry's setGlobalMachineHash is the stub of this branch (it comes with branch gpin).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetctl as runFleetctl, type Run } from '../fleetctl/helpers.js';
import { startLab } from '../harness/lab.js';
import { unavailableSpans } from './spans.js';
import { eventually } from '../examples/helpers.js';

const WAIT = 90_000;
const U = 'groll.service';

await proof();

async function proof(): Promise<void> {
  const lab = await startLab(t, { machines: 3, agentTtl: '5s', prefix: 'ro' });
  const names = (await lab.machines()).map((m) => m.name);
  const work = mkdtempSync(join(tmpdir(), 'fleetctl-rollout-global-lab-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const fleetctl = (...args: string[]): Promise<Run> => runFleetctl(args, { env: { ...lab.env }, cwd: work, timeoutMs: 180_000 });
  const isActive = async (m: string): Promise<string> => (await lab.exec(m, ['systemctl', 'is-active', U])).stdout.trim();
  const description = async (m: string): Promise<string> => (await lab.exec(m, ['systemctl', 'show', '--value', '-p', 'Description', U])).stdout.trim();
  const unit = (version: string): void =>
    writeFileSync(join(work, U), ['[Unit]', `Description=global ${version}`, '', '[Service]', 'ExecStartPre=/bin/sleep 1', 'ExecStart=/bin/sleep 100000', '', '[X-Fleet]', 'Global=true', ''].join('\n'));

  t.test('a global unit rolled across 3 machines: never two machines without it; all end on the new text', async (t) => {
    await eventually('fleetctl reaches the cluster', async () => ((await fleetctl('list-machines', '--no-legend')).stdout.trim().split('\n').length === 3 ? true : undefined), WAIT);
    unit('v1');
    t.equal((await fleetctl('start', U)).code, 0);
    await eventually('active on every machine', async () => ((await Promise.all(names.map(isActive))).every((s) => s === 'active') ? true : undefined), WAIT);

    const script = `end=$(( $(date +%s) + 150 )); while [ ! -e /run/groll-stop ] && [ $(date +%s) -lt $end ]; do echo "$(date +%s%N) $(systemctl is-active ${U})"; sleep 0.1; done`;
    const samplers = names.map((m) => lab.exec(m, ['sh', '-c', script]));
    await new Promise((r) => setTimeout(r, 500));
    unit('v2');
    const r = await fleetctl('start', '--rolling', '--min-healthy-time=2s', U);
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all(names.map((m) => lab.exec(m, ['touch', '/run/groll-stop'])));
    const outputs = await Promise.all(samplers);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /Rollout \S+ started: global unit groll\.service on 3 machines/);
    t.match(r.stdout, /Rollout \S+ succeeded: global unit groll\.service on 3 machines on the new version/);

    const { samples, overlaps, described } = unavailableSpans(outputs, names);
    t.comment(`FIGURE global rollout, 3 machines, min-healthy 2s: spans without the unit (ms from the first): ${described}; ${samples} samples`);
    t.ok(samples > 60, `sampled ${samples} times`);
    t.same(overlaps, [], 'never two machines without the unit at once');
    await eventually('every machine on the new text', async () => ((await Promise.all(names.map(description))).every((d) => d === 'global v2') ? true : undefined), WAIT);
    t.same(await Promise.all(names.map(isActive)), ['active', 'active', 'active']);
    const cat = await fleetctl('cat', U);
    t.match(cat.stdout, 'Description=global v2', 'the unit itself has the new text');
  });
}
