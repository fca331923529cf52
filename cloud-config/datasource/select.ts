/**
 * Picks the source to use when several are given, as coreos-cloudinit: every source is asked at once whether
 * it is available, again and again with a capped, doubling interval (a file source only once), and the first
 * to say yes wins. Undefined when none did within the timeout.
 */
import { nextBackoff } from './http.js';
import type { Datasource } from './types.js';

export interface SelectOptions {
  /** give up after this long (coreos-cloudinit: 5 minutes) */
  readonly timeoutMs: number;
  /** first interval between checks of one source (100 ms), doubling up to maxIntervalMs (30 s) */
  readonly intervalMs: number;
  readonly maxIntervalMs: number;
}

export const DEFAULT_SELECT: SelectOptions = { timeoutMs: 5 * 60_000, intervalMs: 100, maxIntervalMs: 30_000 };

export async function selectDatasource(sources: readonly Datasource[], opts: SelectOptions): Promise<Datasource | undefined> {
  const stop = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });
  let winner: Datasource | undefined;
  const poll = async (s: Datasource): Promise<void> => {
    let interval = opts.intervalMs;
    while (!stop.signal.aborted) {
      if (await s.isAvailable(stop.signal)) {
        if (!stop.signal.aborted) {
          winner = s;
          stop.abort();
        }
        return;
      }
      if (!s.availabilityChanges || stop.signal.aborted) return;
      await wait(interval);
      interval = nextBackoff(interval, opts.maxIntervalMs);
    }
  };
  const timeout = wait(opts.timeoutMs).then(() => stop.abort());
  try {
    await Promise.race([Promise.all(sources.map(poll)), timeout, new Promise((resolve) => stop.signal.addEventListener('abort', resolve))]);
  } finally {
    stop.abort();
    for (const t of timers) clearTimeout(t);
  }
  return winner;
}
