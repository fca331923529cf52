/**
 * What fleetctl does for one invocation: runFleetctl takes arguments, environment and output and resolves with the
 * exit status, never a throw; main() runs it for the process (main.cts). Any error becomes one line on stderr and
 * exit status 1, never a stack trace. Output that cannot be written ends fleetctl at once: status 1 and one line on
 * stderr (a full disk, an I/O error), or, when the reader of a stdout pipe went away, silently with 141 as a program
 * killed by SIGPIPE would. The version and root help are answered before the CLI (yargs, every command) is
 * imported: fast-path.ts; the list commands over the API driver are run without yargs and without other commands:
 * quick-list.ts. Everything else goes to the full CLI through full.ts.
 * This module and what it loads (never full.ts's CLI) are bundled into dist/fleetctl/quick.cjs by
 * scripts/bundle.mjs (issue 13: one file read and compiled instead of about 25 ES modules), and full.ts with what
 * it loads into dist/fleetctl/full.cjs, which quick.cjs requires in place of the import of full.js below. Tests run runFleetctl
 * inside their own process (test/fleetctl/helpers.ts), which spares them a Node start-up per command.
 */
import type { FleetctlIO } from './context.js';
import { oneLine } from './errors.js';
import { fastPath } from './fast-path.js';
import { describeWriteError, EXIT_BROKEN_PIPE, processOutput, type Output } from './output.js';

/** Runs one fleetctl command line; resolves with its exit status. */
export async function runFleetctl(io: FleetctlIO): Promise<number> {
  const { argv, env, out } = io;
  try {
    const quick = await fastPath(argv, env);
    if (quick !== undefined) {
      out.write(quick);
      return 0;
    }
    const listed = await (await import('./quick-list.js')).quickList(argv, env, out);
    // full.ts catches and prints its own errors: in the bundle its error classes are not this module's.
    if (listed !== undefined) return listed;
    return await (await import('./full.js')).runFull(io);
  } catch (err) {
    out.err(oneLine(err));
    return 1;
  }
}

/** Runs fleetctl with process.argv and process.env; sets process.exitCode. */
export async function main(): Promise<void> {
  const out: Output = processOutput((err) => {
    if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
    out.err(`Error: ${describeWriteError(err)}`);
    process.exit(1);
  });
  process.exitCode = await runFleetctl({ argv: process.argv.slice(2), env: process.env, out });
}
