import { FleetError } from '../errors.js';

/** systemd answered a call with a D-Bus error (unit not found, bad unit file, access denied, ...). */
export class SystemdError extends FleetError {
  override readonly name: string = 'SystemdError';
  constructor(
    message: string,
    /** the D-Bus error name, e.g. org.freedesktop.systemd1.NoSuchUnit */
    readonly dbusName: string,
    /** the manager method that failed, e.g. StartUnit */
    readonly method: string,
    /** the unit (or unit files) the call was about, if any */
    readonly unit?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** systemd's answer for a unit it has no file for and has not loaded. */
export const NO_SUCH_UNIT = 'org.freedesktop.systemd1.NoSuchUnit';

/** Whether systemd refused a call because it knows no such unit. */
export function isNoSuchUnit(err: unknown): boolean {
  return err instanceof SystemdError && err.dbusName === NO_SUCH_UNIT;
}

/** The bus could not be reached, the connection dropped, or a call/job took too long. */
export class SystemdConnectionError extends FleetError {
  override readonly name: string = 'SystemdConnectionError';
  constructor(
    message: string,
    readonly busAddress: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A waited-for job did not finish in time. */
export class JobTimeoutError extends FleetError {
  override readonly name: string = 'JobTimeoutError';
  constructor(
    message: string,
    readonly job: string,
    readonly unit: string,
  ) {
    super(message);
  }
}
