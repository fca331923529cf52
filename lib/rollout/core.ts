/**
 * The rollout engine's decisions as a pure function (lib/rollout/types.ts has the records): given a rollout's
 * spec, its last status, the latest control value, what is observed of its units and the time, stepRollout
 * returns the next status and the text swaps to make. The engine leader (fleetd/engine/rollout.ts) writes both in
 * one fenced transaction; keeping every decision here, from etcd state alone, lets a new leader resume a rollout.
 *
 * "Unavailable": a unit of the set not active with the text it should have now. Replacing starts with units that
 * are unavailable anyway (a machine that left), then takes available ones while fewer than maxUnavailable units
 * are unavailable or being replaced. A replaced unit is healthy once it stayed active with its new text for
 * minHealthy; one that fails, is refused, stops being active, or is not healthy within the deadline fails the
 * rollout, which then (spec.rollback) puts the replaced units back: the broken ones at once, the healthy ones in
 * reverse order within the same budget.
 */
import { compareStrings } from '../compare.js';
import { isTerminalPhase } from './types.js';
import type {
  ObservedUnit,
  RolloutControl,
  RolloutFailure,
  RolloutSpec,
  RolloutStatus,
  RolloutSwap,
  RolloutUnit,
  RolloutUnitProgress,
} from './types.js';

/** Poll period while units are in flight (their state changes are not watched). */
export const ROLLOUT_POLL_MS = 200;

export interface RolloutStep {
  readonly status: RolloutStatus;
  /** Texts to replace, in this order. */
  readonly swaps: readonly RolloutSwap[];
  /** The status differs from the one given (it must be written). */
  readonly changed: boolean;
  /**
   * A global unit's rollout succeeded: its job and global entry get the new hash (only while they still have
   * `from`), then the per-machine overrides go.
   */
  readonly commit?: RolloutSwap;
  /** When the next step is due at the latest (ms since epoch); undefined: the rollout is finished. */
  readonly wakeAt?: number;
}

/** The status of a rollout no leader stepped yet. */
export function initialStatus(spec: RolloutSpec, now: number): RolloutStatus {
  const units: Record<string, RolloutUnitProgress> = {};
  for (const u of spec.units) units[rolloutKey(u)] = { state: 'pending' };
  return { phase: 'running', units, updatedAt: now };
}

function describe(o: ObservedUnit): string {
  return o.state ? `${o.state.activeState}/${o.state.subState}` : 'no state published';
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

export function stepRollout(
  spec: RolloutSpec,
  previous: RolloutStatus | undefined,
  control: RolloutControl | undefined,
  observed: ReadonlyMap<string, ObservedUnit>,
  now: number,
): RolloutStep {
  const before = previous ?? initialStatus(spec, now);
  if (isTerminalPhase(before.phase)) return { status: before, swaps: [], changed: previous === undefined };
  const units: Record<string, RolloutUnitProgress> = {};
  for (const u of spec.units) units[rolloutKey(u)] = before.units[rolloutKey(u)] ?? { state: 'pending' };
  let phase = before.phase;
  let failure = before.failure;
  let rollbackFailure = before.rollbackFailure;
  const swaps: RolloutSwap[] = [];
  let commit: RolloutSwap | undefined;
  const obs = (u: RolloutUnit): ObservedUnit => observed.get(rolloutKey(u)) ?? {};

  /** The text a unit should have now. */
  const expected = (u: RolloutUnit): string => {
    const s = units[rolloutKey(u)]!.state;
    return s === 'updating' || s === 'healthy' ? u.to : u.from;
  };
  const available = (u: RolloutUnit): boolean => {
    if (units[rolloutKey(u)]!.state === 'skipped') return true;
    const st = obs(u).state;
    return st !== undefined && st.hash === expected(u) && st.activeState === 'active' && obs(u).hash === expected(u);
  };
  const at = (u: RolloutUnit, p: Partial<RolloutUnitProgress>): void => {
    const m = obs(u).machineId;
    units[rolloutKey(u)] = { ...units[rolloutKey(u)]!, ...(m !== undefined ? { machine: m } : {}), ...p };
  };
  const failOf = (u: RolloutUnit, reason: string): RolloutFailure => {
    const m = obs(u).machineId ?? units[rolloutKey(u)]!.machine ?? u.machine;
    return { unit: u.name, ...(m !== undefined ? { machine: m } : {}), reason };
  };
  /** Why a unit in flight towards `hash` failed, or undefined while it may still come up. */
  const problem = (u: RolloutUnit, hash: string, progress: RolloutUnitProgress, minHealthyMs: number): string | 'healthy' | undefined => {
    const o = obs(u);
    if (o.hash === hash && o.refused !== undefined) return `refused by its machine: ${o.refused}`;
    const st = o.state;
    if (st && st.hash === hash && st.activeState === 'failed') return `failed (${describe(o)})`;
    if (st && st.hash === hash && st.activeState === 'active' && o.hash === hash) {
      const since = progress.activeSince ?? now;
      if (progress.activeSince === undefined) at(u, { activeSince: now });
      return now - since >= minHealthyMs ? 'healthy' : undefined;
    }
    if (progress.activeSince !== undefined) {
      return `stopped being active ${seconds(now - progress.activeSince)} after it started (${describe(o)})`;
    }
    if (now - (progress.since ?? now) > spec.deadlineMs) return `not active within ${seconds(spec.deadlineMs)} (${describe(o)})`;
    return undefined;
  };

  // a global unit's machine that left: nothing to roll there any more
  for (const u of spec.units) {
    const st = units[rolloutKey(u)]!.state;
    if (obs(u).gone && st !== 'healthy' && st !== 'reverted' && st !== 'skipped') at(u, { state: 'skipped', activeSince: undefined });
  }
  // a unit replaced or destroyed by someone else: the rollout cannot own it any more
  for (const u of spec.units) {
    if (units[rolloutKey(u)]!.state === 'skipped') continue;
    const h = obs(u).hash;
    if (h !== u.from && h !== u.to) {
      phase = 'failed';
      failure = failOf(u, h === undefined ? 'the unit was destroyed during the rollout' : 'the unit was replaced outside the rollout');
      return finish();
    }
  }

  if (control === 'abort' && phase !== 'rolling-back') {
    phase = 'aborted';
    return finish();
  }
  if (control === 'pause' && phase === 'running') phase = 'paused';
  if (control === 'resume' && phase === 'paused') phase = 'running';

  if (phase === 'running' || phase === 'paused') {
    for (const u of spec.units) {
      const p = units[rolloutKey(u)]!;
      if (p.state !== 'updating') continue;
      const r = problem(u, u.to, p, spec.minHealthyMs);
      if (r === 'healthy') at(u, { state: 'healthy', activeSince: undefined });
      else if (r !== undefined && failure === undefined) failure = failOf(u, r);
    }
    if (failure !== undefined) {
      phase = spec.rollback ? 'rolling-back' : 'failed';
    } else if (phase === 'running') {
      if (spec.units.every((u) => units[rolloutKey(u)]!.state === 'healthy' || units[rolloutKey(u)]!.state === 'skipped')) {
        phase = 'succeeded';
        // a global unit: every machine runs the new text through its override; now the unit itself gets it
        const g = spec.units[0]!;
        if (g.machine !== undefined) commit = { name: g.name, from: g.from, to: g.to };
        return finish();
      }
      const busy = new Set(spec.units.filter((u) => units[rolloutKey(u)]!.state === 'updating' || !available(u)).map(rolloutKey));
      const pending = spec.units.filter((u) => units[rolloutKey(u)]!.state === 'pending');
      for (const u of [...pending.filter((x) => !available(x)), ...pending.filter((x) => available(x))]) {
        if (available(u) && busy.size >= spec.maxUnavailable) break;
        busy.add(rolloutKey(u));
        swaps.push(swapOf(u, u.from, u.to));
        at(u, { state: 'updating', since: now, activeSince: undefined });
      }
    }
  }

  if (phase === 'rolling-back') {
    for (const u of spec.units) {
      const p = units[rolloutKey(u)]!;
      if (p.state !== 'reverting') continue;
      const r = problem(u, u.from, p, 0);
      if (r === 'healthy') at(u, { state: 'reverted', activeSince: undefined });
      else if (r !== undefined && rollbackFailure === undefined) rollbackFailure = failOf(u, r);
    }
    if (rollbackFailure !== undefined) {
      phase = 'failed';
      return finish();
    }
    // broken ones first, all at once (they are unavailable anyway); then healthy ones, last replaced first
    const broken = spec.units.filter((u) => units[rolloutKey(u)]!.state === 'updating');
    const healthy = spec.units.filter((u) => units[rolloutKey(u)]!.state === 'healthy').reverse();
    const busy = new Set(spec.units.filter((u) => units[rolloutKey(u)]!.state === 'reverting' || !available(u)).map(rolloutKey));
    for (const u of broken) revert(u);
    for (const u of healthy) {
      if (available(u) && busy.size >= spec.maxUnavailable) break;
      busy.add(rolloutKey(u));
      revert(u);
    }
    if (spec.units.every((u) => ['pending', 'reverted', 'skipped'].includes(units[rolloutKey(u)]!.state))) {
      phase = 'rolled-back';
      return finish();
    }
  }
  if (phase === 'failed') return finish();
  return result();

  function revert(u: RolloutUnit): void {
    swaps.push(swapOf(u, u.to, u.from));
    at(u, { state: 'reverting', since: now, activeSince: undefined });
  }

  function finish(): RolloutStep {
    return result(true);
  }

  function result(final = false): RolloutStep {
    const status: RolloutStatus = {
      phase,
      units: clean(units),
      ...(failure ? { failure } : {}),
      ...(rollbackFailure ? { rollbackFailure } : {}),
      updatedAt: before.updatedAt,
      ...(final ? { finishedAt: now } : {}),
    };
    const changed = previous === undefined || signature(status) !== signature(before);
    const out: RolloutStatus = changed ? { ...status, updatedAt: now } : before;
    return { status: out, swaps, changed, ...(commit ? { commit } : {}), ...(final ? {} : { wakeAt: wakeAt(out) }) };
  }

  function wakeAt(s: RolloutStatus): number {
    let next = now + ROLLOUT_POLL_MS;
    for (const u of spec.units) {
      const p = s.units[rolloutKey(u)]!;
      if (p.activeSince !== undefined) next = Math.min(next, p.activeSince + spec.minHealthyMs);
    }
    return Math.max(next, now + 1);
  }
}

/** What a status says, ignoring updatedAt and key order (a status read back from etcd compares equal). */
function signature(s: RolloutStatus): string {
  const f = (x: RolloutFailure | undefined) => (x ? [x.unit, x.machine ?? null, x.reason] : null);
  const units = Object.entries(clean({ ...s.units }))
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([k, v]) => [k, v.state, v.since ?? null, v.activeSince ?? null, v.machine ?? null]);
  return JSON.stringify([s.phase, units, f(s.failure), f(s.rollbackFailure), s.finishedAt ?? null]);
}

/** Where a rollout target's progress is kept: its machine for a global unit (one target per machine), else its name. */
export function rolloutKey(u: RolloutUnit): string {
  return u.machine ?? u.name;
}

function swapOf(u: RolloutUnit, from: string, to: string): RolloutSwap {
  return { name: u.name, from, to, ...(u.machine !== undefined ? { machine: u.machine } : {}) };
}

/** Drops undefined fields, so a status compares and serializes the same after a round trip through etcd. */
function clean(units: Record<string, RolloutUnitProgress>): Record<string, RolloutUnitProgress> {
  const out: Record<string, RolloutUnitProgress> = {};
  for (const [k, v] of Object.entries(units)) {
    const c: { -readonly [K in keyof RolloutUnitProgress]: RolloutUnitProgress[K] } = { state: v.state };
    if (v.since !== undefined) c.since = v.since;
    if (v.activeSince !== undefined) c.activeSince = v.activeSince;
    if (v.machine !== undefined) c.machine = v.machine;
    out[k] = c;
  }
  return out;
}
