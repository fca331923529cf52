/** Inputs and outputs of the pure scheduler: plain data, no I/O. */
import type { DesiredState, Requirements } from '../unit/types.js';

/** A submitted unit as the scheduler sees it. Templates never appear; instances are already expanded. */
export interface SchedUnit {
  readonly name: string;
  readonly hash: string;
  readonly desiredState: DesiredState;
  readonly requirements: Requirements;
  /**
   * Machines whose agent refused this unit (same contents), with the agent's reason: e.g. the name is already a
   * unit of that host (fleetd/agent/host-units.ts). The unit is never placed on them and leaves them.
   */
  readonly refusedBy?: Readonly<Record<string, string>>;
  /**
   * Reschedule=on-failure: machines where these contents failed, with when (ms; the agent's record, never later
   * than when the engine saw it). The unit is never placed on them again (lib/schedule/reschedule.ts).
   */
  readonly failedOn?: Readonly<Record<string, number>>;
}

/** A live machine. */
export interface SchedMachine {
  readonly id: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ScheduleOptions {
  /**
   * Machines known to have disappeared, with the time (ms since epoch) they were first seen missing.
   * A machine that is neither live nor listed here counts as lost long ago.
   */
  readonly lostMachines?: Readonly<Record<string, number>>;
  /** Current time in ms since epoch; defaults to Date.now(). */
  readonly now?: number;
  /** How long units stay on a lost machine before they are moved; default 0 (fleet moved them at once). */
  readonly graceMs?: number;
}

export interface ClusterState {
  /** Every submitted unit, global ones included. */
  readonly units: readonly SchedUnit[];
  /** Live machines only. */
  readonly machines: readonly SchedMachine[];
  /** Current placement of non-global units: unit name -> machine id (possibly of a machine that is gone). */
  readonly schedule: Readonly<Record<string, string>>;
  readonly options?: ScheduleOptions;
}

export interface PlaceOp {
  readonly kind: 'place';
  readonly unit: string;
  readonly machineId: string;
  readonly reason: string;
}

export interface UnscheduleOp {
  readonly kind: 'unschedule';
  readonly unit: string;
  readonly from: string;
  readonly reason: string;
}

export interface MoveOp {
  readonly kind: 'move';
  readonly unit: string;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

export type Op = PlaceOp | UnscheduleOp | MoveOp;

/** A unit that should run but has no live machine after the plan, and why. */
export interface PendingUnit {
  readonly unit: string;
  readonly reason: string;
}

export interface Plan {
  /** Unschedules first, then moves, then placements; each group in decision order. */
  readonly ops: readonly Op[];
  /** Sorted by unit name. */
  readonly pending: readonly PendingUnit[];
}

/** Which global units one machine runs, and why it skips the others. */
export interface GlobalPlacement {
  /** Names in name order. */
  readonly run: readonly string[];
  readonly skipped: readonly PendingUnit[];
}

export interface MachineVerdict {
  readonly machineId: string;
  /** Units on the machine after the plan, not counting the explained unit. */
  readonly load: number;
  readonly eligible: boolean;
  readonly reason: string;
}

export interface Explanation {
  readonly unit: string;
  /** One line: where the unit ends up after the plan, or why it does not run anywhere. */
  readonly outcome: string;
  /** Its machine after the plan (non-global units only). */
  readonly machineId?: string;
  /** Every live machine, sorted by id. */
  readonly machines: readonly MachineVerdict[];
}
