#!/usr/bin/env node
/** fleetctl entry point: any error becomes one line on stderr and exit status 1, never a stack trace. */
import { UsageError } from './client/errors.js';
import { processOutput } from './output.js';

function oneLine(err: unknown): string {
  if (err instanceof UsageError) return err.message.startsWith('Unable to initialize client') ? err.message : `Error: ${err.message}`;
  const msg = err instanceof Error ? err.message : String(err);
  return `Error: ${msg.split('\n')[0]}`;
}

const out = processOutput();
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

try {
  const { runCli } = await import('./cli.js');
  process.exitCode = await runCli({ argv: process.argv.slice(2), env: process.env, out });
} catch (err) {
  out.err(oneLine(err));
  process.exitCode = 1;
}
