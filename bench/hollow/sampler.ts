/** Samples hollow hosts every interval: peak RSS, CPU time, last fleet counters. */
import type { HollowFleetStats } from './fleet.js';
import type { ProcessSample } from './protocol.js';
import type { HollowHost } from './remote.js';
import { MiB, round } from '../stats.js';

export interface HostReport {
  readonly pid: number;
  readonly machines: number;
  readonly startMs: number;
  readonly peakRssMiB: number;
  readonly lastRssMiB: number;
  readonly cpuSeconds: number;
  readonly stats?: HollowFleetStats;
  /** its log lines by kind (warnings and errors; fleetd logs nothing below warn by default) */
  readonly logKinds: Record<string, number>;
}

export class HostSampler {
  private readonly peak = new Map<HollowHost, number>();
  private readonly last = new Map<HollowHost, { stats: HollowFleetStats; sample: ProcessSample }>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly hosts: readonly HollowHost[],
    private readonly intervalMs = 1000,
  ) {}

  start(): this {
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    return this;
  }

  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await Promise.all(
        this.hosts.map(async (h) => {
          const r = await h.stats(10_000);
          if (!r) return;
          this.last.set(h, r);
          this.peak.set(h, Math.max(this.peak.get(h) ?? 0, r.sample.rss));
        }),
      );
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  latest(h: HollowHost): HollowFleetStats | undefined {
    return this.last.get(h)?.stats;
  }

  /** CPU seconds each host used so far, as of the last sample. */
  cpuSeconds(): number[] {
    return this.hosts.map((h) => (this.last.get(h)?.sample.cpuMs ?? 0) / 1000);
  }

  report(): HostReport[] {
    return this.hosts.map((h) => {
      const l = this.last.get(h);
      return {
        pid: h.pid,
        machines: h.machineIds.length,
        startMs: h.startMs,
        peakRssMiB: round((this.peak.get(h) ?? 0) / MiB),
        lastRssMiB: round((l?.sample.rss ?? 0) / MiB),
        cpuSeconds: round((l?.sample.cpuMs ?? 0) / 1000),
        ...(l ? { stats: l.stats } : {}),
        logKinds: Object.fromEntries([...h.logKinds].sort((a, b) => b[1] - a[1])),
      };
    });
  }
}
