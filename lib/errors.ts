/** Base of every error a user can act on: the message says what is wrong and where. */
export class FleetError extends Error {
  override readonly name: string = 'FleetError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad command-line flags or arguments (fleetctl, coreos-cloudinit): printed as one line, exit 1. */
export class UsageError extends FleetError {
  override readonly name: string = 'UsageError';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
