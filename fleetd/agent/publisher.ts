/**
 * Ordered publishing of this machine's unit states: calls for one unit run one after the other, so an older state
 * never lands last; a state equal to the last one published is not written again; a failed write is retried
 * while the presence is alive (a lost presence republishes everything once it is back). While the agent runs a
 * batch of tasks, a unit's state waits for the unit's last task (load then start would otherwise publish
 * `loaded/inactive` on the way: a third of a launch's etcd writes).
 */
import type { UnitState } from '../../lib/registry/index.js';
import type { Clock } from '../../lib/clock.js';
import { logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import type { AgentPresence, AgentRegistry } from './ports.js';

const log = logger('agent');

/** A unit state that could not be published is published again after this long (while the presence is alive). */
const PUBLISH_RETRY_MS = 1000;

export interface PublisherOptions {
  readonly registry: Pick<AgentRegistry, 'publishUnitState'>;
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
  private readonly publishing = new Map<string, Promise<void>>();
  /** While a batch of tasks runs: unit -> its tasks still to come. Its state is published after its last one. */
  private tasksLeft: Map<string, number> | undefined;
  private readonly deferred = new Set<string>();

  constructor(private readonly opts: PublisherOptions) {}

  /** Publishes one unit's state (deferred while the unit has tasks left in the running batch). */
  publish(name: string): Promise<void> {
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
  }

  private flush(name: string): void {
    if (this.deferred.delete(name)) void this.publish(name);
  }

  private async publishNow(name: string): Promise<void> {
    const state = this.opts.stateOf(name);
    if (!state) return;
    const fingerprint = JSON.stringify(state);
    if (this.published.get(name) === fingerprint) return;
    this.published.set(name, fingerprint);
    try {
      await this.opts.registry.publishUnitState(this.opts.presence, state);
    } catch (err) {
      this.published.delete(name);
      log.debug('could not publish unit state; retrying', { unit: name, err: errorMessage(err) });
      // a lost presence republishes everything once it is back; a slow etcd gets the same state again
      if (this.opts.presence.alive && !this.opts.stopped()) this.opts.clock.after(PUBLISH_RETRY_MS, () => void this.publish(name), { unref: true });
    }
  }
}
