/**
 * The engine: campaigns for leadership and, while leader, keeps the schedule converged. Watches on jobs and
 * machines drive it (a change is acted on within milliseconds); a periodic pass is only a safety net.
 * Every write is fenced by the leadership key, so a deposed leader cannot change the schedule.
 */
import type { Registry, JobRecord, MachineRecord, ScheduleOp, WatchHandle, Fence, ScheduledState } from '../../lib/registry/index.js';
import { FencedError } from '../../lib/registry/index.js';
import { plan, type ClusterState, type Plan, type SchedUnit } from '../../lib/schedule/index.js';
import { parseUnitName } from '../../lib/unit/index.js';
import { logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { Election } from './election.js';
import { RequirementsCache } from '../requirements-cache.js';

const log = logger('engine');

export interface EngineOptions {
  registry: Registry;
  machineId: string;
  leaseTtlSeconds: number;
  reconcileIntervalMs: number;
  machineLostGraceMs: number;
  disableWatches?: boolean;
}

export interface EngineStats {
  reconciles: number;
  reconcileFailures: number;
  opsApplied: number;
  lastReconcileMs: number;
  pending: number;
}

export class Engine {
  readonly election: Election;
  readonly stats: EngineStats = { reconciles: 0, reconcileFailures: 0, opsApplied: 0, lastReconcileMs: 0, pending: 0 };
  private readonly requirements: RequirementsCache;
  private fence: Fence | undefined;
  private watches: WatchHandle[] = [];
  private jobs: ReadonlyMap<string, JobRecord> = new Map();
  private machines: ReadonlyMap<string, MachineRecord> = new Map();
  private readonly changedJobs = new Set<string>();
  private readonly lostSince = new Map<string, number>();
  private dirty = false;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastPlan: Plan = { ops: [], pending: [] };
  private leadership = 0;

  constructor(private readonly opts: EngineOptions) {
    this.requirements = new RequirementsCache(opts.registry);
    this.election = new Election(opts.registry.client, `${opts.registry.keys.engineDir}leader`, opts.machineId, opts.leaseTtlSeconds);
    this.election.on('elected', (fence) => void this.lead(fence));
    this.election.on('deposed', () => void this.unlead());
  }

  get isLeader(): boolean {
    return this.fence !== undefined;
  }

  /** The last plan the leader computed (its pending list says why units wait). */
  get plan(): Plan {
    return this.lastPlan;
  }

  start(): void {
    this.election.start();
  }

  async stop(): Promise<void> {
    await this.unlead();
    await this.election.stop();
  }

  private async lead(fence: Fence): Promise<void> {
    const term = ++this.leadership;
    this.fence = fence;
    this.lostSince.clear();
    try {
      const jobs = await this.opts.registry.watchJobs((snapshot, changed) => {
        this.jobs = snapshot;
        for (const c of changed) this.changedJobs.add(c);
        this.trigger();
      });
      const machines = await this.opts.registry.watchMachines((snapshot) => {
        this.machines = snapshot;
        this.trigger();
      });
      if (term !== this.leadership || this.fence !== fence) {
        await Promise.all([jobs.close(), machines.close()]);
        return;
      }
      this.watches = [jobs, machines];
      await this.syncAllScheduleEntries(fence);
    } catch (err) {
      log.warn('engine could not start leading; stepping down', { err });
      await this.unlead();
      return;
    }
    this.timer = setInterval(() => this.trigger(), this.opts.reconcileIntervalMs);
    this.trigger();
  }

  private async unlead(): Promise<void> {
    this.leadership++;
    this.fence = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const watches = this.watches;
    this.watches = [];
    await Promise.all(watches.map((w) => w.close().catch(() => undefined)));
    await this.running;
  }

  private trigger(): void {
    this.dirty = true;
    if (this.running) return;
    this.running = (async () => {
      while (this.dirty && this.fence) {
        this.dirty = false;
        await this.reconcile(this.fence);
      }
      this.running = undefined;
    })();
  }

  /** One pass: plan from the watched state, write the plan fenced. Exposed for tests and the API's dry run. */
  async reconcile(fence: Fence): Promise<void> {
    const started = Date.now();
    this.stats.reconciles++;
    try {
      const state = await this.clusterState();
      const p = plan(state);
      this.lastPlan = p;
      this.stats.pending = p.pending.length;
      const ops = this.toScheduleOps(p);
      const syncs = this.pendingSyncs(p);
      if (ops.length > 0 || syncs.length > 0) {
        const results = await this.opts.registry.applySchedule([...ops, ...syncs], fence);
        const applied = results.filter((r) => r.applied).length;
        this.stats.opsApplied += applied;
        log.debug('applied plan', { ops: ops.length, syncs: syncs.length, applied });
        if (applied < results.length) this.dirty = true;
      }
    } catch (err) {
      this.stats.reconcileFailures++;
      if (err instanceof FencedError) {
        log.warn('schedule write refused: no longer leader', { err: errorMessage(err) });
        this.election.resign();
        return;
      }
      log.warn('reconcile failed; will retry', { err: errorMessage(err) });
      setTimeout(() => this.trigger(), 500).unref();
    } finally {
      this.stats.lastReconcileMs = Date.now() - started;
    }
  }

  /** The scheduler's input from the watched maps. */
  async clusterState(): Promise<ClusterState> {
    const jobs = [...this.jobs.values()].filter((j) => !parseUnitName(j.name).isTemplate);
    await this.requirements.ensure(jobs);
    this.requirements.retain(jobs);
    const now = Date.now();
    const units: SchedUnit[] = [];
    const schedule: Record<string, string> = {};
    for (const j of jobs) {
      const r = this.requirements.lookup(j.name, j.hash);
      if (!r.ok) continue;
      units.push({ name: j.name, hash: j.hash, desiredState: j.desiredState, requirements: r.requirements });
      if (j.machineId !== undefined) {
        schedule[j.name] = j.machineId;
        if (!this.machines.has(j.machineId) && !this.lostSince.has(j.machineId)) this.lostSince.set(j.machineId, now);
      }
    }
    for (const id of this.lostSince.keys()) if (this.machines.has(id)) this.lostSince.delete(id);
    return {
      units,
      machines: [...this.machines.values()].map((m) => ({ id: m.id, metadata: m.metadata })),
      schedule,
      options: { lostMachines: Object.fromEntries(this.lostSince), now, graceMs: this.opts.machineLostGraceMs },
    };
  }

  private toScheduleOps(p: Plan): ScheduleOp[] {
    const out: ScheduleOp[] = [];
    for (const op of p.ops) {
      const job = this.jobs.get(op.unit);
      if (!job) continue;
      const desiredState = scheduled(job.desiredState);
      if (op.kind === 'unschedule') out.push({ type: 'unschedule', name: op.unit, machineId: op.from });
      else if (desiredState === undefined) continue;
      else if (op.kind === 'place') out.push({ type: 'place', name: op.unit, machineId: op.machineId, hash: job.hash, desiredState });
      else out.push({ type: 'move', name: op.unit, from: op.from, to: op.to, hash: job.hash, desiredState });
    }
    return out;
  }

  /** Scheduled units whose job changed (new hash or desired state) and that the plan leaves where they are. */
  private pendingSyncs(p: Plan): ScheduleOp[] {
    const touched = new Set(p.ops.map((o) => o.unit));
    const out: ScheduleOp[] = [];
    for (const name of this.changedJobs) {
      const job = this.jobs.get(name);
      if (!job || job.machineId === undefined || touched.has(name)) continue;
      const desiredState = scheduled(job.desiredState);
      if (desiredState === undefined) continue;
      out.push({ type: 'sync', name, machineId: job.machineId, hash: job.hash, desiredState });
    }
    this.changedJobs.clear();
    return out;
  }

  /** On taking office: make every schedule entry say what its job says (a previous leader may have died mid-way). */
  private async syncAllScheduleEntries(fence: Fence): Promise<void> {
    const entries = await this.opts.registry.listSchedule();
    const ops: ScheduleOp[] = [];
    for (const e of entries) {
      const job = this.jobs.get(e.name);
      const desiredState = job ? scheduled(job.desiredState) : undefined;
      if (!job || job.machineId !== e.machineId || desiredState === undefined) continue;
      if (job.hash !== e.hash || desiredState !== e.desiredState) {
        ops.push({ type: 'sync', name: e.name, machineId: e.machineId, hash: job.hash, desiredState });
      }
    }
    if (ops.length > 0) await this.opts.registry.applySchedule(ops, fence);
  }
}

function scheduled(s: JobRecord['desiredState']): ScheduledState | undefined {
  return s === 'inactive' ? undefined : s;
}
