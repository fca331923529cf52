/**
 * Scheduling throughput: M hollow machines (real agent code, in-memory systemd) and 3 engines (whole FleetServers)
 * on one real etcd; U units submitted as fleetctl does; measured until every unit's state is published with
 * agentState launched. In the same run, the raw etcd transaction rate from the same client library is the ceiling.
 */
import type { Etcd3 } from 'etcd3';
import { Registry } from '../../lib/registry/index.js';
import { errorMessage } from '../../lib/errors.js';
import { ClusterObserver } from '../observer.js';
import { txnCeiling } from '../ceiling.js';
import { counters, rates, scrapeMetrics, startBenchEtcd } from '../etcd.js';
import { HollowHost } from '../hollow/remote.js';
import { HostSampler } from '../hollow/sampler.js';
import { benchUnit, submitAll, unitName } from '../units.js';
import { round, summarize } from '../stats.js';
import type { Benchmark, BenchContext } from '../context.js';

export interface ThroughputParams {
  readonly machines: number;
  readonly units: number;
  readonly engines: number;
  /** agent-only machines per shared etcd client; 0 = one whole FleetServer (own client) per machine */
  readonly perClient: number;
  /** processes the agent-only machines are spread over */
  readonly hosts: number;
  readonly submitConcurrency: number;
  readonly ceilingLevels: readonly number[];
  readonly ceilingSeconds: number;
  /** seconds of idle measurement once everything is launched */
  readonly idleSeconds: number;
  readonly timeoutMs: number;
  /** give up when no unit was reported launched for this long, ms */
  readonly stallMs: number;
  /** fleetd's etcd_request_timeout of every hollow machine, seconds */
  readonly etcdRequestTimeout: number;
  /** V8 heap limit of each hollow host, MiB */
  readonly hostHeapMiB: number;
  /**
   * V8 young-generation semi-space of the hosts of agent-only machines, MiB (0: Node's default). Hundreds of
   * agents allocate into one process's young generation, which a real fleetd (one machine, one process) does not.
   */
  readonly agentHostSemiSpaceMiB: number;
}

export async function runThroughput(ctx: BenchContext, p: ThroughputParams): Promise<Record<string, unknown>> {
  const etcd = await startBenchEtcd(ctx.teardown);
  ctx.log(`etcd at ${etcd.endpoint}`);
  // the CPU a ceiling transaction costs (etcd + this process's client), over all levels: a unit's CPU in the same
  // terms says what ratio the box's CPU allows, whatever share of it other work on the box leaves to either
  const ceilingM0 = counters(await scrapeMetrics(etcd.endpoint));
  const ceilingCpu0 = process.cpuUsage();
  const ceiling = await txnCeiling(etcd.newClient(), p.ceilingLevels, p.ceilingSeconds);
  const ceilingClientCpu = process.cpuUsage(ceilingCpu0);
  const ceilingM1 = counters(await scrapeMetrics(etcd.endpoint));
  const ceilingTxns = ceiling.runs.reduce((a, r) => a + r.txns, 0);
  const ceilingCpuMsPerTxn = {
    etcd: round(((ceilingM1.cpuSeconds - ceilingM0.cpuSeconds) * 1000) / ceilingTxns, 3),
    client: round((ceilingClientCpu.user + ceilingClientCpu.system) / 1000 / ceilingTxns, 3),
  };
  ctx.log(`etcd ceiling: ${ceiling.best.txnsPerSec} txn/s at ${ceiling.best.concurrency} in flight; CPU per txn ${JSON.stringify(ceilingCpuMsPerTxn)} ms`);

  const endpoints = [etcd.endpoint];
  const execArgv = [`--max-old-space-size=${p.hostHeapMiB}`];
  const agentExecArgv = p.agentHostSemiSpaceMiB > 0 ? [...execArgv, `--max-semi-space-size=${p.agentHostSemiSpaceMiB}`] : execArgv;
  const hosts: HollowHost[] = [];
  ctx.teardown.teardown(() => Promise.all(hosts.map((h) => h.stop(30_000))));
  // one process per engine fleetd, as on real machines: an engine never shares its event loop with another
  const engineHosts = await Promise.all(
    Array.from({ length: p.engines }, (_, i) =>
      HollowHost.spawn(
        { endpoints, machines: 0, engines: 1, idPrefix: `tp-${i + 1}-`, agentTtl: 30, etcdRequestTimeout: p.etcdRequestTimeout },
        { execArgv },
      ),
    ),
  );
  hosts.push(...engineHosts);
  const workers = p.machines - p.engines;
  const registerStarted = Date.now();
  const perHost = Math.ceil(workers / p.hosts);
  const spawned = await Promise.all(
    Array.from({ length: p.hosts }, (_, i) =>
      HollowHost.spawn(
        {
          endpoints,
          machines: Math.min(perHost, workers - i * perHost),
          idPrefix: `tp${i}-`,
          perClient: p.perClient,
          agentTtl: 30,
          etcdRequestTimeout: p.etcdRequestTimeout,
          startConcurrency: 50,
        },
        { execArgv: agentExecArgv, timeoutMs: p.timeoutMs },
      ),
    ),
  );
  hosts.push(...spawned);
  const registerMs = Date.now() - registerStarted;
  ctx.log(`${p.machines} hollow machines registered in ${registerMs} ms`);

  const sampler = new HostSampler(hosts, 2000).start();
  ctx.teardown.teardown(() => sampler.stop());
  const client = etcd.newClient({ requestTimeoutMs: 30_000 });
  const registry = new Registry(client);
  const observer = await ClusterObserver.start(etcd.newClient({ requestTimeoutMs: 30_000 }));
  ctx.teardown.teardown(() => observer.close());

  const specs = Array.from({ length: p.units }, (_, i) => benchUnit(unitName('tp', i + 1)));
  await sampler.sample();
  const cpu0 = sampler.cpuSeconds();
  const m0 = counters(await scrapeMetrics(etcd.endpoint));
  const benchCpu0 = process.cpuUsage();
  const t0 = Date.now();
  const progress = setInterval(
    () => ctx.log(`  ${round((Date.now() - t0) / 1000)} s: ${observer.units.size} seen, ${observer.launchedCount} launched`),
    10_000,
  );
  const submittedAt = new Map<string, number>();
  let submitMs = 0;
  let submitRetries = 0;
  let outcome: WaitOutcome;
  try {
    ({ ms: submitMs, retries: submitRetries } = await submitAll(registry, specs, p.submitConcurrency, (name, at) => submittedAt.set(name, at)));
    ctx.log(`${p.units} units submitted in ${submitMs} ms`);
    outcome = await waitLaunched(observer, p.units, p.timeoutMs, p.stallMs);
  } finally {
    clearInterval(progress);
  }
  const lastLaunch = [...observer.units.values()].reduce((a, u) => Math.max(a, u.launchedAt ?? 0), 0);
  const launchedMs = (lastLaunch || outcome.lastProgressAt) - t0;
  const benchCpu = process.cpuUsage(benchCpu0);
  const m1 = counters(await scrapeMetrics(etcd.endpoint));
  await sampler.sample();
  const cpu1 = sampler.cpuSeconds();
  const launchedUnits = Math.max(1, observer.launchedCount);
  const ne = p.engines;
  const engineCpu = cpu1.slice(0, ne).reduce((a, c, i) => a + c - cpu0[i]!, 0);
  const agentCpu = cpu1.slice(ne).reduce((a, c, i) => a + c - cpu0[i + ne]!, 0);
  const hostsNow = sampler.report();
  const activeOnMachines = hostsNow.reduce((a, h) => a + (h.stats?.unitsActive ?? 0), 0);
  if (outcome.complete) ctx.log(`all ${p.units} launched after ${launchedMs} ms`);
  else ctx.log(`INCOMPLETE: ${outcome.reason}; ${observer.launchedCount} reported launched, ${activeOnMachines} active on the hollow machines`);

  await new Promise((r) => setTimeout(r, p.idleSeconds * 1000));
  const m2 = counters(await scrapeMetrics(etcd.endpoint));
  await sampler.sample();
  sampler.stop();

  const reads = await readsAtScale(() => etcd.newClient({ requestTimeoutMs: 30_000 }));
  ctx.log(`reads at scale: ${JSON.stringify(reads)}`);
  // the same probe again, the cluster idle: on a shared box the first one samples 9 s of a load that changes
  // within the run (ceilings of 1,300–5,000 txn/s in one evening); the ratio stays the one to the first
  const ceilingAfter = await txnCeiling(etcd.newClient(), p.ceilingLevels, p.ceilingSeconds);
  ctx.log(`etcd ceiling after the run: ${ceilingAfter.best.txnsPerSec} txn/s at ${ceilingAfter.best.concurrency} in flight`);

  const placed = specs.map((s) => observer.units.get(s.name)?.placedAt).filter((v): v is number => v !== undefined);
  const launched = specs.map((s) => observer.units.get(s.name)?.launchedAt).filter((v): v is number => v !== undefined);
  // where a unit's time goes: submitted (createUnit returned) → placed (engine wrote its target) → launched (its
  // machine published the state); the observer's and the submitter's clocks are this process's
  const placeDelays: number[] = [];
  const launchDelays: number[] = [];
  for (const s of specs) {
    const u = observer.units.get(s.name);
    const sub = submittedAt.get(s.name);
    if (u?.placedAt !== undefined && sub !== undefined) placeDelays.push(u.placedAt - sub);
    if (u?.placedAt !== undefined && u.launchedAt !== undefined) launchDelays.push(u.launchedAt - u.placedAt);
  }
  const unitsPerSec = observer.launchedCount / (launchedMs / 1000);
  const run = rates(m0, m1, launchedMs / 1000);
  const totalRequests = m1.unary - m0.unary + (m1.streamMsgs - m0.streamMsgs);
  const msPerUnit = (cpuSeconds: number): number => (cpuSeconds * 1000) / launchedUnits;
  const unitCpuMs = msPerUnit(agentCpu + engineCpu + (m1.cpuSeconds - m0.cpuSeconds)) + (benchCpu.user + benchCpu.system) / 1000 / launchedUnits;
  registry.close().catch(() => undefined);
  client.close();

  const hostReports = sampler.report();
  return {
    params: p,
    complete: outcome.complete,
    ...(outcome.complete ? {} : { incomplete: { reason: outcome.reason, reportedLaunched: observer.launchedCount, activeOnMachines } }),
    figures: {
      unitsPerSec: round(unitsPerSec),
      etcdCeilingTxnPerSec: ceiling.best.txnsPerSec,
      ratioToCeiling: round(unitsPerSec / ceiling.best.txnsPerSec, 3),
      /** the same probe once every unit ran and the cluster idled (1,000 machines' keep-alives beside it) */
      etcdCeilingAfterTxnPerSec: ceilingAfter.best.txnsPerSec,
      ratioToCeilingAfter: round(unitsPerSec / ceilingAfter.best.txnsPerSec, 3),
      etcdRequestsPerUnit: round(totalRequests / p.units, 2),
      secondsToAllLaunched: round(launchedMs / 1000, 1),
      submitUnitsPerSec: round(p.units / (submitMs / 1000)),
      agentCpuMsPerUnit: round((agentCpu * 1000) / launchedUnits, 2),
      engineCpuMsPerUnit: round((engineCpu * 1000) / launchedUnits, 2),
      etcdCpuMsPerUnit: round(((m1.cpuSeconds - m0.cpuSeconds) * 1000) / launchedUnits, 2),
      /** this process: the submitter (createUnit as fleetctl does) and the observer's watches; not fleetd's */
      benchCpuMsPerUnit: round((benchCpu.user + benchCpu.system) / 1000 / launchedUnits, 2),
      /**
       * CPU of a ceiling txn (etcd + client) ÷ CPU of a unit (agents + engines + etcd + submitter and observer):
       * the ratio to the ceiling if both got the same CPU, i.e. without the load of other work on the box
       */
      cpuRatio: round((ceilingCpuMsPerTxn.etcd + ceilingCpuMsPerTxn.client) / unitCpuMs, 3),
      agentHostPeakRssMiB: round(hostReports.slice(ne).reduce((a, h) => a + h.peakRssMiB, 0)),
      /** the largest of the engine processes (the leader's, with its view of every job) */
      engineHostPeakRssMiB: Math.max(...hostReports.slice(0, ne).map((h) => h.peakRssMiB)),
      /** `engine leadership lost` warnings of all engine processes during the whole run */
      leadershipLost: hostReports.slice(0, ne).reduce((a, h) => a + leadershipLost(h.logKinds), 0),
    },
    ceiling,
    ceilingCpuMsPerTxn,
    ceilingAfter,
    registerMs,
    submitMs,
    submitRetries,
    launchedMs,
    /** ms after the first submit at which units were placed (target written) / launched (state published) */
    placedAfterMs: summarize(placed.map((t) => t - t0), 0),
    launchedAfterMs: summarize(launched.map((t) => t - t0), 0),
    /** per unit: createUnit returned → target written (the engine's share; can be < 0 by a watch's delivery) */
    submittedToPlacedMs: summarize(placeDelays, 0),
    /** per unit: target written → state published as launched (the agent's share) */
    placedToLaunchedMs: summarize(launchDelays, 0),
    readsAtScale: reads,
    etcdDuringRun: run,
    etcdIdleAfter: rates(m1, m2, p.idleSeconds),
    hosts: hostReports,
  };
}

const FULL: ThroughputParams = {
  machines: 1000,
  units: 10_000,
  engines: 3,
  perClient: 100,
  hosts: 1,
  // as many createUnit transactions in flight as the ceiling probe's highest level, so the submitter is not the bound
  submitConcurrency: 256,
  ceilingLevels: [16, 64, 256],
  ceilingSeconds: 3,
  idleSeconds: 20,
  timeoutMs: 20 * 60_000,
  stallMs: 60_000,
  etcdRequestTimeout: 5,
  hostHeapMiB: 8192,
  agentHostSemiSpaceMiB: 64,
};

const QUICK: ThroughputParams = {
  ...FULL,
  machines: 50,
  units: 500,
  ceilingLevels: [64],
  ceilingSeconds: 1,
  idleSeconds: 3,
  timeoutMs: 5 * 60_000,
  stallMs: 30_000,
};

export const throughput: Benchmark = {
  name: 'throughput',
  summary: '1,000 hollow machines, 10,000 units until all launched; etcd txn ceiling in the same run',
  byDefault: true,
  run: (ctx) => runThroughput(ctx, ctx.quick ? QUICK : FULL),
};

export const throughput100k: Benchmark = {
  name: 'throughput-100k',
  summary: '1,000 hollow machines, 100,000 units until all launched (RSS of the hollow host)',
  byDefault: false,
  run: (ctx) => runThroughput(ctx, ctx.quick ? { ...QUICK, units: 5000 } : { ...FULL, units: 100_000, timeoutMs: 90 * 60_000 }),
};

export const throughputServers: Benchmark = {
  name: 'throughput-servers',
  summary: 'as throughput, but every hollow machine a whole FleetServer with its own etcd client',
  byDefault: false,
  run: (ctx) => runThroughput(ctx, ctx.quick ? { ...QUICK, perClient: 0 } : { ...FULL, perClient: 0 }),
};

/**
 * What whole-tree reads do once every unit runs: `listUnits` (fleetctl list-units with the etcd driver, the API's
 * unit list), `listUnitStates`, and opening `watchJobs` (what an engine does whenever it starts leading); each on
 * a fresh client (a failure opens the client's circuit breaker), timed or with its error.
 */
async function readsAtScale(newClient: () => Etcd3): Promise<Record<string, { ms: number; ok: boolean; error?: string }>> {
  const time = async (fn: (r: Registry) => Promise<unknown>): Promise<{ ms: number; ok: boolean; error?: string }> => {
    const client = newClient();
    const registry = new Registry(client);
    const t0 = Date.now();
    try {
      await fn(registry);
      return { ms: Date.now() - t0, ok: true };
    } catch (err) {
      return { ms: Date.now() - t0, ok: false, error: errorMessage(err).slice(0, 300) };
    } finally {
      await registry.close().catch(() => undefined);
      client.close();
    }
  };
  return {
    listUnits: await time((r) => r.listUnits()),
    listUnitStates: await time((r) => r.listUnitStates()),
    listSchedule: await time((r) => r.listSchedule()),
    watchJobsStart: await time(async (r) => (await r.watchJobs(() => undefined)).close()),
  };
}

/** `engine leadership lost` warnings among a host's log kinds, whichever component logged them. */
function leadershipLost(kinds: Readonly<Record<string, number>>): number {
  return Object.entries(kinds).reduce((a, [kind, n]) => a + (/^warn [\w.]+: engine leadership lost/.test(kind) ? n : 0), 0);
}

interface WaitOutcome {
  readonly complete: boolean;
  readonly reason: string;
  /** when the last unit was reported launched */
  readonly lastProgressAt: number;
}

/** Waits for `units` launched units; gives up after `timeoutMs`, or when nothing progressed for `stallMs`. */
async function waitLaunched(observer: ClusterObserver, units: number, timeoutMs: number, stallMs: number): Promise<WaitOutcome> {
  const started = Date.now();
  let last = observer.launchedCount;
  let lastProgressAt = started;
  for (;;) {
    const n = observer.launchedCount;
    const now = Date.now();
    if (n !== last) {
      last = n;
      lastProgressAt = now;
    }
    if (n >= units) return { complete: true, reason: '', lastProgressAt };
    if (now - lastProgressAt > stallMs) return { complete: false, reason: `no unit reported launched for ${stallMs / 1000} s`, lastProgressAt };
    if (now - started > timeoutMs) return { complete: false, reason: `not all launched after ${timeoutMs / 1000} s`, lastProgressAt };
    await new Promise((r) => setTimeout(r, 200));
  }
}
