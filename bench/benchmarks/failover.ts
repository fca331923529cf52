/**
 * Engine failover: three fleetds with engines (whole FleetServers on hollow systemd), each in its own process,
 * and hollow worker machines on one real etcd. The leader's process is SIGKILLed (no resignation: its lease must
 * expire) and a unit is submitted at once; measured: kill -> a new leader elected, -> the unit placed (its target
 * written), -> the unit reported launched. A fresh engine process replaces the killed one before the next kill.
 */
import { Registry } from '../../lib/registry/index.js';
import { defaultConfig } from '../../fleetd/config.js';
import { ClusterObserver } from '../observer.js';
import { startBenchEtcd } from '../etcd.js';
import { HollowHost } from '../hollow/remote.js';
import { benchUnit } from '../units.js';
import { summarize } from '../stats.js';
import type { Benchmark, BenchContext } from '../context.js';
import { BenchError } from '../errors.js';

interface FailoverParams {
  readonly kills: number;
  readonly engines: number;
  readonly workers: number;
  /** seconds: fleetd's engine_lease_ttl and engine_reconcile_interval */
  readonly engineLeaseTtl: number;
  readonly engineReconcileInterval: number;
  readonly timeoutMs: number;
}

interface KillSample {
  readonly kill: number;
  readonly killedLeader: string;
  readonly newLeader: string;
  readonly electedMs: number;
  readonly placedMs: number;
  readonly launchedMs: number;
}

async function runFailover(ctx: BenchContext, p: FailoverParams): Promise<Record<string, unknown>> {
  const etcd = await startBenchEtcd(ctx.teardown);
  const endpoints = [etcd.endpoint];
  const hosts = new Set<HollowHost>();
  ctx.teardown.teardown(() => Promise.all([...hosts].map((h) => h.stop(20_000))));

  const common = {
    endpoints,
    engineLeaseTtl: p.engineLeaseTtl,
    engineReconcileInterval: p.engineReconcileInterval,
    etcdRequestTimeout: defaultConfig().etcdRequestTimeout,
  };
  const workers = await HollowHost.spawn({ ...common, machines: p.workers, idPrefix: 'fo-', workerMetadata: { role: 'worker' }, perClient: p.workers });
  hosts.add(workers);

  let elected: { machineId: string; at: number } | undefined;
  const engineHosts = new Map<string, HollowHost>();
  let generation = 0;
  const spawnEngine = async (): Promise<void> => {
    generation++;
    const h = await HollowHost.spawn({ ...common, machines: 0, engines: 1, idPrefix: `fo-g${generation}-`, engineMetadata: { role: 'engine' } });
    hosts.add(h);
    engineHosts.set(h.machineIds[0]!, h);
    h.on('leading', (machineId, at) => (elected = { machineId, at }));
  };
  for (let i = 0; i < p.engines; i++) await spawnEngine();

  const registry = new Registry(etcd.newClient({ requestTimeoutMs: 10_000 }));
  const observer = await ClusterObserver.start(etcd.newClient({ requestTimeoutMs: 10_000 }));
  ctx.teardown.teardown(() => observer.close());

  const currentLeader = async (): Promise<string> => {
    const deadline = Date.now() + p.timeoutMs;
    while (Date.now() < deadline) {
      for (const [id, h] of engineHosts) if ((await h.stats(5000))?.stats.leader === id) return id;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new BenchError(`no engine leader within ${p.timeoutMs} ms`);
  };

  // warm-up: a unit placed and launched proves the cluster works before the first kill
  const warm = benchUnit('fo-warmup.service', ['MachineMetadata=role=worker']);
  await registry.createUnit(warm);
  await observer.until('warm-up unit launched', () => observer.units.get(warm.name)?.launchedAt !== undefined, p.timeoutMs);

  const samples: KillSample[] = [];
  for (let k = 1; k <= p.kills; k++) {
    const leader = await currentLeader();
    const victim = engineHosts.get(leader)!;
    elected = undefined;
    const unit = benchUnit(`fo-${k}.service`, ['MachineMetadata=role=worker']);
    const t0 = Date.now();
    victim.kill();
    await registry.createUnit(unit);
    await observer.until(`${unit.name} launched after kill ${k}`, () => observer.units.get(unit.name)?.launchedAt !== undefined, p.timeoutMs);
    const prog = observer.units.get(unit.name)!;
    await victim.waitExit();
    engineHosts.delete(leader);
    hosts.delete(victim);
    const e = elected as { machineId: string; at: number } | undefined;
    const s: KillSample = {
      kill: k,
      killedLeader: leader,
      newLeader: e?.machineId ?? '?',
      electedMs: e ? e.at - t0 : NaN,
      placedMs: (prog.placedAt ?? NaN) - t0,
      launchedMs: (prog.launchedAt ?? NaN) - t0,
    };
    samples.push(s);
    ctx.log(`kill ${k}: elected ${s.electedMs} ms, placed ${s.placedMs} ms, launched ${s.launchedMs} ms`);
    await spawnEngine();
  }

  const elect = summarize(samples.map((s) => s.electedMs), 0);
  const place = summarize(samples.map((s) => s.placedMs), 0);
  const launch = summarize(samples.map((s) => s.launchedMs), 0);
  return {
    params: p,
    figures: {
      kills: samples.length,
      placedP50Ms: place.p50,
      placedP99Ms: place.p99,
      electedP50Ms: elect.p50,
      electedP99Ms: elect.p99,
      launchedP50Ms: launch.p50,
      launchedP99Ms: launch.p99,
      engineLeaseTtlS: p.engineLeaseTtl,
    },
    electedMs: elect,
    placedMs: place,
    launchedMs: launch,
    samples,
    what:
      'SIGKILL of the process of the leading fleetd (engine + agent, hollow systemd); a unit (MachineMetadata=role=worker) ' +
      'submitted right after the kill; times from the kill to: another engine reporting leadership, the unit\'s target ' +
      'written to etcd, its state published as launched by a hollow worker',
  };
}

const FULL: FailoverParams = {
  kills: 20,
  engines: 3,
  workers: 5,
  engineLeaseTtl: defaultConfig().engineLeaseTtl,
  engineReconcileInterval: defaultConfig().engineReconcileInterval,
  timeoutMs: 60_000,
};

export const failover: Benchmark = {
  name: 'failover',
  summary: 'engine leader SIGKILLed -> next placement, p50/p99 over 20 kills (3 engine processes, hollow workers)',
  byDefault: true,
  run: (ctx) => runFailover(ctx, ctx.quick ? { ...FULL, kills: 3 } : FULL),
};

