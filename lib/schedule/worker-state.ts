/**
 * A plan's cost and its ClusterState's way into a worker thread, for both places that plan off the event loop: the
 * engine's planner (fleetd/engine/planner.ts) and the API's dry run (fleetd/api/plan.ts).
 *
 * A plan's cost grows with the units, and a few units can cost as much as many: every wildcard Conflicts/Replaces
 * glob is matched against every unit name. The state goes to the worker as UTF-8 JSON built in slices
 * (lib/slices.ts) whose buffer is moved, not copied: posting the object itself is one structured clone of every
 * unit on the event loop, over half a second at 100,000 units on a busy box (a JSON string would still be copied).
 */
import { stringifySliced } from '../slices.js';
import { isLiteral } from './constraints.js';
import type { ClusterState, SchedUnit } from './types.js';

/** Clusters this large (units) plan in a worker thread: at 100,000 units one plan takes over a second of CPU. */
export const PLAN_IN_WORKER_ABOVE = 5_000;

/** Wildcard Conflicts/Replaces globs of these units: those the scheduler matches against names (not isLiteral). */
export function wildcardGlobs(units: readonly SchedUnit[]): number {
  let globs = 0;
  for (const u of units) {
    for (const g of u.requirements.conflicts) if (!isLiteral(g)) globs++;
    for (const g of u.requirements.replaces) if (!isLiteral(g)) globs++;
  }
  return globs;
}

/** Upper bound of the glob matches a plan of `state` does: wildcard Conflicts/Replaces globs × units. */
export function globMatchesOf(state: ClusterState): number {
  return wildcardGlobs(state.units) * state.units.length;
}

/** A ClusterState as a worker receives it: UTF-8 JSON, the schedule as [unit, machine] pairs. */
export type EncodedState = Uint8Array;

/** The state as JSON, built in slices so that no step holds the event loop for long; its buffer can be moved. */
export async function encodeState(state: ClusterState): Promise<EncodedState> {
  const units = await stringifySliced(state.units);
  const schedule = await stringifySliced(Object.entries(state.schedule));
  const options = state.options === undefined ? '' : `,"options":${JSON.stringify(state.options)}`;
  // TextEncoder: a buffer of its own (Buffer.from may hand out a slice of a shared pool, which cannot be moved)
  return new TextEncoder().encode(`{"units":${units},"machines":${JSON.stringify(state.machines)},"schedule":${schedule}${options}}`);
}

/** The worker's side of encodeState. */
export function decodeState(bytes: EncodedState): ClusterState {
  const o = JSON.parse(new TextDecoder().decode(bytes)) as Omit<ClusterState, 'schedule'> & { schedule: [string, string][] };
  return { ...o, schedule: Object.fromEntries(o.schedule) };
}
