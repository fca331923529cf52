/** Where a figure was measured: the machine, the versions, the load, the commit, the date. */
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ETCD_BIN } from '../test/harness/etcd.js';

export interface BenchEnvironment {
  readonly date: string;
  readonly host: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly os: string;
  readonly node: string;
  readonly etcd: string;
  readonly commit: string;
  /** 1/5/15-minute load average when the benchmark started (the box is shared) */
  readonly loadAverage: readonly number[];
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export function environment(): BenchEnvironment {
  const etcd = /etcd Version: (\S+)/.exec(tryRun(ETCD_BIN, ['--version']))?.[1] ?? 'unknown';
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: os.release(),
    os: osName(),
    node: process.version,
    etcd,
    commit: tryRun('git', ['-C', new URL('../..', import.meta.url).pathname, 'rev-parse', '--short', 'HEAD']),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
