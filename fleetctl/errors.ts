import { errorMessage, FleetError, UsageError } from '../lib/errors.js';

/** A command failure carrying fleet's message text; the command prints it with its own prefix. */
export class FleetctlError extends FleetError {
  override readonly name = 'FleetctlError';
}

/**
 * A command ends early with exit status `code`, having printed what it had to say. Shared steps (finding the named
 * units, creating them, reporting a failure) throw it instead of returning a number beside their result; the
 * command runner in cli.ts turns it into the exit status.
 */
export class CommandExit extends FleetError {
  override readonly name = 'CommandExit';

  constructor(readonly code: number) {
    super(`fleetctl command ended with exit status ${code}`);
  }
}

/** The one stderr line for an error that ended fleetctl (entry.ts, and full.ts for the full CLI's errors). */
export function oneLine(err: unknown): string {
  if (err instanceof UsageError) return err.message.startsWith('Unable to initialize client') ? err.message : `Error: ${err.message}`;
  const msg = errorMessage(err);
  return `Error: ${msg.split('\n')[0]}`;
}
