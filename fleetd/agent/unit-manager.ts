/**
 * What the agent needs from the machine's service manager. systemd implements it over D-Bus; the benchmark's
 * hollow machines implement it in memory so the real agent code can be measured at scale.
 */
import type { EventEmitter } from 'node:events';

export interface UnitRuntimeState {
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
}

export interface InstalledUnit {
  readonly name: string;
  readonly hash: string;
  /** systemd runs it (active, activating, reloading) */
  readonly running: boolean;
}

export interface LoadResult {
  /**
   * Starting the unit loads it from its file without a daemon reload: systemd knew no unit of that name (load
   * state not-found, which it retries from disk once the unit directories changed) and the unit has no [Install]
   * section (whose enabling only a reload puts into effect). A start that finds it unknown all the same reloads.
   */
  readonly startsUnloaded: boolean;
}

export interface UnitManagerEvents {
  /** a tracked unit's state changed; undefined when it is no longer tracked */
  state: [string, UnitRuntimeState | undefined];
  /** the connection to the service manager is gone */
  disconnected: [Error | undefined];
}

export interface UnitManager extends EventEmitter<UnitManagerEvents> {
  /** unit files this agent wrote earlier (e.g. before a restart), with whether they run */
  inventory(): Promise<Map<string, InstalledUnit>>;
  /**
   * write the file, link it at runtime, enable it when it has [Install]; start tracking its state. `startsUnloaded`:
   * the service manager can start the unit without a reload (LoadResult); nothing returned means it cannot.
   */
  load(name: string, text: string): Promise<LoadResult | void>;
  /** stop (waiting for it), disable, reset-failed, delete the file; stop tracking */
  unload(name: string): Promise<void>;
  /** one daemon reload */
  reload(): Promise<void>;
  /** `resetFailed`: clear a failed state first (systemd reset-failed), so a unit that failed starts again */
  start(name: string, opts?: { resetFailed?: boolean }): Promise<void>;
  stop(name: string): Promise<void>;
  /** Stop then start (reset-failed first), resolving once the start finished: a rolling restart's one step. */
  restart(name: string): Promise<void>;
  /** current state of a tracked unit, read now */
  readState(name: string): Promise<UnitRuntimeState>;
  /** fleetd's own unit is being restarted (not stopped): a restart keeps units whatever shutdown_units says */
  selfRestarting(): Promise<boolean>;
  close(): Promise<void>;
}
