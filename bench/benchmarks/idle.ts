/**
 * Idle cost of fleetd on real machines: a 3-machine fleet-lab cluster running 100 units, then nothing happens
 * for a while. Per fleetd (the fleet.service process inside each machine): RSS and CPU %; for the cluster:
 * requests/s etcd served (its /metrics: unary gRPC calls, stream messages such as lease keep-alives).
 */
import { scrapeMetrics, counters, rates } from '../etcd.js';
import { ClusterObserver } from '../observer.js';
import { startBenchLab, machineProcess } from '../lab.js';
import { benchUnit, submitAll, unitName } from '../units.js';
import { round, summarize } from '../stats.js';
import type { Benchmark, BenchContext } from '../context.js';
import { openEtcd } from '../../lib/registry/index.js';
import { BenchError } from '../errors.js';

const SERVICE_IFACE = 'org.freedesktop.systemd1.Service';
const CLK_TCK = 100;

interface IdleParams {
  readonly machines: number;
  readonly units: number;
  readonly settleSeconds: number;
  readonly seconds: number;
  readonly sampleEverySeconds: number;
}

async function runIdle(ctx: BenchContext, p: IdleParams): Promise<Record<string, unknown>> {
  const { lab, registry, etcdUrl } = await startBenchLab(ctx.teardown, p.machines, 'bi');
  ctx.log(`lab ${lab.name} up; submitting ${p.units} units`);
  const observerClient = openEtcd({ endpoints: [etcdUrl], requestTimeoutMs: 10_000 });
  const observer = await ClusterObserver.start(observerClient);
  try {
    const specs = Array.from({ length: p.units }, (_, i) => benchUnit(unitName('idle', i + 1)));
    await submitAll(registry, specs, 16);
    await observer.until(`${p.units} units active`, () => observer.activeCount >= p.units, 300_000);
  } finally {
    await observer.close();
    observerClient.close();
  }
  const units = await registry.listUnitStates();
  const perMachine: Record<string, number> = {};
  for (const s of units) perMachine[s.machineId] = (perMachine[s.machineId] ?? 0) + 1;
  ctx.log(`${p.units} units active; settling ${p.settleSeconds} s, then measuring ${p.seconds} s`);
  await new Promise((r) => setTimeout(r, p.settleSeconds * 1000));

  const fleetds = await Promise.all(
    (await lab.machines()).map(async (m) => {
      const bus = await lab.systemd(m.name);
      const pid = Number(await bus.getUnitProperty('fleet.service', SERVICE_IFACE, 'MainPID'));
      if (!m.initPid || !(pid > 0)) throw new BenchError(`no fleetd running in ${m.name}`);
      return { machine: m.name, machineId: m.machineId, initPid: m.initPid, pid };
    }),
  );
  const loopback = etcdUrl;
  const m0 = counters(await scrapeMetrics(loopback));
  const t0 = Date.now();
  const start = fleetds.map((f) => machineProcess(f.initPid, f.pid));
  const rss: number[][] = fleetds.map(() => []);
  const anon: number[][] = fleetds.map(() => []);
  const file: number[][] = fleetds.map(() => []);
  const end = t0 + p.seconds * 1000;
  while (Date.now() < end) {
    fleetds.forEach((f, i) => {
      const s = machineProcess(f.initPid, f.pid);
      rss[i]!.push(s.rssKiB / 1024);
      anon[i]!.push(s.rssAnonKiB / 1024);
      file[i]!.push(s.rssFileKiB / 1024);
    });
    await new Promise((r) => setTimeout(r, Math.min(p.sampleEverySeconds * 1000, Math.max(0, end - Date.now()))));
  }
  const seconds = (Date.now() - t0) / 1000;
  const last = fleetds.map((f) => machineProcess(f.initPid, f.pid));
  const m1 = counters(await scrapeMetrics(loopback));

  const per = fleetds.map((f, i) => ({
    machine: f.machine,
    units: perMachine[f.machineId] ?? 0,
    cpuPercent: round(((last[i]!.ticks - start[i]!.ticks) / CLK_TCK / seconds) * 100, 2),
    rssMiB: summarize(rss[i]!, 1),
    rssAnonMiB: summarize(anon[i]!, 1),
    rssFileMiB: summarize(file[i]!, 1),
  }));
  const etcd = rates(m0, m1, seconds);
  return {
    params: p,
    figures: {
      fleetdRssMiBMean: round(per.reduce((a, f) => a + f.rssMiB.mean, 0) / per.length),
      fleetdRssAnonMiBMean: round(per.reduce((a, f) => a + f.rssAnonMiB.mean, 0) / per.length),
      fleetdRssFileMiBMean: round(per.reduce((a, f) => a + f.rssFileMiB.mean, 0) / per.length),
      fleetdCpuPercentMean: round(per.reduce((a, f) => a + f.cpuPercent, 0) / per.length, 2),
      etcdUnaryPerSec: etcd.unaryPerSec,
      etcdStreamMsgsPerSec: etcd.streamMsgsPerSec,
      etcdUnaryPerSecPerFleetd: round(Number(etcd.unaryPerSec) / p.machines, 2),
    },
    fleetds: per,
    etcd,
    what:
      `fleet.service (fleetd, default fleet.conf of fleet-lab) in each of ${p.machines} systemd-nspawn machines with ${p.units} ` +
      'units running (Type=simple sleep) spread by the engine; nothing submitted during the window; CPU from ' +
      '/proc/<pid>/stat utime+stime, RSS from VmRSS (and its RssAnon and RssFile parts) every few seconds; etcd counters from its /metrics (all clients ' +
      'of the cluster: the fleetds only, the benchmark\'s own client is idle)',
  };
}

const FULL: IdleParams = { machines: 3, units: 100, settleSeconds: 10, seconds: 60, sampleEverySeconds: 5 };

export const idle: Benchmark = {
  name: 'idle',
  summary: 'idle cost per fleetd (RSS, CPU %, etcd requests/s) on a 3-machine lab with 100 units over 60 s',
  byDefault: true,
  run: (ctx) => runIdle(ctx, ctx.quick ? { machines: 2, units: 10, settleSeconds: 2, seconds: 10, sampleEverySeconds: 2 } : FULL),
};
