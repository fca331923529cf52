/**
 * Runs `fn` on every item, at most `limit` at a time, in item order. Waits for all; then rejects with the first
 * failure, if any.
 */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw firstError;
}

/**
 * A fixed number of units (bytes, processes, streams) shared by concurrent users: `take` succeeds only while the
 * total stays within `limit`, and never waits, so callers can refuse work at once instead of queueing it.
 */
export class Slots {
  private held = 0;
  constructor(readonly limit: number) {}

  get used(): number {
    return this.held;
  }

  take(n = 1): boolean {
    if (this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  give(n = 1): void {
    this.held = Math.max(0, this.held - n);
  }
}

/**
 * Runs `fn` on every item, at most `limit` at a time, started in item order (each call begins before the next
 * item's), and hands each outcome to `consume` in item order. When `consume` throws, no further item is started;
 * the calls under way are waited for, then the error propagates. With limit 1 this is a plain loop: an item is
 * consumed before the next one starts.
 */
export async function inOrderLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  consume: (outcome: PromiseSettledResult<R>, item: T, index: number) => void | Promise<void>,
): Promise<void> {
  if (limit <= 1) {
    for (let i = 0; i < items.length; i++) {
      const outcome = await fn(items[i]!, i).then(
        (value): PromiseSettledResult<R> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<R> => ({ status: 'rejected', reason }),
      );
      await consume(outcome, items[i]!, i);
    }
    return;
  }
  const outcomes = items.map(() => {
    let resolve!: (r: PromiseSettledResult<R>) => void;
    const settled = new Promise<PromiseSettledResult<R>>((r) => (resolve = r));
    return { settled, resolve };
  });
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && next < items.length) {
      const i = next++;
      try {
        outcomes[i]!.resolve({ status: 'fulfilled', value: await fn(items[i]!, i) });
      } catch (reason) {
        outcomes[i]!.resolve({ status: 'rejected', reason });
      }
    }
  };
  const workers = Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  try {
    for (let i = 0; i < items.length; i++) await consume(await outcomes[i]!.settled, items[i]!, i);
  } finally {
    stopped = true;
    await workers;
  }
}

