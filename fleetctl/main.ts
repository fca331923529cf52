#!/usr/bin/env node
/**
 * fleetctl's process: runs the command line (entry.ts) with the process's stdout and stderr and sets the exit
 * status. Output that cannot be written ends fleetctl at once: status 1 and one line on stderr (a full disk, an
 * I/O error), or, when the reader of a stdout pipe went away, silently with 141 as a program killed by SIGPIPE
 * would.
 */
import { runFleetctl } from './entry.js';
import { describeWriteError, EXIT_BROKEN_PIPE, processOutput } from './output.js';

const out = processOutput((err) => {
  if (err.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
  out.err(`Error: ${describeWriteError(err)}`);
  process.exit(1);
});

process.exitCode = await runFleetctl({ argv: process.argv.slice(2), env: process.env, out });
