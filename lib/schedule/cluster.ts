/**
 * The scheduler's in-memory view of the cluster, indexed for cheap checks: units by machine, the units on each
 * machine that carry Conflicts or Replaces globs, and machines kept sorted by (load, id).
 */
import { globMatch } from './glob.js';
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

  constructor(
    machines: readonly SchedMachine[],
    private readonly replace: ReplaceGraph,
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

  get size(): number {
    return this.slots.size;
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

  /** A unit on the machine that replaces `unit`. */
  replacerOn(unit: SchedUnit, slot: Slot): string | undefined {
    for (const r of this.replace.replacersOf(unit.name)) {
      if (this.placement.get(r) === slot.machine.id) return r;
    }
    return undefined;
  }

  /** Units on the machine that `unit` replaces. */
  replacedOn(unit: SchedUnit, slot: Slot): SchedUnit[] {
    const out: SchedUnit[] = [];
    for (const v of this.replace.victimsOf(unit.name)) {
      if (this.placement.get(v) === slot.machine.id) out.push(slot.units.get(v)!);
    }
    return out;
  }

  private attach(unit: SchedUnit, slot: Slot): void {
    slot.units.set(unit.name, unit);
    if (unit.requirements.conflicts.length > 0) slot.conflicters.add(unit);
    this.setLoad(slot, slot.load + 1);
  }

  private setLoad(slot: Slot, load: number): void {
    this.byLoad.splice(this.indexOf(slot), 1);
    slot.load = load;
    let lo = 0;
    let hi = this.byLoad.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.byLoad[mid]!, slot)) lo = mid + 1;
      else hi = mid;
    }
    this.byLoad.splice(lo, 0, slot);
  }

  private indexOf(slot: Slot): number {
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
