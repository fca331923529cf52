/** The API's typed errors: statuses a handler answers with, and bodies that do not decode (decode.ts). */
import { FleetError } from '../errors.js';

/** An error with the HTTP status and message the API answers with. */
export class ApiError extends FleetError {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** 503: a server-wide bound (buffered bodies, journal streams) is reached; answered with Retry-After. */
export class BusyError extends ApiError {
  constructor(message: string) {
    super(503, message);
  }
}

/** A body that does not have the shape of the API's entities (decode.ts); `field` is where, e.g. `units[2].name`. */
export class ApiDecodeError extends FleetError {
  override readonly name = 'ApiDecodeError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
