import { FleetError } from '../lib/errors.js';

/** A benchmark cannot go on: what did not happen, where, within what time. */
export class BenchError extends FleetError {
  override readonly name = 'BenchError';
}
