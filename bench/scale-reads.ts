/**
 * Whole-tree reads and an engine's term at scale without the 10-minute throughput-100k run (issue 13): starts an
 * etcd, fills it with N launched units (fill-units.ts), times listUnits / listUnitStates / listSchedule / opening
 * watchJobs (wall, this process's CPU, etcd's CPU), then runs one engine (the real Engine and Registry, 4-s lease)
 * for a while and reports the longest event-loop stall and the terms it lost. Figures: docs/benchmarks.md
 * ("100,000 units"). `node dist/bench/scale-reads.js [units=100000] [engineSeconds=60]`; not part of `npm run bench`.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import os from 'node:os';
import { startBenchEtcd } from './etcd.js';
import { Teardown } from './teardown.js';
import { fillUnits } from './fill-units.js';
import { Registry } from '../lib/registry/index.js';
import { Engine } from '../fleetd/engine/engine.js';

/** CPU time (user + system, ms) of a process, from /proc. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');

async function main(argv: string[]): Promise<void> {
  const units = Number(argv[0] ?? 100_000);
  const engineSeconds = Number(argv[1] ?? 60);
  const teardown = new Teardown();
  process.once('SIGINT', () => void teardown.run().finally(() => process.exit(130)));
  try {
    const etcd = await startBenchEtcd(teardown);
    const fillClient = etcd.newClient({ requestTimeoutMs: 60_000 });
    const t0 = Date.now();
    const keys = await fillUnits(fillClient, { units, machines: Math.max(1, Math.round(units / 100)) });
    process.stdout.write(`filled ${keys} keys (${units} units) in ${Date.now() - t0} ms; load ${load()}\n`);

    const time = async (what: string, fn: (r: Registry) => Promise<unknown>): Promise<void> => {
      const registry = new Registry(etcd.newClient({ requestTimeoutMs: 60_000 }));
      const e0 = cpuMs(etcd.pid);
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      await fn(registry);
      const c = process.cpuUsage(c0);
      process.stdout.write(
        `${what}: ${Math.round(performance.now() - w0)} ms wall, ${Math.round((c.user + c.system) / 1000)} ms CPU here, ` +
          `${Math.round(cpuMs(etcd.pid) - e0)} ms etcd CPU; load ${load()}\n`,
      );
      await registry.close({ client: true });
    };
    await time('listUnits', (r) => r.listUnits());
    await time('listUnitStates', (r) => r.listUnitStates());
    await time('listSchedule', (r) => r.listSchedule());
    await time('watchJobs (open)', async (r) => (await r.watchJobs(() => undefined)).close());

    const registry = new Registry(etcd.newClient({ requestTimeoutMs: 5000 }));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const engine = new Engine({ registry, machineId: 'scale-engine', leaseTtlSeconds: 4, reconcileIntervalMs: 5000, machineLostGraceMs: 600_000 });
    const lost: string[] = [];
    let passes = 0;
    engine.on('stepped-down', (reason) => lost.push(reason));
    engine.on('pass', () => passes++);
    engine.start();
    await new Promise((r) => setTimeout(r, engineSeconds * 1000));
    delay.disable();
    process.stdout.write(
      `engine, ${engineSeconds} s: ${engine.stats.elections} term(s), ${passes} passes, terms lost: ${lost.length}${lost.length > 0 ? ` (${lost.join('; ')})` : ''}; ` +
        `event-loop delay max ${Math.round(delay.max / 1e6)} ms, p99 ${Math.round(delay.percentile(99) / 1e6)} ms; load ${load()}\n`,
    );
    await engine.stop();
    await registry.close({ client: true });
  } finally {
    await teardown.run();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`scale-reads: ${String(err)}\n`);
    process.exit(1);
  },
);
