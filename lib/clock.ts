/**
 * Time as an injected dependency. The agent, the engine and their reconcile loop (lib/reconcile.ts) read the time
 * and arm timers only through a Clock, so tests drive them with a ManualClock: time moves only when the test says
 * so, and due timers fire in order, deterministically, without waiting.
 */
import { FleetError } from './errors.js';

export class ClockError extends FleetError {
  override readonly name = 'ClockError';
}

/** An armed timer; cancel() is a no-op once it fired (one-shot) or was cancelled. */
export interface Timer {
  cancel(): void;
}

export interface TimerOptions {
  /** the timer does not keep the process alive (Node's unref()) */
  readonly unref?: boolean;
}

export interface Clock {
  /** ms since the epoch */
  now(): number;
  /** calls `fn` once, `ms` from now */
  after(ms: number, fn: () => void, opts?: TimerOptions): Timer;
  /** calls `fn` every `ms` until cancelled */
  every(ms: number, fn: () => void, opts?: TimerOptions): Timer;
}

/** A promise that resolves `ms` from now on `clock`. */
export function sleep(clock: Clock, ms: number, opts?: TimerOptions): Promise<void> {
  return new Promise((resolve) => {
    clock.after(ms, resolve, opts);
  });
}

/** The real time: Date.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn, opts) {
    const t = setTimeout(fn, ms);
    if (opts?.unref) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn, opts) {
    const t = setInterval(fn, ms);
    if (opts?.unref) t.unref();
    return { cancel: () => clearInterval(t) };
  },
};

interface ManualTimer {
  readonly seq: number;
  due: number;
  readonly periodMs: number | undefined;
  readonly fn: () => void;
}

/**
 * A clock for tests: now() stays put until advance(). advance(ms) fires every timer due within the next `ms` in
 * due order (ties in arming order), with now() set to each timer's due time while it runs; timers armed by a
 * firing timer fire too when they fall due within the same advance. Between two firings it lets pending promise
 * callbacks and immediates run, so async work a timer started gets to its next await.
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Set<ManualTimer>();

  constructor(startMs = 1_000_000) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): Timer {
    return this.arm(ms, fn, undefined);
  }

  every(ms: number, fn: () => void): Timer {
    if (!(ms > 0)) throw new ClockError(`interval must be positive, not ${ms}`);
    return this.arm(ms, fn, ms);
  }

  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.size;
  }

  /** When the next timer falls due, or undefined when none is armed. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const t of this.timers) if (next === undefined || t.due < next) next = t.due;
    return next;
  }

  /** Moves time forward by `ms`, firing the timers that fall due on the way (see the class comment). */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new ClockError(`cannot move time by ${ms} ms`);
    const end = this.time + ms;
    await settle();
    for (;;) {
      const t = this.nextTimer(end);
      if (!t) break;
      this.time = Math.max(this.time, t.due);
      if (t.periodMs === undefined) this.timers.delete(t);
      else t.due += t.periodMs;
      t.fn();
      await settle();
    }
    this.time = end;
  }

  private nextTimer(end: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private arm(ms: number, fn: () => void, periodMs: number | undefined): Timer {
    const t: ManualTimer = { seq: this.seq++, due: this.time + Math.max(0, ms), periodMs, fn };
    this.timers.add(t);
    return {
      cancel: () => {
        this.timers.delete(t);
      },
    };
  }
}

/** Lets queued promise callbacks and immediates run (a few rounds: async work often awaits more than once). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
