/**
 * One reconcile loop, shared by the agent and the engine (as fleet's pkg/reconcile is): trigger() marks the state
 * dirty; passes never overlap; triggers during a pass coalesce into exactly one more pass; a periodic pass is the
 * safety net; a failed pass is retried after a bounded exponential backoff; stop() waits for the pass in flight.
 * Time comes from an injected Clock, so tests drive the loop with a ManualClock.
 */
import type { Clock, Timer } from './clock.js';
import { FleetError } from './errors.js';

export class ReconcileLoopError extends FleetError {
  override readonly name = 'ReconcileLoopError';
}

/** Retry delay after the n-th consecutive failure: firstMs * factor^(n-1), at most maxMs. */
export interface Backoff {
  readonly firstMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

export interface ReconcileLoopOptions {
  readonly clock: Clock;
  /** One pass. It may call failed() to have itself retried; a pass that throws counts as failed. */
  readonly pass: () => Promise<void>;
  /** Period of the safety-net pass, ms. */
  readonly intervalMs: number;
  readonly backoff: Backoff;
  /** Told about a pass that threw (before its retry is armed). */
  readonly onError?: (err: unknown) => void;
  /** Retry and wake timers do not keep the process alive (the periodic timer always does). */
  readonly unrefTimers?: boolean;
}

export function backoffDelay(b: Backoff, failures: number): number {
  return Math.min(b.firstMs * b.factor ** Math.max(0, failures - 1), b.maxMs);
}

export class ReconcileLoop {
  private started = false;
  private isStopped = false;
  private dirty = false;
  private running: Promise<void> | undefined;
  private failedThisPass = false;
  private failureCount = 0;
  private periodic: Timer | undefined;
  private retry: Timer | undefined;
  private readonly wakes = new Map<string, Timer>();

  constructor(private readonly opts: ReconcileLoopOptions) {
    if (!(opts.intervalMs > 0)) throw new ReconcileLoopError(`reconcile interval must be positive, not ${opts.intervalMs}`);
    const b = opts.backoff;
    if (!(b.firstMs > 0) || !(b.factor >= 1) || !(b.maxMs > 0)) {
      throw new ReconcileLoopError(`invalid backoff ${JSON.stringify(b)}: need firstMs > 0, factor >= 1, maxMs > 0`);
    }
  }

  /** Consecutive failed passes (0 after a pass that did not fail). */
  get failures(): number {
    return this.failureCount;
  }

  get stopped(): boolean {
    return this.isStopped;
  }

  /** A pass is running now. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Arms the periodic pass and runs the first pass. Triggers before start() wait for it. */
  start(): void {
    if (this.started || this.isStopped) return;
    this.started = true;
    this.periodic = this.opts.clock.every(this.opts.intervalMs, () => this.trigger());
    this.trigger();
  }

  /** Asks for a pass: now if none runs, else exactly one more after the running one (however many triggers). */
  trigger(): void {
    if (this.isStopped) return;
    this.dirty = true;
    if (!this.started || this.running) return;
    this.running = this.drain();
  }

  /**
   * The current pass failed (or something it did needs another go): count the failure and arm a retry after the
   * backoff, unless one is armed already. The count resets after a pass that neither threw nor called failed().
   */
  failed(): void {
    this.failedThisPass = true;
    this.failureCount++;
    if (this.retry || this.isStopped) return;
    this.retry = this.opts.clock.after(backoffDelay(this.opts.backoff, this.failureCount), () => {
      this.retry = undefined;
      this.trigger();
    }, { unref: this.opts.unrefTimers });
  }

  /** A pass at `atMs` (clock time) for reason `slot`; replaces that slot's earlier wake; undefined cancels it. */
  wakeAt(slot: string, atMs: number | undefined): void {
    this.wakes.get(slot)?.cancel();
    this.wakes.delete(slot);
    if (atMs === undefined || this.isStopped) return;
    const timer = this.opts.clock.after(Math.max(0, atMs - this.opts.clock.now()), () => {
      if (this.wakes.get(slot) === timer) this.wakes.delete(slot);
      this.trigger();
    }, { unref: this.opts.unrefTimers });
    this.wakes.set(slot, timer);
  }

  /** No more passes or timers; resolves once the pass in flight (if any) is done. */
  stop(): Promise<void> {
    this.isStopped = true;
    this.periodic?.cancel();
    this.retry?.cancel();
    this.retry = undefined;
    for (const w of this.wakes.values()) w.cancel();
    this.wakes.clear();
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    try {
      while (this.dirty && !this.isStopped) {
        this.dirty = false;
        this.failedThisPass = false;
        try {
          await this.opts.pass();
        } catch (err) {
          this.opts.onError?.(err);
          this.failed();
        }
        if (!this.failedThisPass) this.failureCount = 0;
      }
    } finally {
      this.running = undefined;
    }
  }
}
