/**
 * Everything a benchmark starts registers its stop here; main runs the stack after each benchmark, also when it
 * failed, and on SIGINT/SIGTERM. Implements the harnesses' Teardownable so test/harness helpers plug in.
 */
import { errorMessage } from '../lib/errors.js';

export class Teardown {
  private readonly fns: (() => unknown)[] = [];

  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }

  /** Runs every registered stop, last registered first; errors are reported, not thrown. */
  async run(): Promise<void> {
    while (this.fns.length > 0) {
      const fn = this.fns.pop()!;
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`bench: cleanup step failed: ${errorMessage(err)}\n`);
      }
    }
  }
}
