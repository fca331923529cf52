/**
 * The benchmark's handle on a hollow host process: spawn it, start its fleet, sample it, stop or SIGKILL it.
 * Every host spawned is tracked and SIGKILLed if the benchmark exits without stopping it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { FleetError } from '../../lib/errors.js';
import type { HollowFleetSpec, HollowFleetStats } from './fleet.js';
import type { FromHost, ProcessSample, ToHost } from './protocol.js';

export class HollowHostError extends FleetError {
  override readonly name = 'HollowHostError';
}

const HOST_SCRIPT = fileURLToPath(new URL('./host.js', import.meta.url));
const live = new Set<ChildProcess>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of live) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
}

export interface HostEvents {
  leading: [string, number];
  'stepped-down': [string, number, string];
  exit: [number | null, NodeJS.Signals | null];
}

export class HollowHost extends EventEmitter<HostEvents> {
  machineIds: string[] = [];
  startMs = 0;
  private seq = 0;
  private readonly pending = new Map<number, (r: { stats: HollowFleetStats; sample: ProcessSample } | undefined) => void>();
  private exited: Promise<void>;
  private lastError = '';
  /** log lines of the host by kind (level, component, message, error with ids and numbers blanked) */
  readonly logKinds = new Map<string, number>();

  private constructor(private readonly child: ChildProcess) {
    super();
    live.add(child);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        live.delete(child);
        for (const r of this.pending.values()) r(undefined);
        this.pending.clear();
        this.emit('exit', code, signal);
        resolve();
      }),
    );
    child.on('message', (raw: unknown) => {
      const msg = raw as FromHost;
      if (msg.type === 'stats') {
        this.pending.get(msg.seq)?.({ stats: msg.stats, sample: msg.sample });
        this.pending.delete(msg.seq);
      } else if (msg.type === 'leading') this.emit('leading', msg.machineId, msg.at);
      else if (msg.type === 'stepped-down') this.emit('stepped-down', msg.machineId, msg.at, msg.reason);
    });
    let partial = '';
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      this.lastError = (this.lastError + text).slice(-4000);
      if (process.env.BENCH_HOST_STDERR === '1') process.stderr.write(d);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.tally(line);
    });
  }

  private tally(line: string): void {
    if (line.trim() === '') return;
    let kind: string;
    try {
      const rec = JSON.parse(line) as { level?: string; component?: string; msg?: string; err?: unknown };
      const err = typeof rec.err === 'string' ? ` (${blank(rec.err).slice(0, 160)})` : '';
      kind = `${rec.level ?? '?'} ${rec.component ?? '?'}: ${rec.msg ?? ''}${err}`;
    } catch {
      kind = `stderr: ${blank(line).slice(0, 160)}`;
    }
    if (this.logKinds.size < 200 || this.logKinds.has(kind)) this.logKinds.set(kind, (this.logKinds.get(kind) ?? 0) + 1);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Forks a host, starts the fleet in it and resolves once every machine registered and runs its agent. */
  static async spawn(spec: HollowFleetSpec, opts: { execArgv?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<HollowHost> {
    installExitHook();
    const child = fork(HOST_SCRIPT, [], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      execArgv: opts.execArgv ?? [],
      env: opts.env ?? process.env,
      serialization: 'advanced',
    });
    const host = new HollowHost(child);
    try {
      await host.startFleet(spec, opts.timeoutMs ?? 600_000);
    } catch (err) {
      host.kill();
      await host.exited;
      throw err;
    }
    return host;
  }

  private startFleet(spec: HollowFleetSpec, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new HollowHostError(`hollow host did not start ${spec.machines} machines within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (raw: unknown): void => {
        const msg = raw as FromHost;
        if (msg.type === 'ready') {
          this.machineIds = msg.machineIds;
          this.startMs = msg.ms;
          done();
          resolve();
        } else if (msg.type === 'failed') {
          done();
          reject(new HollowHostError(`hollow host failed to start: ${msg.error}`));
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        done();
        reject(new HollowHostError(`hollow host exited (${code ?? signal}) while starting: ${this.lastError.slice(-1000)}`));
      };
      const done = (): void => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.on('exit', onExit);
      this.send({ type: 'start', spec });
    });
  }

  private send(msg: ToHost): void {
    if (this.child.connected) this.child.send(msg);
  }

  /** The host's fleet counters and its process's RSS/CPU; undefined if the host is gone. */
  async stats(timeoutMs = 30_000): Promise<{ stats: HollowFleetStats; sample: ProcessSample } | undefined> {
    if (!this.alive) return undefined;
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(seq, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.send({ type: 'stats', seq });
    });
  }

  /** Clean stop (machines leave, leases revoked); SIGKILL if it takes longer than `timeoutMs`. */
  async stop(timeoutMs = 60_000): Promise<void> {
    if (!this.alive) return;
    this.send({ type: 'stop' });
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL: the machines' leases and the engine's leadership are left to expire. */
  kill(): void {
    if (this.alive && this.child.pid) process.kill(this.child.pid, 'SIGKILL');
  }

  waitExit(): Promise<void> {
    return this.exited;
  }

  get stderrTail(): string {
    return this.lastError;
  }
}

/** An error message with unit names, hashes and numbers blanked, so that messages of one kind tally together. */
function blank(s: string): string {
  return s
    .replace(/[0-9a-f]{40}/g, '<hash>')
    .replace(/[\w@.-]+\.(service|socket|timer|path|device|mount|target)\b/g, '<unit>')
    .replace(/\d+(\.\d+)?/g, 'N');
}
