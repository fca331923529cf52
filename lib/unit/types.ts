/** The unit model shared by fleetd, fleetctl and cloud-config. */

/** One `Name=Value` assignment, in file order. Repeated keys stay repeated; an empty value is kept. */
export interface UnitOption {
  readonly section: string;
  readonly name: string;
  readonly value: string;
}

/** A parsed systemd unit file: its options in file order (sections in first-seen order when serialized). */
export interface UnitFile {
  readonly options: readonly UnitOption[];
}

/** fleet's target states of a unit. */
export type DesiredState = 'inactive' | 'loaded' | 'launched';
export const DESIRED_STATES: readonly DesiredState[] = ['inactive', 'loaded', 'launched'];

/** The [X-Fleet] scheduling requirements of one unit, specifiers already expanded. */
export interface Requirements {
  /** Full machine id or its 8-character prefix. */
  readonly machineId?: string;
  /** Units that must already be scheduled on the same machine. */
  readonly machineOf: readonly string[];
  /** key -> allowed values: OR within a key, AND across keys. */
  readonly metadata: Readonly<Record<string, readonly string[]>>;
  /** Globs (Go path.Match syntax) of unit names that may not share a machine with this unit. */
  readonly conflicts: readonly string[];
  /** Globs of unit names this unit takes the machine from. */
  readonly replaces: readonly string[];
  readonly global: boolean;
  /**
   * Ours (`StopOnDisconnect=true`): the agent stops the unit when its machine loses its etcd registration, so
   * that it does not keep running next to the copy the engine starts elsewhere. Absent when false.
   */
  readonly stopOnDisconnect?: boolean;
}

export const NO_REQUIREMENTS: Requirements = {
  machineOf: [],
  metadata: {},
  conflicts: [],
  replaces: [],
  global: false,
};
