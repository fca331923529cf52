/**
 * Start latency on real machines: `fleetctl start UNIT` (the real CLI process, etcd driver) on a 3-machine
 * fleet-lab cluster, one unit at a time; measured from just before fleetctl is spawned to (a) systemd's own
 * ActiveEnterTimestamp of the unit in the machine it landed on (asked over the machine's D-Bus; machines share
 * the host clock) and (b) fleetctl exiting (it blocks until the unit is reported active, polling every 250 ms).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../lab/run.js';
import type { SystemdClient } from '../../lib/systemd/index.js';
import { startBenchLab } from '../lab.js';
import { summarize } from '../stats.js';
import { ClusterObserver } from '../observer.js';
import { benchUnit } from '../units.js';
import type { Benchmark, BenchContext } from '../context.js';
import { BenchError } from '../errors.js';

const FLEETCTL = fileURLToPath(new URL('../../fleetctl/main.cjs', import.meta.url));
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';

interface LatencyParams {
  readonly machines: number;
  readonly starts: number;
  /** fleetctl runs that only list machines: the CLI's own start-up cost */
  readonly baselineRuns: number;
  /** starts submitted from this process through lib/registry (as fleetctl's etcd driver does, without its start-up) */
  readonly directStarts: number;
}

interface DirectSample {
  readonly unit: string;
  readonly machine: string;
  /** submit -> systemd ActiveEnterTimestamp */
  readonly activeMs: number;
  /** submit -> state with activeState active published in etcd */
  readonly publishedMs: number;
}

interface StartSample {
  readonly unit: string;
  readonly machine: string;
  /** spawn of fleetctl -> systemd ActiveEnterTimestamp */
  readonly activeMs: number;
  /** spawn of fleetctl -> fleetctl exited */
  readonly cliMs: number;
}

async function runLatency(ctx: BenchContext, p: LatencyParams): Promise<Record<string, unknown>> {
  const labStarted = Date.now();
  const { lab, registry, client, names, etcdUrl } = await startBenchLab(ctx.teardown, p.machines, 'bl');
  ctx.log(`lab ${lab.name} with ${p.machines} machines up in ${Date.now() - labStarted} ms; etcd ${etcdUrl}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-bench-units-'));
  ctx.teardown.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const systemd = new Map<string, SystemdClient>();
  const bus = async (machine: string): Promise<SystemdClient> => {
    let c = systemd.get(machine);
    if (!c) systemd.set(machine, (c = await lab.systemd(machine)));
    return c;
  };
  const fleetctl = (args: string[]) =>
    run(process.execPath, [FLEETCTL, '--driver=etcd', `--endpoint=${etcdUrl}`, ...args], { timeoutMs: 120_000 });

  const baseline: number[] = [];
  for (let i = 0; i < p.baselineRuns; i++) {
    const t0 = Date.now();
    const r = await fleetctl(['list-machines', '--no-legend']);
    if (r.code !== 0) throw new BenchError(`fleetctl list-machines failed: ${r.stderr.trim()}`);
    baseline.push(Date.now() - t0);
  }

  const samples: StartSample[] = [];
  for (let i = 1; i <= p.starts; i++) {
    const unit = `lat-${i}.service`;
    const file = path.join(dir, unit);
    writeFileSync(file, `[Unit]\nDescription=start latency ${i}\n\n[Service]\nExecStart=/bin/sleep 1000000\n`);
    const t0 = Date.now();
    const r = await fleetctl(['start', file]);
    const cliMs = Date.now() - t0;
    if (r.code !== 0) throw new BenchError(`fleetctl start ${unit} failed (${r.code}): ${r.stderr.trim()}`);
    const machineId = (await registry.getUnit(unit))?.machineId;
    const machine = machineId ? names[machineId] : undefined;
    if (!machine) throw new BenchError(`${unit} has no machine after fleetctl start returned`);
    const ts = (await (await bus(machine)).getUnitProperty(unit, UNIT_IFACE, 'ActiveEnterTimestamp')) as bigint | number;
    const activeMs = Number(ts) / 1000 - t0;
    samples.push({ unit, machine, activeMs: Math.round(activeMs * 10) / 10, cliMs });
    if (i % 20 === 0) ctx.log(`  ${i}/${p.starts}: last active after ${Math.round(activeMs)} ms, fleetctl ${cliMs} ms`);
  }

  const direct: DirectSample[] = [];
  const observer = await ClusterObserver.start(client);
  try {
    for (let i = 1; i <= p.directStarts; i++) {
      const spec = benchUnit(`latd-${i}.service`);
      const t0 = Date.now();
      await registry.createUnit(spec);
      await observer.until(`${spec.name} active`, () => observer.units.get(spec.name)?.activeAt !== undefined, 60_000);
      const prog = observer.units.get(spec.name)!;
      const machine = names[prog.launchedOn ?? ''] ?? names[prog.target ?? ''];
      if (!machine) throw new BenchError(`${spec.name} reported active by an unknown machine`);
      const ts = (await (await bus(machine)).getUnitProperty(spec.name, UNIT_IFACE, 'ActiveEnterTimestamp')) as bigint | number;
      direct.push({ unit: spec.name, machine, activeMs: Math.round((Number(ts) / 1000 - t0) * 10) / 10, publishedMs: prog.activeAt! - t0 });
    }
  } finally {
    await observer.close();
  }

  const active = summarize(samples.map((s) => s.activeMs), 0);
  const directActive = summarize(direct.map((s) => s.activeMs), 0);
  const directPublished = summarize(direct.map((s) => s.publishedMs), 0);
  const cli = summarize(samples.map((s) => s.cliMs), 0);
  const perMachine: Record<string, number> = {};
  for (const s of samples) perMachine[s.machine] = (perMachine[s.machine] ?? 0) + 1;
  return {
    params: p,
    figures: {
      starts: samples.length,
      activeP50Ms: active.p50,
      activeP99Ms: active.p99,
      fleetctlExitP50Ms: cli.p50,
      fleetctlExitP99Ms: cli.p99,
      fleetctlBaselineP50Ms: summarize(baseline, 0).p50,
      directActiveP50Ms: directActive.p50,
      directActiveP99Ms: directActive.p99,
      directPublishedP50Ms: directPublished.p50,
    },
    activeMs: active,
    fleetctlExitMs: cli,
    fleetctlBaselineMs: summarize(baseline, 0),
    directActiveMs: directActive,
    directPublishedMs: directPublished,
    unitsPerMachine: perMachine,
    samples,
    directSamples: direct,
    what:
      'sequential `fleetctl --driver=etcd start FILE` (new unit each time, Type=simple /bin/sleep) on a fleet-lab cluster; ' +
      'activeMs = systemd ActiveEnterTimestamp of the unit in its machine minus the time fleetctl was spawned; ' +
      'fleetctlExitMs = until fleetctl returned (it waits for the published state, 250 ms polls); ' +
      'fleetctlBaselineMs = `fleetctl list-machines` (Node start-up + one etcd read); ' +
      'direct* = the same pipeline without the CLI: createUnit through lib/registry from the benchmark process, to ' +
      'systemd active (directActiveMs) and to the active state published in etcd (directPublishedMs)',
  };
}

const FULL: LatencyParams = { machines: 3, starts: 200, baselineRuns: 10, directStarts: 50 };

export const latency: Benchmark = {
  name: 'latency',
  summary: 'fleetctl start -> unit active in systemd, p50/p99 over 200 starts on a 3-machine lab',
  byDefault: true,
  run: (ctx) => runLatency(ctx, ctx.quick ? { machines: 2, starts: 10, baselineRuns: 2, directStarts: 5 } : FULL),
};
