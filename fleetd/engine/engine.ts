/**
 * The engine: campaigns for leadership and, while leader, keeps the schedule converged. Watches on jobs and
 * machines drive it (a change is acted on within milliseconds); a periodic pass is only a safety net. Every write
 * is fenced by the leadership key, so a deposed leader cannot change the schedule.
 *
 * Each leadership term starts from scratch: it opens its own watches, lists the schedule entries once, and plans
 * only after both watches delivered their first snapshot (planning on a partial view would move units). From then
 * on it knows what every schedule entry says without reading etcd again: it is their only writer while its fence
 * holds (see term.ts).
 */
import { EventEmitter } from 'node:events';
import type { Fence, JobRecord, MachineRecord, Registry, ScheduleOp } from '../../lib/registry/index.js';
import { FencedError, type Election } from '../../lib/registry/index.js';
import { nextRescheduleAt, type Plan } from '../../lib/schedule/index.js';
import { parseUnitName } from '../../lib/unit/index.js';
import { logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { compareStrings } from '../../lib/compare.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { ReconcileLoop } from '../../lib/reconcile.js';
import { RequirementsCache } from '../../lib/registry/requirements-cache.js';
import { forEachSliced } from '../../lib/slices.js';
import { Term } from './term.js';
import { Planner } from './planner.js';
import { RolloutDriver, type RolloutWrites } from './rollout.js';

const log = logger('engine');

/** First retry delay after a failed pass or refused ops; doubles up to the reconcile interval. */
const RETRY_MIN_MS = 100;
/** A leader whose passes fail this long (at least) gives up leadership: another engine may reach etcd. */
const MIN_STUCK_MS = 2000;

export interface EngineOptions {
  registry: Registry;
  machineId: string;
  /** TTL of the leadership lease: a dead leader is replaced after at most this long. */
  leaseTtlSeconds: number;
  /** Period of the safety-net pass (watches trigger passes otherwise). */
  reconcileIntervalMs: number;
  /** How long units stay scheduled to a machine that disappeared before they are moved. */
  machineLostGraceMs: number;
  /**
   * Machines missing when a term starts get this long (from the term's start) to re-register before their units
   * move, e.g. agent_ttl: a new term often follows an etcd outage that every machine is recovering from.
   */
  termSettleMs?: number;
  /** Only the periodic pass plans (watches still keep the engine's view current). */
  disableWatches?: boolean;
  /** Plan in a worker thread from this many units (default planner.ts DEFAULT_WORKER_ABOVE; 0: always). */
  planInWorkerAbove?: number;
  /** Time and timers (default: the system clock). */
  clock?: Clock;
  /** A global unit's rollout writes machine overrides through this (default: the registry's; tests fake it). */
  rolloutWrites?: RolloutWrites;
}

/** Counters for /metrics and SIGUSR1 dumps; monotonic except the gauges noted. */
export interface EngineStats {
  /** Passes run while leader. */
  reconciles: number;
  /** Passes that failed (etcd unreachable, write fenced, unit texts unreadable). */
  reconcileFailures: number;
  /** Schedule ops written. */
  opsApplied: number;
  /** Ops etcd refused because their preconditions no longer held (retried by a later pass). */
  opsFailed: number;
  /** Writes refused because this engine was no longer the leader. */
  fencedWrites: number;
  /** Gauge: duration of the last pass, ms. */
  lastReconcileMs: number;
  /** Gauge: units that should run but have no machine after the last pass (0 when not leading). */
  pending: number;
  /** Times this engine became leader. */
  elections: number;
  /** Gauge: when the current term began (ms since epoch), 0 when not leading. */
  leaderSince: number;
}

export interface PassReport {
  readonly ops: number;
  readonly applied: number;
  readonly failed: number;
  readonly durationMs: number;
  readonly error?: string;
}

export interface EngineEvents {
  leading: [Fence];
  'stepped-down': [string];
  pass: [PassReport];
  fenced: [FencedError];
}

export class Engine extends EventEmitter<EngineEvents> {
  readonly election: Election;
  readonly stats: EngineStats = {
    reconciles: 0,
    reconcileFailures: 0,
    opsApplied: 0,
    opsFailed: 0,
    fencedWrites: 0,
    lastReconcileMs: 0,
    pending: 0,
    elections: 0,
    leaderSince: 0,
  };
  private readonly requirements: RequirementsCache;
  private readonly planner: Planner;
  private term: Term | undefined;
  private stopped = false;
  private leading: Promise<void> | undefined;
  private lastPlan: Plan = { ops: [], pending: [] };
  private readonly clock: Clock;
  /** Rolling updates, driven while leading (rollout.ts). */
  readonly rollouts: RolloutDriver;

  constructor(private readonly opts: EngineOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.requirements = new RequirementsCache(opts.registry);
    this.planner = new Planner(opts.planInWorkerAbove);
    this.rollouts = new RolloutDriver({
      registry: opts.registry, clock: this.clock, intervalMs: opts.reconcileIntervalMs, ...(opts.rolloutWrites ? { writes: opts.rolloutWrites } : {}),
    });
    this.election = opts.registry.election(opts.machineId, opts.leaseTtlSeconds, this.clock);
    this.election.on('elected', (fence) => {
      this.leading = this.lead(fence);
    });
    this.election.on('deposed', (reason) => {
      if (this.term) this.endTerm(this.term, reason);
    });
  }

  get isLeader(): boolean {
    return this.term?.active === true;
  }

  /** The last plan of the current term (its pending list says why units wait); empty when not leading. */
  get plan(): Plan {
    return this.lastPlan;
  }

  start(): void {
    if (!this.stopped) this.election.start();
  }

  /** Finishes the pass in flight, writes nothing more, then resigns (a successor takes over at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    const term = this.term;
    if (term) this.endTerm(term, 'stopping');
    await this.leading;
    if (term) await term.closed();
    await this.rollouts.end();
    await this.election.stop();
    await this.planner.close();
  }

  private async lead(fence: Fence): Promise<void> {
    if (this.stopped) return;
    if (this.term) this.endTerm(this.term, 'new term');
    const term = new Term(fence, this.opts.termSettleMs ?? 0, this.clock.now(), (t) =>
      new ReconcileLoop({
        clock: this.clock,
        pass: () => this.pass(t),
        intervalMs: this.opts.reconcileIntervalMs,
        backoff: { firstMs: RETRY_MIN_MS, factor: 2, maxMs: this.opts.reconcileIntervalMs },
      }),
    );
    this.term = term;
    this.stats.elections++;
    this.stats.leaderSince = this.clock.now();
    this.emit('leading', fence);
    try {
      const jobs = await this.opts.registry.watchJobs((snapshot, changed) => this.onJobs(term, snapshot, changed));
      if (!(await term.keepWatch(jobs))) return;
      const machines = await this.opts.registry.watchMachines((snapshot) => this.onMachines(term, snapshot));
      if (!(await term.keepWatch(machines))) return;
      const entries = await this.opts.registry.listSchedule();
      if (!term.active) return;
      const doubled = term.noteEntries(entries);
      if (doubled.length > 0) log.error('units with schedule entries on two machines', { units: doubled });
      this.requirements.retain(term.jobs.values());
    } catch (err) {
      if (!term.active) return;
      this.stats.reconcileFailures++;
      log.warn('engine could not start leading; stepping down', { engine: this.opts.machineId, err: errorMessage(err) });
      this.stepDown(term, `could not start leading: ${errorMessage(err)}`);
      return;
    }
    term.begin();
    if (term.active) this.rollouts.lead(fence);
  }

  private onJobs(term: Term, snapshot: ReadonlyMap<string, JobRecord>, changed: ReadonlySet<string>): void {
    if (!term.active) return;
    term.noteJobs(snapshot, changed);
    if (!this.opts.disableWatches) this.wake(term);
  }

  private onMachines(term: Term, snapshot: ReadonlyMap<string, MachineRecord>): void {
    if (!term.active) return;
    term.noteMachines(snapshot);
    if (!this.opts.disableWatches) this.wake(term);
  }

  /** Ends a term locally: no more passes, timers or watches. Leadership itself is the election's business. */
  private endTerm(term: Term, reason: string): void {
    if (!term.end()) return;
    if (this.term === term) this.term = undefined;
    void this.rollouts.end();
    this.stats.leaderSince = 0;
    this.stats.pending = 0;
    this.lastPlan = { ops: [], pending: [] };
    log.info('engine term ended', { engine: this.opts.machineId, reason });
    this.emit('stepped-down', reason);
  }

  /** Ends the term and gives up leadership, so that another engine (or this one, campaigning again) leads. */
  private stepDown(term: Term, reason: string): void {
    this.endTerm(term, reason);
    this.election.resign(term.fence);
  }

  /** Asks for a pass (lib/reconcile.ts coalesces; none runs before the term is ready or after it ended). */
  private wake(term: Term): void {
    term.wake();
  }

  /** A failed pass; a leader that keeps its lease but cannot use etcd otherwise would block everyone. */
  private failed(term: Term, at: number, why: string): void {
    this.stats.reconcileFailures++;
    const failingMs = term.failingFor(at, this.clock.now());
    const stuckMs = Math.max(MIN_STUCK_MS, 2 * this.opts.leaseTtlSeconds * 1000);
    if (failingMs >= stuckMs) {
      log.error('engine cannot write the schedule; giving up leadership', { engine: this.opts.machineId, forMs: failingMs, err: why });
      this.stepDown(term, `cannot write the schedule: ${why}`);
      return;
    }
    this.retryLater(term);
  }

  /** Counts a failure; the loop retries after its backoff (RETRY_MIN_MS doubling up to the interval). */
  private retryLater(term: Term): void {
    term.retryLater();
  }


  /** One pass: plan from the watched state, write the plan and the entry syncs in one fenced call. */
  private async pass(term: Term): Promise<void> {
    const started = this.clock.now();
    this.stats.reconciles++;
    let ops: ScheduleOp[] = [];
    let report: PassReport | undefined;
    try {
      if (!(await this.refreshUnits(term))) {
        const error = 'unit texts could not be read';
        report = { ops: 0, applied: 0, failed: 0, durationMs: this.clock.now() - started, error };
        this.failed(term, started, error);
        return;
      }
      if (!term.active) return;
      this.opts.registry.maybeCollectUnitTexts(term.fence); // unit texts no unit uses, at a bounded rate
      const graceMs = this.opts.machineLostGraceMs;
      const { state, unusable, newlyLost } = await term.clusterState(started, graceMs);
      if (!term.active) return;
      for (const m of newlyLost) log.info('machine lost; its units move', { machine: m, graceMs });
      const p = await this.planner.plan(state);
      if (!term.active) return;
      const pending = [...p.pending, ...unusable].sort((a, b) => compareStrings(a.unit, b.unit));
      this.lastPlan = { ops: p.ops, pending };
      this.stats.pending = pending.length;
      this.armGraceTimer(term, started);
      const due = nextRescheduleAt(state, started);
      term.rescheduleWakeAt(due === undefined ? undefined : due + 5);
      ops = term.scheduleOps(p);
      if (ops.length === 0 || !term.active) {
        term.reachedEtcd();
        report = { ops: 0, applied: 0, failed: 0, durationMs: this.clock.now() - started };
        return;
      }
      const results = await this.opts.registry.applySchedule(ops, term.fence);
      term.reachedEtcd();
      const failed = term.record(results);
      this.stats.opsApplied += results.length - failed;
      this.stats.opsFailed += failed;
      report = { ops: ops.length, applied: ops.length - failed, failed, durationMs: this.clock.now() - started };
      log.debug('applied plan', { ...report });
      // a pass that does not retry resets the loop's backoff
      if (failed > 0) this.retryLater(term);
    } catch (err) {
      report = { ops: ops.length, applied: 0, failed: 0, durationMs: this.clock.now() - started, error: errorMessage(err) };
      if (err instanceof FencedError) {
        this.stats.reconcileFailures++;
        this.stats.fencedWrites++;
        log.warn('schedule write refused: no longer the leader; stepping down', { engine: this.opts.machineId, err: errorMessage(err) });
        this.emit('fenced', err);
        this.stepDown(term, 'fenced');
        return;
      }
      // the write may or may not have happened: forget what those entries say
      for (const o of ops) term.forget(o.name);
      (term.failing ? log.debug : log.warn)('reconcile failed; will retry', { err: errorMessage(err) });
      this.failed(term, started, errorMessage(err));
    } finally {
      this.stats.lastReconcileMs = this.clock.now() - started;
      if (report) this.emit('pass', report);
    }
  }

  /** Rebuilds the scheduler view of changed jobs; false when some unit texts could not be read. */
  private async refreshUnits(term: Term): Promise<boolean> {
    const names = term.staleJobs();
    if (names.length === 0) return true;
    const wanted: JobRecord[] = [];
    // in slices (lib/slices.ts): a new term finds every job stale, 100,000 of them at that scale
    await forEachSliced(names, (name) => {
      const job = term.jobs.get(name);
      if (job && !isTemplate(job.name) && this.requirements.resolve(job.name, job.hash) === undefined) wanted.push(job);
    });
    const unread = wanted.length > 0 ? await this.requirements.ensure(wanted) : [];
    if (!term.active) return false;
    await forEachSliced(names, (name) => {
      const job = term.jobs.get(name);
      const old = term.unitSlot(name);
      if (old && old.hash !== job?.hash) this.requirements.forget(name, old.hash);
      if (!job || isTemplate(job.name)) {
        term.rebuilt(name, undefined);
        return;
      }
      const r = this.requirements.resolve(job.name, job.hash);
      if (r === undefined) return;
      term.rebuilt(
        name,
        r.ok
          ? {
            hash: job.hash,
            // refusedBy: agents that refused these contents on their machine (fleetd/agent/host-units.ts)
            unit: {
              name, hash: job.hash, desiredState: job.desiredState, requirements: r.requirements,
              ...(job.refusedBy ? { refusedBy: job.refusedBy } : {}),
              // failedOn: Reschedule=on-failure, where these contents failed (lib/schedule/reschedule.ts)
              ...(job.failedOn ? { failedOn: failureTimes(job.failedOn, this.clock.now()) } : {}),
            },
          }
          : { hash: job.hash, unusable: r.reason },
      );
    });
    if (unread.length > 0) (term.failing ? log.debug : log.warn)('unit texts could not be read; retrying', { units: unread.length });
    return unread.length === 0;
  }

  /** Wakes the term when the first grace period of a lost machine ends. */
  private armGraceTimer(term: Term, now: number): void {
    const first = term.graceEnds(now, this.opts.machineLostGraceMs);
    term.graceWakeAt(first === undefined ? undefined : first + 5);
  }
}

/** When each failure happened (ms): the agent's time, never later than now (its clock may run ahead of ours). */
function failureTimes(failedOn: NonNullable<JobRecord['failedOn']>, now: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [m, f] of Object.entries(failedOn)) out[m] = Math.min(Date.parse(f.at), now);
  return out;
}

function isTemplate(name: string): boolean {
  try {
    return parseUnitName(name).isTemplate;
  } catch {
    return false;
  }
}
