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
