/**
 * A typed client of systemd's manager over D-Bus: unit files, jobs, unit state, and the
 * JobRemoved / PropertiesChanged signals the fleetd agent reports from.
 */
import { EventEmitter } from 'node:events';
import { Variant } from 'dbus-next';
import { BusCallError, BusConnection, type Signal } from './bus.js';
import { JobTimeoutError, SystemdConnectionError, SystemdError, isNoSuchUnit } from './errors.js';
import { UNIT_PATH_PREFIX, unitNameOfPath } from './unit-path.js';
import { UnitStateTracker } from './unit-states.js';
import type {
  ConnectOptions,
  JobMode,
  JobOptions,
  JobOutcome,
  JobRemovedEvent,
  QueuedJob,
  JobResult,
  UnitAction,
  UnitFileChange,
  UnitState,
  UnitStateChangedEvent,
  UnitStatus,
} from './types.js';

const SYSTEMD = 'org.freedesktop.systemd1';
const MANAGER_PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const UNIT = 'org.freedesktop.systemd1.Unit';
const PROPERTIES = 'org.freedesktop.DBus.Properties';

export const DEFAULT_SYSTEM_BUS = 'unix:path=/run/dbus/system_bus_socket';

/**
 * Method calls of one client in flight at most; later ones wait their turn, in order. dbus-daemon refuses a call
 * once a connection has 128 replies pending (max_replies_per_connection, LimitsExceeded), and a refused call is
 * an error for whoever made it: a burst (many units started and read at once) must queue here instead.
 */
export const MAX_PENDING_CALLS = 64;

/** The system bus of the machine whose init (or any process) has this host pid. */
export function systemBusAddressOf(pid: number): string {
  return `unix:path=/proc/${pid}/root/run/dbus/system_bus_socket`;
}

const ACTION_METHODS: Record<UnitAction, string> = {
  start: 'StartUnit',
  stop: 'StopUnit',
  restart: 'RestartUnit',
  reload: 'ReloadUnit',
  'try-restart': 'TryRestartUnit',
  'reload-or-restart': 'ReloadOrRestartUnit',
  'reload-or-try-restart': 'ReloadOrTryRestartUnit',
};

export interface SystemdEvents {
  /** a job finished (needs subscribe(), which waiting and watching do themselves) */
  jobRemoved: [JobRemovedEvent];
  /** load/active/sub state of a watched unit changed */
  unitStateChanged: [UnitStateChangedEvent];
  /** systemd starts (true) or finished (false) a daemon-reload */
  reloading: [boolean];
  /** the connection is gone; every later call fails with SystemdConnectionError */
  disconnected: [Error | undefined];
}

export async function connectSystemd(busAddress?: string, options: ConnectOptions = {}): Promise<SystemdClient> {
  const address = busAddress ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? DEFAULT_SYSTEM_BUS;
  const conn = await BusConnection.open(
    address,
    options.connectTimeoutMs ?? 10_000,
    options.callTimeoutMs ?? 30_000,
  );
  return new SystemdClient(conn, options.jobTimeoutMs ?? 120_000);
}

export class SystemdClient extends EventEmitter<SystemdEvents> {
  #subscribed: Promise<void> | undefined;
  #jobMatch: Promise<void> | undefined;
  #unitMatch: Promise<void> | undefined;
  readonly #jobWaiters = new Map<string, (ev: JobRemovedEvent) => void>();
  /** JobRemoved seen while a job call was in flight: the signal can beat the call's reply to us */
  readonly #earlyJobs = new Map<string, JobRemovedEvent>();
  #jobCallsInFlight = 0;
  /** method calls sent and not answered yet (MAX_PENDING_CALLS) */
  #callsInFlight = 0;
  /** calls waiting for one in flight to end, first come first sent */
  readonly #callQueue: Array<() => void> = [];
  /** watched units' states, from signals and batched reads (unit-states.ts) */
  readonly #units: UnitStateTracker;

  constructor(
    private readonly conn: BusConnection,
    private readonly jobTimeoutMs: number,
  ) {
    super();
    // every waited-for job listens for 'disconnected' while it waits; callers bound how many wait at once
    // (the agent: 16 unloads), so the default warning at 10 listeners would only be noise
    this.setMaxListeners(100);
    this.#units = new UnitStateTracker({
      read: (names) => this.listUnitsByNames(names),
      changed: (unit, state) => this.emit('unitStateChanged', { unit, state }),
      busAddress: conn.address,
    });
    conn.on('signal', (s) => this.#onSignal(s));
    conn.once('closed', (err) => {
      this.#units.close();
      this.emit('disconnected', err);
    });
  }

  get busAddress(): string {
    return this.conn.address;
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  /** Ask systemd to send job and unit signals to this connection. Idempotent. */
  async subscribe(): Promise<void> {
    this.#subscribed ??= this.#managerCall('Subscribe', '', []).then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof SystemdError && err.dbusName === `${SYSTEMD}.AlreadySubscribed`) return;
        this.#subscribed = undefined;
        throw err;
      },
    );
    return this.#subscribed;
  }

  async version(): Promise<string> {
    return asString(await this.#getProperty(MANAGER_PATH, MANAGER, 'Version'), 'Version');
  }

  /** initializing | starting | running | degraded | maintenance | stopping */
  async systemState(): Promise<string> {
    return asString(await this.#getProperty(MANAGER_PATH, MANAGER, 'SystemState'), 'SystemState');
  }

  // --- unit files -------------------------------------------------------------------------------

  /** Symlink unit files (absolute paths) into the unit search path (/run/systemd/system if runtime). */
  async linkUnitFiles(paths: readonly string[], runtime = true, force = true): Promise<UnitFileChange[]> {
    const [changes] = await this.#managerCall('LinkUnitFiles', 'asbb', [[...paths], runtime, force], paths.join(' '));
    return asChanges(changes);
  }

  /** Enable unit files (names or absolute paths) per their [Install] section. */
  async enableUnitFiles(
    files: readonly string[],
    runtime = true,
    force = true,
  ): Promise<{ carriesInstallInfo: boolean; changes: UnitFileChange[] }> {
    const [carries, changes] = await this.#managerCall(
      'EnableUnitFiles',
      'asbb',
      [[...files], runtime, force],
      files.join(' '),
    );
    return { carriesInstallInfo: carries === true, changes: asChanges(changes) };
  }

  /** Undo enable (and link): removes the symlinks naming these units. */
  async disableUnitFiles(names: readonly string[], runtime = true): Promise<UnitFileChange[]> {
    const [changes] = await this.#managerCall('DisableUnitFiles', 'asb', [[...names], runtime], names.join(' '));
    return asChanges(changes);
  }

  async maskUnitFiles(names: readonly string[], runtime = true, force = true): Promise<UnitFileChange[]> {
    const [changes] = await this.#managerCall('MaskUnitFiles', 'asbb', [[...names], runtime, force], names.join(' '));
    return asChanges(changes);
  }

  async unmaskUnitFiles(names: readonly string[], runtime = true): Promise<UnitFileChange[]> {
    const [changes] = await this.#managerCall('UnmaskUnitFiles', 'asb', [[...names], runtime], names.join(' '));
    return asChanges(changes);
  }

  /** enabled | enabled-runtime | linked | linked-runtime | masked | masked-runtime | static | disabled | ... */
  async getUnitFileState(name: string): Promise<string> {
    const [state] = await this.#managerCall('GetUnitFileState', 's', [name], name);
    return asString(state, 'GetUnitFileState');
  }

  /** daemon-reload; resolves when systemd has finished reloading. */
  async reload(): Promise<void> {
    await this.#managerCall('Reload', '', []);
  }

  // --- jobs -------------------------------------------------------------------------------------

  startUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('start', name, opts);
  }
  stopUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('stop', name, opts);
  }
  restartUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('restart', name, opts);
  }
  reloadUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('reload', name, opts);
  }
  tryRestartUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('try-restart', name, opts);
  }
  reloadOrRestartUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('reload-or-restart', name, opts);
  }
  reloadOrTryRestartUnit(name: string, opts?: JobMode | JobOptions): Promise<JobOutcome> {
    return this.unitAction('reload-or-try-restart', name, opts);
  }

  /**
   * Queue a job for a unit. With `wait`, resolves when the job is removed, with its result
   * ('done' is success; anything else is for the caller to judge).
   */
  async unitAction(action: UnitAction, name: string, opts: JobMode | JobOptions = {}): Promise<JobOutcome> {
    const o: JobOptions = typeof opts === 'string' ? { mode: opts } : opts;
    const method = ACTION_METHODS[action];
    if (!method) throw new SystemdError(`unknown unit action ${JSON.stringify(action)}`, '', 'unitAction', name);
    if (!o.wait) {
      const [job] = await this.#managerCall(method, 'ss', [name, o.mode ?? 'replace'], name);
      return { job: asString(job, method), unit: name };
    }
    await this.#ensureJobSignals();
    this.#jobCallsInFlight++;
    let job: string;
    try {
      const [reply] = await this.#managerCall(method, 'ss', [name, o.mode ?? 'replace'], name);
      job = asString(reply, method);
    } catch (err) {
      this.#jobCallDone();
      throw err;
    }
    const early = this.#earlyJobs.get(job);
    this.#jobCallDone();
    if (early) return { job, unit: name, result: early.result };
    const result = await this.#waitJob(job, name, o.timeoutMs ?? this.jobTimeoutMs);
    return { job, unit: name, result };
  }

  async resetFailedUnit(name: string): Promise<void> {
    await this.#managerCall('ResetFailedUnit', 's', [name], name);
  }

  /** Send a signal to a unit's processes; whom: main | control | all. */
  async killUnit(name: string, signal: number, whom: 'main' | 'control' | 'all' = 'all'): Promise<void> {
    await this.#managerCall('KillUnit', 'ssi', [name, whom, signal], name);
  }

  // --- state ------------------------------------------------------------------------------------

  /** State of one unit, loading it if systemd does not have it in memory (then e.g. not-found/inactive/dead). */
  async getUnitState(name: string): Promise<UnitState> {
    for (let attempt = 0; ; attempt++) {
      const path = await this.#unitPath(name);
      try {
        return await this.#stateAt(path);
      } catch (err) {
        // the unit may be garbage-collected between GetUnit and the property read
        if (attempt > 0 || !(err instanceof SystemdError) || !err.dbusName.endsWith('.UnknownObject')) throw err;
      }
    }
  }

  /**
   * States of units read now in one call, batched with every other unit read waits for; for a watched unit, the
   * state it is known to have once the read is done (the read's, or a signal's that came after it), which is also
   * what `unitStateChanged` reported for it. Unlike getUnitState, one message: never a mix of two states.
   */
  async readUnitStates(names: readonly string[]): Promise<Map<string, UnitState>> {
    return this.#units.read(names);
  }

  /** States of several units in one call (units systemd does not know come back as not-found). */
  async listUnitsByNames(names: readonly string[]): Promise<UnitStatus[]> {
    if (names.length === 0) return [];
    const [rows] = await this.#managerCall('ListUnitsByNames', 'as', [[...names]], names.join(' '));
    if (!Array.isArray(rows)) throw badReply('ListUnitsByNames');
    return rows.map((row: unknown) => {
      if (!Array.isArray(row) || row.length < 5) throw badReply('ListUnitsByNames');
      return {
        name: asString(row[0], 'ListUnitsByNames'),
        description: asString(row[1], 'ListUnitsByNames'),
        loadState: asString(row[2], 'ListUnitsByNames'),
        activeState: asString(row[3], 'ListUnitsByNames'),
        subState: asString(row[4], 'ListUnitsByNames'),
      };
    });
  }

  /** Queued and running jobs (systemctl list-jobs). */
  async listJobs(): Promise<QueuedJob[]> {
    const [rows] = await this.#managerCall('ListJobs', '', []);
    if (!Array.isArray(rows)) throw badReply('ListJobs');
    return rows.map((row: unknown) => {
      if (!Array.isArray(row) || row.length < 4) throw badReply('ListJobs');
      return {
        id: Number(row[0]),
        unit: asString(row[1], 'ListJobs'),
        type: asString(row[2], 'ListJobs'),
        state: asString(row[3], 'ListJobs'),
      };
    });
  }

  /** Any property of a unit, e.g. ('foo.service', 'org.freedesktop.systemd1.Service', 'MainPID'). */
  async getUnitProperty(name: string, iface: string, property: string): Promise<unknown> {
    return this.#getProperty(await this.#unitPath(name), iface, property, name);
  }

  // --- signals ----------------------------------------------------------------------------------

  /**
   * Emit `unitStateChanged` for these units from systemd's signals (unit-states.ts: a signal that lacks part of the
   * state, a new unit object and a daemon-reload are followed by a read). Resolves once signals are flowing; the
   * current state is not emitted (read it with readUnitStates, which also starts the tracking from it).
   */
  async watchUnits(names: Iterable<string>): Promise<void> {
    this.#units.watch(names);
    await this.#ensureUnitSignals();
  }

  unwatchUnits(names: Iterable<string>): void {
    this.#units.unwatch(names);
  }

  /** Emit `unitStateChanged` for every unit (e.g. for a debugging view). */
  async watchAllUnits(): Promise<void> {
    this.#units.watchAll();
    await this.#ensureUnitSignals();
  }

  async close(): Promise<void> {
    this.#units.close();
    await this.conn.close();
    this.#jobWaiters.clear();
    this.#earlyJobs.clear();
  }

  // --- internals --------------------------------------------------------------------------------

  async #ensureJobSignals(): Promise<void> {
    this.#jobMatch ??= this.conn
      .addMatch(`type='signal',sender='${SYSTEMD}',path='${MANAGER_PATH}',interface='${MANAGER}'`)
      .catch((err: unknown) => {
        this.#jobMatch = undefined;
        throw err;
      });
    await Promise.all([this.#jobMatch, this.subscribe()]);
  }

  async #ensureUnitSignals(): Promise<void> {
    this.#unitMatch ??= this.conn
      .addMatch(
        `type='signal',sender='${SYSTEMD}',interface='${PROPERTIES}',member='PropertiesChanged',` +
          `path_namespace='${UNIT_PATH_PREFIX.slice(0, -1)}'`,
      )
      .catch((err: unknown) => {
        this.#unitMatch = undefined;
        throw err;
      });
    await Promise.all([this.#unitMatch, this.#ensureJobSignals()]);
  }

  #jobCallDone(): void {
    this.#jobCallsInFlight--;
    if (this.#jobCallsInFlight === 0) this.#earlyJobs.clear();
  }

  #waitJob(job: string, unit: string, timeoutMs: number): Promise<JobResult> {
    return new Promise<JobResult>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#jobWaiters.delete(job);
        this.removeListener('disconnected', onGone);
      };
      const onGone = (err: Error | undefined): void => {
        cleanup();
        reject(err ?? new SystemdConnectionError(`connection closed while waiting for ${job}`, this.busAddress));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new JobTimeoutError(`job ${job} for ${unit} did not finish within ${timeoutMs} ms`, job, unit));
      }, timeoutMs);
      this.#jobWaiters.set(job, (ev) => {
        cleanup();
        resolve(ev.result);
      });
      this.once('disconnected', onGone);
      if (this.closed) onGone(undefined);
    });
  }

  #onSignal(s: Signal): void {
    if (s.iface === MANAGER && s.path === MANAGER_PATH) {
      if (s.member === 'JobRemoved') this.#onJobRemoved(s.body);
      else if (s.member === 'Reloading') {
        // every unit object is made again by a reload, and load states change: the watched units are read again
        if (s.body[0] !== true) this.#units.invalidateAll();
        this.emit('reloading', s.body[0] === true);
      }
      return;
    }
    if (s.iface === PROPERTIES && s.member === 'PropertiesChanged' && s.body[0] === UNIT) {
      const unit = unitNameOfPath(s.path);
      if (unit === undefined || !this.#units.isWatched(unit)) return;
      this.#onUnitProperties(unit, s.body[1]);
    }
  }

  #onJobRemoved(body: readonly unknown[]): void {
    const [id, job, unit, result] = body;
    if (typeof job !== 'string' || typeof unit !== 'string' || typeof result !== 'string') return;
    const ev: JobRemovedEvent = { id: Number(id), job, unit, result: result as JobResult };
    if (this.#jobCallsInFlight > 0) this.#earlyJobs.set(job, ev);
    // a job changed the unit, maybe with no signal of its state (unit-states.ts): a watched unit is read again
    this.#units.invalidate([unit]);
    this.#jobWaiters.get(job)?.(ev);
    this.emit('jobRemoved', ev);
  }

  #onUnitProperties(unit: string, changed: unknown): void {
    if (typeof changed !== 'object' || changed === null) return;
    const props = changed as Record<string, unknown>;
    const pick = (key: string): string | undefined => {
      const v = props[key];
      const value = v instanceof Variant ? (v.value as unknown) : v;
      return typeof value === 'string' ? value : undefined;
    };
    this.#units.signal(unit, { loadState: pick('LoadState'), activeState: pick('ActiveState'), subState: pick('SubState') });
  }

  async #unitPath(name: string): Promise<string> {
    try {
      const [path] = await this.#managerCall('GetUnit', 's', [name], name);
      return asString(path, 'GetUnit');
    } catch (err) {
      if (!isNoSuchUnit(err)) throw err;
    }
    const [path] = await this.#managerCall('LoadUnit', 's', [name], name);
    return asString(path, 'LoadUnit');
  }

  async #stateAt(path: string): Promise<UnitState> {
    const [loadState, activeState, subState] = await Promise.all(
      ['LoadState', 'ActiveState', 'SubState'].map(async (p) => asString(await this.#getProperty(path, UNIT, p), p)),
    );
    return { loadState: loadState!, activeState: activeState!, subState: subState! };
  }

  async #getProperty(path: string, iface: string, property: string, unit?: string): Promise<unknown> {
    const [v] = await this.#call(
      { destination: SYSTEMD, path, iface: PROPERTIES, member: 'Get', signature: 'ss', body: [iface, property] },
      'Get',
      unit,
    );
    return v instanceof Variant ? (v.value as unknown) : v;
  }

  #managerCall(member: string, signature: string, body: unknown[], unit?: string): Promise<unknown[]> {
    return this.#call({ destination: SYSTEMD, path: MANAGER_PATH, iface: MANAGER, member, signature, body }, member, unit);
  }

  async #call(
    spec: Parameters<BusConnection['call']>[0],
    method: string,
    unit?: string,
  ): Promise<unknown[]> {
    await this.#callSlot();
    try {
      return await this.conn.call(spec);
    } catch (err) {
      if (err instanceof BusCallError) {
        const about = unit ? ` ${unit}` : '';
        throw new SystemdError(
          `systemd ${method}${about} on ${this.busAddress}: ${err.message} (${err.dbusName})`,
          err.dbusName,
          method,
          unit,
          { cause: err },
        );
      }
      throw err;
    } finally {
      this.#callDone();
    }
  }

  #callSlot(): Promise<void> {
    if (this.#callsInFlight < MAX_PENDING_CALLS) {
      this.#callsInFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#callQueue.push(resolve));
  }

  /** A call ended: its slot goes to the first call waiting, if any. */
  #callDone(): void {
    const next = this.#callQueue.shift();
    if (next) next();
    else this.#callsInFlight--;
  }
}

function badReply(method: string): SystemdError {
  return new SystemdError(`systemd ${method}: unexpected reply shape`, '', method);
}

function asString(v: unknown, method: string): string {
  if (typeof v !== 'string') throw badReply(method);
  return v;
}

function asChanges(v: unknown): UnitFileChange[] {
  if (!Array.isArray(v)) throw badReply('unit file change list');
  return v.map((row: unknown) => {
    if (!Array.isArray(row) || row.length < 3) throw badReply('unit file change list');
    return { type: String(row[0]), file: String(row[1]), destination: String(row[2]) };
  });
}
