/** Whether one unit can run on one machine, and if not, why; plus summaries of why it fits nowhere. */
import type { Cluster, Slot } from './cluster.js';
import { describeMetadata, machineIdMatches, metadataShortfall, nameList } from './constraints.js';
import type { SchedUnit } from './types.js';

export type MisfitKind = 'machineId' | 'metadata' | 'peer' | 'conflict' | 'replacedBy' | 'protected';

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
 * this one replaces), then Replaces (a unit here that replaces this one; units already displaced once in this plan
 * are not displaced again).
 */
export function fit(cluster: Cluster, unit: SchedUnit, slot: Slot, evicted: ReadonlySet<string>): Fit {
  const req = unit.requirements;
  if (req.machineId !== undefined && !machineIdMatches(req.machineId, slot.machine.id)) {
    return misfit('machineId', `MachineID=${req.machineId} does not match`);
  }
  const lacks = metadataShortfall(req, slot.machine);
  if (lacks !== undefined) return misfit('metadata', lacks);
  for (const peer of req.machineOf) {
    if (!cluster.isOn(peer, slot.machine.id)) return misfit('peer', `MachineOf peer ${peer} is not on this machine`, [peer]);
  }
  const victims = cluster.replacedOn(unit, slot);
  const again = victims.filter((v) => evicted.has(evictionKey(unit.name, v.name))).map((v) => v.name);
  if (again.length > 0) {
    return misfit('protected', `runs ${nameList(again)}, which it already displaced once in this plan`, again);
  }
  const conflict = cluster.conflictOn(unit, slot, victims.length > 0 ? new Set(victims.map((v) => v.name)) : undefined);
  if (conflict !== undefined) return misfit('conflict', `conflicts with ${conflict}`, [conflict]);
  const replacer = cluster.replacerOn(unit, slot);
  if (replacer !== undefined) return misfit('replacedBy', `would be replaced by ${replacer}`, [replacer]);
  return { ok: true, victims };
}

/** Why a unit without MachineID/MachineOf fits on none of the machines checked. */
export function summarize(unit: SchedUnit, misfits: readonly Misfit[], scope = 'every eligible machine'): string {
  if (misfits.length === 0) return 'no live machines';
  if (misfits.every((m) => m.kind === 'machineId' || m.kind === 'metadata')) {
    return `no machine satisfies MachineMetadata ${describeMetadata(unit.requirements)}`;
  }
  const byKind = new Map<MisfitKind, string[]>();
  for (const m of misfits) {
    if (m.kind === 'machineId' || m.kind === 'metadata') continue;
    byKind.set(m.kind, [...(byKind.get(m.kind) ?? []), ...m.names]);
  }
  const parts: string[] = [];
  const names = (k: MisfitKind): string => nameList(byKind.get(k)!);
  if (byKind.has('peer')) parts.push(`lacks MachineOf peer ${names('peer')}`);
  if (byKind.has('conflict')) parts.push(`conflicts with ${names('conflict')}`);
  if (byKind.has('replacedBy')) parts.push(`would be replaced by ${names('replacedBy')}`);
  if (byKind.has('protected')) parts.push(`would displace ${names('protected')} a second time`);
  return `${parts.join(' or ')} on ${scope}`;
}
