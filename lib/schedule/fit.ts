/**
 * Whether one unit can run on one machine, and if not, why (the constraints themselves are the checkers in
 * checkers.ts); and a tally of why it fits nowhere.
 */
import type { Cluster, ConflictMap, Slot } from './cluster.js';
import { firstMisfit, victimsOn, type Misfit, type MisfitKind } from './checkers.js';
import { describeMetadata, nameList } from './constraints.js';
import type { SchedUnit } from './types.js';

export { evictionKey, refusalOn, type Misfit, type MisfitKind } from './checkers.js';

export interface Fits {
  readonly ok: true;
  /** Units on the machine this unit replaces: they move elsewhere if it is placed here. */
  readonly victims: readonly SchedUnit[];
}

export type Fit = Fits | Misfit;

/**
 * Every checker in order, with reasons; on success, the units this one would take the machine from.
 * `conflicts`, from cluster.conflictMap, saves a scan of the machine's units.
 */
export function fit(
  cluster: Cluster,
  unit: SchedUnit,
  slot: Slot,
  evicted: ReadonlySet<string>,
  conflicts?: ConflictMap,
): Fit {
  const m = firstMisfit(unit, slot, { cluster, evicted, conflicts, reasons: true });
  return m ?? { ok: true, victims: victimsOn(unit, slot, cluster) };
}

/** What kept a unit off the machines tried, without a reason string per machine. */
export class Tally {
  /** Machines tried. */
  size = 0;
  private placementOnly = true;
  private readonly byKind = new Map<MisfitKind, Set<string>>();

  note(kind: MisfitKind, names: readonly string[] = []): void {
    this.size++;
    if (kind === 'machineId' || kind === 'metadata') return;
    this.placementOnly = false;
    let set = this.byKind.get(kind);
    if (!set) this.byKind.set(kind, (set = new Set()));
    for (const n of names) set.add(n);
  }

  /** Why a unit fits on none of the machines tried. */
  summary(unit: SchedUnit, scope = 'every eligible machine'): string {
    if (this.size === 0) return 'no live machines';
    if (this.placementOnly) return `no machine satisfies MachineMetadata ${describeMetadata(unit.requirements)}`;
    const parts: string[] = [];
    const names = (k: MisfitKind): string => nameList(this.byKind.get(k)!);
    if (this.byKind.has('refused')) parts.push(`is refused by the agent of machine ${names('refused')}`);
    if (this.byKind.has('failed')) parts.push(`failed on machine ${names('failed')}`);
    if (this.byKind.has('peer')) parts.push(`lacks MachineOf peer ${names('peer')}`);
    if (this.byKind.has('conflict')) parts.push(`conflicts with ${names('conflict')}`);
    if (this.byKind.has('replacedBy')) parts.push(`would be replaced by ${names('replacedBy')}`);
    if (this.byKind.has('protected')) parts.push(`would displace ${names('protected')} a second time`);
    return `${parts.join(' or ')} on ${scope}`;
  }
}
