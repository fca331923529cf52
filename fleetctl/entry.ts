/**
 * fleetctl as a function: arguments, environment and output in, exit status out, never a throw. main.ts wraps it
 * in the process (stdout failures, the exit status); tests run it inside their own process (test/fleetctl/
 * helpers.ts), which spares them a Node start-up per command. Any error becomes one line on stderr and status 1,
 * never a stack trace. The version and root help are answered before the CLI (yargs, every command) is imported
 * (fast-path.ts); the list commands over the API driver run without yargs and without other commands
 * (quick-list.ts).
 */
import { UsageError, errorMessage } from '../lib/errors.js';
import type { Clock, LocalFiles } from './context.js';
import { fastPath } from './fast-path.js';
import type { Output } from './output.js';

export interface FleetctlIO {
  /** Arguments after the program name. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly out: Output;
  /** Where unit files are read (default: the process's working directory). */
  readonly files?: LocalFiles;
  readonly clock?: Clock;
}

function oneLine(err: unknown): string {
  if (err instanceof UsageError) return err.message.startsWith('Unable to initialize client') ? err.message : `Error: ${err.message}`;
  const msg = errorMessage(err);
  return `Error: ${msg.split('\n')[0]}`;
}

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
    if (listed !== undefined) return listed;
    return await (await import('./cli.js')).runCli({
      argv,
      env,
      out,
      ...(io.files ? { files: io.files } : {}),
      ...(io.clock ? { clock: io.clock } : {}),
    });
  } catch (err) {
    out.err(oneLine(err));
    return 1;
  }
}
