/**
 * The scheduler's in-memory view of the cluster, indexed for cheap checks: units by machine, the Conflicts globs
 * of placed units by glob and machine, and machines kept sorted by (load, id).
 */
import { globMatch } from '../unit/glob.js';
import { anyGlobMatches, isLiteral, machineIdMatches } from './constraints.js';
import type { ReplaceGraph } from './replace-graph.js';
import type { SchedMachine, SchedUnit } from './types.js';

export interface Slot {
  readonly machine: SchedMachine;
  /** Non-global units placed here and the global units that run here. */
  readonly units: Map<string, SchedUnit>;
  readonly conflicters: Set<SchedUnit>;
  load: number;
}

/** Machine id -> a unit there that a given unit conflicts with. */
export type ConflictMap = ReadonlyMap<string, string>;

/** glob (or literal name) -> machine -> units placed there that carry it. */
type GlobIndex = Map<string, Map<string, Set<string>>>;

function before(a: Slot, b: Slot): boolean {
  return a.load < b.load || (a.load === b.load && a.machine.id < b.machine.id);
}

export class Cluster {
  private readonly slots = new Map<string, Slot>();
  private readonly byLoad: Slot[] = [];
  /** Non-global unit -> machine id. */
  readonly placement = new Map<string, string>();
  /** Global unit -> machines running it. */
  readonly globalMachines = new Map<string, Set<string>>();
  private readonly wildConflicts: GlobIndex = new Map();
  private readonly literalConflicts: GlobIndex = new Map();
  private readonly matching = new Map<string, string[]>();

  constructor(
    machines: readonly SchedMachine[],
    private readonly replace: ReplaceGraph,
    /** Every unit name, for expanding Conflicts globs. */
    private readonly names: readonly string[],
  ) {
    for (const machine of machines) {
      this.slots.set(machine.id, { machine, units: new Map(), conflicters: new Set(), load: 0 });
    }
    this.byLoad.push(...this.slots.values());
    this.byLoad.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  }

  slot(machineId: string): Slot | undefined {
    return this.slots.get(machineId);
  }

  /** Machines by (load, id) ascending: the least-loaded order. */
  ordered(): readonly Slot[] {
    return this.byLoad;
  }

  machinesMatchingId(required: string): Slot[] {
    const exact = this.slots.get(required);
    if (exact) return [exact];
    return this.byLoad.filter((s) => machineIdMatches(required, s.machine.id));
  }

  /** Machines a MachineOf peer is on: one for a placed unit, every machine running it for a global unit. */
  machinesOf(unit: string): string[] {
    const m = this.placement.get(unit);
    if (m !== undefined) return [m];
    return [...(this.globalMachines.get(unit) ?? [])];
  }

  isOn(unit: string, machineId: string): boolean {
    return this.placement.get(unit) === machineId || (this.globalMachines.get(unit)?.has(machineId) ?? false);
  }

  add(unit: SchedUnit, machineId: string): void {
    const slot = this.slots.get(machineId)!;
    this.placement.set(unit.name, machineId);
    this.attach(unit, slot);
  }

  addGlobal(unit: SchedUnit, machineId: string): void {
    const slot = this.slots.get(machineId)!;
    let ms = this.globalMachines.get(unit.name);
    if (!ms) this.globalMachines.set(unit.name, (ms = new Set()));
    ms.add(machineId);
    this.attach(unit, slot);
  }

  remove(unitName: string): void {
    const machineId = this.placement.get(unitName);
    if (machineId === undefined) return;
    this.placement.delete(unitName);
    const slot = this.slots.get(machineId)!;
    const unit = slot.units.get(unitName)!;
    slot.units.delete(unitName);
    slot.conflicters.delete(unit);
    for (const glob of unit.requirements.conflicts) {
      const perMachine = (isLiteral(glob) ? this.literalConflicts : this.wildConflicts).get(glob);
      const owners = perMachine?.get(machineId);
      owners?.delete(unitName);
      if (owners?.size === 0) perMachine!.delete(machineId);
    }
    this.setLoad(slot, slot.load - 1);
  }

  /** A unit on the machine that `unit` conflicts with (either direction), not counting `ignore`. */
  conflictOn(unit: SchedUnit, slot: Slot, ignore?: ReadonlySet<string>): string | undefined {
    const skip = (name: string): boolean => name === unit.name || (ignore?.has(name) ?? false);
    for (const glob of unit.requirements.conflicts) {
      if (isLiteral(glob)) {
        if (slot.units.has(glob) && !skip(glob)) return glob;
        continue;
      }
      for (const name of slot.units.keys()) {
        if (!skip(name) && globMatch(glob, name)) return name;
      }
    }
    for (const other of slot.conflicters) {
      if (!skip(other.name) && anyGlobMatches(other.requirements.conflicts, unit.name)) return other.name;
    }
    return undefined;
  }

  /**
   * Every machine where `unit` would conflict with something, at the cost of the units its globs name plus the
   * distinct globs in use, instead of a scan of every machine.
   */
  conflictMap(unit: SchedUnit): ConflictMap {
    const out = new Map<string, string>();
    for (const glob of unit.requirements.conflicts) {
      for (const name of isLiteral(glob) ? [glob] : this.namesMatching(glob)) {
        if (name === unit.name) continue;
        const at = this.placement.get(name);
        if (at !== undefined && !out.has(at)) out.set(at, name);
        for (const m of this.globalMachines.get(name) ?? []) if (!out.has(m)) out.set(m, name);
      }
    }
    const noteOwners = (perMachine: Map<string, Set<string>>): void => {
      for (const [m, owners] of perMachine) {
        if (out.has(m)) continue;
        for (const o of owners) {
          if (o !== unit.name) {
            out.set(m, o);
            break;
          }
        }
      }
    };
    const literal = this.literalConflicts.get(unit.name);
    if (literal) noteOwners(literal);
    for (const [glob, perMachine] of this.wildConflicts) if (globMatch(glob, unit.name)) noteOwners(perMachine);
    return out;
  }

  /** A unit on the machine that replaces `unit`. */
  replacerOn(unit: SchedUnit, slot: Slot): string | undefined {
    for (const r of this.replace.replacersOf(unit.name)) {
      if (this.placement.get(r) === slot.machine.id) return r;
    }
    return undefined;
  }

  /** Whether `unit` replaces any unit at all (most do not). */
  replacesAny(unit: SchedUnit): boolean {
    return this.replace.victimsOf(unit.name).size > 0;
  }

  /** Units on the machine that `unit` replaces. */
  replacedOn(unit: SchedUnit, slot: Slot): SchedUnit[] {
    const out: SchedUnit[] = [];
    for (const v of this.replace.victimsOf(unit.name)) {
      if (this.placement.get(v) === slot.machine.id) out.push(slot.units.get(v)!);
    }
    return out;
  }

  private namesMatching(glob: string): readonly string[] {
    let names = this.matching.get(glob);
    if (!names) {
      names = this.names.filter((n) => globMatch(glob, n));
      this.matching.set(glob, names);
    }
    return names;
  }

  private attach(unit: SchedUnit, slot: Slot): void {
    slot.units.set(unit.name, unit);
    if (unit.requirements.conflicts.length > 0) slot.conflicters.add(unit);
    for (const glob of unit.requirements.conflicts) {
      const index = isLiteral(glob) ? this.literalConflicts : this.wildConflicts;
      let perMachine = index.get(glob);
      if (!perMachine) index.set(glob, (perMachine = new Map()));
      let owners = perMachine.get(slot.machine.id);
      if (!owners) perMachine.set(slot.machine.id, (owners = new Set()));
      owners.add(unit.name);
    }
    this.setLoad(slot, slot.load + 1);
  }

  private setLoad(slot: Slot, load: number): void {
    this.byLoad.splice(this.position(slot), 1);
    slot.load = load;
    this.byLoad.splice(this.position(slot), 0, slot);
  }

  /** Where `slot` is, or belongs, in byLoad. */
  private position(slot: Slot): number {
    let lo = 0;
    let hi = this.byLoad.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.byLoad[mid]!, slot)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
