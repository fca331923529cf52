/**
 * The engine's scheduling pass as a pure function from cluster state to a plan (docs/fleet-compat.md#x-fleet-options-and-scheduling, with less churn):
 * pass 1 keeps every scheduled unit whose machine can still run it, pass 2 places the rest on the least-loaded
 * machine that can run them, targets before MachineOf followers, updating the in-memory state after each decision.
 *
 * schedule() runs named phases, each a method of one SchedulePass that holds the whole state of the pass:
 * dropStale (units gone or global), keepAlone (1a: refusal, MachineID, metadata of the current machine),
 * keepTogether (1b: peers, Replaces, Conflicts among the units kept), runGlobals (1c: where global units run),
 * rescheduleFailed (1d: Reschedule=on-failure, units due to leave a machine where they failed, reschedule.ts),
 * placeRest (2: choose a machine for every unit left), result. Whether a unit may run on a machine is asked of
 * the checkers in checkers.ts, one per constraint, the same ones fit() and explain() use.
 *
 * Where we differ from fleet:
 * - Nothing is rebalanced: a joining machine moves nothing; a lost machine moves only its own units (after
 *   `graceMs`, if set) and their MachineOf followers. Order is deterministic (MachineOf depth, then name), so of two
 *   conflicting units already sharing a machine the first by name stays.
 * - A unit already on a machine wins over a global unit that conflicts with it (the agent then leaves the global
 *   unit off that machine); a unit being placed avoids machines where a conflicting global unit runs.
 * - Replaces: a unit placed for the first time prefers a machine running a unit it replaces and takes it over; the
 *   replaced unit (and its followers) goes to the least-loaded other machine that can run it, constraints checked.
 *   A unit that had a machine takes one over only if nothing else fits. Replaces inside a cycle of any length are
 *   ignored (fleet ignored two-unit cycles), so takeovers always end.
 * - A MachineOf peer may be a global unit: then any machine running it will do.
 */
import { compareStrings } from '../compare.js';
import { evictionKey, firstMisfit, machineId, metadata, refusalOn, victimsOn, type CheckState } from './checkers.js';
import { Cluster, type Slot } from './cluster.js';
import { nameList } from './constraints.js';
import { fit, Tally } from './fit.js';
import { globalUnitsFor } from './global.js';
import { RankQueue } from './heap.js';
import { machineOfGraph, type MachineOfGraph } from './order.js';
import { ReplaceGraph } from './replace-graph.js';
import { rescheduleVerdict } from './reschedule.js';
import type { ClusterState, MoveOp, Op, PendingUnit, PlaceOp, Plan, ScheduleOptions, SchedUnit, UnscheduleOp } from './types.js';

export interface Decision {
  /** Machine after the plan; undefined = unscheduled. */
  readonly to: string | undefined;
  readonly reason: string;
}

/** The plan together with the state it leads to (for explain). */
export interface Scheduled {
  readonly plan: Plan;
  readonly cluster: Cluster;
  readonly units: ReadonlyMap<string, SchedUnit>;
  readonly globals: readonly SchedUnit[];
  readonly decisions: ReadonlyMap<string, Decision>;
  readonly pending: ReadonlyMap<string, string>;
  /** Units kept on a lost machine during its grace period -> that machine. */
  readonly held: ReadonlyMap<string, string>;
  /** evictionKey(replacer, victim) of every takeover in this plan. */
  readonly evicted: ReadonlySet<string>;
}

interface Displacement {
  readonly cause: string;
  /** The first cause in a MachineOf chain. */
  readonly root: string;
  readonly followsPeer: boolean;
}

type Choice =
  | { readonly ok: true; readonly to: string; readonly victims: readonly SchedUnit[]; readonly how: string }
  | { readonly ok: false; readonly why: string };

const own = (why: string): Displacement => ({ cause: why, root: why, followsPeer: false });
const byLoadThenId = (a: Slot, b: Slot): number =>
  a.load - b.load || (a.machine.id < b.machine.id ? -1 : a.machine.id > b.machine.id ? 1 : 0);

export function plan(state: ClusterState): Plan {
  return schedule(state).plan;
}

/** The pass, phase by phase; each phase reads and updates the one SchedulePass. */
export function schedule(state: ClusterState): Scheduled {
  const pass = new SchedulePass(state);
  pass.dropStale();
  pass.keepAlone();
  pass.keepTogether();
  pass.runGlobals();
  pass.rescheduleFailed();
  pass.placeRest();
  return pass.result();
}

/**
 * Everything one scheduling pass knows and decides. The phases are methods, called once each in the order of
 * schedule(); helpers shared by several phases (decide, drop, evict, choose) are methods too, so no phase
 * allocates closures per unit.
 */
class SchedulePass {
  private readonly opts: ScheduleOptions;
  /** Every unit, by name in name order. */
  readonly units = new Map<string, SchedUnit>();
  private readonly nonGlobal = new Map<string, SchedUnit>();
  readonly globals: SchedUnit[] = [];
  private readonly graph: MachineOfGraph;
  private readonly replaceGraph: ReplaceGraph;
  readonly cluster: Cluster;

  /** Units whose machine changes (or that are told why they stay off), in decision order. */
  readonly decisions = new Map<string, Decision>();
  /** Units left without a machine -> why. */
  readonly pending = new Map<string, string>();
  /** Units that lost their machine in this pass -> why. */
  private readonly displaced = new Map<string, Displacement>();
  readonly held = new Map<string, string>();
  private readonly stale: UnscheduleOp[] = [];
  /** Units kept by 1a that failed on their machine and are due to move (Reschedule=on-failure) -> why. */
  private readonly failing = new Map<string, string>();
  /** Scheduled units whose machine can still run them on its own -> that machine (pass 1a). */
  private readonly viable = new Map<string, string>();
  /** Units a takeover moved in this pass. */
  private readonly moved = new Set<string>();
  readonly evicted = new Set<string>();
  private readonly queue = new RankQueue();
  /** Units a takeover displaced are re-placed before anything else, so later decisions see where they went. */
  private readonly urgent = new RankQueue();
  /** For the placement loop: no reason strings, conflicts indexed per unit when worth it. */
  private readonly quick: CheckState;
  /** For reasons: the same checks, with their reasons. */
  private readonly full: CheckState;

  constructor(private readonly state: ClusterState) {
    this.opts = state.options ?? {};
    for (const u of [...state.units].sort((a, b) => compareStrings(a.name, b.name))) this.units.set(u.name, u);
    for (const u of this.units.values()) {
      if (u.requirements.global) this.globals.push(u);
      else this.nonGlobal.set(u.name, u);
    }
    this.graph = machineOfGraph(this.nonGlobal);
    this.replaceGraph = new ReplaceGraph(this.nonGlobal);
    this.cluster = new Cluster(state.machines, this.replaceGraph, [...this.units.keys()]);
    this.quick = { cluster: this.cluster, evicted: this.evicted, conflicts: undefined, reasons: false };
    this.full = { cluster: this.cluster, evicted: this.evicted, conflicts: undefined, reasons: true };
  }

  private scheduledOn(name: string): string | undefined {
    return Object.hasOwn(this.state.schedule, name) ? this.state.schedule[name] : undefined;
  }

  private decide(name: string, to: string | undefined, reason: string): void {
    this.decisions.delete(name);
    this.decisions.set(name, { to, reason });
  }

  private rankOf(name: string): number {
    return this.graph.rank.get(name)!;
  }

  /** Phase 0: scheduled units that no longer exist, or are global, come off their machines. */
  dropStale(): void {
    for (const name of Object.keys(this.state.schedule).sort()) {
      const u = this.units.get(name);
      const from = this.state.schedule[name]!;
      if (!u) this.stale.push({ kind: 'unschedule', unit: name, from, reason: 'unit no longer exists' });
      else if (u.requirements.global) {
        this.stale.push({ kind: 'unschedule', unit: name, from, reason: 'global units are not scheduled by the engine' });
      }
    }
  }

  /** Phase 1a: what each scheduled unit needs from its machine alone (refusal, MachineID, metadata). */
  keepAlone(): void {
    const now = this.opts.now ?? Date.now();
    const graceMs = this.opts.graceMs ?? 0;
    const lostMachines = this.opts.lostMachines;
    for (const name of this.graph.order) {
      const u = this.nonGlobal.get(name)!;
      const from = this.scheduledOn(name);
      if (u.desiredState === 'inactive') {
        if (from !== undefined) this.decide(name, undefined, 'desired state is inactive');
        continue;
      }
      const cycle = this.graph.cycles.get(name);
      if (cycle) {
        const why = `MachineOf cycle ${cycle.join(' -> ')} can never be placed`;
        this.pending.set(name, why);
        if (from !== undefined) this.decide(name, undefined, why);
        continue;
      }
      if (from === undefined) continue;
      const slot = this.cluster.slot(from);
      if (!slot) {
        const lostAt = lostMachines && Object.hasOwn(lostMachines, from) ? lostMachines[from] : undefined;
        if (lostAt !== undefined && now < lostAt + graceMs) {
          this.held.set(name, from);
          this.pending.set(name, `machine ${from} lost, moving in ${Math.ceil((lostAt + graceMs - now) / 1000)}s`);
        } else {
          this.displaced.set(name, own(`machine ${from} went away`));
        }
        continue;
      }
      const refusal = refusalOn(u, from);
      if (refusal !== undefined) {
        this.displaced.set(name, own(`the agent of machine ${from} refused it: ${refusal}`));
        continue;
      }
      const misfit = machineId(u, slot, this.full) ?? metadata(u, slot, this.full);
      if (misfit !== undefined) {
        this.displaced.set(name, own(`machine ${from} can no longer run it: ${misfit.why}`));
        continue;
      }
      // failed there: it stays until its delay is over, and then only if another machine takes it (rescheduleFailed)
      const failure = rescheduleVerdict(u, from, now);
      if (failure.kind === 'move') this.failing.set(name, failure.why);
      this.viable.set(name, from);
    }
  }

  /** Phase 1b: peers, Replaces and Conflicts against the units kept so far (targets first, then by name). */
  keepTogether(): void {
    for (const name of this.graph.order) {
      const from = this.viable.get(name);
      if (from === undefined) continue;
      const u = this.nonGlobal.get(name)!;
      const d = this.stay(u, from, this.cluster.slot(from)!);
      if (d) this.displaced.set(name, d);
      else this.cluster.add(u, from);
    }
  }

  /**
   * Why a unit kept by phase 1a leaves after all, or undefined. Unlike the checkers this judges a unit that is
   * already there: a missing peer makes it move with (or wait for) that peer, and nothing it replaces is spared.
   */
  private stay(u: SchedUnit, from: string, slot: Slot): Displacement | undefined {
    for (const peer of new Set(u.requirements.machineOf)) {
      if (this.nonGlobal.has(peer)) {
        const at = this.cluster.placement.get(peer);
        if (at === from) continue;
        if (at !== undefined) return own(`machine ${from} can no longer run it: MachineOf peer ${peer} is on ${at}`);
        const pd = this.displaced.get(peer);
        if (pd) return { cause: `moves with MachineOf peer ${peer} (${pd.root})`, root: pd.root, followsPeer: true };
        const lost = this.held.get(peer);
        if (lost !== undefined) return own(`MachineOf peer ${peer} is on lost machine ${lost}`);
        return own(`MachineOf peer ${peer} is not scheduled`);
      }
      if (!this.units.has(peer)) return own(`MachineOf peer ${peer} is not scheduled`);
    }
    for (const replacer of this.replaceGraph.replacersOf(u.name)) {
      if (this.viable.get(replacer) === from) return own(`replaced by ${replacer} on ${from}`);
    }
    const conflict = this.cluster.conflictOn(u, slot);
    if (conflict !== undefined) return own(`machine ${from} can no longer run it: conflicts with ${conflict}`);
    return undefined;
  }

  /** Takes a unit off its machine, and with it the followers placed there (transitively). */
  private drop(name: string, machineId: string, d: Displacement, takenOver: boolean): void {
    this.cluster.remove(name);
    this.displaced.set(name, d);
    if (takenOver) {
      this.moved.add(name);
      this.urgent.push(this.rankOf(name));
    }
    for (const f of this.graph.followers.get(name) ?? []) {
      if (this.cluster.placement.get(f) === machineId) {
        const follow = { cause: `moves with MachineOf peer ${name} (${d.root})`, root: d.root, followsPeer: true };
        this.drop(f, machineId, follow, takenOver);
      }
    }
  }

  /**
   * Phase 1c: global units run where the agent will run them, given the units kept there; they count as load. A
   * unit kept for a global MachineOf peer that does not run on its machine leaves, which may let other global
   * units run.
   */
  runGlobals(): void {
    const activeGlobals = this.globals.filter((g) => g.desiredState !== 'inactive');
    for (const slot of [...this.cluster.ordered()]) {
      const id = slot.machine.id;
      for (;;) {
        const run = new Set(globalUnitsFor(slot.machine, activeGlobals, [...slot.units.values()]).run);
        let orphan: [SchedUnit, string] | undefined;
        for (const u of slot.units.values()) {
          const peer = u.requirements.machineOf.find((p) => this.units.get(p)?.requirements.global && !run.has(p));
          if (peer !== undefined) {
            orphan = [u, peer];
            break;
          }
        }
        if (!orphan) {
          for (const g of run) this.cluster.addGlobal(this.units.get(g)!, id);
          break;
        }
        const why = `machine ${id} can no longer run it: global MachineOf peer ${orphan[1]} does not run there`;
        this.drop(orphan[0].name, id, own(why), false);
      }
    }
  }

  /**
   * Phase 1d (Reschedule=on-failure): a unit that failed on its machine and is due to move goes to the machine
   * placeRest would choose for it (the `failed` checker keeps it off every machine where it failed), with the
   * units placed with it as MachineOf peers. When no machine takes it, it stays where it is, failed.
   */
  rescheduleFailed(): void {
    for (const [name, why] of this.failing) {
      const from = this.cluster.placement.get(name);
      if (from === undefined || from !== this.scheduledOn(name)) continue;
      const u = this.nonGlobal.get(name)!;
      const choice = this.choose(u);
      if (!choice.ok) continue;
      const d = own(why);
      this.drop(name, from, d, false);
      this.cluster.add(u, choice.to);
      for (const v of choice.victims) this.evict(v.name, choice.to, name);
      this.decide(name, choice.to, `${why}; ${choice.how}`);
    }
  }

  /** Phase 2: place everything that should run and has no machine, repeating while takeovers free room. */
  placeRest(): void {
    const { graph, nonGlobal, cluster, queue, urgent } = this;
    for (const name of graph.order) {
      const u = nonGlobal.get(name)!;
      if (u.desiredState === 'inactive' || graph.cycles.has(name) || this.held.has(name) || cluster.placement.has(name)) {
        continue;
      }
      queue.push(this.rankOf(name));
    }
    for (;;) {
      const failed: number[] = [];
      let tookOver = false;
      for (let r = urgent.pop() ?? queue.pop(); r !== undefined; r = urgent.pop() ?? queue.pop()) {
        const name = graph.order[r]!;
        if (cluster.placement.has(name)) continue;
        const u = nonGlobal.get(name)!;
        const choice = this.choose(u);
        const d = this.displaced.get(name);
        if (choice.ok) {
          cluster.add(u, choice.to);
          for (const v of choice.victims) this.evict(v.name, choice.to, name);
          tookOver ||= choice.victims.length > 0;
          this.decide(name, choice.to, d ? (d.followsPeer ? d.cause : `${d.cause}; ${choice.how}`) : choice.how);
          this.pending.delete(name);
        } else {
          this.decide(name, undefined, d && d.cause !== choice.why ? `${d.cause}; ${choice.why}` : choice.why);
          this.pending.set(name, choice.why);
          failed.push(r);
        }
      }
      // A takeover frees room that units which failed earlier in this pass may now use.
      if (!tookOver || failed.length === 0) break;
      for (const r of failed) queue.push(r);
    }
  }

  private evict(victim: string, machineId: string, by: string): void {
    this.evicted.add(evictionKey(by, victim));
    this.drop(victim, machineId, own(`replaced by ${by} on ${machineId}`), true);
  }

  private replacedHosts(u: SchedUnit): Set<string> {
    const hosts = new Set<string>();
    for (const v of this.replaceGraph.victimsOf(u.name)) {
      const at = this.cluster.placement.get(v);
      if (at !== undefined) hosts.add(at);
    }
    return hosts;
  }

  private peerMissing(peer: string): string {
    const lost = this.held.get(peer);
    return lost !== undefined
      ? `MachineOf peer ${peer} is on lost machine ${lost}`
      : `MachineOf peer ${peer} is not scheduled`;
  }

  private whyNot(u: SchedUnit, slot: Slot): string {
    const f = fit(this.cluster, u, slot, this.evicted);
    return f.ok ? 'it fits' : f.why;
  }

  /** The machine for `u`: candidates narrowed by MachineOf or MachineID, then the first that every checker allows. */
  private choose(u: SchedUnit): Choice {
    const { cluster } = this;
    const req = u.requirements;
    const peers = [...new Set(req.machineOf)];
    let candidates: readonly Slot[];
    let how: (slot: Slot) => string;
    let failure: (tally: Tally) => string;
    if (peers.length > 0) {
      let common: Set<string> | undefined;
      for (const p of peers) {
        const at = cluster.machinesOf(p);
        if (at.length === 0) return { ok: false, why: this.peerMissing(p) };
        common = common ? new Set(at.filter((m) => common!.has(m))) : new Set(at);
      }
      if (common!.size === 0) return { ok: false, why: `MachineOf peers ${nameList(peers)} are on different machines` };
      candidates = [...common!].map((id) => cluster.slot(id)!).sort(byLoadThenId);
      const which = `MachineOf ${peers.length > 1 ? 'peers' : 'peer'} ${nameList(peers)}`;
      how = () => `with ${which}`;
      failure = (tally) =>
        candidates.length === 1
          ? `${which} ${peers.length > 1 ? 'are' : 'is'} on ${candidates[0]!.machine.id}, which cannot run it: ${this.whyNot(u, candidates[0]!)}`
          : tally.summary(u, `every machine running its ${which}`);
    } else if (req.machineId !== undefined) {
      const id = req.machineId;
      candidates = cluster.machinesMatchingId(id);
      if (candidates.length === 0) return { ok: false, why: `no machine matches MachineID=${id}` };
      how = () => `required by MachineID=${id}`;
      failure = (tally) =>
        candidates.length === 1
          ? `MachineID=${id}: machine ${candidates[0]!.machine.id} cannot run it: ${this.whyNot(u, candidates[0]!)}`
          : tally.summary(u, `every machine matching MachineID=${id}`);
    } else {
      candidates = cluster.ordered();
      how = (slot) => `least-loaded eligible machine (load ${slot.load})`;
      failure = (tally) => tally.summary(u);
    }

    const canEvict = cluster.replacesAny(u);
    if (canEvict) {
      // A new unit takes over a machine running a unit it replaces; a unit that already had a machine does so
      // only when nothing else fits, so that a lost machine moves no more than its own units.
      const hosts = this.replacedHosts(u);
      const withVictims = candidates.filter((s) => hosts.has(s.machine.id));
      const others = candidates.filter((s) => !hosts.has(s.machine.id));
      const fresh = this.scheduledOn(u.name) === undefined && !this.moved.has(u.name);
      candidates = fresh ? [...withVictims, ...others] : [...others, ...withVictims];
    }

    // The checkers without reasons: a unit that fits nowhere tries every machine.
    const tally = new Tally();
    const quick = this.quick;
    quick.conflicts = undefined;
    for (const slot of candidates) {
      // Usually one of the first machines fits; past a few, index the conflicts once instead of per machine.
      if (tally.size >= 8 && !quick.conflicts && !canEvict) quick.conflicts = cluster.conflictMap(u);
      const m = firstMisfit(u, slot, quick);
      if (m === undefined) {
        const victims = victimsOn(u, slot, cluster);
        const names = victims.map((v) => v.name);
        return {
          ok: true,
          to: slot.machine.id,
          victims,
          how: names.length > 0 ? `takes the machine of ${nameList(names)} (Replaces)` : how(slot),
        };
      }
      tally.note(m.kind, m.names);
    }
    return { ok: false, why: failure(tally) };
  }

  result(): Scheduled {
    const unschedules: Op[] = [...this.stale];
    const moves: MoveOp[] = [];
    const places: PlaceOp[] = [];
    for (const [unit, d] of this.decisions) {
      const from = this.scheduledOn(unit);
      if (d.to === from) continue;
      if (from === undefined) places.push({ kind: 'place', unit, machineId: d.to!, reason: d.reason });
      else if (d.to === undefined) unschedules.push({ kind: 'unschedule', unit, from, reason: d.reason });
      else moves.push({ kind: 'move', unit, from, to: d.to, reason: d.reason });
    }
    const pendingList: PendingUnit[] = [...this.pending]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([unit, reason]) => ({ unit, reason }));
    return {
      plan: { ops: [...unschedules, ...moves, ...places], pending: pendingList },
      cluster: this.cluster,
      units: this.units,
      globals: this.globals,
      decisions: this.decisions,
      pending: this.pending,
      held: this.held,
      evicted: this.evicted,
    };
  }
}
