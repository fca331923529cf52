/**
 * The full CLI (cli.ts's runCli) for whatever fast-path.ts and quick-list.ts left to it, with its errors printed
 * here as one line. Bundled on its own, with everything it imports (dist/fleetctl/full.cjs, scripts/bundle.mjs),
 * apart from entry.ts's bundle: the error classes the CLI throws are then the ones oneLine tests against.
 */
import { runCli } from './cli.js';
import type { FleetctlIO } from './context.js';
import { oneLine } from './errors.js';

/** runCli's exit status, or 1 after one line on stderr when it threw. */
export async function runFull(io: FleetctlIO): Promise<number> {
  try {
    return await runCli({
      argv: io.argv,
      env: io.env,
      out: io.out,
      ...(io.files ? { files: io.files } : {}),
      ...(io.clock ? { clock: io.clock } : {}),
    });
  } catch (err) {
    io.out.err(oneLine(err));
    return 1;
  }
}
