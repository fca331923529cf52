/** Errors of the unit model: a malformed unit file, an invalid unit name, contradictory [X-Fleet] options. */
import { FleetError } from '../errors.js';

/** A unit file that cannot be parsed or serialized. `line` is 1-based, undefined when no line applies. */
export class UnitFileError extends FleetError {
  override readonly name: string = 'UnitFileError';
  readonly source: string;
  readonly line: number | undefined;
  /** The message without the `source:line: ` prefix. */
  readonly reason: string;

  constructor(reason: string, where: { source: string; line?: number }) {
    super(where.line === undefined ? `${where.source}: ${reason}` : `${where.source}:${where.line}: ${reason}`);
    this.source = where.source;
    this.line = where.line;
    this.reason = reason;
  }
}

/** The rule of unit naming that a name breaks. */
export type UnitNameRule =
  | 'empty'
  | 'nul'
  | 'path-separator'
  | 'path-element'
  | 'too-long'
  | 'invalid-character'
  | 'leading-at'
  | 'leading-dot'
  | 'no-suffix'
  | 'unknown-type'
  | 'template-type'
  | 'not-an-instance'
  /** valid, but a unit fleet must never manage (names.ts unmanageableReason) */
  | 'reserved';

export class UnitNameError extends FleetError {
  override readonly name: string = 'UnitNameError';

  constructor(
    readonly unitName: string,
    readonly rule: UnitNameRule,
    reason: string,
  ) {
    super(`invalid unit name ${JSON.stringify(unitName)}: ${reason}`);
  }
}

/**
 * A valid unit name that fleet refuses to manage: it belongs to fleet itself, to systemd or D-Bus, or is of a type
 * an agent cannot own (lib/unit/names.ts unmanageableReason).
 */
export class ReservedUnitNameError extends UnitNameError {
  override readonly name: string = 'ReservedUnitNameError';

  /** `via`: the [Install] option of `unitName` that names the reserved unit `target`. */
  constructor(unitName: string, readonly reason: string, readonly via?: { readonly option: string; readonly target: string }) {
    super(unitName, 'reserved', reason);
    this.message = via === undefined
      ? `unit name ${JSON.stringify(unitName)} is reserved: ${reason}`
      : `unit ${JSON.stringify(unitName)}: [Install] ${via.option}=${via.target} names a unit fleet must not manage: ${reason}`;
  }
}

/** The [X-Fleet] combination a unit breaks (fleet refuses such units at submission). */
export type RequirementsRule =
  | 'MachineID+MachineOf'
  | 'MachineID+Conflicts'
  | 'MachineID+Global'
  | 'MachineID+Replaces'
  | 'Global+MachineOf'
  | 'Global+Replaces'
  | 'Conflicts+Replaces'
  | 'MachineOf-matches-Conflicts'
  | 'MachineOf-matches-Replaces'
  | 'too-many-values'
  | 'value-too-long'
  | 'too-many-requirements'
  | 'bad-reschedule';

export class RequirementsError extends FleetError {
  override readonly name: string = 'RequirementsError';

  constructor(
    readonly unitName: string,
    readonly rule: RequirementsRule,
    reason: string,
  ) {
    super(`${unitName}: [X-Fleet] ${reason}`);
  }
}

/** A string that is not a unit hash (40 lowercase hex digits, or fleet's 20 byte values). */
export class UnitHashError extends FleetError {
  override readonly name: string = 'UnitHashError';
}
