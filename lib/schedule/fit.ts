/** Whether one unit can run on one machine, and if not, why; and a tally of why it fits nowhere. */
import type { Cluster, ConflictMap, Slot } from './cluster.js';
import { describeMetadata, machineIdMatches, metadataSatisfied, metadataShortfall, nameList } from './constraints.js';
import type { SchedUnit } from './types.js';

export type MisfitKind = 'refused' | 'machineId' | 'metadata' | 'peer' | 'conflict' | 'replacedBy' | 'protected';

export interface Misfit {
  readonly ok: false;
  readonly kind: MisfitKind;
  /** The units involved (peer, conflicting unit, replacing unit, ...). */
  readonly names: readonly string[];
  readonly why: string;
}

export interface Fits {
  readonly ok: true;
  /** Units on the machine this unit replaces: they move elsewhere if it is placed here. */
  readonly victims: readonly SchedUnit[];
}

export type Fit = Fits | Misfit;

const misfit = (kind: MisfitKind, why: string, names: readonly string[] = []): Misfit => ({ ok: false, kind, names, why });

/** Key of "replacer displaced victim" in the set of evictions made so far in a plan. */
export const evictionKey = (replacer: string, victim: string): string => `${replacer}\n${victim}`;

/**
 * Checks in fleet's AbleToRun order: MachineID, MachineMetadata, MachineOf, Conflicts (both ways, ignoring units
 * this one replaces), then Replaces (a unit here that replaces this one). A unit does not displace the same unit
 * twice in one plan. `conflicts`, from cluster.conflictMap, saves a scan of the machine's units.
 */
export function fit(
  cluster: Cluster,
  unit: SchedUnit,
  slot: Slot,
  evicted: ReadonlySet<string>,
  conflicts?: ConflictMap,
): Fit {
  const req = unit.requirements;
  const refused = refusalOn(unit, slot.machine.id);
  if (refused !== undefined) return misfit('refused', `its agent refused it: ${refused}`, [slot.machine.id]);
  if (req.machineId !== undefined && !machineIdMatches(req.machineId, slot.machine.id)) {
    return misfit('machineId', `MachineID=${req.machineId} does not match`);
  }
  if (!metadataSatisfied(req, slot.machine)) return misfit('metadata', metadataShortfall(req, slot.machine)!);
  for (const peer of req.machineOf) {
    if (!cluster.isOn(peer, slot.machine.id)) return misfit('peer', `MachineOf peer ${peer} is not on this machine`, [peer]);
  }
  const victims = cluster.replacedOn(unit, slot);
  const again = victims.filter((v) => evicted.has(evictionKey(unit.name, v.name))).map((v) => v.name);
  if (again.length > 0) {
    return misfit('protected', `runs ${nameList(again)}, which it already displaced once in this plan`, again);
  }
  const spared = victims.length > 0 ? new Set(victims.map((v) => v.name)) : undefined;
  const conflict =
    conflicts && !spared ? conflicts.get(slot.machine.id) : cluster.conflictOn(unit, slot, spared);
  if (conflict !== undefined) return misfit('conflict', `conflicts with ${conflict}`, [conflict]);
  const replacer = cluster.replacerOn(unit, slot);
  if (replacer !== undefined) return misfit('replacedBy', `would be replaced by ${replacer}`, [replacer]);
  return { ok: true, victims };
}

/** The reason the machine's agent refused the unit, or undefined. */
export function refusalOn(unit: SchedUnit, machineId: string): string | undefined {
  return unit.refusedBy !== undefined && Object.hasOwn(unit.refusedBy, machineId) ? unit.refusedBy[machineId] : undefined;
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
    if (this.byKind.has('peer')) parts.push(`lacks MachineOf peer ${names('peer')}`);
    if (this.byKind.has('conflict')) parts.push(`conflicts with ${names('conflict')}`);
    if (this.byKind.has('replacedBy')) parts.push(`would be replaced by ${names('replacedBy')}`);
    if (this.byKind.has('protected')) parts.push(`would displace ${names('protected')} a second time`);
    return `${parts.join(' or ')} on ${scope}`;
  }
}
