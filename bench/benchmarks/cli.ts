/**
 * fleetctl's start-up cost as users feel it (issue 13): in one run, N rounds of `node -e 0`, `fleetctl version`,
 * `fleetctl help` and `fleetctl list-machines` over the API (TCP, plain HTTP) of an in-process fleetd API server on
 * a real etcd with three registered machines; the commands take turns within a round so load drifts hit all alike.
 * Median wall time of each (spawn to exit) and its ratio to `node -e 0`. When real fleet v1.0.0's fleetctl is in
 * /work/shared/tools/fleet-v1.0.0 (or FLEET_V1_DIR), its `version` and `list-machines` against the same API are
 * timed in the same rounds, with our list-machines over fleet's.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../lab/run.js';
import { startBenchEtcd } from '../etcd.js';
import { round, summarize, type Summary } from '../stats.js';
import type { Benchmark, BenchContext } from '../context.js';
import { BenchError } from '../errors.js';
import { TestRegistry } from '../../test/harness/registry.js';
import { defaultConfig } from '../../fleetd/config.js';
import { createApiServer } from '../../fleetd/api/server.js';
import { VERSION } from '../../lib/version.js';

const FLEETCTL = fileURLToPath(new URL('../../fleetctl/main.cjs', import.meta.url));
const FLEET_DIR = process.env.FLEET_V1_DIR ?? '/work/shared/tools/fleet-v1.0.0';

interface CliParams {
  readonly rounds: number;
  readonly machines: number;
}

interface Case {
  readonly name: string;
  readonly cmd: string;
  readonly args: readonly string[];
}

async function runCliBench(ctx: BenchContext, p: CliParams): Promise<Record<string, unknown>> {
  const etcd = await startBenchEtcd(ctx.teardown);
  const registry = new TestRegistry(etcd.newClient(), '/fleet-bench-cli/');
  ctx.teardown.teardown(() => registry.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-bench-cli-'));
  ctx.teardown.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = createApiServer({
    registry,
    config: { ...defaultConfig(), apiSocket: path.join(dir, 'fleet.sock'), apiListen: '127.0.0.1:0' },
    machineId: 'b0000000000000000000000000000000',
    version: VERSION,
    env: {},
  });
  await server.listen();
  ctx.teardown.teardown(() => server.close());
  const tcp = server.listeners.find((l) => l.kind === 'tcp')?.address;
  if (!tcp) throw new BenchError('the API server has no TCP listener');
  const endpoint = `http://${tcp}`;
  for (let i = 1; i <= p.machines; i++) {
    const id = `${String(i).padStart(2, '0')}${'c'.repeat(30)}`;
    const presence = await registry.registerMachine({ id, publicIP: `10.0.0.${i}`, metadata: { bench: 'cli' }, version: VERSION, disableEngine: false }, 60);
    ctx.teardown.teardown(() => presence.close({ revoke: true }).catch(() => undefined));
  }

  const ours = (args: string[]): Case['args'] => [FLEETCTL, ...args];
  const cases: Case[] = [
    { name: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] },
    { name: 'fleetctl version', cmd: process.execPath, args: ours(['version']) },
    { name: 'fleetctl help', cmd: process.execPath, args: ours(['help']) },
    { name: 'fleetctl list-machines', cmd: process.execPath, args: ours(['--driver=API', `--endpoint=${endpoint}`, 'list-machines']) },
  ];
  const fleetBin = path.join(FLEET_DIR, 'fleetctl');
  const haveFleet = existsSync(fleetBin);
  if (haveFleet) {
    cases.push({ name: 'fleet fleetctl version', cmd: fleetBin, args: ['version'] });
    cases.push({ name: 'fleet fleetctl list-machines', cmd: fleetBin, args: ['--driver=API', `--endpoint=${endpoint}`, 'list-machines'] });
  } else {
    ctx.log(`no ${fleetBin}: real fleetctl not measured`);
  }
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (const c of cases) {
    // one warm-up each (page cache), not counted; it also checks the command works
    const r = await run(c.cmd, c.args, { env, timeoutMs: 60_000 });
    if (r.code !== 0) throw new BenchError(`${c.name} failed (${r.code}): ${r.stderr.trim()}`);
    if (c.name.endsWith('list-machines') && !r.stdout.includes('10.0.0.1')) throw new BenchError(`${c.name} did not list the machines: ${r.stdout}`);
  }
  for (let i = 0; i < p.rounds; i++) {
    for (const c of cases) {
      const t0 = process.hrtime.bigint();
      const r = await run(c.cmd, c.args, { env, timeoutMs: 60_000 });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.code !== 0) throw new BenchError(`${c.name} failed (${r.code}): ${r.stderr.trim()}`);
      times.get(c.name)!.push(ms);
    }
  }
  const wall: Record<string, Summary> = {};
  for (const [name, t] of times) wall[name] = summarize(t, 1);
  const p50 = (name: string): number => wall[name]!.p50;
  const node = p50('node -e 0');
  const figures: Record<string, number> = {
    nodeP50Ms: node,
    versionP50Ms: p50('fleetctl version'),
    helpP50Ms: p50('fleetctl help'),
    listMachinesP50Ms: p50('fleetctl list-machines'),
    versionOverNode: round(p50('fleetctl version') / node, 2),
    helpOverNode: round(p50('fleetctl help') / node, 2),
    listMachinesOverNode: round(p50('fleetctl list-machines') / node, 2),
  };
  if (haveFleet) {
    figures.fleetVersionP50Ms = p50('fleet fleetctl version');
    figures.fleetListMachinesP50Ms = p50('fleet fleetctl list-machines');
    figures.listMachinesOverFleet = round(p50('fleetctl list-machines') / p50('fleet fleetctl list-machines'), 2);
    figures.versionOverFleet = round(p50('fleetctl version') / p50('fleet fleetctl version'), 2);
  }
  return {
    params: { ...p, fleetctlOfFleet: haveFleet ? fleetBin : null },
    figures,
    wallMs: wall,
    what:
      `wall time from spawn to exit of each command, ${p.rounds} rounds after one warm-up, the commands taking turns ` +
      `within a round; list-machines over --driver=API --endpoint=${'http://127.0.0.1:<port>'} of an in-process fleetd API ` +
      `server on a real etcd with ${p.machines} machines registered`,
  };
}

export const cli: Benchmark = {
  name: 'cli',
  summary: 'fleetctl wall time (version, help, list-machines over the API) against node -e 0 and real fleetctl, median of 20',
  byDefault: true,
  run: (ctx) => runCliBench(ctx, ctx.quick ? { rounds: 3, machines: 3 } : { rounds: 20, machines: 3 }),
};
