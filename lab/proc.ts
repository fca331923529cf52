/**
 * Long-running processes fleet-lab starts (etcd, dockerd, systemd-nspawn) and stops again.
 * A process is known by pid plus kernel start time, so a recycled pid is never signalled.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync } from 'node:fs';

export interface ProcRecord {
  readonly pid: number;
  /** field 22 of /proc/<pid>/stat (clock ticks since boot); 0 if the process was already gone */
  readonly start: number;
}

export interface SpawnOptions {
  /** stdout and stderr are appended here */
  readonly log: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Start a process in its own session, stdin from /dev/null, output to a log file; it outlives us. */
export function spawnDetached(cmd: string, args: readonly string[], opts: SpawnOptions): ProcRecord {
  const fd = openSync(opts.log, 'a');
  try {
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) return { pid: 0, start: 0 };
    return { pid: child.pid, start: startTime(child.pid) ?? 0 };
  } finally {
    closeSync(fd);
  }
}

function readStat(pid: number): { state: string; start: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 22 (starttime) is fields[19]
  return { state: fields[0] ?? '', start: Number(fields[19]) };
}

export function startTime(pid: number): number | undefined {
  return readStat(pid)?.start;
}

/** The recorded process still runs (not a zombie, same start time). */
export function isAlive(rec: ProcRecord | undefined): rec is ProcRecord {
  if (!rec || rec.pid <= 0) return false;
  const st = readStat(rec.pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return rec.start === 0 || st.start === rec.start;
}

export function record(pid: number): ProcRecord | undefined {
  const start = startTime(pid);
  return start === undefined ? undefined : { pid, start };
}

export function signal(rec: ProcRecord, sig: NodeJS.Signals | number): boolean {
  if (!isAlive(rec)) return false;
  try {
    process.kill(rec.pid, sig);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitGone(rec: ProcRecord, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(rec)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Send `sig`, wait up to `graceMs`, then SIGKILL and wait again. Resolves when the process is gone. */
export async function stopProcess(
  rec: ProcRecord | undefined,
  sig: NodeJS.Signals | number = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (!isAlive(rec)) return;
  signal(rec, sig);
  if (await waitGone(rec, graceMs)) return;
  signal(rec, 'SIGKILL');
  await waitGone(rec, 10_000);
}

/** Direct children of a process (all threads). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // thread ended
    }
  }
  return out;
}

/** The pid as seen from the innermost pid namespace (last NSpid entry), and the nesting depth. */
export function nsPid(pid: number): { inner: number; depth: number } | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('NSpid:'));
    if (!line) return undefined;
    const ids = line.slice(6).trim().split(/\s+/).map(Number);
    return { inner: ids[ids.length - 1]!, depth: ids.length };
  } catch {
    return undefined;
  }
}
