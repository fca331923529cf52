/**
 * The load/active/sub state of the units a SystemdClient watches, kept from systemd's signals and from reads so
 * that no change is lost. Why it is its own piece: systemd's signals do not always carry the whole state.
 * - A unit's PropertiesChanged carries ActiveState and SubState but not LoadState (systemd 252): a unit's first
 *   signal cannot be published on its own. Such a unit is read, not once per signal (each read is a D-Bus call, and
 *   with 16 units started at once the calls went past the bus's 128 pending replies per connection: the bus refused
 *   them and those units' states were lost), but in batches: one ListUnitsByNames call in flight at a time for
 *   every unit waiting to be read, retried while it fails.
 * - A unit whose job ended (JobRemoved) and a daemon-reload (every unit object is made again, and load states
 *   change) are followed by a read too. A unit that a start loads is a new object, and systemd's only signal for it
 *   may be UnitNew, which carries no state, even when the unit already runs; its start job's end is signalled
 *   after it is active. UnitNew itself is not followed by a read: reading a unit systemd does not hold loads it
 *   (ListUnitsByNames), which it announces with UnitNew, and collects it again when it is inactive, so each read
 *   would have asked for the next one, for good (fleetd and PID 1 at 66 % and 47 % CPU after one `systemctl
 *   status` of a stopped unit).
 * - A read's reply and a signal sent after it can be handled in the other order (the reply settles a promise, the
 *   signal is emitted at once). A unit that had a signal while its read was in flight is read again rather than
 *   trusting either (each unit has a count of signals seen).
 * A read is one message, so it never mixes an older and a newer state of a unit.
 */
import type { UnitState, UnitStatus } from './types.js';
import { SystemdConnectionError } from './errors.js';

/** Reads the state of these units in one call (ListUnitsByNames). */
export type UnitStatesReader = (names: readonly string[]) => Promise<readonly UnitStatus[]>;

export interface UnitStateTrackerOptions {
  readonly read: UnitStatesReader;
  /** a watched unit's state changed (called only with complete states, never twice with the same) */
  readonly changed: (unit: string, state: UnitState) => void;
  /** a failed read of watched units is tried again after this long */
  readonly retryMs?: number;
  /** units per read call */
  readonly batch?: number;
  /** for the error of a read asked for after close() */
  readonly busAddress?: string;
}

/** What a PropertiesChanged signal of a unit said (absent: not in the signal). */
export interface UnitSignal {
  readonly loadState?: string;
  readonly activeState?: string;
  readonly subState?: string;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const RETRY_MS = 250;
const BATCH = 256;

export class UnitStateTracker {
  readonly #watched = new Set<string>();
  #watchAll = false;
  readonly #states = new Map<string, UnitState>();
  /** watched unit -> signals seen about it: a read that saw another count than at its start may be older than one */
  readonly #seen = new Map<string, number>();
  /** units to read in the next round */
  #stale = new Set<string>();
  /** units a caller asked to read in the next round (watched or not) */
  #asked = new Set<string>();
  #nextWaiters: Waiter[] = [];
  #armed: { cancel(): void } | undefined;
  #reading = false;
  #closed = false;
  /** the last round's replies for units nobody watches, for the callers that asked */
  #unwatchedRows = new Map<string, UnitState>();

  constructor(private readonly opts: UnitStateTrackerOptions) {}

  isWatched(unit: string): boolean {
    return this.#watchAll || this.#watched.has(unit);
  }

  watch(names: Iterable<string>): void {
    for (const n of names) this.#watched.add(n);
  }

  watchAll(): void {
    this.#watchAll = true;
  }

  unwatch(names: Iterable<string>): void {
    for (const n of names) {
      this.#watched.delete(n);
      this.#states.delete(n);
      this.#seen.delete(n);
      this.#stale.delete(n);
    }
  }

  /** The state last known of a watched unit. */
  state(unit: string): UnitState | undefined {
    return this.#states.get(unit);
  }

  /**
   * A PropertiesChanged of a unit. A field it lacks is taken from the unit's known state; a unit with no known
   * state yet is read instead. So is a unit known not to be loaded: its LoadState may have changed with no signal
   * saying so (systemd loads a not-found unit again from disk when it is started).
   */
  signal(unit: string, sig: UnitSignal): void {
    if (!this.isWatched(unit)) return;
    if (sig.loadState === undefined && sig.activeState === undefined && sig.subState === undefined) return;
    this.#bump(unit);
    const prev = this.#states.get(unit);
    const loadState = sig.loadState ?? prev?.loadState;
    const activeState = sig.activeState ?? prev?.activeState;
    const subState = sig.subState ?? prev?.subState;
    // a unit last known not loaded may have been loaded since with no signal saying so: its state waits for the read
    if (loadState === undefined || activeState === undefined || subState === undefined || (sig.loadState === undefined && loadState !== 'loaded')) {
      this.#markStale(unit);
      return;
    }
    this.#set(unit, { loadState, activeState, subState });
  }

  /** The unit may have changed in ways no signal reports (its job ended): read it. */
  invalidate(names: Iterable<string>): void {
    for (const n of names) {
      if (!this.isWatched(n)) continue;
      this.#bump(n);
      this.#markStale(n);
    }
  }

  /** Every watched unit is read again (after a daemon-reload). */
  invalidateAll(): void {
    this.invalidate([...this.#watched, ...(this.#watchAll ? this.#states.keys() : [])]);
  }

  /**
   * Reads these units now (in the next round, with every other unit waiting to be read) and returns their states:
   * for a watched unit the state it is known to have once the read is done (the read's, or a newer signal's).
   */
  async read(names: readonly string[]): Promise<Map<string, UnitState>> {
    if (this.#closed) throw this.#closedError();
    for (const n of names) {
      this.#asked.add(n);
      if (this.isWatched(n)) this.#stale.add(n);
    }
    await new Promise<void>((resolve, reject) => {
      this.#nextWaiters.push({ resolve, reject });
      this.#schedule(0);
    });
    const out = new Map<string, UnitState>();
    for (const n of names) {
      const s = this.isWatched(n) ? this.#states.get(n) : this.#unwatchedRows.get(n);
      if (s) out.set(n, s);
    }
    return out;
  }

  /** No more reads or retries; waiting callers fail. */
  close(): void {
    this.#closed = true;
    this.#armed?.cancel();
    this.#armed = undefined;
    const waiters = this.#nextWaiters;
    this.#nextWaiters = [];
    for (const w of waiters) w.reject(this.#closedError());
  }

  #closedError(): SystemdConnectionError {
    return new SystemdConnectionError('the systemd connection is closed: unit states are not read any more', this.opts.busAddress ?? '');
  }

  #bump(unit: string): void {
    this.#seen.set(unit, (this.#seen.get(unit) ?? 0) + 1);
  }

  #markStale(unit: string): void {
    this.#stale.add(unit);
    this.#schedule(0);
  }

  #set(unit: string, state: UnitState): void {
    const prev = this.#states.get(unit);
    if (prev && prev.loadState === state.loadState && prev.activeState === state.activeState && prev.subState === state.subState) return;
    this.#states.set(unit, state);
    this.opts.changed(unit, state);
  }

  /** Arms the next round unless one is armed or running (that one arms the next when done). */
  #schedule(delayMs: number): void {
    if (this.#closed || this.#reading || this.#armed) return;
    if (this.#stale.size === 0 && this.#asked.size === 0) return;
    const fire = (): void => {
      this.#armed = undefined;
      void this.#round();
    };
    if (delayMs > 0) {
      const h = setTimeout(fire, delayMs);
      h.unref();
      this.#armed = { cancel: () => clearTimeout(h) };
    } else {
      const h = setImmediate(fire);
      this.#armed = { cancel: () => clearImmediate(h) };
    }
  }

  async #round(): Promise<void> {
    const names = [...new Set([...this.#stale, ...this.#asked])];
    this.#stale = new Set();
    this.#asked = new Set();
    const waiters = this.#nextWaiters;
    this.#nextWaiters = [];
    const seenAtStart = new Map(names.map((n) => [n, this.#seen.get(n) ?? 0]));
    this.#reading = true;
    let failed = false;
    try {
      const unwatched = new Map<string, UnitState>();
      const batch = this.opts.batch ?? BATCH;
      for (let i = 0; i < names.length; i += batch) {
        const rows = await this.opts.read(names.slice(i, i + batch));
        if (this.#closed) break;
        for (const row of rows) {
          const state: UnitState = { loadState: row.loadState, activeState: row.activeState, subState: row.subState };
          if (!this.isWatched(row.name)) {
            unwatched.set(row.name, state);
            continue;
          }
          if ((this.#seen.get(row.name) ?? 0) !== seenAtStart.get(row.name)) {
            // a signal came while this read was in flight: either may be the newer; read once more
            this.#stale.add(row.name);
            if (this.#states.has(row.name)) continue;
          }
          this.#set(row.name, state);
        }
      }
      this.#unwatchedRows = unwatched;
      for (const w of waiters) w.resolve();
    } catch (err) {
      failed = true;
      // watched units are read again until a read works; callers that asked learn of the failure
      for (const n of names) if (this.isWatched(n)) this.#stale.add(n);
      for (const w of waiters) w.reject(err);
    } finally {
      this.#reading = false;
    }
    this.#schedule(failed ? (this.opts.retryMs ?? RETRY_MS) : 0);
  }
}
