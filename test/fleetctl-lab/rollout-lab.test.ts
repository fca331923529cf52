/**
 * Issue 12's proof for engine-driven rolling updates on real lab machines (real systemd, Docker units): six
 * `web@` instances rolled with `fleetctl start --rolling` (max-unavailable 1), every machine's systemd sampled
 * every 100 ms by a sampler inside it: never fewer than five instances active at any time, every instance ends on
 * the new text; the leader fleetd is SIGKILLed mid-rollout and the rollout completes. Then a new text whose
 * container exits at once: the rollout stops after the first unit and rolls it back; the other five never stop;
 * fleetctl names the unit, its machine and shows its journal. Figures (time per unit, minimum active) are printed
 * as FIGURE comments for docs/reliability.md.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetctl as runFleetctl, type Run } from '../fleetctl/helpers.js';
import { startFleetLab } from '../harness/fleet-lab.js';
import { eventually } from '../examples/helpers.js';

const WAIT = 120_000;
const N = 6;
const NAMES = Array.from({ length: N }, (_, i) => `web@${i + 1}.service`);

const fl = await startFleetLab(t, { machines: 3, agentTtl: '5s', docker: true, prefix: 'ro' });
const { lab, registry, client } = fl;
const machines = (await lab.machines()).map((m) => m.name);
const work = mkdtempSync(join(tmpdir(), 'fleetctl-rollout-lab-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const fleetctl = (...args: string[]): Promise<Run> => runFleetctl(args, { env: { ...lab.env }, cwd: work, timeoutMs: 300_000 });

function template(version: string, command: string): void {
  writeFileSync(join(work, 'web@.service'), [
    '[Unit]', `Description=web ${version} %i`, '',
    '[Service]',
    'ExecStartPre=-/usr/bin/docker rm -f web-%i',
    `ExecStart=/usr/bin/docker run --rm --name web-%i --network none fleet-lab/busybox sh -c '${command}'`,
    'ExecStop=-/usr/bin/docker stop -t 1 web-%i',
    '',
  ].join('\n'));
}

/** `ns active-count` every 100 ms in each machine; the counts of the three, merged on the host's clock. */
async function sampled(run: () => Promise<void>): Promise<{ min: number; samples: number; down: Set<string> }> {
  const stop = '/run/rollout-sampler-stop';
  await Promise.all(machines.map((m) => lab.exec(m, ['rm', '-f', stop])));
  const script = `end=$(( $(date +%s) + 280 )); while [ ! -e ${stop} ] && [ $(date +%s) -lt $end ]; do ` +
    `echo "$(date +%s%N) $(systemctl is-active ${NAMES.join(' ')} | tr '\\n' ' ')"; sleep 0.1; done`;
  const samplers = machines.map((m) => lab.exec(m, ['sh', '-c', script], { timeoutMs: 300_000 }));
  await new Promise((r) => setTimeout(r, 500));
  await run();
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(machines.map((m) => lab.exec(m, ['touch', stop])));
  const outputs = await Promise.all(samplers);
  // every sample of any machine is a moment: active units = per machine, its latest sample at or before it
  const series = outputs.map((o) => o.stdout.trim().split('\n').map((l) => {
    const [ns, ...states] = l.trim().split(/\s+/);
    return { at: BigInt(ns ?? '0'), active: new Set(NAMES.filter((_, i) => states[i] === 'active')) };
  }).filter((s) => s.at > 0n));
  const moments = series.flat().map((s) => s.at).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const first = series.map((s) => s[0]?.at ?? 0n).reduce((a, b) => (a > b ? a : b), 0n);
  let min = N;
  const down = new Set<string>();
  for (const at of moments) {
    if (at < first) continue;
    const active = new Set<string>();
    for (const s of series) {
      let latest;
      for (const x of s) if (x.at <= at) latest = x;
      for (const n of latest?.active ?? []) active.add(n);
    }
    for (const n of NAMES) if (!active.has(n)) down.add(n);
    min = Math.min(min, active.size);
  }
  return { min, samples: moments.length, down };
}

async function leaderName(): Promise<string | undefined> {
  const kv = (await client.get(`${registry.prefix}engine/leader`).exec()).kvs[0];
  const id = kv ? (JSON.parse(kv.value.toString()) as { machineId?: string }).machineId : undefined;
  return id ? fl.names[id] : undefined;
}

const hashes = async (): Promise<string[]> => Promise.all(NAMES.map(async (n) => (await registry.getUnit(n))?.hash ?? '-'));
const pids = async (): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  for (const m of machines) {
    const r = await lab.exec(m, ['systemctl', 'show', '-p', 'Id', '-p', 'MainPID', '-p', 'ActiveState', '--', ...NAMES]);
    for (const block of r.stdout.split('\n\n')) {
      const id = /Id=(\S+)/.exec(block)?.[1];
      const pid = /MainPID=(\d+)/.exec(block)?.[1];
      if (id && pid && pid !== '0' && /ActiveState=active/.test(block)) out.set(id, `${m}:${pid}`);
    }
  }
  return out;
};

t.test('six Docker web@ instances, max-unavailable 1, the leader killed mid-rollout: never fewer than five active', async (t) => {
  await eventually('fleetctl reaches the cluster', async () => ((await fleetctl('list-machines', '--no-legend')).stdout.trim().split('\n').length === 3 ? true : undefined), WAIT);
  template('v1', 'echo web v1; exec sleep 100000');
  t.equal((await fleetctl('start', ...NAMES)).code, 0);
  await eventually('six active', async () => ((await pids()).size === N ? true : undefined), WAIT);
  const before = await hashes();

  template('v2', 'echo web v2; exec sleep 100000');
  let r: Run | undefined;
  let killed = '';
  const s = await sampled(async () => {
    const following = fleetctl('start', '--rolling', '--min-healthy-time=3s', ...NAMES);
    await eventually('two units healthy', async () => {
      const ro = (await registry.listRollouts()).at(-1);
      return Object.values(ro?.status?.units ?? {}).filter((u) => u.state === 'healthy').length >= 2 ? true : undefined;
    }, WAIT);
    killed = (await leaderName()) ?? '';
    const k = await lab.exec(killed, ['systemctl', 'kill', '--kill-who=main', '-s', 'KILL', 'fleet.service']);
    t.equal(k.code, 0, `leader ${killed} killed: ${k.stderr}`);
    r = await following;
  });
  t.equal(r!.code, 0, r!.stderr);
  t.match(r!.stdout, /Rollout \S+ succeeded: 6 units on the new version/);
  t.comment(`fleetctl's stderr (its fleetd may have been the one killed): ${JSON.stringify(r!.stderr)}`);
  t.comment(`sampled ${s.samples} moments; the leader ${killed} was SIGKILLed after two units were healthy`);
  t.ok(s.samples > 100, `sampled ${s.samples} moments`);
  t.equal(s.min, N - 1, 'never fewer than five active (one unit at a time)');
  const after = await hashes();
  for (let i = 0; i < N; i++) t.not(after[i], before[i], `${NAMES[i]} on the new text`);
  t.equal(new Set(after).size, 1, 'all on the same new text');
  const ro = (await registry.listRollouts()).at(-1)!;
  const starts = NAMES.map((n) => ro.status!.units[n]!.since!).sort((a, b) => a - b);
  const perUnit = starts.slice(1).map((x, i) => x - starts[i]!);
  t.comment(`FIGURE rollout of 6 Docker units, max-unavailable 1, min-healthy 3s: ${(ro.status!.finishedAt! - starts[0]!) / 1000}s in all, ` +
    `time per unit ${perUnit.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s; minimum active ${s.min} of 6 over ${s.samples} samples`);
  await eventually('six active', async () => ((await pids()).size === N ? true : undefined), WAIT);
});

t.test('a new text whose container exits at once: stops after the first unit, rolls it back; five never stop', async (t) => {
  const before = await pids();
  const hashesBefore = await hashes();
  template('v3', 'echo web v3 cannot start >&2; exit 3');
  let r: Run | undefined;
  const s = await sampled(async () => {
    r = await fleetctl('start', '--rolling', '--min-healthy-time=3s', '--rollout-deadline=60s', ...NAMES);
  });
  t.equal(r!.code, 1);
  t.match(r!.stderr, /^Rollout \S+ rolled-back: unit web@1\.service on machine \S+: /);
  t.match(r!.stderr, /Last journal lines of web@1\.service on \S+:\n/);
  t.match(r!.stderr, /cannot start/, 'the journal shows why');
  t.same([...s.down], ['web@1.service'], 'only the first unit was ever seen down');
  t.equal(s.min, N - 1);
  const after = await pids();
  for (const n of NAMES.slice(1)) t.equal(after.get(n), before.get(n), `${n} kept its process`);
  t.same(await hashes(), hashesBefore, 'every unit on its previous text');
  await eventually('web@1 active again', async () => ((await pids()).has('web@1.service') ? true : undefined), WAIT);
});
