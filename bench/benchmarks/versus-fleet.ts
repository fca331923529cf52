/**
 * versus-fleet (issue 13): the same workload on real fleet v1.0.0 and on ours, in one run on the same three
 * fleet-lab machines (lab/fleet-v1.ts: fleet's fleetd as fleet.service, etcd with its v2 API on; then a re-up puts
 * our fleetd into the same machines, which use etcd's v3 API). Each flavor is driven by its own fleetctl over its
 * own fleetd's HTTP API (FLEETCTL_ENDPOINT=http://<machine>:49153), and every time is read from the machines' systemd (its
 * ActiveEnter/InactiveEnter timestamps over D-Bus; machines share the host clock), so both flavors are measured by
 * the same instrument. Figures per flavor and the ratio ours ÷ fleet's. Skips with one line without the binaries.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultProjectDir } from '../../lab/cluster.js';
import { apiUrl } from '../../lab/endpoint.js';
import { fleetV1Dir, fleetV1Missing, type FleetFlavor } from '../../lab/fleet-v1.js';
import { run, type RunResult } from '../../lab/run.js';
import { Keyspace } from '../../lib/registry/index.js';
import type { SystemdClient } from '../../lib/systemd/index.js';
import { startLab, type TestLab } from '../../test/harness/lab.js';
import { machineProcess } from '../lab.js';
import { counters, scrapeMetrics, sum, type Metrics } from '../etcd.js';
import { round, summarize, type Summary } from '../stats.js';
import type { Benchmark, BenchContext } from '../context.js';
import { BenchError } from '../errors.js';
import { errorMessage } from '../../lib/errors.js';

const OUR_FLEETCTL = fileURLToPath(new URL('../../fleetctl/main.cjs', import.meta.url));
const UNIT_IFACE = 'org.freedesktop.systemd1.Unit';
const SERVICE_IFACE = 'org.freedesktop.systemd1.Service';
const FLEET_UNIT = 'fleet.service';
const NO_RESTART = '/run/systemd/system/fleet.service.d/zz-versus-no-restart.conf';
const CLK_TCK = 100;
const AGENT_TTL = '30s';

interface VersusParams {
  readonly machines: number;
  /** sequential fleetctl start (then stop) of this many units */
  readonly startStop: number;
  /** units in one fleetctl start */
  readonly batch: number;
  /** units running for the CLI, idle, fleetd-restart and machine-loss workloads */
  readonly fill: number;
  readonly cliRounds: number;
  readonly idleSettleSeconds: number;
  readonly idleSeconds: number;
  readonly leaderKills: number;
  readonly timeoutMs: number;
}

const FULL: VersusParams = {
  machines: 3,
  startStop: 30,
  batch: 60,
  fill: 100,
  cliRounds: 10,
  idleSettleSeconds: 15,
  idleSeconds: 120,
  leaderKills: 3,
  timeoutMs: 300_000,
};
const QUICK: VersusParams = {
  machines: 3,
  startStop: 3,
  batch: 6,
  fill: 10,
  cliRounds: 2,
  idleSettleSeconds: 2,
  idleSeconds: 10,
  leaderKills: 1,
  timeoutMs: 180_000,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One flavor as the workloads see it: its fleetctl (against a machine's API) and where its engine leader is. */
interface Flavor {
  readonly name: FleetFlavor;
  fleetctl(args: readonly string[], machine?: string): Promise<RunResult>;
  /** machine id of the engine leader, read from etcd */
  leader(): Promise<string | undefined>;
}

/** Everything about the lab the workloads share. */
class Bench {
  private readonly buses = new Map<string, SystemdClient>();
  /** fleetctl runs repeated after a transient API error, per flavor */
  readonly retries = new Map<string, number>();
  /** every unit name a workload used, for the clean-up between flavors */
  readonly used = new Set<string>();
  machineNames: string[] = [];
  readonly byId = new Map<string, string>();
  readonly ips = new Map<string, string>();

  constructor(
    readonly ctx: BenchContext,
    readonly lab: TestLab,
    readonly p: VersusParams,
    readonly dir: string,
  ) {}

  async init(): Promise<void> {
    for (const m of await this.lab.machines()) {
      this.byId.set(m.machineId, m.name);
      this.ips.set(m.name, m.ip);
    }
    this.machineNames = [...this.ips.keys()].sort();
  }

  async bus(machine: string): Promise<SystemdClient> {
    let c = this.buses.get(machine);
    if (!c) this.buses.set(machine, (c = await this.lab.systemd(machine, { connectTimeoutMs: 5000, callTimeoutMs: 10_000 })));
    return c;
  }

  unitFile(name: string): string {
    this.used.add(name);
    const file = path.join(this.dir, name);
    writeFileSync(file, `[Unit]\nDescription=versus-fleet ${name}\n\n[Service]\nExecStart=/bin/sleep 1000000\n`);
    return file;
  }

  /** unit -> machine, for the names active in systemd on a machine not in `exclude` */
  async active(names: readonly string[], exclude: readonly string[] = []): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const m of this.machineNames) {
      if (exclude.includes(m)) continue;
      for (const row of await (await this.bus(m)).listUnitsByNames(names)) {
        if (row.activeState === 'active') out.set(row.name, m);
      }
    }
    return out;
  }

  async waitActive(names: readonly string[], what: string, exclude: readonly string[] = []): Promise<Map<string, string>> {
    const deadline = Date.now() + this.p.timeoutMs;
    for (;;) {
      const a = await this.active(names, exclude);
      if (a.size === names.length) return a;
      if (Date.now() > deadline) throw new BenchError(`${what}: ${a.size} of ${names.length} units active after ${this.p.timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** systemd's own timestamp (ms since the epoch) of a unit property such as ActiveEnterTimestamp */
  async stamp(machine: string, unit: string, property: string): Promise<number> {
    const us = (await (await this.bus(machine)).getUnitProperty(unit, UNIT_IFACE, property)) as bigint | number;
    return Number(us) / 1000;
  }

  async stamps(placed: ReadonlyMap<string, string>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const [unit, m] of placed) out.set(unit, await this.stamp(m, unit, 'ActiveEnterTimestamp'));
    return out;
  }

  /**
   * When systemd finished each stop job of a unit on a machine since `sinceMs` (ms since the epoch): its journal's
   * job records (JOB_TYPE=stop, JOB_RESULT=done, logged by PID 1). A stopped unit is unloaded at once (garbage
   * collected), so its InactiveEnterTimestamp cannot be read afterwards.
   */
  async stopJobs(machine: string, sinceMs: number): Promise<Map<string, number>> {
    const r = ok(
      await this.lab.exec(machine, ['journalctl', '-o', 'json', '--no-pager', `--since=@${Math.floor(sinceMs / 1000) - 1}`, '_PID=1', 'JOB_TYPE=stop', 'JOB_RESULT=done']),
      `journalctl on ${machine}`,
    );
    const out = new Map<string, number>();
    for (const line of r.stdout.split('\n')) {
      if (line.trim() === '') continue;
      const rec = JSON.parse(line) as { UNIT?: string; __REALTIME_TIMESTAMP?: string };
      if (rec.UNIT && rec.__REALTIME_TIMESTAMP) out.set(rec.UNIT, Number(rec.__REALTIME_TIMESTAMP) / 1000);
    }
    return out;
  }

  async fleetdPid(machine: string): Promise<number> {
    return Number(await (await this.bus(machine)).getUnitProperty(FLEET_UNIT, SERVICE_IFACE, 'MainPID'));
  }

  async waitFleetdRunning(machine: string): Promise<void> {
    const deadline = Date.now() + this.p.timeoutMs;
    while ((await (await this.bus(machine)).getUnitState(FLEET_UNIT)).activeState !== 'active') {
      if (Date.now() > deadline) throw new BenchError(`fleet.service not active again on ${machine}`);
      await sleep(200);
    }
  }

  async listMachinesCount(f: Flavor, via: string): Promise<number> {
    const r = await f.fleetctl(['list-machines', '--no-legend'], via);
    return r.code === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '').length : -1;
  }

  async waitMachines(f: Flavor, via: string): Promise<void> {
    const deadline = Date.now() + this.p.timeoutMs;
    while ((await this.listMachinesCount(f, via)) !== this.p.machines) {
      if (Date.now() > deadline) throw new BenchError(`${f.name}: not all ${this.p.machines} machines listed`);
      await sleep(500);
    }
  }

  /** the machine that is not the engine leader (machine loss must not also be a leader loss) with the most units */
  async victim(f: Flavor, placed: ReadonlyMap<string, string>): Promise<string> {
    const leader = this.byId.get((await f.leader()) ?? '');
    const count = (m: string): number => [...placed.values()].filter((x) => x === m).length;
    const m = this.machineNames.filter((n) => n !== leader).sort((x, y) => count(y) - count(x))[0];
    if (!m) throw new BenchError('no machine that is not the leader');
    return m;
  }

  async destroyAll(f: Flavor): Promise<void> {
    const listed = await f.fleetctl(['list-unit-files', '--no-legend', '--fields=unit']);
    const names = listed.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('vs-'));
    for (let i = 0; i < names.length; i += 50) {
      const r = await f.fleetctl(['destroy', ...names.slice(i, i + 50)]);
      if (r.code !== 0) throw new BenchError(`${f.name}: fleetctl destroy failed: ${r.stderr.trim()}`);
    }
    const all = [...this.used];
    const deadline = Date.now() + this.p.timeoutMs;
    while ((await this.active(all)).size > 0) {
      if (Date.now() > deadline) throw new BenchError(`${f.name}: units still active after destroy`);
      await sleep(250);
    }
  }
}

function ok(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new BenchError(`${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

const ms = (v: number): number => Math.round(v);

// --- workloads --------------------------------------------------------------------------------------------

async function startStop(b: Bench, f: Flavor): Promise<Record<string, unknown>> {
  const start: number[] = [];
  const startExit: number[] = [];
  const names: string[] = [];
  for (let i = 1; i <= b.p.startStop; i++) {
    const name = `vs-lat-${i}.service`;
    const file = b.unitFile(name);
    names.push(name);
    const t0 = Date.now();
    ok(await f.fleetctl(['start', file]), `${f.name}: fleetctl start ${name}`);
    startExit.push(Date.now() - t0);
    const m = (await b.waitActive([name], `${f.name}: ${name}`)).get(name)!;
    start.push((await b.stamp(m, name, 'ActiveEnterTimestamp')) - t0);
  }
  const placed = await b.active(names);
  const stopAt = new Map<string, number>();
  const stopSeen: number[] = [];
  const since = Date.now();
  for (const name of names) {
    const m = placed.get(name);
    if (!m) throw new BenchError(`${f.name}: ${name} not active before its stop`);
    const t0 = Date.now();
    ok(await f.fleetctl(['stop', name]), `${f.name}: fleetctl stop ${name}`);
    const bus = await b.bus(m);
    const deadline = Date.now() + b.p.timeoutMs;
    while ((await bus.getUnitState(name)).activeState !== 'inactive') {
      if (Date.now() > deadline) throw new BenchError(`${f.name}: ${name} not inactive after fleetctl stop`);
      await sleep(50);
    }
    stopSeen.push(Date.now() - t0);
    stopAt.set(name, t0);
  }
  const jobs = new Map<string, number>();
  for (const m of new Set(placed.values())) for (const [u, at] of await b.stopJobs(m, since)) jobs.set(u, at);
  const missing = names.filter((n) => !jobs.has(n));
  if (missing.length > 0) throw new BenchError(`${f.name}: no stop job in the journal for ${missing.join(', ')}`);
  const stop = names.map((n) => jobs.get(n)! - stopAt.get(n)!);
  ok(await f.fleetctl(['destroy', ...names]), `${f.name}: fleetctl destroy`);
  return {
    startActiveMs: summarize(start, 0),
    fleetctlStartExitMs: summarize(startExit, 0),
    stopInactiveMs: summarize(stop, 0),
    stopSeenInactiveMs: summarize(stopSeen, 0),
  };
}

async function batch(b: Bench, f: Flavor): Promise<Record<string, unknown>> {
  const names = Array.from({ length: b.p.batch }, (_, i) => `vs-u-${i + 1}.service`);
  const files = names.map((n) => b.unitFile(n));
  const t0 = Date.now();
  ok(await f.fleetctl(['start', ...files]), `${f.name}: fleetctl start of ${names.length} units`);
  const exitMs = Date.now() - t0;
  const placed = await b.waitActive(names, `${f.name}: batch`);
  const times = [...(await b.stamps(placed)).values()].map((s) => s - t0);
  return { allActiveMs: ms(Math.max(...times)), activeMs: summarize(times, 0), fleetctlExitMs: exitMs };
}

async function fill(b: Bench, f: Flavor): Promise<string[]> {
  const names = Array.from({ length: b.p.fill }, (_, i) => `vs-u-${i + 1}.service`);
  const more = names.slice(b.p.batch);
  if (more.length > 0) ok(await f.fleetctl(['start', ...more.map((n) => b.unitFile(n))]), `${f.name}: fleetctl start (fill)`);
  await b.waitActive(names, `${f.name}: ${names.length} units`);
  return names;
}

async function cliTimes(b: Bench, f: Flavor, units: number): Promise<Record<string, Summary>> {
  const cases: [string, string[]][] = [
    ['version', ['version']],
    ['list-machines', ['list-machines']],
    ['list-units', ['list-units']],
  ];
  const lu = ok(await f.fleetctl(['list-units', '--no-legend']), `${f.name}: list-units`);
  const rows = lu.stdout.split('\n').filter((l) => l.startsWith('vs-')).length;
  if (rows !== units) throw new BenchError(`${f.name}: list-units shows ${rows} units, not ${units}`);
  // `node -e 0` in the same rounds: what starting Node costs on the box at that moment (the load is shared)
  const times = new Map<string, number[]>([...cases.map(([n]): [string, number[]] => [n, []]), ['node -e 0', []]]);
  for (let i = 0; i < b.p.cliRounds; i++) {
    for (const [n, args] of cases) {
      const t0 = process.hrtime.bigint();
      ok(await f.fleetctl(args), `${f.name}: fleetctl ${n}`);
      times.get(n)!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const t0 = process.hrtime.bigint();
    ok(await run(process.execPath, ['-e', '0'], { timeoutMs: 60_000 }), 'node -e 0');
    times.get('node -e 0')!.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return Object.fromEntries([...times].map(([n, t]) => [n, summarize(t, 1)]));
}

/** etcd requests of both APIs: v3 unary calls and stream messages, v2 store reads, writes and watches. */
function etcdRequests(m: Metrics): { v3: number; v2: number } {
  const c = counters(m);
  const v2 = sum(m, 'etcd_debugging_store_reads_total') + sum(m, 'etcd_debugging_store_writes_total') + sum(m, 'etcd_debugging_store_watch_requests_total');
  return { v3: c.unary + c.streamMsgs, v2 };
}

async function idle(b: Bench, f: Flavor): Promise<Record<string, unknown>> {
  b.ctx.log(`${f.name}: settling ${b.p.idleSettleSeconds} s, then idle for ${b.p.idleSeconds} s`);
  await sleep(b.p.idleSettleSeconds * 1000);
  const fleetds = await Promise.all(
    (await b.lab.machines()).map(async (m) => {
      const pid = await b.fleetdPid(m.name);
      if (!m.initPid || !(pid > 0)) throw new BenchError(`${f.name}: no fleetd running in ${m.name}`);
      return { machine: m.name, initPid: m.initPid, pid };
    }),
  );
  const m0 = etcdRequests(await scrapeMetrics(b.lab.etcdUrl));
  const t0 = Date.now();
  const start = fleetds.map((d) => machineProcess(d.initPid, d.pid));
  const rss: number[][] = fleetds.map(() => []);
  const end = t0 + b.p.idleSeconds * 1000;
  while (Date.now() < end) {
    fleetds.forEach((d, i) => rss[i]!.push(machineProcess(d.initPid, d.pid).rssKiB / 1024));
    await sleep(Math.min(5000, Math.max(0, end - Date.now())));
  }
  const seconds = (Date.now() - t0) / 1000;
  const last = fleetds.map((d) => machineProcess(d.initPid, d.pid));
  const m1 = etcdRequests(await scrapeMetrics(b.lab.etcdUrl));
  const per = fleetds.map((d, i) => ({
    machine: d.machine,
    cpuPercent: round(((last[i]!.ticks - start[i]!.ticks) / CLK_TCK / seconds) * 100, 2),
    rssMiB: summarize(rss[i]!, 1).mean,
  }));
  return {
    seconds: round(seconds, 1),
    fleetdCpuPercentMean: round(per.reduce((a, d) => a + d.cpuPercent, 0) / per.length, 2),
    fleetdRssMiBMean: round(per.reduce((a, d) => a + d.rssMiB, 0) / per.length, 1),
    etcdRequestsPerSec: round((m1.v3 - m0.v3 + m1.v2 - m0.v2) / seconds, 2),
    etcdV3PerSec: round((m1.v3 - m0.v3) / seconds, 2),
    etcdV2PerSec: round((m1.v2 - m0.v2) / seconds, 2),
    fleetds: per,
  };
}

/** fleet.service restarted on every machine at once; units whose systemd start time changed were restarted. */
async function fleetdRestart(b: Bench, f: Flavor, names: readonly string[]): Promise<Record<string, unknown>> {
  const before = await b.stamps(await b.waitActive(names, `${f.name}: before fleetd restart`));
  await Promise.all(
    b.machineNames.map(async (m) => {
      const job = await (await b.bus(m)).restartUnit(FLEET_UNIT, { wait: true });
      if (job.result !== 'done') throw new BenchError(`${f.name}: restart of fleet.service on ${m}: ${job.result}`);
    }),
  );
  await b.waitMachines(f, b.machineNames[0]!);
  await sleep(15_000);
  const after = await b.stamps(await b.waitActive(names, `${f.name}: after fleetd restart`));
  const restarted = names.filter((n) => after.get(n) !== before.get(n)).length;
  return { units: names.length, restarted };
}

async function leaderKill(b: Bench, f: Flavor): Promise<Record<string, unknown>> {
  const samples: { leader: string; activeMs: number }[] = [];
  for (let k = 1; k <= b.p.leaderKills; k++) {
    const deadline = Date.now() + b.p.timeoutMs;
    let leaderId: string | undefined;
    while (!(leaderId = await f.leader())) {
      if (Date.now() > deadline) throw new BenchError(`${f.name}: no engine leader`);
      await sleep(500);
    }
    const leader = b.byId.get(leaderId);
    if (!leader) throw new BenchError(`${f.name}: leader ${leaderId} is no lab machine`);
    const via = b.machineNames.find((m) => m !== leader)!;
    const name = `vs-lk-${k}.service`;
    const file = b.unitFile(name);
    const bus = await b.bus(leader);
    const t0 = Date.now();
    await bus.killUnit(FLEET_UNIT, 9, 'main');
    ok(await f.fleetctl(['start', '--no-block', file], via), `${f.name}: fleetctl start after leader kill`);
    const m = (await b.waitActive([name], `${f.name}: unit after leader kill`)).get(name)!;
    const activeMs = (await b.stamp(m, name, 'ActiveEnterTimestamp')) - t0;
    samples.push({ leader, activeMs: ms(activeMs) });
    b.ctx.log(`${f.name}: leader ${leader} killed: next unit active after ${ms(activeMs)} ms`);
    await b.waitFleetdRunning(leader);
    await b.waitMachines(f, via);
    // the dead leader's lease must be gone (fleet's: 10 s, ours: 4 s) before the leader key is read again
    if (k < b.p.leaderKills) await sleep(15_000);
  }
  return { activeMs: summarize(samples.map((s) => s.activeMs), 0), samples };
}

/** A machine lost (fleetd SIGKILLed with its restart prevented, or its network cut): until its units run elsewhere. */
async function machineLoss(b: Bench, f: Flavor, names: readonly string[], how: 'kill-9' | 'network-cut'): Promise<Record<string, unknown>> {
  const placed = await b.waitActive(names, `${f.name}: before ${how}`);
  const victim = await b.victim(f, placed);
  const endpoint = b.machineNames.find((m) => m !== victim)!;
  const lost = names.filter((n) => placed.get(n) === victim);
  if (how === 'kill-9') {
    ok(await b.lab.sh(victim, `mkdir -p ${path.dirname(NO_RESTART)} && printf '[Service]\\nRestart=no\\n' > ${NO_RESTART} && systemctl daemon-reload`), 'no-restart drop-in');
  }
  const t0 = Date.now();
  let times: number[];
  try {
    if (how === 'kill-9') await (await b.bus(victim)).killUnit(FLEET_UNIT, 9, 'main');
    else await b.lab.lab.cut(victim);
    const moved = await b.waitActive(lost, `${f.name}: ${victim}'s units elsewhere after ${how}`, [victim]);
    times = [...(await b.stamps(moved)).values()].map((s) => s - t0);
    b.ctx.log(`${f.name}: ${how} of ${victim}: its ${lost.length} units active elsewhere after ${ms(Math.max(...times, 0))} ms`);
  } finally {
    // back to normal, also when the measurement failed: the machine returns
    if (how === 'kill-9') {
      ok(await b.lab.sh(victim, `rm -f ${NO_RESTART} && systemctl daemon-reload && systemctl reset-failed ${FLEET_UNIT}; systemctl start ${FLEET_UNIT}`), 'fleetd restart');
    } else {
      await b.lab.lab.heal(victim);
    }
  }
  await b.waitMachines(f, endpoint);
  // the returned machine's fleetd should stop its old copies; what is still running after a minute is counted and
  // stopped here, so the next workload starts from one copy of each unit
  const others = b.machineNames.filter((m) => m !== victim);
  const deadline = Date.now() + 60_000;
  let stale = [...(await b.active(lost, others)).keys()];
  while (stale.length > 0 && Date.now() < deadline) {
    await sleep(500);
    stale = [...(await b.active(lost, others)).keys()];
  }
  for (const n of stale) await (await b.bus(victim)).stopUnit(n, { wait: true });
  await b.waitActive(names, `${f.name}: settled after ${how}`);
  return {
    victim,
    units: lost.length,
    allActiveElsewhereMs: lost.length > 0 ? ms(Math.max(...times)) : null,
    activeElsewhereMs: summarize(times, 0),
    oldCopiesLeftRunning: stale.length,
  };
}

async function runFlavor(b: Bench, f: Flavor): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { loadAverageAtStart: os.loadavg().map((l) => round(l, 2)) };
  await b.waitMachines(f, b.machineNames[0]!);
  // a workload that fails is recorded as such and the run goes on with the next (its figures stay empty)
  const step = async (key: string, fn: () => Promise<unknown>): Promise<void> => {
    const t0 = Date.now();
    try {
      out[key] = await fn();
      b.ctx.log(`${f.name}: ${key} done in ${round((Date.now() - t0) / 1000, 1)} s`);
    } catch (err) {
      out[key] = { error: errorMessage(err) };
      b.ctx.log(`${f.name}: ${key} FAILED after ${round((Date.now() - t0) / 1000, 1)} s: ${errorMessage(err)}`);
    }
  };
  await step('startStop', () => startStop(b, f));
  await step('batch', () => batch(b, f));
  const names = await fill(b, f);
  await step('cli', () => cliTimes(b, f, names.length));
  await step('idle', () => idle(b, f));
  await step('fleetdRestart', () => fleetdRestart(b, f, names));
  await step('leaderKill', () => leaderKill(b, f));
  await step('kill9', () => machineLoss(b, f, names, 'kill-9'));
  await step('networkCut', () => machineLoss(b, f, names, 'network-cut'));
  // fleet's fleetd also stops its units when the flavor is switched (SIGTERM): a failed destroy is logged, not fatal
  await b.destroyAll(f).catch((err: unknown) => b.ctx.log(`${f.name}: destroying the units failed: ${errorMessage(err)}`));
  out.fleetctlRetries = b.retries.get(f.name) ?? 0;
  return out;
}

// --- flavors -----------------------------------------------------------------------------------------------

async function etcdV2Value(etcdUrl: string, key: string): Promise<string | undefined> {
  const res = await fetch(`${etcdUrl}/v2/keys${key}`, { signal: AbortSignal.timeout(5000) });
  if (res.status === 404) return undefined;
  const body = (await res.json()) as { node?: { value?: string } };
  return body.node?.value;
}

async function etcdV3Value(etcdUrl: string, key: string): Promise<string | undefined> {
  const res = await fetch(`${etcdUrl}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from(key).toString('base64') }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as { kvs?: { value?: string }[] };
  const v = body.kvs?.[0]?.value;
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

const machineIdIn = (v: string | undefined): string | undefined => (v ? /[0-9a-f]{32}/.exec(v)?.[0] : undefined);

function flavors(b: Bench, fleetDir: string): Record<FleetFlavor, Flavor> {
  // driver and endpoint as a user sets them once (`eval "$(fleet-lab env)"`): FLEETCTL_* variables, read by both
  const env = (machine?: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: b.dir,
    FLEETCTL_DRIVER: 'API',
    FLEETCTL_ENDPOINT: apiUrl(b.ips.get(machine ?? b.machineNames[0]!)!),
  });
  /**
   * A fleetctl run that failed with a transient API error (fleet's API answers 503 when its etcd request timed out,
   * which happens on this loaded box) is repeated after 1 s, up to 5 times, as a user would; the retries are counted
   * and the time a timed command took includes them.
   */
  const retrying =
    (flavor: FleetFlavor, once: (args: readonly string[], machine?: string) => Promise<RunResult>) =>
    async (args: readonly string[], machine?: string): Promise<RunResult> => {
      for (let attempt = 1; ; attempt++) {
        const r = await once(args, machine);
        if (r.code === 0 || attempt >= 5 || !/\b503\b|unable to communicate with etcd|timed? ?out|ECONNRESET|connection reset/i.test(r.stderr)) return r;
        b.retries.set(flavor, (b.retries.get(flavor) ?? 0) + 1);
        b.ctx.log(`${flavor}: fleetctl ${args[0] ?? ''} failed transiently, again in 1 s: ${r.stderr.trim().split('\n')[0] ?? ''}`);
        await sleep(1000);
      }
    };
  return {
    'fleet-v1': {
      name: 'fleet-v1',
      fleetctl: retrying('fleet-v1', (args, machine) => run(path.join(fleetDir, 'fleetctl'), args, { env: env(machine), timeoutMs: b.p.timeoutMs })),
      leader: async () => machineIdIn(await etcdV2Value(b.lab.etcdUrl, '/_coreos.com/fleet/lease/engine-leader')),
    },
    ours: {
      name: 'ours',
      fleetctl: retrying('ours', (args, machine) => run(process.execPath, [OUR_FLEETCTL, ...args], { env: env(machine), timeoutMs: b.p.timeoutMs })),
      leader: async () => machineIdIn(await etcdV3Value(b.lab.etcdUrl, new Keyspace().engineLeader)),
    },
  };
}

// --- figures -----------------------------------------------------------------------------------------------

type Pick = (r: Record<string, unknown>) => number | null | undefined;

const at =
  (...keys: string[]): Pick =>
  (r) => {
    let v: unknown = r;
    for (const k of keys) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    return typeof v === 'number' ? v : null;
  };

const HEADLINES: Readonly<Record<string, Pick>> = {
  nodeStartP50Ms: at('cli', 'node -e 0', 'p50'),
  cliVersionP50Ms: at('cli', 'version', 'p50'),
  cliListMachinesP50Ms: at('cli', 'list-machines', 'p50'),
  cliListUnitsP50Ms: at('cli', 'list-units', 'p50'),
  startActiveP50Ms: at('startStop', 'startActiveMs', 'p50'),
  startActiveP90Ms: at('startStop', 'startActiveMs', 'p90'),
  fleetctlStartExitP50Ms: at('startStop', 'fleetctlStartExitMs', 'p50'),
  stopInactiveP50Ms: at('startStop', 'stopInactiveMs', 'p50'),
  stopInactiveP90Ms: at('startStop', 'stopInactiveMs', 'p90'),
  batchAllActiveMs: at('batch', 'allActiveMs'),
  batchFleetctlExitMs: at('batch', 'fleetctlExitMs'),
  leaderKillActiveP50Ms: at('leaderKill', 'activeMs', 'p50'),
  kill9AllActiveElsewhereMs: at('kill9', 'allActiveElsewhereMs'),
  networkCutAllActiveElsewhereMs: at('networkCut', 'allActiveElsewhereMs'),
  idleFleetdCpuPercent: at('idle', 'fleetdCpuPercentMean'),
  idleFleetdRssMiB: at('idle', 'fleetdRssMiBMean'),
  idleEtcdRequestsPerSec: at('idle', 'etcdRequestsPerSec'),
  unitsRestartedByFleetdRestart: at('fleetdRestart', 'restarted'),
};

export function compare(ours: Record<string, unknown>, fleet: Record<string, unknown>): Record<string, { ours: number | null; fleet: number | null; ratio: number | null }> {
  const out: Record<string, { ours: number | null; fleet: number | null; ratio: number | null }> = {};
  for (const [k, pick] of Object.entries(HEADLINES)) {
    const o = pick(ours) ?? null;
    const f = pick(fleet) ?? null;
    out[k] = { ours: o, fleet: f, ratio: o !== null && f !== null && f !== 0 ? round(o / f, 2) : null };
  }
  return out;
}

async function runVersus(ctx: BenchContext, p: VersusParams): Promise<Record<string, unknown>> {
  const projectDir = defaultProjectDir();
  const missing = fleetV1Missing(projectDir);
  if (missing) {
    return { skipped: missing };
  }
  const fleetDir = fleetV1Dir(projectDir);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-bench-versus-'));
  ctx.teardown.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = Date.now();
  const lab = await startLab(ctx.teardown, { machines: p.machines, prefix: 'bv', flavor: 'fleet-v1', agentTtl: AGENT_TTL });
  if (lab.warnings.length > 0) throw new BenchError(`lab came up with warnings: ${lab.warnings.join('; ')}`);
  ctx.log(`lab ${lab.name} with ${p.machines} machines running fleet v1.0.0 up in ${Date.now() - t0} ms`);
  const b = new Bench(ctx, lab, p, dir);
  await b.init();
  const f = flavors(b, fleetDir);
  const fleet = await runFlavor(b, f['fleet-v1']);
  const t1 = Date.now();
  const up = await lab.lab.up({ machines: p.machines, flavor: 'ours', agentTtl: AGENT_TTL });
  if (up.warnings.length > 0) throw new BenchError(`switching to our fleetd: ${up.warnings.join('; ')}`);
  ctx.log(`the same machines run our fleetd (switched in ${Date.now() - t1} ms)`);
  const ours = await runFlavor(b, f.ours);
  return {
    params: { ...p, agentTtl: AGENT_TTL, fleetV1Dir: fleetDir },
    figures: compare(ours, fleet),
    fleet,
    ours,
    what:
      'the same workloads on one 3-machine fleet-lab cluster, first with real fleet v1.0.0 as fleet.service (etcd v2 API), ' +
      'then with our fleetd in the same machines (etcd v3 API); each flavor driven by its own fleetctl over its own ' +
      'fleetd API (FLEETCTL_DRIVER=API FLEETCTL_ENDPOINT=http://<machine>:49153); times from systemd timestamps in the machines ' +
      '(ActiveEnterTimestamp, InactiveEnterTimestamp) minus the moment the benchmark acted; ratio = ours / fleet',
  };
}

export const versusFleet: Benchmark = {
  name: 'versus-fleet',
  summary: 'real fleet v1.0.0 and ours on the same 3 lab machines: CLI, start/stop, batch, failover, machine loss, idle',
  byDefault: true,
  run: (ctx) => runVersus(ctx, ctx.quick ? QUICK : FULL),
};
