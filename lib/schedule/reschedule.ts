/**
 * Reschedule=on-failure, the scheduler's rule (docs/fleet-compat.md#reschedule-on-failure-ours), as pure functions
 * of a unit's failures and the time, shared by the plan (plan.ts, keepAlone and rescheduleFailed), the `failed`
 * checker (checkers.ts) and the engine's wake-up timer.
 *
 * A unit that opted in and failed on its machine moves to another machine that fits once the delay after that
 * failure has passed: `delaySec` for the first move, doubled for each later one, capped at RESCHEDULE_MAX_DELAY_SEC.
 * It is never placed again on a machine where these contents failed. After `attempts` moves, a failure on the
 * machine it moved to is the last: it stays there, failed ("gave up"). A new text (hash) starts a new history.
 */
import { RESCHEDULE_MAX_DELAY_SEC } from '../unit/requirements.js';
import type { ClusterState, SchedUnit } from './types.js';

export type RescheduleVerdict =
  /** no failure on its machine (or the unit did not opt in) */
  | { readonly kind: 'none' }
  /** failed on its machine; moves at `at` (ms) */
  | { readonly kind: 'wait'; readonly at: number; readonly why: string }
  /** failed on its machine and the delay has passed */
  | { readonly kind: 'move'; readonly why: string }
  /** failed on as many machines as it may move, plus one: it stays, failed */
  | { readonly kind: 'gaveUp'; readonly why: string };

const NONE: RescheduleVerdict = { kind: 'none' };

/** Whether these contents of the unit failed on the machine (Reschedule=on-failure only). */
export function failedOn(unit: SchedUnit, machineId: string): boolean {
  return unit.requirements.reschedule !== undefined && unit.failedOn !== undefined && Object.hasOwn(unit.failedOn, machineId);
}

/** The wait before move `n` (1 = the first): the delay, doubled per earlier move, capped. */
export function rescheduleDelayMs(delaySec: number, n: number): number {
  return Math.min(delaySec * 2 ** Math.max(0, n - 1), Math.max(delaySec, RESCHEDULE_MAX_DELAY_SEC)) * 1000;
}

/** What to do with a unit scheduled on `from`, at `now` (ms). */
export function rescheduleVerdict(unit: SchedUnit, from: string, now: number): RescheduleVerdict {
  const policy = unit.requirements.reschedule;
  // a unit the user stopped (loaded) after it failed is left where it is until started again
  if (policy === undefined || unit.desiredState !== 'launched' || !failedOn(unit, from)) return NONE;
  const failures = Object.keys(unit.failedOn!).length;
  if (failures > policy.attempts) {
    return { kind: 'gaveUp', why: `failed on ${failures} machines; gave up after ${policy.attempts} move${policy.attempts === 1 ? '' : 's'} (Reschedule=on-failure)` };
  }
  const at = unit.failedOn![from]! + rescheduleDelayMs(policy.delaySec, failures);
  const which = `move ${failures} of ${policy.attempts}`;
  if (now < at) return { kind: 'wait', at, why: `failed on machine ${from}; ${which} in ${Math.ceil((at - now) / 1000)}s` };
  return { kind: 'move', why: `failed on machine ${from} (Reschedule=on-failure, ${which})` };
}

/** The earliest time after `now` at which some scheduled unit is due to move after a failure, if any. */
export function nextRescheduleAt(state: ClusterState, now: number): number | undefined {
  let first: number | undefined;
  for (const u of state.units) {
    if (u.failedOn === undefined) continue;
    const from = Object.hasOwn(state.schedule, u.name) ? state.schedule[u.name] : undefined;
    if (from === undefined) continue;
    const v = rescheduleVerdict(u, from, now);
    if (v.kind === 'wait' && (first === undefined || v.at < first)) first = v.at;
  }
  return first;
}
