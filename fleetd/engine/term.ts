/**
 * What one leadership term knows: the watched jobs and machines, the scheduler view of each job, and what every
 * schedule entry says. Entries are listed once when the term starts; after that the term knows them from its own
 * writes, being their only writer while its fence holds (clients only delete entries, together with the job).
 */
import type {
  Fence,
  JobRecord,
  MachineRecord,
  MachineScheduleEntry,
  ScheduledState,
  ScheduleOp,
  ScheduleOpResult,
  WatchHandle,
} from '../../lib/registry/index.js';
import type { ClusterState, PendingUnit, Plan, SchedUnit } from '../../lib/schedule/index.js';
import type { ReconcileLoop } from '../../lib/reconcile.js';
import { forEachSliced } from '../../lib/slices.js';

/** What a schedule entry says, as this term wrote or listed it. */
interface EntryBelief {
  readonly machineId: string;
  readonly hash: string;
  readonly desiredState: ScheduledState;
}

/** What clusterState returns: the scheduler's input, the units whose contents cannot be used, machines newly lost. */
export interface ClusterStateResult {
  readonly state: ClusterState;
  readonly unusable: PendingUnit[];
  readonly newlyLost: string[];
}

export type UnitSlot = { readonly hash: string } & ({ readonly unit: SchedUnit } | { readonly unusable: string });

export class Term {
  private isActive = true;
  /** Both watches delivered their first snapshot and the entries are listed: planning may start. */
  private isReady = false;
  /** The term's passes: trigger, coalesce, periodic safety net, backoff (lib/reconcile.ts). */
  private readonly loop: ReconcileLoop;
  /** When passes began to fail (etcd errors, not refused ops); undefined while they succeed. */
  private failingSince: number | undefined;
  private knownJobs: ReadonlyMap<string, JobRecord> = new Map();
  private knownMachines: ReadonlyMap<string, MachineRecord> = new Map();
  private readonly watches: WatchHandle[] = [];
  /** Scheduler view of each job; the jobs in `stale` changed since and are rebuilt by the next pass. */
  private readonly units = new Map<string, UnitSlot>();
  private readonly stale = new Set<string>();
  /** Machines that disappeared while units were scheduled to them -> when this term first saw them missing. */
  private readonly lostSince = new Map<string, number>();
  private readonly entries = new Map<string, EntryBelief>();
  /** Targets this term wrote that its jobs watch has not shown yet (undefined = unscheduled). */
  private readonly expected = new Map<string, string | undefined>();

  /** When this term began (ms). */
  readonly startedAt: number;

  /**
   * `settleMs`: machines found missing within this long of the term's start are given until then to come back
   * before their units move: after an etcd outage (which also ends the previous term) every machine is
   * re-registering, and the first machines back must not receive everyone's units.
   * `passes` builds the loop that runs this term's passes (the engine's pass bound to this term).
   */
  constructor(
    readonly fence: Fence,
    private readonly settleMs: number,
    startedAt: number,
    passes: (term: Term) => ReconcileLoop,
  ) {
    this.startedAt = startedAt;
    this.loop = passes(this);
  }

  get active(): boolean {
    return this.isActive;
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** Whether the last pass failed (later failures are logged quieter). */
  get failing(): boolean {
    return this.loop.failures > 0;
  }

  get jobs(): ReadonlyMap<string, JobRecord> {
    return this.knownJobs;
  }

  get machines(): ReadonlyMap<string, MachineRecord> {
    return this.knownMachines;
  }

  /** Keeps a watch opened for this term (closed when it ends); false, the watch closed, if it ended meanwhile. */
  async keepWatch(h: WatchHandle): Promise<boolean> {
    if (this.isActive) this.watches.push(h);
    else await h.close().catch(() => undefined);
    return this.isActive;
  }

  /** Planning may start: passes run on wake() and periodically (the safety net). */
  begin(): void {
    if (!this.isActive) return;
    this.isReady = true;
    this.loop.start();
  }

  /** Ends the term: no more passes or timers, its watches close. False when it had ended already. */
  end(): boolean {
    if (!this.isActive) return false;
    this.isActive = false;
    void this.loop.stop();
    for (const w of this.watches) void w.close().catch(() => undefined);
    return true;
  }

  /** Waits for the pass in flight, then for the watches to close. */
  async closed(): Promise<void> {
    await this.loop.stop();
    await Promise.all(this.watches.map((w) => w.close().catch(() => undefined)));
  }

  /** Asks for a pass (coalesced by the loop; none runs before begin() or after end()). */
  wake(): void {
    if (this.isActive) this.loop.trigger();
  }

  /** A pass failed at `at` with etcd errors: returns how long (ms, until `now`) passes have been failing. */
  failingFor(at: number, now: number): number {
    this.failingSince ??= at;
    return now - this.failingSince;
  }

  /** A write reached etcd, or there was nothing to write: passes no longer fail (refused ops still back off). */
  reachedEtcd(): void {
    this.failingSince = undefined;
  }

  /** Counts a failure: the loop runs the pass again after its backoff (a pass that does not call this resets it). */
  retryLater(): void {
    if (this.isActive) this.loop.failed();
  }

  /** Wakes the term at `at` (ms, clock time), replacing an earlier grace wake; undefined only cancels it. */
  graceWakeAt(at: number | undefined): void {
    if (this.isActive) this.loop.wakeAt('grace', at);
  }

  /** Wakes the term at `at` (ms) when a failed unit is due to move (Reschedule=on-failure); undefined cancels it. */
  rescheduleWakeAt(at: number | undefined): void {
    if (this.isActive) this.loop.wakeAt('reschedule', at);
  }

  /** Jobs changed since their scheduler view was last rebuilt. */
  staleJobs(): string[] {
    return [...this.stale];
  }

  /** The scheduler view of a job, as last rebuilt. */
  unitSlot(name: string): UnitSlot | undefined {
    return this.units.get(name);
  }

  /** The scheduler view of a job is rebuilt (undefined: the job is gone or a template, no view). */
  rebuilt(name: string, slot: UnitSlot | undefined): void {
    if (slot) this.units.set(name, slot);
    else this.units.delete(name);
    this.stale.delete(name);
  }

  noteMachines(snapshot: ReadonlyMap<string, MachineRecord>): void {
    this.knownMachines = snapshot;
  }

  /** Where a job is scheduled, counting this term's writes the watch has not delivered yet. */
  target(job: JobRecord): string | undefined {
    return this.expected.has(job.name) ? this.expected.get(job.name) : job.machineId;
  }

  /** Returns the names of units with entries on two machines (an invariant broken outside this engine). */
  noteEntries(entries: readonly MachineScheduleEntry[]): string[] {
    const doubled: string[] = [];
    for (const e of entries) {
      if (this.entries.has(e.name)) doubled.push(e.name);
      this.entries.set(e.name, { machineId: e.machineId, hash: e.hash, desiredState: e.desiredState });
    }
    return doubled;
  }

  noteJobs(snapshot: ReadonlyMap<string, JobRecord>, changed: ReadonlySet<string>): void {
    this.knownJobs = snapshot;
    for (const name of changed) {
      this.stale.add(name);
      // any event of a unit is our own write or a later one: every change to its job keys would have failed our op
      this.expected.delete(name);
      const job = snapshot.get(name);
      // destroyed or made global: the client removed target and entry in the same transaction
      if (!job || job.global) this.entries.delete(name);
    }
  }

  /**
   * The scheduler's input, plus the units whose contents cannot be used. Machines referenced by schedule entries
   * but gone are recorded in lostSince (returned in `newlyLost` the first time).
   */
  async clusterState(now: number, graceMs: number): Promise<ClusterStateResult> {
    const units: SchedUnit[] = [];
    const unusable: PendingUnit[] = [];
    const schedule: Record<string, string> = {};
    const referenced = new Set<string>();
    const newlyLost: string[] = [];
    // in slices (lib/slices.ts): a pass at 100,000 units; over a copy, so the slices see the units of one moment
    // whatever happens while they yield
    await forEachSliced([...this.units], ([name, slot]) => {
      if (!('unit' in slot)) {
        unusable.push({ unit: name, reason: slot.unusable });
        return;
      }
      units.push(slot.unit);
      const job = this.jobs.get(name);
      const at = job && !job.global ? this.target(job) : undefined;
      if (at === undefined) return;
      schedule[name] = at;
      if (this.machines.has(at)) return;
      referenced.add(at);
      if (!this.lostSince.has(at)) {
        const settled = this.startedAt + this.settleMs - graceMs;
        this.lostSince.set(at, Math.max(now, settled));
        newlyLost.push(at);
      }
    });
    for (const id of this.lostSince.keys()) if (!referenced.has(id)) this.lostSince.delete(id);
    return {
      state: {
        units,
        machines: [...this.machines.values()].map((m) => ({ id: m.id, metadata: m.metadata })),
        schedule,
        options: { lostMachines: Object.fromEntries(this.lostSince), now, graceMs },
      },
      unusable,
      newlyLost,
    };
  }


  /** When the first grace period of a lost machine ends, if one is running. */
  graceEnds(now: number, graceMs: number): number | undefined {
    let first: number | undefined;
    for (const at of this.lostSince.values()) {
      const end = at + graceMs;
      if (end > now && (first === undefined || end < first)) first = end;
    }
    return first;
  }

  /** The plan as registry ops, then a sync for every scheduled unit the plan leaves whose entry is out of date. */
  scheduleOps(p: Plan): ScheduleOp[] {
    const out: ScheduleOp[] = [];
    for (const op of p.ops) {
      if (op.kind === 'unschedule') {
        out.push({ type: 'unschedule', name: op.unit, machineId: op.from });
        continue;
      }
      const job = this.jobs.get(op.unit);
      const desiredState = job ? scheduled(job.desiredState) : undefined;
      if (!job || desiredState === undefined) continue;
      if (op.kind === 'place') out.push({ type: 'place', name: op.unit, machineId: op.machineId, hash: job.hash, desiredState });
      else out.push({ type: 'move', name: op.unit, from: op.from, to: op.to, hash: job.hash, desiredState });
    }
    const touched = new Set(p.ops.map((o) => o.unit));
    for (const job of this.jobs.values()) {
      if (job.global || touched.has(job.name)) continue;
      const at = this.target(job);
      const desiredState = scheduled(job.desiredState);
      if (at === undefined || desiredState === undefined) continue;
      const e = this.entries.get(job.name);
      if (e && e.machineId === at && e.hash === job.hash && e.desiredState === desiredState) continue;
      out.push({ type: 'sync', name: job.name, machineId: at, hash: job.hash, desiredState });
    }
    return out;
  }

  /** Learns from written ops; returns how many etcd refused (their entries are unknown until written again). */
  record(results: readonly ScheduleOpResult[]): number {
    let refused = 0;
    for (const { op, applied } of results) {
      if (!applied) {
        refused++;
        this.forget(op.name);
        continue;
      }
      switch (op.type) {
        case 'place':
          this.entries.set(op.name, { machineId: op.machineId, hash: op.hash, desiredState: op.desiredState });
          this.expected.set(op.name, op.machineId);
          break;
        case 'sync':
          this.entries.set(op.name, { machineId: op.machineId, hash: op.hash, desiredState: op.desiredState });
          break;
        case 'move':
          this.entries.set(op.name, { machineId: op.to, hash: op.hash, desiredState: op.desiredState });
          this.expected.set(op.name, op.to);
          break;
        case 'unschedule':
          this.entries.delete(op.name);
          this.expected.set(op.name, undefined);
          break;
      }
    }
    return refused;
  }

  /** After a write whose outcome is unknown: trust the watch again and consider the entry out of date. */
  forget(name: string): void {
    this.entries.delete(name);
    this.expected.delete(name);
  }
}

function scheduled(s: JobRecord['desiredState']): ScheduledState | undefined {
  return s === 'inactive' ? undefined : s;
}
