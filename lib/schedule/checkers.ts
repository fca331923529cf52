/**
 * One small checker per [X-Fleet] constraint: whether one unit may run on one machine, and if not, why.
 *
 * Every checker has the same shape, `(unit, slot, state) => Misfit | undefined` (undefined: this constraint
 * allows it), so each can be read and tested alone (test/schedule/checkers.test.ts) and a new constraint is one
 * more function in CHECKERS. fit() (the explanation of one machine) and the placement loop of schedule() (which
 * tries machine after machine) both run CHECKERS in order, so they cannot disagree.
 *
 * Order is fleet's AbleToRun order, plus the agent's refusal and the unit's failures first: refused, failed
 * (Reschedule=on-failure, reschedule.ts), MachineID, MachineMetadata,
 * MachineOf, Replaces (no second takeover of the same unit), Conflicts (both ways, sparing the units this one
 * replaces), replaced-by (a unit on the machine replaces this one). The first misfit decides the reason.
 *
 * Hot path: the placement loop asks with `reasons: false`; then checkers build no reason string and the cheap
 * placement misfits (MachineID, metadata) are shared constants, so a unit that fits nowhere costs no allocation
 * per machine for them. Global units are not judged here: see globalRefusal in global.ts.
 */
import type { Cluster, ConflictMap, Slot } from './cluster.js';
import { machineIdMatches, metadataSatisfied, metadataShortfall, nameList } from './constraints.js';
import { failedOn } from './reschedule.js';
import type { SchedUnit } from './types.js';

export type MisfitKind = 'refused' | 'failed' | 'machineId' | 'metadata' | 'peer' | 'conflict' | 'replacedBy' | 'protected';

export interface Misfit {
  readonly ok: false;
  readonly kind: MisfitKind;
  /** The units involved (peer, conflicting unit, replacing unit, ...); the machine id for 'refused'. */
  readonly names: readonly string[];
  /** Empty when the state asked for no reasons. */
  readonly why: string;
}

/** What the checkers read: the plan's cluster so far, and how much the caller wants to know. */
export interface CheckState {
  readonly cluster: Cluster;
  /** evictionKey(replacer, victim) of every takeover made so far in this plan. */
  readonly evicted: ReadonlySet<string>;
  /** cluster.conflictMap(unit) when the caller indexed the unit's conflicts once for many machines. */
  conflicts: ConflictMap | undefined;
  /** false: leave `why` empty (the caller only tallies kinds and names). */
  readonly reasons: boolean;
}

export type Checker = (unit: SchedUnit, slot: Slot, state: CheckState) => Misfit | undefined;

const misfit = (kind: MisfitKind, why: string, names: readonly string[] = []): Misfit => ({ ok: false, kind, names, why });
const QUIET_MACHINE_ID = misfit('machineId', '');
const QUIET_METADATA = misfit('metadata', '');
const NO_VICTIMS: readonly SchedUnit[] = [];

/** Key of "replacer displaced victim" in the set of evictions made so far in a plan. */
export const evictionKey = (replacer: string, victim: string): string => `${replacer}\n${victim}`;

/** The reason the machine's agent refused the unit, or undefined. */
export function refusalOn(unit: SchedUnit, machineId: string): string | undefined {
  return unit.refusedBy !== undefined && Object.hasOwn(unit.refusedBy, machineId) ? unit.refusedBy[machineId] : undefined;
}

/** Units on the machine that `unit` replaces (a shared empty list for the many units that replace nothing). */
export function victimsOn(unit: SchedUnit, slot: Slot, cluster: Cluster): readonly SchedUnit[] {
  return cluster.replacesAny(unit) ? cluster.replacedOn(unit, slot) : NO_VICTIMS;
}

/** The machine's agent said it cannot run the unit (e.g. a name it will not load). */
export const refused: Checker = (unit, slot, s) => {
  const why = refusalOn(unit, slot.machine.id);
  if (why === undefined) return undefined;
  return misfit('refused', s.reasons ? `its agent refused it: ${why}` : '', [slot.machine.id]);
};

/** Reschedule=on-failure: these contents failed on this machine, so they do not go back there. */
export const failed: Checker = (unit, slot, s) => {
  if (!failedOn(unit, slot.machine.id)) return undefined;
  return misfit('failed', s.reasons ? 'it failed on this machine (Reschedule=on-failure)' : '', [slot.machine.id]);
};

/** MachineID: the full id or its 8-character short form. */
export const machineId: Checker = (unit, slot, s) => {
  const want = unit.requirements.machineId;
  if (want === undefined || machineIdMatches(want, slot.machine.id)) return undefined;
  return s.reasons ? misfit('machineId', `MachineID=${want} does not match`) : QUIET_MACHINE_ID;
};

/** MachineMetadata: every key with values, one of its values. */
export const metadata: Checker = (unit, slot, s) => {
  if (metadataSatisfied(unit.requirements, slot.machine)) return undefined;
  return s.reasons ? misfit('metadata', metadataShortfall(unit.requirements, slot.machine)!) : QUIET_METADATA;
};

/** MachineOf: every peer is on this machine (a global peer counts where it runs). */
export const machineOf: Checker = (unit, slot, s) => {
  for (const peer of unit.requirements.machineOf) {
    if (!s.cluster.isOn(peer, slot.machine.id)) {
      return misfit('peer', s.reasons ? `MachineOf peer ${peer} is not on this machine` : '', [peer]);
    }
  }
  return undefined;
};

/** Replaces: a unit does not displace the same unit twice in one plan, so takeovers end. */
export const replaces: Checker = (unit, slot, s) => {
  const victims = victimsOn(unit, slot, s.cluster);
  if (victims.length === 0) return undefined;
  const again = victims.filter((v) => s.evicted.has(evictionKey(unit.name, v.name))).map((v) => v.name);
  if (again.length === 0) return undefined;
  return misfit('protected', s.reasons ? `runs ${nameList(again)}, which it already displaced once in this plan` : '', again);
};

/** Conflicts, both ways, not counting the units this one would replace here. */
export const conflicts: Checker = (unit, slot, s) => {
  const victims = victimsOn(unit, slot, s.cluster);
  const spared = victims.length > 0 ? new Set(victims.map((v) => v.name)) : undefined;
  const conflict =
    s.conflicts && !spared ? s.conflicts.get(slot.machine.id) : s.cluster.conflictOn(unit, slot, spared);
  if (conflict === undefined) return undefined;
  return misfit('conflict', s.reasons ? `conflicts with ${conflict}` : '', [conflict]);
};

/** The other side of Replaces: a unit on this machine replaces this one. */
export const replacedBy: Checker = (unit, slot, s) => {
  const replacer = s.cluster.replacerOn(unit, slot);
  if (replacer === undefined) return undefined;
  return misfit('replacedBy', s.reasons ? `would be replaced by ${replacer}` : '', [replacer]);
};

/** Every constraint on a non-global unit, in the order they are asked. */
export const CHECKERS: readonly Checker[] = [refused, failed, machineId, metadata, machineOf, replaces, conflicts, replacedBy];

/** The first constraint that keeps `unit` off `slot`, or undefined when it may run there. */
export function firstMisfit(unit: SchedUnit, slot: Slot, state: CheckState): Misfit | undefined {
  for (const check of CHECKERS) {
    const m = check(unit, slot, state);
    if (m !== undefined) return m;
  }
  return undefined;
}
