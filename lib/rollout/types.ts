/**
 * Rolling updates (issue 12, our extension: docs/fleet-compat.md): the records a rollout keeps in etcd. A client
 * writes the spec once (P/rollout/<id>/spec) and control values (P/rollout/<id>/control); only the engine leader
 * writes the status (P/rollout/<id>/status), fenced. lib/rollout/core.ts decides each step from these alone, so a
 * new leader resumes a rollout where the old one left it. Layout: docs/registry.md.
 */

/** Where a rollout is. The last four are terminal: nothing changes any more. */
export type RolloutPhase = 'running' | 'paused' | 'rolling-back' | 'succeeded' | 'failed' | 'rolled-back' | 'aborted';

export const ROLLOUT_PHASES: readonly RolloutPhase[] = ['running', 'paused', 'rolling-back', 'succeeded', 'failed', 'rolled-back', 'aborted'];

export function isTerminalPhase(p: RolloutPhase): boolean {
  return p === 'succeeded' || p === 'failed' || p === 'rolled-back' || p === 'aborted';
}

/** What a client asks of a running rollout (the latest value counts). */
export type RolloutControl = 'pause' | 'resume' | 'abort';

export const ROLLOUT_CONTROLS: readonly RolloutControl[] = ['pause', 'resume', 'abort'];

/** One unit of a rollout: its text before (from) and after (to), as unit hashes. */
export interface RolloutUnit {
  readonly name: string;
  /**
   * A global unit is rolled machine by machine: one target per machine that ran it when the rollout was created,
   * its progress kept under the machine id (a per-machine hash override, then the unit itself at the end).
   */
  readonly machine?: string;
  readonly from: string;
  readonly to: string;
}

/** Written once, when the rollout is created. */
export interface RolloutSpec {
  readonly id: string;
  /** In the order they are replaced. */
  readonly units: readonly RolloutUnit[];
  /** At most this many units of the set are unavailable (not active with their expected text) at a time. */
  readonly maxUnavailable: number;
  /** A replaced unit must stay active this long before it counts as healthy. */
  readonly minHealthyMs: number;
  /** A replaced unit that is not healthy this long after its replacement fails the rollout. */
  readonly deadlineMs: number;
  /** On failure, put the replaced units back on their previous text. */
  readonly rollback: boolean;
  /** ISO 8601, the creating client's clock. */
  readonly createdAt: string;
}

/**
 * Per unit: pending (old text), updating (replaced, not yet healthy), healthy (new text, active for minHealthy),
 * reverting (being put back on the old text), reverted (back and active), skipped (a global unit's machine left).
 */
export type RolloutUnitState = 'pending' | 'updating' | 'healthy' | 'reverting' | 'reverted' | 'skipped';

export interface RolloutUnitProgress {
  readonly state: RolloutUnitState;
  /** ms since epoch (the leader's clock): when its text was last replaced. */
  readonly since?: number;
  /** ms since epoch: since when it is seen active with its new text (while updating). */
  readonly activeSince?: number;
  /** The machine it was last seen on. */
  readonly machine?: string;
}

/** Why a rollout stopped. */
export interface RolloutFailure {
  readonly unit: string;
  readonly machine?: string;
  readonly reason: string;
}

/** Written only by the engine leader. */
export interface RolloutStatus {
  readonly phase: RolloutPhase;
  readonly units: Readonly<Record<string, RolloutUnitProgress>>;
  readonly failure?: RolloutFailure;
  /** Set when the rollback itself could not finish. */
  readonly rollbackFailure?: RolloutFailure;
  /** ms since epoch, the leader's clock. */
  readonly updatedAt: number;
  readonly finishedAt?: number;
}

/** A rollout as read back: the spec, and the status and control once written. */
export interface RolloutRecord {
  readonly spec: RolloutSpec;
  readonly status?: RolloutStatus;
  readonly control?: RolloutControl;
}

/** What the engine sees of one unit of a rollout. */
export interface ObservedUnit {
  /** The job's current hash; undefined when the unit is gone. */
  readonly hash?: string;
  /** The machine the job is scheduled to. */
  readonly machineId?: string;
  /** The state its machine publishes (of the machine it is scheduled to). */
  readonly state?: { readonly hash: string; readonly activeState: string; readonly subState: string };
  /** An agent refused the job's current contents: why. */
  readonly refused?: string;
  /** A global unit's target machine left the cluster. */
  readonly gone?: boolean;
}

/** Replace a unit's text (its job object's hash), only while it still has `from`. */
export interface RolloutSwap {
  readonly name: string;
  /** A global unit: that machine's hash override (lib/registry setGlobalMachineHash). */
  readonly machine?: string;
  readonly from: string;
  readonly to: string;
}
