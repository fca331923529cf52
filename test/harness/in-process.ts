/**
 * Runs a command's injectable entry (cloud-config's runCli, fleetd's readStartup, ...) inside the test process and
 * returns what test/harness/run.ts's runNode returns for a child: exit code, stdout, stderr, elapsed time. A child
 * process costs a third of a second of CPU before the first line of the command runs; the corpora run hundreds of
 * cases, so they use this and keep a few real child runs for what only the process wrapper (main.ts) does.
 *
 * An entry that throws is reported like an internal error with its stack on stderr and code 70, so a test that
 * expects a clean refusal (no stack trace, exit 1) fails on it, as it would on the child's output.
 */
import { Readable } from 'node:stream';
import type { Run } from './run.js';

/** Where the entry writes; what it wrote comes back in the Run. */
export interface CapturedOutput {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** `entry(out)` with stdout and stderr captured; resolves once the entry's promise settles. */
export async function runInProcess(entry: (out: CapturedOutput) => Promise<number> | number): Promise<Run> {
  const t0 = Date.now();
  let stdout = '';
  let stderr = '';
  const out: CapturedOutput = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  };
  let code: number;
  try {
    code = await entry(out);
  } catch (err) {
    stderr += `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`;
    code = 70;
  }
  return { code, signal: null, stdout, stderr, ms: Date.now() - t0 };
}

/** A stream that yields `input` once, as a child's stdin would (empty without input). */
export function stdinOf(input: string | Buffer | undefined): Readable {
  return Readable.from(input === undefined || input.length === 0 ? [] : [typeof input === 'string' ? Buffer.from(input, 'utf8') : input]);
}
