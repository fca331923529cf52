/**
 * Issue 12's proof for `fleetctl restart` of a global unit on real lab machines: a Global unit rolled across 3
 * machines, `systemctl is-active` sampled on each every 100 ms: at most one machine is without the unit at any
 * sample, and every machine runs a new process afterwards. The unit takes a second to start (ExecStartPre), so
 * a restart everywhere at once would be seen.
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
const U = 'roll.service';

const lab = await startLab(t, { machines: 3, agentTtl: '5s', prefix: 'roll' });
const names = (await lab.machines()).map((m) => m.name);
const work = mkdtempSync(join(tmpdir(), 'fleetctl-restart-lab-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const fleetctl = (...args: string[]): Promise<Run> => runFleetctl(args, { env: { ...lab.env }, cwd: work, timeoutMs: 180_000 });
const isActive = async (m: string): Promise<string> => (await lab.exec(m, ['systemctl', 'is-active', U])).stdout.trim();
const mainPid = async (m: string): Promise<string> => (await lab.exec(m, ['systemctl', 'show', '--value', '-p', 'MainPID', U])).stdout.trim();

writeFileSync(join(work, U), ['[Service]', 'ExecStartPre=/bin/sleep 1', 'ExecStart=/bin/sleep 100000', '', '[X-Fleet]', 'Global=true', ''].join('\n'));

t.test('a global unit restarts machine by machine: never two machines without it', async (t) => {
  await eventually('fleetctl reaches the cluster', async () => ((await fleetctl('list-machines', '--no-legend')).stdout.trim().split('\n').length === 3 ? true : undefined), WAIT);
  t.equal((await fleetctl('start', U)).code, 0);
  await eventually('active on every machine', async () => ((await Promise.all(names.map(isActive))).every((s) => s === 'active') ? true : undefined), WAIT);
  const before = await Promise.all(names.map(mainPid));

  // one sampler inside each machine (`systemctl is-active` every 100 ms, with the time in ns): the samples of
  // the three machines are on one clock (the host's), so they are compared by time, not by sampling round
  const script = `end=$(( $(date +%s) + 150 )); while [ ! -e /run/roll-stop ] && [ $(date +%s) -lt $end ]; do echo "$(date +%s%N) $(systemctl is-active ${U})"; sleep 0.1; done`;
  const samplers = names.map((m) => lab.exec(m, ['sh', '-c', script]));
  await new Promise((r) => setTimeout(r, 500));
  const r = await fleetctl('restart', '--block-attempts=30', U);
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(names.map((m) => lab.exec(m, ['touch', '/run/roll-stop'])));
  const outputs = await Promise.all(samplers);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim().split('\n').length, 3, 'one line per machine');

  const { spans, samples: sampleCount, overlaps, described } = unavailableSpans(outputs, names);
  t.comment(`spans without the unit (ms from the first): ${described}`);
  t.ok(sampleCount > 60, `sampled ${sampleCount} times`);
  t.same(spans.map((s) => s.machine).sort(), [...names].sort(), 'each machine was seen without the unit once (its restart)');
  t.same(overlaps, [], 'never two machines without the unit at once');
  const after = await Promise.all(names.map(mainPid));
  for (let i = 0; i < names.length; i++) t.not(after[i], before[i], `${names[i]} runs a new process`);
  t.same(await Promise.all(names.map(isActive)), ['active', 'active', 'active']);
});
