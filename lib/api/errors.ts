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
