/**
 * A real fleet-lab cluster for benchmarks (test/harness/lab.ts: systemd-nspawn machines running fleetd as
 * fleet.service, one etcd on the host), stopped by the benchmark's teardown, plus a registry client on its etcd.
 */
import { readFileSync } from 'node:fs';
import { openEtcd, Registry } from '../lib/registry/index.js';
import { startLab, type TestLab } from '../test/harness/lab.js';
import type { Teardown } from './teardown.js';
import { BenchError } from './errors.js';

export interface BenchLab {
  readonly lab: TestLab;
  readonly registry: Registry;
  /** machine name (m1, m2, ...) -> machine id */
  readonly ids: Readonly<Record<string, string>>;
  /** machine id -> machine name */
  readonly names: Readonly<Record<string, string>>;
  /** etcd client URL as machines and fleetctl reach it */
  readonly etcdUrl: string;
}

export async function startBenchLab(teardown: Teardown, machines: number, prefix: string): Promise<BenchLab> {
  const lab = await startLab(teardown, { machines, prefix });
  if (lab.warnings.length > 0) throw new BenchError(`lab came up with warnings: ${lab.warnings.join('; ')}`);
  const client = openEtcd({ endpoints: [lab.etcdUrl], requestTimeoutMs: 10_000 });
  const registry = new Registry(client);
  teardown.teardown(async () => {
    await registry.close().catch(() => undefined);
    client.close();
  });
  const ids: Record<string, string> = {};
  const names: Record<string, string> = {};
  for (const m of await lab.machines()) {
    ids[m.name] = m.machineId;
    names[m.machineId] = m.name;
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    const live = new Set((await registry.listMachines().catch(() => [])).map((m) => m.id));
    if (Object.values(ids).every((id) => live.has(id))) break;
    if (Date.now() > deadline) throw new BenchError('not every lab fleetd registered within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  return { lab, registry, ids, names, etcdUrl: lab.etcdUrl };
}

/** CPU ticks (user + system) and RSS of a process inside a lab machine, read through its init's root. */
export function machineProcess(initPid: number, pid: number): { ticks: number; rssKiB: number } {
  const base = `/proc/${initPid}/root/proc/${pid}`;
  const stat = readFileSync(`${base}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`${base}/status`, 'utf8'));
  return { ticks, rssKiB: rss ? Number(rss[1]) : NaN };
}
