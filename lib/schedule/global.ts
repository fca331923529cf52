/** Which global units a machine runs: the agent's rule, also used by the engine to count load. */
import { compareStrings } from '../compare.js';
import { conflicts, describeMetadata, metadataSatisfied, type NamedRequirements } from './constraints.js';
import type { GlobalPlacement, PendingUnit, SchedMachine, SchedUnit } from './types.js';

/**
 * A machine runs an active global unit when it has the required metadata and the unit conflicts neither with
 * the machine's other (non-global) units nor with a global unit accepted before it; global units are taken in
 * name order, so of two conflicting global units the alphabetically first wins.
 * Other [X-Fleet] keys are invalid on global units and ignored here.
 */
export function globalUnitsFor(
  machine: SchedMachine,
  globalUnits: readonly SchedUnit[],
  otherUnitsOnMachine: readonly NamedRequirements[],
): GlobalPlacement {
  const run: SchedUnit[] = [];
  const skipped: PendingUnit[] = [];
  const here: GlobalCheckState = { others: otherUnitsOnMachine, accepted: run };
  const sorted = [...globalUnits].sort((a, b) => compareStrings(a.name, b.name));
  for (const g of sorted) {
    if (g.desiredState === 'inactive') {
      skipped.push({ unit: g.name, reason: 'desired state is inactive' });
      continue;
    }
    const why = globalRefusal(g, machine, here);
    if (why !== undefined) {
      skipped.push({ unit: g.name, reason: why });
      continue;
    }
    run.push(g);
  }
  return { run: run.map((g) => g.name), skipped };
}

/** What the agent weighs for one global unit on one machine. */
export interface GlobalCheckState {
  /** The machine's non-global units. */
  readonly others: readonly NamedRequirements[];
  /** Global units already accepted on the machine (they sort before this one). */
  readonly accepted: readonly NamedRequirements[];
}

/**
 * The checker of the Global constraint, in the shape of the checkers in checkers.ts: why `g` does not run on
 * `machine`, or undefined when it does. Metadata first, then conflicts with the machine's units, then with the
 * global units accepted before it.
 */
export function globalRefusal(g: SchedUnit, machine: SchedMachine, s: GlobalCheckState): string | undefined {
  if (!metadataSatisfied(g.requirements, machine)) return `machine lacks MachineMetadata ${describeMetadata(g.requirements)}`;
  const other = s.others.find((o) => conflicts(g, o));
  if (other) return `conflicts with ${other.name} scheduled on this machine`;
  const earlier = s.accepted.find((o) => conflicts(g, o));
  if (earlier) return `conflicts with global unit ${earlier.name}, which sorts first`;
  return undefined;
}
