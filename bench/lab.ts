/**
 * A real fleet-lab cluster for benchmarks (test/harness/lab.ts: systemd-nspawn machines running fleetd as
 * fleet.service, one etcd on the host), stopped by the benchmark's teardown, plus a registry client on its etcd.
 */
import { readFileSync } from 'node:fs';
import { startFleetLab, type FleetLab } from '../test/harness/fleet-lab.js';
import type { Teardown } from './teardown.js';
import { BenchError } from './errors.js';
import { errorMessage } from '../lib/errors.js';

export interface BenchLab extends FleetLab {
  /** etcd client URL as machines and fleetctl reach it */
  readonly etcdUrl: string;
}

export async function startBenchLab(teardown: Teardown, machines: number, prefix: string): Promise<BenchLab> {
  try {
    const fl = await startFleetLab(teardown, { machines, prefix, requestTimeoutMs: 10_000, registerTimeoutMs: 60_000 });
    return { ...fl, etcdUrl: fl.lab.etcdUrl };
  } catch (err) {
    throw new BenchError(errorMessage(err));
  }
}

/**
 * CPU ticks (user + system) and RSS of a process inside a lab machine, read through its init's root. RSS splits
 * into anonymous memory (the process's own: JS heap, malloc, stacks) and file-backed pages (mostly the node
 * binary's, shared with every node process that maps it and reclaimable: docs/benchmarks.md "Idle cost").
 */
export function machineProcess(initPid: number, pid: number): { ticks: number; rssKiB: number; rssAnonKiB: number; rssFileKiB: number } {
  const base = `/proc/${initPid}/root/proc/${pid}`;
  const stat = readFileSync(`${base}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`${base}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : NaN;
  };
  return { ticks, rssKiB: kib('VmRSS'), rssAnonKiB: kib('RssAnon'), rssFileKiB: kib('RssFile') };
}
