/**
 * The agent: runs on every machine, watches only this machine's schedule (and the small set of global units),
 * makes systemd match it, and publishes unit states from systemd's signals.
 * It never stops a unit because etcd is slow or gone: it acts only on schedules it has actually read.
 * This file is the wiring: the presence policy is presence.ts (a pure function), ordered publishing publisher.ts,
 * the task list tasks.ts, the loop lib/reconcile.ts; registry and presence are the narrow interfaces of ports.ts.
 */
import type { GlobalUnitEntry, ScheduleEntry, WatchHandle } from '../../lib/registry/index.js';
import { globalUnitsFor, type SchedUnit } from '../../lib/schedule/index.js';
import { NO_REQUIREMENTS, shortHash } from '../../lib/unit/index.js';
import { logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { eachLimited } from '../../lib/limit.js';
import { sleep, systemClock, type Clock, type Timer } from '../../lib/clock.js';
import { ReconcileLoop } from '../../lib/reconcile.js';
import { agentTasks, type AgentState, type CurrentUnit, type DesiredUnit, type Task, type TaskKind } from './tasks.js';
import type { LoadResult, UnitManager, UnitRuntimeState } from './unit-manager.js';
import type { AgentPresence, AgentRegistry } from './ports.js';
import { RequirementsCache } from '../../lib/registry/requirements-cache.js';
import { Refusals, UnitRefusedError } from './host-units.js';
import { Failures } from './failures.js';
import { atRisk, atRiskCheckMs, HOLD_END_SLACK_MS, joined, lost, presencePolicy, REGISTERED, type PresenceState } from './presence.js';
import { Publisher } from './publisher.js';

const log = logger('agent');

export interface AgentOptions {
  registry: AgentRegistry;
  presence: AgentPresence;
  manager: UnitManager;
  /** this machine's metadata as the cluster sees it (config merged with API overrides) */
  metadata: () => Readonly<Record<string, string>>;
  /** safety-net reconcile period; watches drive the agent otherwise */
  reconcileIntervalMs: number;
  /** disable_watches: a registry change only updates what the agent knows; the next periodic reconcile acts on it */
  disableWatches?: boolean;
  /**
   * After this machine (re)joins the cluster (fleetd start, presence re-established), units it runs that are
   * not scheduled here are kept this long before they are unloaded: the engine may have unscheduled them only
   * because the machine was gone, and places them here again once it sees the machine back.
   */
  rejoinSettleMs: number;
  /** Time and timers (default: the system clock). */
  clock?: Clock;
}

export interface AgentStats {
  reconciles: number;
  tasks: number;
  taskFailures: number;
}

/** Concurrent job reads when checking where this machine's units are placed now. */
const PLACEMENT_READS = 16;
/**
 * Unloads (each waits for its unit to stop) and stops of one reconcile run this many at a time: N units not
 * scheduled here any more (e.g. stale copies after a partition heals) are gone after about ceil(N / 16) unit
 * stop times, not N.
 */
export const STOP_CONCURRENCY = 16;
/**
 * Kinds whose tasks of one run go STOP_CONCURRENCY at a time: each unit's are independent of the others', and a
 * kind's tasks all end before the next kind's begin (all loads, then the one reload, then the starts). One by one,
 * 20 loads and 20 starts cost 20 D-Bus round trips each to a busy systemd (60 ms each at load 8).
 */
const CONCURRENT_KINDS: ReadonlySet<TaskKind> = new Set<TaskKind>(['unload', 'stop', 'load', 'start', 'retry']);
/** A reconcile that failed (etcd unreachable...) runs again after this long. */
const RECONCILE_RETRY_MS = 1000;
/** A reconcile some of whose tasks failed runs again after this long. */
const TASK_RETRY_MS = 2000;
/** Closing the watches on stop needs etcd: never wait longer than this for it. */
const WATCH_CLOSE_MS = 3000;

/** The texts a batch of tasks loads (readTexts), or why they could not be read. */
interface LoadTexts {
  readonly texts: ReadonlyMap<string, string>;
  readonly error?: unknown;
}

export class Agent {
  readonly stats: AgentStats = { reconciles: 0, tasks: 0, taskFailures: 0 };
  private scheduled: ReadonlyMap<string, ScheduleEntry> | undefined;
  private globals: ReadonlyMap<string, GlobalUnitEntry> | undefined;
  private readonly current = new Map<string, CurrentUnit>();
  private readonly runtime = new Map<string, UnitRuntimeState>();
  private readonly requirements: RequirementsCache;
  private readonly refusals: Refusals;
  private readonly failures: Failures;
  private readonly publisher: Publisher;
  private readonly clock: Clock;
  private readonly loop: ReconcileLoop;
  private watches: WatchHandle[] = [];
  private riskTimer: Timer | undefined;
  /** units found running at start, before the first reconcile */
  private readonly adopted = new Set<string>();
  /** the machine's registration as the presence policy sees it (presence.ts) */
  private presence: PresenceState = REGISTERED;
  /** whether the last reconcile saw the machine at risk (a change triggers one) */
  private wasAtRisk = false;

  constructor(private readonly opts: AgentOptions) {
    this.requirements = new RequirementsCache(opts.registry);
    this.refusals = new Refusals(opts.registry, opts.presence);
    this.clock = opts.clock ?? systemClock;
    this.failures = new Failures(opts.registry, opts.presence, (name, hash) => {
      const r = this.requirements.resolve(name, hash);
      return r?.ok === true ? r.requirements.reschedule : undefined;
    }, () => this.clock.now());
    this.loop = new ReconcileLoop({
      clock: this.clock,
      pass: () => this.reconcile(),
      intervalMs: opts.reconcileIntervalMs,
      backoff: { firstMs: RECONCILE_RETRY_MS, factor: 1, maxMs: RECONCILE_RETRY_MS },
      onError: (err) => log.warn('agent reconcile failed; will retry', { err: errorMessage(err) }),
      unrefTimers: true,
    });
    this.publisher = new Publisher({
      registry: opts.registry,
      presence: opts.presence,
      clock: this.clock,
      stateOf: (name) => {
        const cur = this.current.get(name);
        const rt = this.runtime.get(name);
        if (!cur || !rt) return undefined;
        return {
          name,
          machineId: this.machineId,
          hash: cur.hash,
          loadState: rt.loadState,
          activeState: rt.activeState,
          subState: rt.subState,
          agentState: cur.state,
        };
      },
      stopped: () => this.loop.stopped,
    });
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
      void this.publisher.publish(name);
      this.noteFailure(name);
    });
    for (const u of (await manager.inventory()).values()) {
      this.current.set(u.name, { name: u.name, hash: u.hash, state: u.running ? 'launched' : 'loaded' });
      this.adopted.add(u.name);
      await this.refreshRuntime(u.name);
    }
    await this.requirements.ensure(this.current.values());
    if (this.current.size > 0) {
      this.presence = joined(this.clock.now(), this.opts.rejoinSettleMs, this.presence.movedAway);
      const movedAway = await this.placedElsewhere();
      this.presence = { ...this.presence, movedAway };
    }
    this.watches.push(
      await registry.watchSchedule(this.machineId, (snapshot) => {
        this.scheduled = new Map(snapshot);
        this.registryChanged();
      }),
      await registry.watchGlobalUnits((snapshot) => {
        this.globals = new Map(snapshot);
        this.registryChanged();
      }),
    );
    this.riskTimer = this.clock.every(atRiskCheckMs(this.opts.presence.ttlSeconds), () => {
      if (atRisk(this.presence, this.opts.presence) !== this.wasAtRisk) this.trigger();
    }, { unref: true });
    this.loop.start();
  }

  /** Stops watching. With `unloadAll`, first stops and removes every unit (fleet's behaviour on SIGTERM). */
  async stop(opts: { unloadAll: boolean }): Promise<void> {
    const passDone = this.loop.stop();
    this.riskTimer?.cancel();
    const closing = Promise.all(this.watches.map((w) => w.close().catch(() => undefined)));
    await Promise.race([closing, sleep(this.clock, WATCH_CLOSE_MS, { unref: true })]);
    this.watches = [];
    await passDone;
    if (opts.unloadAll) {
      await this.runTasks(agentTasks(new Map(), this.current));
    }
  }

  /** Publish every state again, e.g. after the machine re-registered with a new lease. */
  async republish(): Promise<void> {
    this.publisher.forgetAll();
    this.refusals.clear();
    await Promise.all([...this.current.keys()].map((n) => this.publisher.publish(n)));
  }

  /** The machine's presence is gone: the engine may unschedule its units; none is unloaded for that. */
  presenceLost(): void {
    this.presence = lost(this.presence);
    this.trigger();
  }

  /** The machine registered again: republish states, and give the engine time to place its units here again. */
  async rejoined(): Promise<void> {
    this.presence = joined(this.clock.now(), this.opts.rejoinSettleMs, this.presence.movedAway);
    const movedAway = await this.placedElsewhere();
    this.presence = { ...this.presence, movedAway };
    await this.republish();
    this.trigger();
  }

  /** A watch saw the schedule or the global units change: reconcile now, unless disable_watches leaves that to the
   * periodic pass (docs/fleet-compat.md#fleetd-configuration). */
  private registryChanged(): void {
    if (!this.opts.disableWatches) this.trigger();
  }

  /** Asks for a reconcile (coalesced by the loop; none before start() or after stop()). */
  trigger(): void {
    this.loop.trigger();
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
    // a start or restart request made before this fleetd started is not acted on again (a restart is answered
    // done); before the policy, which copies the current units
    for (const name of this.adopted) {
      const want = desired.get(name);
      const cur = this.current.get(name);
      if (want?.startRequest !== undefined && cur) this.current.set(name, { ...cur, startRequest: want.startRequest });
      if (want?.restartRequest !== undefined && cur) this.answerRestart(name, want.restartRequest, { ok: true });
    }
    const d = presencePolicy({
      presence: this.presence,
      live: this.opts.presence,
      now: this.clock.now(),
      desired,
      current: this.current,
      adopted: this.adopted,
      stopOnDisconnect: (name, hash) => {
        const r = this.requirements.resolve(name, hash);
        return r?.ok === true && r.requirements.stopOnDisconnect === true;
      },
    });
    this.wasAtRisk = d.atRisk;
    if (d.fenced.length > 0) log.warn('machine not registered in etcd: stopping units with StopOnDisconnect', { units: d.fenced });
    for (const name of d.adopt) this.setState(name, 'loaded');
    this.adopted.clear();
    if (d.held.length > 0) {
      log.info('keeping units not scheduled here while this machine rejoins', {
        units: d.held,
        presence: this.presence.down ? 'lost' : 'registered',
        forMs: d.holdEndsAt === undefined ? undefined : d.holdEndsAt - this.clock.now(),
      });
    }
    if (d.holdEndsAt !== undefined) this.loop.wakeAt('rejoin-hold', d.holdEndsAt + HOLD_END_SLACK_MS);
    await this.runTasks(agentTasks(d.desired, d.actOn), d.desired);
    for (const name of this.current.keys()) this.noteFailure(name);
  }

  /** Reschedule=on-failure: a unit that opted in and failed here is recorded once (failures.ts). */
  private noteFailure(name: string): void {
    const cur = this.current.get(name);
    const rt = this.runtime.get(name);
    if (cur && rt) void this.failures.observe(name, cur.hash, rt.activeState);
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
    entries: ReadonlyMap<string, GlobalUnitEntry>,
  ): Promise<DesiredUnit[]> {
    if (entries.size === 0) return [];
    const globals = this.withOverrides(entries);
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
      const g = globals.get(name);
      const startRequest = g?.startRequest;
      const restartRequest = g?.restartRequests?.[this.machineId];
      if (c && c.desiredState !== 'inactive') {
        out.push({
          name, hash: c.hash, state: c.desiredState,
          ...(startRequest !== undefined ? { startRequest } : {}), ...(restartRequest !== undefined ? { restartRequest } : {}),
        });
      }
    }
    return out;
  }

  /**
   * The global units as this machine runs them: a unit with a hash override for this machine (rolling update,
   * GlobalUnitEntry.machineHashes) is run with that hash, same desired state; a changed hash takes the replace path.
   */
  private withOverrides(globals: ReadonlyMap<string, GlobalUnitEntry>): ReadonlyMap<string, GlobalUnitEntry> {
    let out: Map<string, GlobalUnitEntry> | undefined;
    for (const [name, g] of globals) {
      const hash = g.machineHashes?.[this.machineId];
      if (hash === undefined || hash === g.hash) continue;
      (out ??= new Map(globals)).set(name, { ...g, hash });
    }
    return out ?? globals;
  }

  /**
   * Runs tasks kind by kind in agentTasks' order (unload, load, reload, stop, start). Unloads, loads, stops, starts
   * and retries run up to STOP_CONCURRENCY at a time (CONCURRENT_KINDS; each unload waits for its unit to stop: one
   * by one, 134 stale copies took seconds); restarts one at a time, in order. The reload is skipped when every unit
   * loaded is new to the service manager and started in this run (LoadResult.startsUnloaded). A unit's later tasks are skipped once one of its tasks failed.
   * A unit's state is published once its last task of the batch is done, not after each (publisher.ts).
   */
  private async runTasks(tasks: readonly Task[], desired?: ReadonlyMap<string, DesiredUnit>): Promise<void> {
    const texts = await this.readTexts(tasks, desired);
    const failed = new Set<string>();
    // the reload is left out when every unit loaded is new to the service manager and started in this run, which
    // loads it from its file (LoadResult.startsUnloaded): a reload took 1-2 s of a 60-unit start on each machine
    const started = new Set(tasks.filter((t) => t.kind === 'start').map((t) => t.unit));
    let reloadNeeded = tasks.some((t) => t.kind === 'unload');
    const count = new Map<string, number>();
    for (const task of tasks) if (task.unit !== undefined) count.set(task.unit, (count.get(task.unit) ?? 0) + 1);
    this.publisher.beginBatch(count);
    const runOne = async (task: Task): Promise<void> => {
      const unit = task.unit;
      if (unit !== undefined && failed.has(unit)) return;
      if (task.kind === 'reload' && !reloadNeeded) {
        log.debug('agent skipped the reload: every unit loaded is new to systemd and started now', { reason: task.reason });
        return;
      }
      this.stats.tasks++;
      try {
        const loaded = await this.runTask(task, desired, texts);
        if (task.kind === 'load' && !(loaded?.startsUnloaded === true && started.has(unit))) reloadNeeded = true;
        log.info('agent completed task', { type: task.kind, unit, reason: task.reason });
      } catch (err) {
        if (task.kind === 'load') reloadNeeded = true;
        this.stats.taskFailures++;
        if (unit !== undefined) failed.add(unit);
        log.warn('agent task failed', { type: task.kind, unit, err: errorMessage(err) });
      }
      if (unit !== undefined) this.publisher.taskDone(unit, failed.has(unit));
    };
    try {
      for (let i = 0; i < tasks.length; ) {
        const kind = tasks[i]!.kind;
        let j = i;
        while (j < tasks.length && tasks[j]!.kind === kind) j++;
        const concurrent = CONCURRENT_KINDS.has(kind) ? STOP_CONCURRENCY : 1;
        await eachLimited(tasks.slice(i, j), concurrent, runOne);
        i = j;
      }
    } finally {
      this.publisher.endBatch();
    }
    if (failed.size > 0) this.loop.wakeAt('failed-tasks', this.clock.now() + TASK_RETRY_MS);
  }

  /**
   * The texts of every unit the tasks load, read together (one etcd request per 100 texts, not one per unit); a
   * failed read fails each load task with its error, as reading them one by one would.
   */
  private async readTexts(tasks: readonly Task[], desired?: ReadonlyMap<string, DesiredUnit>): Promise<LoadTexts> {
    const hashes = new Set<string>();
    for (const t of tasks) {
      const want = t.kind === 'load' && t.unit !== undefined ? desired?.get(t.unit) : undefined;
      if (want) hashes.add(want.hash);
    }
    if (hashes.size === 0) return { texts: new Map() };
    try {
      return { texts: await this.opts.registry.getUnitTexts(hashes) };
    } catch (err) {
      return { texts: new Map(), error: err };
    }
  }

  /** What a load task's manager.load answered (undefined for other kinds). */
  private async runTask(task: Task, desired: ReadonlyMap<string, DesiredUnit> | undefined, loadTexts: LoadTexts): Promise<LoadResult | void> {
    const { manager } = this.opts;
    if (task.kind === 'reload') return manager.reload();
    const name = task.unit!;
    switch (task.kind) {
      case 'unload':
        await manager.unload(name);
        this.current.delete(name);
        this.runtime.delete(name);
        this.publisher.forget(name);
        this.failures.forget(name);
        await this.opts.registry.deleteUnitState(this.opts.presence, name).catch((err: unknown) =>
          log.debug('could not delete unit state', { unit: name, err: errorMessage(err) }),
        );
        return;
      case 'load': {
        const want = desired?.get(name);
        if (!want) return;
        if (loadTexts.error !== undefined) throw loadTexts.error;
        const text = loadTexts.texts.get(want.hash);
        if (text === undefined) throw new Error(`contents ${shortHash(want.hash)} of ${name} are missing from the registry`);
        this.requirements.remember(name, want.hash, text);
        let loaded: LoadResult | void;
        try {
          loaded = await manager.load(name, text);
        } catch (err) {
          // recorded, then failed: the unit's later tasks (start) must not touch the host's unit of that name
          if (err instanceof UnitRefusedError) await this.refusals.record(name, want.hash, err.reason);
          throw err;
        }
        this.current.set(name, { name, hash: want.hash, state: 'loaded' });
        await this.refreshRuntime(name);
        return loaded;
      }
      case 'start':
      case 'retry': {
        // retry: `fleetctl start` of a launched unit that failed (docs/fleet-compat.md#engine-and-agent-behaviour)
        await manager.start(name, { resetFailed: task.kind === 'retry' });
        const want = desired?.get(name);
        const cur = this.current.get(name);
        if (cur && want?.startRequest !== undefined) this.current.set(name, { ...cur, startRequest: want.startRequest });
        this.setState(name, 'launched');
        // a rolling-restart request of a unit that was not running yet: this start answers it
        if (want?.restartRequest !== undefined) this.answerRestart(name, want.restartRequest, { ok: true });
        return;
      }
      case 'restart': {
        // `fleetctl restart` of a global unit, one machine at a time (docs/fleet-compat.md#engine-and-agent-behaviour)
        const want = desired?.get(name);
        const token = want?.restartRequest;
        try {
          await manager.restart(name);
        } catch (err) {
          // once per request, also when it failed: the client waiting on it stops the roll and names this machine
          if (token !== undefined) this.answerRestart(name, token, { ok: false, message: errorMessage(err) });
          throw err;
        }
        const cur = this.current.get(name);
        if (cur && want?.startRequest !== undefined) this.current.set(name, { ...cur, startRequest: want.startRequest });
        this.setState(name, 'launched');
        await this.refreshRuntime(name);
        if (token !== undefined) this.answerRestart(name, token, { ok: true });
        return;
      }
      case 'stop':
        await manager.stop(name);
        this.setState(name, 'loaded');
        return;
    }
  }

  /** Records a restart request as handled here and settles it in the registry (its client waits on that). */
  private answerRestart(name: string, token: string, outcome: { ok: true } | { ok: false; message: string }): void {
    const cur = this.current.get(name);
    if (cur) this.current.set(name, { ...cur, restartRequest: token });
    void this.opts.registry.settleRestart(name, this.machineId, token, outcome).catch((err: unknown) =>
      log.warn('could not settle a restart request', { unit: name, err: errorMessage(err) }),
    );
  }

  private setState(name: string, state: AgentState): void {
    const cur = this.current.get(name);
    if (!cur) return;
    this.current.set(name, { ...cur, state });
    void this.publisher.publish(name);
  }

  private async refreshRuntime(name: string): Promise<void> {
    try {
      this.runtime.set(name, await this.opts.manager.readState(name));
    } catch (err) {
      log.debug('could not read unit state', { unit: name, err: errorMessage(err) });
    }
    await this.publisher.publish(name);
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
