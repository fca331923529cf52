/** What every benchmark gets and gives back. */
import type { Teardown } from './teardown.js';

export interface BenchContext {
  readonly quick: boolean;
  readonly teardown: Teardown;
  /** progress lines on stderr */
  log(msg: string): void;
}

export interface Benchmark {
  readonly name: string;
  readonly summary: string;
  /** part of `npm run bench` without names */
  readonly byDefault: boolean;
  /** what it measures, JSON-serialisable; `figures` holds the headline numbers; `skipped` (a reason) writes nothing */
  run(ctx: BenchContext): Promise<Record<string, unknown>>;
}
