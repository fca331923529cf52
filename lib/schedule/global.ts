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
  const sorted = [...globalUnits].sort((a, b) => compareStrings(a.name, b.name));
  for (const g of sorted) {
    if (g.desiredState === 'inactive') {
      skipped.push({ unit: g.name, reason: 'desired state is inactive' });
      continue;
    }
    if (!metadataSatisfied(g.requirements, machine)) {
      skipped.push({ unit: g.name, reason: `machine lacks MachineMetadata ${describeMetadata(g.requirements)}` });
      continue;
    }
    const other = otherUnitsOnMachine.find((o) => conflicts(g, o));
    if (other) {
      skipped.push({ unit: g.name, reason: `conflicts with ${other.name} scheduled on this machine` });
      continue;
    }
    const earlier = run.find((o) => conflicts(g, o));
    if (earlier) {
      skipped.push({ unit: g.name, reason: `conflicts with global unit ${earlier.name}, which sorts first` });
      continue;
    }
    run.push(g);
  }
  return { run: run.map((g) => g.name), skipped };
}
