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

/** Where a rolling-restart request of a global unit on one machine stands (lib/registry/restart.ts stores it). */
export const RESTART_STATUSES = ['pending', 'done', 'failed'] as const;
export type RestartStatus = (typeof RESTART_STATUSES)[number];

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
  /**
   * Ours (`Reschedule=on-failure`): when systemd reports the unit failed on its machine, the engine moves it to
   * another machine that fits, at most `attempts` times, waiting `delaySec` (doubling per move) first.
   * Absent when off (fleet's behaviour). docs/fleet-compat.md#reschedule-on-failure-ours.
   */
  readonly reschedule?: ReschedulePolicy;
}

/** `[X-Fleet] Reschedule=on-failure` with `RescheduleAttempts=` and `RescheduleDelaySec=` (lib/unit/requirements.ts). */
export interface ReschedulePolicy {
  /** How many times the unit is moved after failures (1..RESCHEDULE_MAX_ATTEMPTS). */
  readonly attempts: number;
  /** Seconds to wait after the first failure before moving; doubled for each later move, capped. */
  readonly delaySec: number;
}

export const NO_REQUIREMENTS: Requirements = {
  machineOf: [],
  metadata: {},
  conflicts: [],
  replaces: [],
  global: false,
};
