/**
 * The engine's scheduling pass as a pure function from cluster state to a plan (docs/fleet-compat.md#x-fleet-options-and-scheduling, with less churn):
 * pass 1 keeps every scheduled unit whose machine can still run it, pass 2 places the rest on the least-loaded
 * machine that can run them, targets before MachineOf followers, updating the in-memory state after each decision.
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
import { Cluster, type ConflictMap, type Slot } from './cluster.js';
import { machineIdMatches, metadataSatisfied, metadataShortfall, nameList } from './constraints.js';
import { evictionKey, fit, refusalOn, Tally } from './fit.js';
import { globalUnitsFor } from './global.js';
import { RankQueue } from './heap.js';
import { machineOfGraph } from './order.js';
import { ReplaceGraph } from './replace-graph.js';
import type { ClusterState, MoveOp, Op, PendingUnit, PlaceOp, Plan, SchedUnit, UnscheduleOp } from './types.js';

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

export function schedule(state: ClusterState): Scheduled {
  const opts = state.options ?? {};
  const now = opts.now ?? Date.now();
  const graceMs = opts.graceMs ?? 0;

  const units = new Map<string, SchedUnit>();
  for (const u of [...state.units].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) units.set(u.name, u);
  const nonGlobal = new Map<string, SchedUnit>();
  const globals: SchedUnit[] = [];
  for (const u of units.values()) {
    if (u.requirements.global) globals.push(u);
    else nonGlobal.set(u.name, u);
  }
  const graph = machineOfGraph(nonGlobal);
  const replaceGraph = new ReplaceGraph(nonGlobal);
  const cluster = new Cluster(state.machines, replaceGraph, [...units.keys()]);
  const scheduledOn = (name: string): string | undefined =>
    Object.hasOwn(state.schedule, name) ? state.schedule[name] : undefined;

  const decisions = new Map<string, Decision>();
  const decide = (name: string, to: string | undefined, reason: string): void => {
    decisions.delete(name);
    decisions.set(name, { to, reason });
  };
  const pending = new Map<string, string>();
  const displaced = new Map<string, Displacement>();
  const held = new Map<string, string>();
  const stale: UnscheduleOp[] = [];

  for (const name of Object.keys(state.schedule).sort()) {
    const u = units.get(name);
    const from = state.schedule[name]!;
    if (!u) stale.push({ kind: 'unschedule', unit: name, from, reason: 'unit no longer exists' });
    else if (u.requirements.global) {
      stale.push({ kind: 'unschedule', unit: name, from, reason: 'global units are not scheduled by the engine' });
    }
  }

  // Pass 1a: what each scheduled unit needs from its machine alone.
  const viable = new Map<string, string>();
  for (const name of graph.order) {
    const u = nonGlobal.get(name)!;
    const from = scheduledOn(name);
    if (u.desiredState === 'inactive') {
      if (from !== undefined) decide(name, undefined, 'desired state is inactive');
      continue;
    }
    const cycle = graph.cycles.get(name);
    if (cycle) {
      const why = `MachineOf cycle ${cycle.join(' -> ')} can never be placed`;
      pending.set(name, why);
      if (from !== undefined) decide(name, undefined, why);
      continue;
    }
    if (from === undefined) continue;
    const slot = cluster.slot(from);
    if (!slot) {
      const lostAt = opts.lostMachines && Object.hasOwn(opts.lostMachines, from) ? opts.lostMachines[from] : undefined;
      if (lostAt !== undefined && now < lostAt + graceMs) {
        held.set(name, from);
        pending.set(name, `machine ${from} lost, moving in ${Math.ceil((lostAt + graceMs - now) / 1000)}s`);
      } else {
        displaced.set(name, own(`machine ${from} went away`));
      }
      continue;
    }
    const refused = refusalOn(u, from);
    if (refused !== undefined) {
      displaced.set(name, own(`the agent of machine ${from} refused it: ${refused}`));
      continue;
    }
    const req = u.requirements;
    const why =
      req.machineId !== undefined && !machineIdMatches(req.machineId, from)
        ? `MachineID=${req.machineId} does not match`
        : metadataShortfall(req, slot.machine);
    if (why !== undefined) {
      displaced.set(name, own(`machine ${from} can no longer run it: ${why}`));
      continue;
    }
    viable.set(name, from);
  }

  // Pass 1b: peers, Replaces and Conflicts against the units kept so far (targets first, then by name).
  const stay = (u: SchedUnit, from: string, slot: Slot): Displacement | undefined => {
    for (const peer of new Set(u.requirements.machineOf)) {
      if (nonGlobal.has(peer)) {
        const at = cluster.placement.get(peer);
        if (at === from) continue;
        if (at !== undefined) return own(`machine ${from} can no longer run it: MachineOf peer ${peer} is on ${at}`);
        const pd = displaced.get(peer);
        if (pd) return { cause: `moves with MachineOf peer ${peer} (${pd.root})`, root: pd.root, followsPeer: true };
        const lost = held.get(peer);
        if (lost !== undefined) return own(`MachineOf peer ${peer} is on lost machine ${lost}`);
        return own(`MachineOf peer ${peer} is not scheduled`);
      }
      if (!units.has(peer)) return own(`MachineOf peer ${peer} is not scheduled`);
    }
    for (const replacer of replaceGraph.replacersOf(u.name)) {
      if (viable.get(replacer) === from) return own(`replaced by ${replacer} on ${from}`);
    }
    const conflict = cluster.conflictOn(u, slot);
    if (conflict !== undefined) return own(`machine ${from} can no longer run it: conflicts with ${conflict}`);
    return undefined;
  };
  for (const name of graph.order) {
    const from = viable.get(name);
    if (from === undefined) continue;
    const u = nonGlobal.get(name)!;
    const d = stay(u, from, cluster.slot(from)!);
    if (d) displaced.set(name, d);
    else cluster.add(u, from);
  }

  /** Takes a unit off its machine, and with it the followers placed there (transitively). */
  const drop = (name: string, machineId: string, d: Displacement, onDrop: (name: string) => void): void => {
    cluster.remove(name);
    displaced.set(name, d);
    onDrop(name);
    for (const f of graph.followers.get(name) ?? []) {
      if (cluster.placement.get(f) === machineId) {
        drop(f, machineId, { cause: `moves with MachineOf peer ${name} (${d.root})`, root: d.root, followsPeer: true }, onDrop);
      }
    }
  };

  // Global units run where the agent will run them, given the units kept there; they count as load. A unit kept
  // for a global MachineOf peer that does not run on its machine leaves, which may let other global units run.
  const activeGlobals = globals.filter((g) => g.desiredState !== 'inactive');
  for (const slot of [...cluster.ordered()]) {
    const id = slot.machine.id;
    for (;;) {
      const run = new Set(globalUnitsFor(slot.machine, activeGlobals, [...slot.units.values()]).run);
      let orphan: [SchedUnit, string] | undefined;
      for (const u of slot.units.values()) {
        const peer = u.requirements.machineOf.find((p) => units.get(p)?.requirements.global && !run.has(p));
        if (peer !== undefined) {
          orphan = [u, peer];
          break;
        }
      }
      if (!orphan) {
        for (const g of run) cluster.addGlobal(units.get(g)!, id);
        break;
      }
      drop(orphan[0].name, id, own(`machine ${id} can no longer run it: global MachineOf peer ${orphan[1]} does not run there`), () => {});
    }
  }

  // Pass 2: place everything that should run and has no machine.
  const moved = new Set<string>();
  const evicted = new Set<string>();
  const queue = new RankQueue();
  // Units a takeover displaced are re-placed before anything else, so later decisions see where they went.
  const urgent = new RankQueue();
  const rankOf = (name: string): number => graph.rank.get(name)!;

  const evict = (victim: string, machineId: string, by: string): void => {
    evicted.add(evictionKey(by, victim));
    drop(victim, machineId, own(`replaced by ${by} on ${machineId}`), (name) => {
      moved.add(name);
      urgent.push(rankOf(name));
    });
  };

  const replacedHosts = (u: SchedUnit): Set<string> => {
    const hosts = new Set<string>();
    for (const v of replaceGraph.victimsOf(u.name)) {
      const at = cluster.placement.get(v);
      if (at !== undefined) hosts.add(at);
    }
    return hosts;
  };

  const peerMissing = (peer: string): string => {
    const lost = held.get(peer);
    return lost !== undefined
      ? `MachineOf peer ${peer} is on lost machine ${lost}`
      : `MachineOf peer ${peer} is not scheduled`;
  };

  const whyNot = (u: SchedUnit, slot: Slot): string => {
    const f = fit(cluster, u, slot, evicted);
    return f.ok ? 'it fits' : f.why;
  };

  const choose = (u: SchedUnit): Choice => {
    const req = u.requirements;
    const peers = [...new Set(req.machineOf)];
    let candidates: readonly Slot[];
    let how: (slot: Slot) => string;
    let failure: (tally: Tally) => string;
    if (peers.length > 0) {
      let common: Set<string> | undefined;
      for (const p of peers) {
        const at = cluster.machinesOf(p);
        if (at.length === 0) return { ok: false, why: peerMissing(p) };
        common = common ? new Set(at.filter((m) => common!.has(m))) : new Set(at);
      }
      if (common!.size === 0) return { ok: false, why: `MachineOf peers ${nameList(peers)} are on different machines` };
      candidates = [...common!].map((id) => cluster.slot(id)!).sort(byLoadThenId);
      const which = `MachineOf ${peers.length > 1 ? 'peers' : 'peer'} ${nameList(peers)}`;
      how = () => `with ${which}`;
      failure = (tally) =>
        candidates.length === 1
          ? `${which} ${peers.length > 1 ? 'are' : 'is'} on ${candidates[0]!.machine.id}, which cannot run it: ${whyNot(u, candidates[0]!)}`
          : tally.summary(u, `every machine running its ${which}`);
    } else if (req.machineId !== undefined) {
      const id = req.machineId;
      candidates = cluster.machinesMatchingId(id);
      if (candidates.length === 0) return { ok: false, why: `no machine matches MachineID=${id}` };
      how = () => `required by MachineID=${id}`;
      failure = (tally) =>
        candidates.length === 1
          ? `MachineID=${id}: machine ${candidates[0]!.machine.id} cannot run it: ${whyNot(u, candidates[0]!)}`
          : tally.summary(u, `every machine matching MachineID=${id}`);
    } else {
      candidates = cluster.ordered();
      how = (slot) => `least-loaded eligible machine (load ${slot.load})`;
      failure = (tally) => tally.summary(u);
    }

    if (replaceGraph.victimsOf(u.name).size > 0) {
      // A new unit takes over a machine running a unit it replaces; a unit that already had a machine does so
      // only when nothing else fits, so that a lost machine moves no more than its own units.
      const hosts = replacedHosts(u);
      const withVictims = candidates.filter((s) => hosts.has(s.machine.id));
      const others = candidates.filter((s) => !hosts.has(s.machine.id));
      const fresh = scheduledOn(u.name) === undefined && !moved.has(u.name);
      candidates = fresh ? [...withVictims, ...others] : [...others, ...withVictims];
    }

    // Cheap checks first, without building reasons: a unit that fits nowhere tries every machine.
    const tally = new Tally();
    const canEvict = replaceGraph.victimsOf(u.name).size > 0;
    let conflicts: ConflictMap | undefined;
    for (const slot of candidates) {
      if (refusalOn(u, slot.machine.id) !== undefined) {
        tally.note('refused', [slot.machine.id]);
        continue;
      }
      if (req.machineId !== undefined && !machineIdMatches(req.machineId, slot.machine.id)) {
        tally.note('machineId');
        continue;
      }
      if (!metadataSatisfied(req, slot.machine)) {
        tally.note('metadata');
        continue;
      }
      // Usually one of the first machines fits; past a few, index the conflicts once instead of per machine.
      if (tally.size >= 8 && !conflicts && !canEvict) conflicts = cluster.conflictMap(u);
      const blocker = conflicts?.get(slot.machine.id);
      if (blocker !== undefined) {
        tally.note('conflict', [blocker]);
        continue;
      }
      const f = fit(cluster, u, slot, evicted, conflicts);
      if (f.ok) {
        const names = f.victims.map((v) => v.name);
        return {
          ok: true,
          to: slot.machine.id,
          victims: f.victims,
          how: names.length > 0 ? `takes the machine of ${nameList(names)} (Replaces)` : how(slot),
        };
      }
      tally.note(f.kind, f.names);
    }
    return { ok: false, why: failure(tally) };
  };

  for (const name of graph.order) {
    const u = nonGlobal.get(name)!;
    if (u.desiredState === 'inactive' || graph.cycles.has(name) || held.has(name) || cluster.placement.has(name)) {
      continue;
    }
    queue.push(rankOf(name));
  }
  for (;;) {
    const failed: number[] = [];
    let tookOver = false;
    for (let r = urgent.pop() ?? queue.pop(); r !== undefined; r = urgent.pop() ?? queue.pop()) {
      const name = graph.order[r]!;
      if (cluster.placement.has(name)) continue;
      const u = nonGlobal.get(name)!;
      const choice = choose(u);
      const d = displaced.get(name);
      if (choice.ok) {
        cluster.add(u, choice.to);
        for (const v of choice.victims) evict(v.name, choice.to, name);
        tookOver ||= choice.victims.length > 0;
        decide(name, choice.to, d ? (d.followsPeer ? d.cause : `${d.cause}; ${choice.how}`) : choice.how);
        pending.delete(name);
      } else {
        decide(name, undefined, d && d.cause !== choice.why ? `${d.cause}; ${choice.why}` : choice.why);
        pending.set(name, choice.why);
        failed.push(r);
      }
    }
    // A takeover frees room that units which failed earlier in this pass may now use.
    if (!tookOver || failed.length === 0) break;
    for (const r of failed) queue.push(r);
  }

  const unschedules: Op[] = [...stale];
  const moves: MoveOp[] = [];
  const places: PlaceOp[] = [];
  for (const [unit, d] of decisions) {
    const from = scheduledOn(unit);
    if (d.to === from) continue;
    if (from === undefined) places.push({ kind: 'place', unit, machineId: d.to!, reason: d.reason });
    else if (d.to === undefined) unschedules.push({ kind: 'unschedule', unit, from, reason: d.reason });
    else moves.push({ kind: 'move', unit, from, to: d.to, reason: d.reason });
  }
  const pendingList: PendingUnit[] = [...pending]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([unit, reason]) => ({ unit, reason }));

  return {
    plan: { ops: [...unschedules, ...moves, ...places], pending: pendingList },
    cluster,
    units,
    globals,
    decisions,
    pending,
    held,
    evicted,
  };
}
