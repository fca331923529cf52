import { FleetError } from '../lib/errors.js';

/** A command failure carrying fleet's message text; the command prints it with its own prefix. */
export class FleetctlError extends FleetError {
  override readonly name = 'FleetctlError';
}
