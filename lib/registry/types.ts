import type { DesiredState } from '../unit/types.js';

export type { DesiredState };

/** What an agent is told to do with a unit: never `inactive` (an inactive unit is simply not scheduled). */
export type ScheduledState = Exclude<DesiredState, 'inactive'>;

/** Input of createUnit. `text` must be the canonical serialization `hash` (SHA1 hex) was computed from. */
export interface UnitSpec {
  readonly name: string;
  readonly text: string;
  readonly hash: string;
  readonly desiredState: DesiredState;
  readonly global: boolean;
}

/** A unit as clients see it: its job keys, its text, and the state derived from what machines publish. */
export interface UnitRecord {
  readonly name: string;
  readonly hash: string;
  readonly text: string;
  readonly desiredState: DesiredState;
  readonly global: boolean;
  /** The machine the engine scheduled it to (never set for global units). */
  readonly machineId?: string;
  /**
   * Non-global: `inactive` unless the target machine publishes a state for it, then that state's agentState.
   * Global: the highest agentState any machine publishes (`launched` > `loaded`), else `inactive`.
   */
  readonly currentState: DesiredState;
}

/** The job keys of one unit, as the engine watches them (no text: fetch it with getUnitText(hash)). */
export interface JobRecord {
  readonly name: string;
  readonly hash: string;
  readonly global: boolean;
  readonly desiredState: DesiredState;
  readonly machineId?: string;
  /** Machines whose agent refused these contents (same hash), with the reason. */
  readonly refusedBy?: Readonly<Record<string, string>>;
  /** Machines where these contents (same hash) failed (Reschedule=on-failure), with when and the attempts allowed. */
  readonly failedOn?: Readonly<Record<string, UnitFailureRecord>>;
}

/** One failure of a unit on a machine, as the agent recorded it (keys.jobFailure). */
export interface UnitFailureRecord {
  /** ISO time, the agent's clock. */
  readonly at: string;
  /** RescheduleAttempts of these contents. */
  readonly attempts: number;
}

/** A failure to record: the unit's contents failed on the recording machine. */
export interface UnitFailure extends UnitFailureRecord {
  readonly name: string;
  readonly hash: string;
}

/** An agent's refusal to run a unit's contents on its machine. */
export interface UnitRefusal {
  readonly name: string;
  readonly hash: string;
  readonly reason: string;
}

/** One entry of a machine's schedule: what its agent must run. */
export interface ScheduleEntry {
  readonly name: string;
  readonly hash: string;
  readonly desiredState: ScheduledState;
  /**
   * Set by setDesiredState(launched) of a unit already launched (keys.scheduleStart): a new value asks the agent
   * to start the unit again, resetting a failed state.
   */
  readonly startRequest?: string;
}

export interface MachineScheduleEntry extends ScheduleEntry {
  readonly machineId: string;
}

/** A Global=true unit as agents watch it; each agent checks the unit's requirements itself. */
export interface GlobalUnitEntry {
  readonly name: string;
  readonly hash: string;
  readonly desiredState: DesiredState;
  /** As ScheduleEntry.startRequest, for every machine running the unit (keys.globalStart). */
  readonly startRequest?: string;
  /** Pending rolling-restart tokens by machine id (keys.globalRestart); absent when none is pending. */
  readonly restartRequests?: Readonly<Record<string, string>>;
  /**
   * Rolling update: machines that run another hash than `hash` (keys.globalMachine), by machine id; absent when
   * none. The agent of such a machine runs that text, with the same desired state.
   */
  readonly machineHashes?: Readonly<Record<string, string>>;
}

/** What a fleetd publishes about its machine. */
export interface MachineState {
  readonly id: string;
  readonly publicIP: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly version: string;
  readonly disableEngine: boolean;
  /**
   * Identifies one fleetd installation on one host across restarts (a token kept in its runtime dir). A new
   * registration with the same id and instance takes over the record of its previous incarnation at once
   * instead of waiting for its lease to expire; any other live record with the same id is a duplicate.
   */
  readonly instance?: string;
}

/**
 * A live machine as readers see it: `metadata` is the published metadata merged with the API overrides
 * (an override of "" removes the key).
 */
export type MachineRecord = MachineState;

/** What a unit looks like on one machine, published by that machine's agent. */
export interface UnitState {
  readonly name: string;
  readonly machineId: string;
  readonly hash: string;
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  /** What the agent did with it: loaded into systemd, or also started. */
  readonly agentState: ScheduledState;
  /** Set (only in listings) when the machine's agent refused the unit: why. loadState is then "refused". */
  readonly refusal?: string;
  /** Set (only in listings) for a unit with Reschedule=on-failure that failed somewhere (same contents). */
  readonly reschedule?: RescheduleStatus;
}

/** What Reschedule=on-failure did with a unit, as list-units and status show it. */
export interface RescheduleStatus {
  /** It failed on as many machines as it may move, plus one: it stays failed where it is. */
  readonly gaveUp: boolean;
  readonly reason: string;
}

/**
 * Proof of engine leadership: the leader's election key and its create revision. A schedule write succeeds
 * only while that key still exists with that create revision.
 */
export interface Fence {
  readonly key: string;
  readonly createRevision: string;
}

/** What the engine leader key says: who leads, and since when its term began (ISO 8601). */
export interface LeaderRecord {
  readonly machineId: string;
  readonly since: string;
}

export type ScheduleOp =
  | {
      readonly type: 'place';
      readonly name: string;
      readonly machineId: string;
      readonly hash: string;
      readonly desiredState: ScheduledState;
    }
  | { readonly type: 'unschedule'; readonly name: string; readonly machineId: string }
  | {
      readonly type: 'move';
      readonly name: string;
      readonly from: string;
      readonly to: string;
      readonly hash: string;
      readonly desiredState: ScheduledState;
    }
  | {
      readonly type: 'sync';
      readonly name: string;
      readonly machineId: string;
      readonly hash: string;
      readonly desiredState: ScheduledState;
    };

export interface ScheduleOpResult {
  readonly op: ScheduleOp;
  /** False when its preconditions no longer held (the unit changed, was placed or moved meanwhile...). */
  readonly applied: boolean;
}

/** Why a watch callback runs. `resync`: the watch was re-listed (compaction, lost history). */
export type WatchReason = 'initial' | 'update' | 'resync';

export interface WatchInfo {
  readonly reason: WatchReason;
  /** etcd revision the snapshot reflects. */
  readonly revision: string;
}

/**
 * Receives the whole current map (live: copy what you keep past the callback) and the ids that were added,
 * changed or removed since the previous call (on `initial`, every id present). Calls never overlap: a returned
 * promise is awaited before the next call.
 */
export type ChangeListener<V> = (
  snapshot: ReadonlyMap<string, V>,
  changed: ReadonlySet<string>,
  info: WatchInfo,
) => void | Promise<void>;

export interface WatchHandle {
  /** Last etcd revision delivered to the listener. */
  readonly revision: string;
  close(): Promise<void>;
}
