/**
 * A service manager in memory, beside the real one (systemd-manager.ts) as a fake: for the benchmark's hollow
 * machines (bench/hollow) and for agent tests without root (test/agent/agent.test.ts); never used by fleetd itself.
 * It behaves as the agent sees systemd: load/start/stop/unload change a unit's state and announce every change
 * with a 'state' event, asynchronously, like systemd's PropertiesChanged signals after a job.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import type { InstalledUnit, UnitManager, UnitManagerEvents, UnitRuntimeState } from './unit-manager.js';
import { FleetError } from '../../lib/errors.js';
import { sleep, systemClock, type Clock } from '../../lib/clock.js';

export class MemoryUnitError extends FleetError {
  override readonly name = 'MemoryUnitError';
}

export interface MemoryUnitManagerOptions {
  /** delay between a start job and the unit becoming active (systemd's job + the service's start-up), ms */
  readonly startDelayMs?: number;
  /** delay of every call, as a D-Bus round trip would add, ms */
  readonly callDelayMs?: number;
  /** time for those delays (default: the system clock) */
  readonly clock?: Clock;
}

export interface MemoryUnitStats {
  loads: number;
  starts: number;
  stops: number;
  unloads: number;
  reloads: number;
}

interface MemoryUnit {
  readonly text: string;
  readonly hash: string;
  state: UnitRuntimeState;
  /** bumps on every start/stop so a stale delayed activation is dropped */
  generation: number;
}

const LOADED: UnitRuntimeState = { loadState: 'loaded', activeState: 'inactive', subState: 'dead' };
const ACTIVATING: UnitRuntimeState = { loadState: 'loaded', activeState: 'activating', subState: 'start' };
const ACTIVE: UnitRuntimeState = { loadState: 'loaded', activeState: 'active', subState: 'running' };
const FAILED: UnitRuntimeState = { loadState: 'loaded', activeState: 'failed', subState: 'failed' };
const NOT_FOUND: UnitRuntimeState = { loadState: 'not-found', activeState: 'inactive', subState: 'dead' };
const RUNNING = new Set(['active', 'activating', 'reloading']);

/** sha1 of the text as written, as the agent's unit directory hashes its files */
function textHash(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

export class MemoryUnitManager extends EventEmitter<UnitManagerEvents> implements UnitManager {
  readonly stats: MemoryUnitStats = { loads: 0, starts: 0, stops: 0, unloads: 0, reloads: 0 };
  private readonly units = new Map<string, MemoryUnit>();
  private closed = false;
  private readonly startDelayMs: number;
  private readonly callDelayMs: number;
  private readonly clock: Clock;

  constructor(opts: MemoryUnitManagerOptions = {}) {
    super();
    this.startDelayMs = opts.startDelayMs ?? 0;
    this.callDelayMs = opts.callDelayMs ?? 0;
    this.clock = opts.clock ?? systemClock;
  }

  /** What this machine runs now (name -> active state), for assertions. */
  snapshot(): Map<string, UnitRuntimeState> {
    return new Map([...this.units].map(([n, u]) => [n, u.state]));
  }

  async inventory(): Promise<Map<string, InstalledUnit>> {
    await this.call();
    const out = new Map<string, InstalledUnit>();
    for (const [name, u] of this.units) out.set(name, { name, hash: u.hash, running: RUNNING.has(u.state.activeState) });
    return out;
  }

  async load(name: string, text: string): Promise<void> {
    await this.call();
    this.stats.loads++;
    const old = this.units.get(name);
    this.units.set(name, { text, hash: textHash(text), state: old?.state ?? LOADED, generation: (old?.generation ?? 0) + 1 });
  }

  async unload(name: string): Promise<void> {
    await this.call();
    this.stats.unloads++;
    if (!this.units.delete(name)) return;
    // at once, as SystemdManager.unload does: a late "gone" would land after a load of new contents of that name
    if (!this.closed) this.emit('state', name, undefined);
  }

  async reload(): Promise<void> {
    await this.call();
    this.stats.reloads++;
  }

  async start(name: string): Promise<void> {
    await this.call();
    const u = this.tracked(name, 'start');
    this.stats.starts++;
    if (RUNNING.has(u.state.activeState)) return;
    const gen = ++u.generation;
    // a simple service is active as soon as it forked; one that takes time to start is 'activating' meanwhile
    if (this.startDelayMs <= 0) {
      this.setState(name, u, ACTIVE);
      return;
    }
    this.setState(name, u, ACTIVATING);
    this.clock.after(this.startDelayMs, () => {
      if (this.units.get(name) === u && u.generation === gen) this.setState(name, u, ACTIVE);
    }, { unref: true });
  }

  async stop(name: string): Promise<void> {
    await this.call();
    const u = this.tracked(name, 'stop');
    this.stats.stops++;
    u.generation++;
    if (u.state.activeState !== 'inactive') this.setState(name, u, LOADED);
  }

  async restart(name: string): Promise<void> {
    await this.stop(name);
    await this.start(name);
  }

  /** The unit's process exited and systemd gave up restarting it (ActiveState=failed), as a test or a fault says. */
  fail(name: string): void {
    const u = this.tracked(name, 'fail');
    u.generation++;
    this.setState(name, u, FAILED);
  }

  async readState(name: string): Promise<UnitRuntimeState> {
    await this.call();
    return this.units.get(name)?.state ?? NOT_FOUND;
  }

  async selfRestarting(): Promise<boolean> {
    return false;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private tracked(name: string, what: string): MemoryUnit {
    const u = this.units.get(name);
    if (!u) throw new MemoryUnitError(`cannot ${what} ${name}: unit not loaded in this in-memory unit manager`);
    return u;
  }

  private setState(name: string, u: MemoryUnit, state: UnitRuntimeState): void {
    u.state = state;
    this.announce(name, state);
  }

  /** Signals arrive after the call that caused them returned, as D-Bus signals do. */
  private announce(name: string, state: UnitRuntimeState | undefined): void {
    setImmediate(() => {
      if (!this.closed) this.emit('state', name, state);
    });
  }

  private async call(): Promise<void> {
    if (this.closed) throw new MemoryUnitError('in-memory unit manager is closed');
    if (this.callDelayMs > 0) await sleep(this.clock, this.callDelayMs);
  }
}
