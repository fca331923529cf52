/**
 * Ordered publishing of this machine's unit states: the states waiting to be written go to etcd together (one
 * request per reconcile's worth of units, Registry.publishUnitStates) and only one such write is in flight at a
 * time, so an older state of a unit never lands after a newer one; a write starts on the next turn of the event
 * loop, so a state that changes again right away (systemd's signal after a start) is written once, as it is then;
 * during a batch of tasks, at its end or BATCH_WINDOW_MS after the first state held, whichever is first.
 * A state equal to the last one published is not written again; a failed write is retried while the presence is
 * alive (a lost presence republishes everything once it is back). While the agent runs a batch of tasks, a unit's
 * state waits for the unit's last task (load then start would otherwise publish `loaded/inactive` on the way).
 */
import type { UnitState } from '../../lib/registry/index.js';
import type { Clock, Timer } from '../../lib/clock.js';
import { logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import type { AgentPresence, AgentRegistry } from './ports.js';

const log = logger('agent');

/** A unit state that could not be published is published again after this long (while the presence is alive). */
const PUBLISH_RETRY_MS = 1000;
/**
 * While a batch of tasks runs (units started one after another), the states of the units done so far are written
 * together at most this long after the first of them, or at the end of the batch: one write for a reconcile that
 * starts many units, and no unit's state waits for a long batch.
 */
export const BATCH_WINDOW_MS = 100;

export interface PublisherOptions {
  readonly registry: Pick<AgentRegistry, 'publishUnitStates'>;
  readonly presence: AgentPresence;
  readonly clock: Clock;
  /** the state to publish for a unit now; undefined: nothing to publish (not loaded, state not read yet) */
  readonly stateOf: (name: string) => UnitState | undefined;
  /** the agent stopped: failed writes are not retried */
  readonly stopped: () => boolean;
}

export class Publisher {
  /** unit -> fingerprint of the state last published */
  private readonly published = new Map<string, string>();
  /** units whose state is to be written by the next write */
  private dirty = new Set<string>();
  /** the next write, armed and not started yet */
  private armed: Timer | undefined;
  /** the write in flight, if any */
  private writing: Promise<void> | undefined;
  /** settles once the write that takes the current dirty units is done */
  private next: { promise: Promise<void>; resolve: () => void } | undefined;
  /** While a batch of tasks runs: unit -> its tasks still to come. Its state is published after its last one. */
  private tasksLeft: Map<string, number> | undefined;
  private readonly deferred = new Set<string>();

  constructor(private readonly opts: PublisherOptions) {}

  /**
   * Publishes one unit's state (deferred while the unit has tasks left in the running batch). Settles once a write
   * that read the unit's state after this call is done (failed or not).
   */
  publish(name: string): Promise<void> {
    if ((this.tasksLeft?.get(name) ?? 0) > 0) {
      this.deferred.add(name);
      return Promise.resolve();
    }
    this.dirty.add(name);
    if (!this.next) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.next = { promise, resolve };
    }
    this.scheduleWrite();
    return this.next.promise;
  }

  /**
   * Arms the next write unless one is armed or in flight (that one arms the next when done): on the next turn of
   * the event loop, or while a batch of tasks runs, after BATCH_WINDOW_MS or at the batch's end, whichever is first.
   */
  private scheduleWrite(): void {
    if (this.writing || this.armed || !this.next) return;
    const fire = (): void => {
      this.armed = undefined;
      this.write();
    };
    if (this.tasksLeft) {
      this.armed = this.opts.clock.after(BATCH_WINDOW_MS, fire, { unref: true });
    } else {
      const h = setImmediate(fire);
      this.armed = { cancel: () => clearImmediate(h) };
    }
  }

  /** The unit's state is gone (unloaded): its next state is published whatever it is. */
  forget(name: string): void {
    this.published.delete(name);
  }

  /** Every state is published again by the next publish() (e.g. the machine re-registered with a new lease). */
  forgetAll(): void {
    this.published.clear();
  }

  /** A batch of tasks begins: each unit's state waits for its tasks to be done (`tasks`: unit -> task count). */
  beginBatch(tasks: ReadonlyMap<string, number>): void {
    this.tasksLeft = new Map(tasks);
  }

  /** One task of a unit is done; after a failure its later tasks are skipped, so its state is published now. */
  taskDone(name: string, failed: boolean): void {
    const left = this.tasksLeft;
    if (!left) return;
    const n = failed ? 0 : (left.get(name) ?? 1) - 1;
    left.set(name, n);
    if (n === 0) this.flush(name);
  }

  /** The batch is over: every deferred state is published. */
  endBatch(): void {
    this.tasksLeft = undefined;
    for (const name of [...this.deferred]) this.flush(name);
    if (this.armed) {
      // the states held for the batch's window go now
      this.armed.cancel();
      this.armed = undefined;
      this.scheduleWrite();
    }
  }

  private flush(name: string): void {
    if (this.deferred.delete(name)) void this.publish(name);
  }

  /** Writes every dirty unit's state in one request; then the units that became dirty meanwhile, and so on. */
  private write(): void {
    const waiting = this.next;
    this.next = undefined;
    const names = [...this.dirty];
    this.dirty = new Set();
    const writing = this.writeNow(names).catch((err: unknown) => log.warn('publishing unit states failed', { err: errorMessage(err) })).finally(() => {
      waiting?.resolve();
      this.writing = undefined;
      this.scheduleWrite();
    });
    this.writing = writing;
  }

  private async writeNow(names: readonly string[]): Promise<void> {
    const states: UnitState[] = [];
    const fingerprints = new Map<string, string>();
    for (const name of names) {
      const state = this.opts.stateOf(name);
      if (!state) continue;
      const fingerprint = JSON.stringify(state);
      if (this.published.get(name) === fingerprint) continue;
      this.published.set(name, fingerprint);
      fingerprints.set(name, fingerprint);
      states.push(state);
    }
    if (states.length === 0) return;
    try {
      await this.opts.registry.publishUnitStates(this.opts.presence, states);
    } catch (err) {
      for (const [name, fp] of fingerprints) if (this.published.get(name) === fp) this.published.delete(name);
      log.debug('could not publish unit states; retrying', { units: [...fingerprints.keys()], err: errorMessage(err) });
      // a lost presence republishes everything once it is back; a slow etcd gets the same states again
      if (this.opts.presence.alive && !this.opts.stopped()) {
        this.opts.clock.after(PUBLISH_RETRY_MS, () => {
          for (const name of fingerprints.keys()) void this.publish(name);
        }, { unref: true });
      }
    }
  }
}
