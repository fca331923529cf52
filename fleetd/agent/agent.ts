/**
 * The agent: runs on every machine, watches only this machine's schedule (and the small set of global units),
 * makes systemd match it, and publishes unit states from systemd's signals.
 * It never stops a unit because etcd is slow or gone: it acts only on schedules it has actually read.
 */
import type {
  GlobalUnitEntry, MachinePresence, Registry, ScheduleEntry, UnitState, WatchHandle,
} from '../../lib/registry/index.js';
import { globalUnitsFor, type SchedUnit } from '../../lib/schedule/index.js';
import { NO_REQUIREMENTS, shortHash } from '../../lib/unit/index.js';
import { logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { eachLimited } from '../../lib/limit.js';
import { agentTasks, type AgentState, type CurrentUnit, type DesiredUnit, type Task } from './tasks.js';
import type { UnitManager, UnitRuntimeState } from './unit-manager.js';
import { RequirementsCache } from '../requirements-cache.js';
import { Refusals, UnitRefusedError } from './host-units.js';

const log = logger('agent');

export interface AgentOptions {
  registry: Registry;
  presence: MachinePresence;
  manager: UnitManager;
  /** this machine's metadata as the cluster sees it (config merged with API overrides) */
  metadata: () => Readonly<Record<string, string>>;
  /** safety-net reconcile period; watches drive the agent otherwise */
  reconcileIntervalMs: number;
  /**
   * After this machine (re)joins the cluster (fleetd start, presence re-established), units it runs that are
   * not scheduled here are kept this long before they are unloaded: the engine may have unscheduled them only
   * because the machine was gone, and places them here again once it sees the machine back.
   */
  rejoinSettleMs: number;
}

export interface AgentStats {
  reconciles: number;
  tasks: number;
  taskFailures: number;
}

/** Concurrent job reads when checking where this machine's units are placed now. */
const PLACEMENT_READS = 16;
/**
 * StopOnDisconnect units stop once no keep-alive succeeded for this share of agent_ttl (more than two missed
 * keep-alives: etcd3 sends one every third of the TTL), so before etcd expires the lease and the engine starts
 * them elsewhere. Checked every tenth of the TTL.
 */
const AT_RISK_SHARE = 0.75;
/**
 * Unloads (each waits for its unit to stop) and stops of one reconcile run this many at a time: N units not
 * scheduled here any more (e.g. stale copies after a partition heals) are gone after about ceil(N / 16) unit
 * stop times, not N.
 */
export const STOP_CONCURRENCY = 16;
const AT_RISK_CHECKS_PER_TTL = 10;

export class Agent {
  readonly stats: AgentStats = { reconciles: 0, tasks: 0, taskFailures: 0 };
  private scheduled: ReadonlyMap<string, ScheduleEntry> | undefined;
  private globals: ReadonlyMap<string, GlobalUnitEntry> | undefined;
  private readonly current = new Map<string, CurrentUnit>();
  private readonly runtime = new Map<string, UnitRuntimeState>();
  private readonly published = new Map<string, string>();
  private readonly publishing = new Map<string, Promise<void>>();
  /** While tasks run: unit -> its tasks still to come. Its states are published after its last one. */
  private tasksLeft: Map<string, number> | undefined;
  private readonly deferred = new Set<string>();
  private readonly requirements: RequirementsCache;
  private watches: WatchHandle[] = [];
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** units found running at start, before the first reconcile */
  private readonly adopted = new Set<string>();
  private presenceDown = false;
  private holdUntil = 0;
  /** Units here whose job the engine has placed on another machine since: never held, stopped at once. */
  private movedAway: ReadonlySet<string> = new Set();
  private holdTimer: NodeJS.Timeout | undefined;
  private riskTimer: NodeJS.Timeout | undefined;
  private wasAtRisk = false;

  private readonly refusals: Refusals;

  constructor(private readonly opts: AgentOptions) {
    this.requirements = new RequirementsCache(opts.registry);
    this.refusals = new Refusals(opts.registry, opts.presence);
  }

  get machineId(): string {
    return this.opts.presence.machineId;
  }

  /** Units this agent has loaded, with what it did to them. */
  units(): ReadonlyMap<string, CurrentUnit> {
    return this.current;
  }

  async start(): Promise<void> {
    const { manager, registry } = this.opts;
    manager.on('state', (name, state) => {
      if (state) this.runtime.set(name, state);
      else this.runtime.delete(name);
      void this.publish(name);
    });
    for (const u of (await manager.inventory()).values()) {
      this.current.set(u.name, { name: u.name, hash: u.hash, state: u.running ? 'launched' : 'loaded' });
      this.adopted.add(u.name);
      await this.refreshRuntime(u.name);
    }
    await this.requirements.ensure(this.current.values());
    if (this.current.size > 0) {
      this.holdUntil = Date.now() + this.opts.rejoinSettleMs;
      this.movedAway = await this.placedElsewhere();
    }
    this.watches.push(
      await registry.watchSchedule(this.machineId, (snapshot) => {
        this.scheduled = new Map(snapshot);
        this.trigger();
      }),
      await registry.watchGlobalUnits((snapshot) => {
        this.globals = new Map(snapshot);
        this.trigger();
      }),
    );
    this.timer = setInterval(() => this.trigger(), this.opts.reconcileIntervalMs);
    const ttlMs = this.opts.presence.ttlSeconds * 1000;
    this.riskTimer = setInterval(() => {
      const risk = this.atRisk();
      if (risk !== this.wasAtRisk) this.trigger();
    }, Math.max(100, ttlMs / AT_RISK_CHECKS_PER_TTL));
    this.riskTimer.unref();
    this.trigger();
  }

  /** Stops watching. With `unloadAll`, first stops and removes every unit (fleet's behaviour on SIGTERM). */
  async stop(opts: { unloadAll: boolean }): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.riskTimer) clearInterval(this.riskTimer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    // closing a watch needs etcd: never wait long for it
    const closing = Promise.all(this.watches.map((w) => w.close().catch(() => undefined)));
    await Promise.race([closing, new Promise((r) => setTimeout(r, 3000).unref())]);
    this.watches = [];
    await this.running;
    if (opts.unloadAll) {
      await this.runTasks(agentTasks(new Map(), this.current));
    }
  }

  /** Publish every state again, e.g. after the machine re-registered with a new lease. */
  async republish(): Promise<void> {
    this.published.clear();
    this.refusals.clear();
    await Promise.all([...this.current.keys()].map((n) => this.publish(n)));
  }

  /** The machine's presence is gone: the engine may unschedule its units; none is unloaded for that. */
  presenceLost(): void {
    this.presenceDown = true;
    this.trigger();
  }

  /** The machine registered again: republish states, and give the engine time to place its units here again. */
  async rejoined(): Promise<void> {
    this.presenceDown = false;
    this.holdUntil = Date.now() + this.opts.rejoinSettleMs;
    this.movedAway = await this.placedElsewhere();
    await this.republish();
    this.trigger();
  }

  trigger(): void {
    this.dirty = true;
    if (this.running || this.stopped) return;
    this.running = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        await this.reconcile().catch((err: unknown) => {
          log.warn('agent reconcile failed; will retry', { err: errorMessage(err) });
          setTimeout(() => this.trigger(), 1000).unref();
        });
      }
      this.running = undefined;
    })();
  }

  private async reconcile(): Promise<void> {
    if (this.scheduled === undefined || this.globals === undefined) return;
    this.stats.reconciles++;
    const desired = new Map<string, DesiredUnit>();
    for (const e of this.scheduled.values()) {
      desired.set(e.name, { name: e.name, hash: e.hash, state: e.desiredState, ...(e.startRequest !== undefined ? { startRequest: e.startRequest } : {}) });
    }
    for (const g of await this.globalUnitsHere(this.scheduled, this.globals)) desired.set(g.name, g);
    this.refusals.skip(desired);
    this.wasAtRisk = this.atRisk();
    if (this.wasAtRisk) this.fence(desired);
    this.adopt(desired);
    await this.runTasks(agentTasks(desired, this.unloadable(desired)), desired);
  }

  /** The machine is unregistered, or its lease keep-alives have failed long enough that it soon will be. */
  private atRisk(): boolean {
    const p = this.opts.presence;
    return this.presenceDown || p.silentMs > p.ttlSeconds * 1000 * AT_RISK_SHARE;
  }

  /**
   * While the machine is (about to be) unregistered, units with StopOnDisconnect=true are stopped (kept loaded):
   * the engine starts them elsewhere once the machine's lease is gone. They start again when keep-alives succeed
   * again, or after re-registration, if still scheduled here.
   */
  private fence(desired: Map<string, DesiredUnit>): void {
    const fenced: string[] = [];
    for (const [name, d] of desired) {
      if (d.state !== 'launched') continue;
      const r = this.requirements.resolve(name, d.hash);
      if (!r?.ok || r.requirements.stopOnDisconnect !== true) continue;
      desired.set(name, { ...d, state: 'loaded' });
      if (this.current.get(name)?.state === 'launched') fenced.push(name);
    }
    if (fenced.length > 0) log.warn('machine not registered in etcd: stopping units with StopOnDisconnect', { units: fenced });
  }

  /**
   * Units found running when fleetd started take the desired state as theirs: like fleet, a restarted fleetd
   * never stops a unit (e.g. a loaded [Install] unit that its target started).
   */
  private adopt(desired: ReadonlyMap<string, DesiredUnit>): void {
    for (const name of this.adopted) {
      const want = desired.get(name);
      const cur = this.current.get(name);
      if (want && cur && want.hash === cur.hash && want.state === 'loaded' && cur.state === 'launched') this.setState(name, 'loaded');
      // a start request made before this fleetd started is not acted on again
      if (want?.startRequest !== undefined && cur) this.current.set(name, { ...this.current.get(name)!, startRequest: want.startRequest });
    }
    this.adopted.clear();
  }

  /** What the reconcile may act on: while the machine (re)joins, units not scheduled here are left alone. */
  private unloadable(desired: ReadonlyMap<string, DesiredUnit>): ReadonlyMap<string, CurrentUnit> {
    const now = Date.now();
    if (!this.presenceDown && now >= this.holdUntil) return this.current;
    const view = new Map(this.current);
    const held: string[] = [];
    for (const name of this.current.keys()) {
      if (desired.has(name) || (!this.presenceDown && this.movedAway.has(name))) continue;
      view.delete(name);
      held.push(name);
    }
    if (held.length > 0) {
      log.info('keeping units not scheduled here while this machine rejoins', {
        units: held,
        presence: this.presenceDown ? 'lost' : 'registered',
        forMs: this.presenceDown ? undefined : this.holdUntil - now,
      });
      if (!this.presenceDown) {
        if (this.holdTimer) clearTimeout(this.holdTimer);
        this.holdTimer = setTimeout(() => this.trigger(), this.holdUntil - now + 10);
        this.holdTimer.unref();
      }
    }
    return view;
  }

  /**
   * Units here whose job targets another machine: the engine moved them while this machine was away, so the
   * copy here is a second one and is stopped without waiting out the rejoin hold. A read that fails holds.
   */
  private async placedElsewhere(): Promise<Set<string>> {
    const out = new Set<string>();
    await eachLimited([...this.current.keys()], PLACEMENT_READS, async (name) => {
      try {
        const target = await this.opts.registry.getTarget(name);
        if (target !== undefined && target !== this.machineId) out.add(name);
      } catch (err) {
        log.debug('could not read where a unit is placed; holding it', { unit: name, err: errorMessage(err) });
      }
    });
    if (out.size > 0) log.info('units placed elsewhere while this machine was away are stopped here', { units: [...out] });
    return out;
  }

  private async globalUnitsHere(
    scheduled: ReadonlyMap<string, ScheduleEntry>,
    globals: ReadonlyMap<string, GlobalUnitEntry>,
  ): Promise<DesiredUnit[]> {
    if (globals.size === 0) return [];
    const all = [...globals.values(), ...scheduled.values()];
    await this.requirements.ensure(all);
    this.requirements.retain(all);
    const candidates: SchedUnit[] = [];
    for (const g of globals.values()) {
      const r = this.requirements.lookup(g.name, g.hash);
      if (r.ok) candidates.push({ name: g.name, hash: g.hash, desiredState: g.desiredState, requirements: r.requirements });
      else log.warn('global unit cannot be used', { unit: g.name, reason: r.reason });
    }
    const others = [...scheduled.values()].map((e) => {
      const r = this.requirements.lookup(e.name, e.hash);
      return { name: e.name, requirements: r.ok ? r.requirements : NO_REQUIREMENTS };
    });
    const machine = { id: this.machineId, metadata: this.opts.metadata() };
    const placement = globalUnitsFor(machine, candidates, others);
    const byName = new Map(candidates.map((c) => [c.name, c]));
    const out: DesiredUnit[] = [];
    for (const name of placement.run) {
      const c = byName.get(name);
      const startRequest = globals.get(name)?.startRequest;
      if (c && c.desiredState !== 'inactive') out.push({ name, hash: c.hash, state: c.desiredState, ...(startRequest !== undefined ? { startRequest } : {}) });
    }
    return out;
  }

  /**
   * Runs tasks kind by kind in agentTasks' order (unload, load, reload, stop, start). Unloads and stops run up to
   * STOP_CONCURRENCY at a time (each unload waits for its unit to stop: one by one, 134 stale copies took seconds);
   * the other kinds one at a time, in order. A unit's later tasks are skipped once one of its tasks failed.
   * A unit's state is published once its last task of the batch is done, not after each (load then start would
   * otherwise publish `loaded/inactive` on the way: a third of a launch's etcd writes).
   */
  private async runTasks(tasks: readonly Task[], desired?: ReadonlyMap<string, DesiredUnit>): Promise<void> {
    const failed = new Set<string>();
    const left = new Map<string, number>();
    for (const task of tasks) if (task.unit !== undefined) left.set(task.unit, (left.get(task.unit) ?? 0) + 1);
    this.tasksLeft = left;
    const runOne = async (task: Task): Promise<void> => {
      const unit = task.unit;
      if (unit !== undefined && failed.has(unit)) return;
      this.stats.tasks++;
      try {
        await this.runTask(task, desired);
        log.info('agent completed task', { type: task.kind, unit, reason: task.reason });
      } catch (err) {
        this.stats.taskFailures++;
        if (unit !== undefined) failed.add(unit);
        log.warn('agent task failed', { type: task.kind, unit, err: errorMessage(err) });
      }
      if (unit !== undefined) {
        const n = failed.has(unit) ? 0 : (left.get(unit) ?? 1) - 1;
        left.set(unit, n);
        if (n === 0) this.flushDeferred(unit);
      }
    };
    try {
      for (let i = 0; i < tasks.length; ) {
        const kind = tasks[i]!.kind;
        let j = i;
        while (j < tasks.length && tasks[j]!.kind === kind) j++;
        const concurrent = kind === 'unload' || kind === 'stop' ? STOP_CONCURRENCY : 1;
        await eachLimited(tasks.slice(i, j), concurrent, runOne);
        i = j;
      }
    } finally {
      this.tasksLeft = undefined;
      for (const name of [...this.deferred]) this.flushDeferred(name);
    }
    if (failed.size > 0) setTimeout(() => this.trigger(), 2000).unref();
  }

  private async runTask(task: Task, desired?: ReadonlyMap<string, DesiredUnit>): Promise<void> {
    const { manager } = this.opts;
    if (task.kind === 'reload') return manager.reload();
    const name = task.unit!;
    switch (task.kind) {
      case 'unload':
        await manager.unload(name);
        this.current.delete(name);
        this.runtime.delete(name);
        this.published.delete(name);
        await this.opts.registry.deleteUnitState(this.opts.presence, name).catch((err: unknown) =>
          log.debug('could not delete unit state', { unit: name, err: errorMessage(err) }),
        );
        return;
      case 'load': {
        const want = desired?.get(name);
        if (!want) return;
        const text = await this.opts.registry.getUnitText(want.hash);
        if (text === undefined) throw new Error(`contents ${shortHash(want.hash)} of ${name} are missing from the registry`);
        this.requirements.remember(name, want.hash, text);
        try {
          await manager.load(name, text);
        } catch (err) {
          // recorded, then failed: the unit's later tasks (start) must not touch the host's unit of that name
          if (err instanceof UnitRefusedError) await this.refusals.record(name, want.hash, err.reason);
          throw err;
        }
        this.current.set(name, { name, hash: want.hash, state: 'loaded' });
        await this.refreshRuntime(name);
        return;
      }
      case 'start':
      case 'retry': {
        // retry: `fleetctl start` of a launched unit that failed (docs/fleet-compat.md#engine-and-agent-behaviour)
        await manager.start(name, { resetFailed: task.kind === 'retry' });
        const startRequest = desired?.get(name)?.startRequest;
        const cur = this.current.get(name);
        if (cur && startRequest !== undefined) this.current.set(name, { ...cur, startRequest });
        this.setState(name, 'launched');
        return;
      }
      case 'stop':
        await manager.stop(name);
        this.setState(name, 'loaded');
        return;
    }
  }

  private setState(name: string, state: AgentState): void {
    const cur = this.current.get(name);
    if (!cur) return;
    this.current.set(name, { ...cur, state });
    void this.publish(name);
  }

  private async refreshRuntime(name: string): Promise<void> {
    try {
      this.runtime.set(name, await this.opts.manager.readState(name));
    } catch (err) {
      log.debug('could not read unit state', { unit: name, err: errorMessage(err) });
    }
    await this.publish(name);
  }

  private flushDeferred(name: string): void {
    if (this.deferred.delete(name)) void this.publish(name);
  }

  /** Publishes one unit's state; calls for the same unit run in order, so an older state never lands last. */
  private publish(name: string): Promise<void> {
    if ((this.tasksLeft?.get(name) ?? 0) > 0) {
      this.deferred.add(name);
      return Promise.resolve();
    }
    const next = (this.publishing.get(name) ?? Promise.resolve()).then(() => this.publishNow(name));
    this.publishing.set(name, next);
    void next.finally(() => {
      if (this.publishing.get(name) === next) this.publishing.delete(name);
    });
    return next;
  }

  private async publishNow(name: string): Promise<void> {
    const cur = this.current.get(name);
    const rt = this.runtime.get(name);
    if (!cur || !rt) return;
    const state: UnitState = {
      name,
      machineId: this.machineId,
      hash: cur.hash,
      loadState: rt.loadState,
      activeState: rt.activeState,
      subState: rt.subState,
      agentState: cur.state,
    };
    const fingerprint = JSON.stringify(state);
    if (this.published.get(name) === fingerprint) return;
    this.published.set(name, fingerprint);
    try {
      await this.opts.registry.publishUnitState(this.opts.presence, state);
    } catch (err) {
      this.published.delete(name);
      log.debug('could not publish unit state; retrying', { unit: name, err: errorMessage(err) });
      // a lost presence republishes everything once it is back; a slow etcd gets the same state again
      if (this.opts.presence.alive && !this.stopped) setTimeout(() => void this.publish(name), 1000).unref();
    }
  }
}

/** Stops and removes every unit left in the units directory (a clean stop of a fleetd whose agent never ran). */
export async function unloadInstalled(manager: UnitManager): Promise<void> {
  const installed = await manager.inventory();
  await eachLimited([...installed.keys()], STOP_CONCURRENCY, async (name) => {
    try {
      await manager.unload(name);
      log.info('unloaded unit left by an earlier fleetd', { unit: name });
    } catch (err) {
      log.warn('could not unload unit', { unit: name, err: errorMessage(err) });
    }
  });
  if (installed.size > 0) await manager.reload();
}
