/**
 * Waiting in tests, in one place: `sleep`, and `waitFor`, which polls a probe until it returns a value.
 * Area helpers (test/engine, test/registry, test/fleetd lab helpers, test/examples) re-export or wrap these with
 * the poll interval and timeout that suit what they poll (an in-process check, etcd, a lab machine).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage } from '../../lib/errors.js';

export const sleep = (ms: number): Promise<void> => delay(ms);

export interface WaitOptions {
  /** give up after this long; default 15 s */
  readonly timeoutMs?: number;
  /** pause between probes; default 20 ms */
  readonly intervalMs?: number;
  /** a probe that throws counts as "not yet" (the last error is quoted on timeout); default: it fails the wait */
  readonly retryErrors?: boolean;
}

/**
 * Polls `probe` until it returns something other than undefined or false, and returns that. On timeout the error
 * names `what` was awaited. A number as third argument is the timeout.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: number | WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 15_000, intervalMs = 20, retryErrors = false } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${errorMessage(lastError)})` : ''}`);
    }
    await sleep(intervalMs);
  }
}
