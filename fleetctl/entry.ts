/**
 * What fleetctl does for one invocation (main.ts runs it): any error becomes one line on stderr and exit status 1,
 * never a stack trace. Output that cannot be written ends fleetctl at once: status 1 and one line on stderr (a full
 * disk, an I/O error), or, when the reader of a stdout pipe went away, silently with 141 as a program killed by
 * SIGPIPE would. The version and root help are answered before the CLI (yargs, every command) is imported:
 * fast-path.ts; the list commands over the API driver are run without yargs and without other commands:
 * quick-list.ts. Everything else goes to the full CLI through full.ts.
 * This module and what it loads (never full.ts's CLI) are bundled into dist/fleetctl/quick.cjs by
 * scripts/bundle.mjs (issue 13: one file read and compiled instead of about 25 ES modules).
 */
import { UsageError, errorMessage } from '../lib/errors.js';
import { fastPath } from './fast-path.js';
import { describeWriteError, EXIT_BROKEN_PIPE, processOutput, type Output } from './output.js';

/** The one stderr line for an error that ended fleetctl. */
export function oneLine(err: unknown): string {
  if (err instanceof UsageError) return err.message.startsWith('Unable to initialize client') ? err.message : `Error: ${err.message}`;
  const msg = errorMessage(err);
  return `Error: ${msg.split('\n')[0]}`;
}

/** Runs fleetctl with process.argv and process.env; sets process.exitCode. */
export async function main(): Promise<void> {
  const out: Output = processOutput((err) => {
    if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    out.err(`Error: ${describeWriteError(err)}`);
    process.exit(1);
  });
  try {
    const argv = process.argv.slice(2);
    const quick = await fastPath(argv, process.env);
    if (quick !== undefined) {
      out.write(quick);
    } else {
      const listed = await (await import('./quick-list.js')).quickList(argv, process.env, out);
      // full.ts catches and prints its own errors: in the bundle its error classes are not this module's.
      if (listed !== undefined) process.exitCode = listed;
      else process.exitCode = await (await import('./full.js')).runFull(argv, process.env, out);
    }
  } catch (err) {
    out.err(oneLine(err));
    process.exitCode = 1;
  }
}
