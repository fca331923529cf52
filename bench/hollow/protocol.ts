/** Messages between the benchmark and a hollow host process (bench/hollow/host.ts) over the IPC channel. */
import type { HollowFleetSpec, HollowFleetStats } from './fleet.js';

export interface ProcessSample {
  /** bytes */
  readonly rss: number;
  readonly heapUsed: number;
  /** CPU time used since the process started, ms (user + system) */
  readonly cpuMs: number;
  readonly at: number;
}

export type ToHost = { type: 'start'; spec: HollowFleetSpec } | { type: 'stats'; seq: number } | { type: 'stop' };

export type FromHost =
  | { type: 'ready'; ms: number; machineIds: string[] }
  | { type: 'failed'; error: string }
  | { type: 'stats'; seq: number; stats: HollowFleetStats; sample: ProcessSample }
  | { type: 'leading'; machineId: string; at: number }
  | { type: 'stepped-down'; machineId: string; at: number; reason: string }
  | { type: 'stopped' };

export function sampleProcess(): ProcessSample {
  const m = process.memoryUsage();
  const c = process.cpuUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, cpuMs: (c.user + c.system) / 1000, at: Date.now() };
}
