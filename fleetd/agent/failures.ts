/**
 * Reschedule=on-failure, the agent's half (docs/fleet-compat.md#reschedule-on-failure-ours): when systemd reports a
 * unit that opted in as `failed` (ActiveState=failed: its own Restart= gave up; never activating, deactivating or
 * inactive), the agent records the failure once in the registry (Registry.recordFailure, a key in the job's
 * directory that the engine's jobs watch already covers). The engine then moves the unit elsewhere.
 *
 * One write per failure of a unit's contents on this machine, not one per state change: the book remembers what
 * was recorded until the unit leaves the machine. A failed write is retried by the next observation (a state
 * change, or the agent's periodic reconcile calling `sweep`).
 */
import { errorMessage } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';
import type { ReschedulePolicy } from '../../lib/unit/index.js';
import type { AgentPresence, AgentRegistry } from './ports.js';

const log = logger('agent');

export class Failures {
  /** unit name -> the contents whose failure here is recorded (or being recorded) */
  private readonly recorded = new Map<string, string>();

  constructor(
    private readonly registry: Pick<AgentRegistry, 'recordFailure'>,
    private readonly presence: AgentPresence,
    /** The unit's Reschedule policy, if it opted in (undefined also while its text is not read yet). */
    private readonly policy: (name: string, hash: string) => ReschedulePolicy | undefined,
    private readonly now: () => number,
  ) {}

  /** A unit's active state as systemd reports it: records a failure of a unit that opted in, once. */
  async observe(name: string, hash: string, activeState: string): Promise<void> {
    if (activeState !== 'failed' || this.recorded.get(name) === hash) return;
    const policy = this.policy(name, hash);
    if (policy === undefined || !this.presence.alive) return;
    this.recorded.set(name, hash);
    try {
      const ok = await this.registry.recordFailure(this.presence, {
        name, hash, at: new Date(this.now()).toISOString(), attempts: policy.attempts,
      });
      log.warn('unit failed on this machine; recorded for rescheduling', { unit: name, recorded: ok });
    } catch (err) {
      this.recorded.delete(name);
      log.warn('could not record the failure of a unit; will retry', { unit: name, err: errorMessage(err) });
    }
  }

  /** The unit left this machine: a later failure here (after it came back) is a new one. */
  forget(name: string): void {
    this.recorded.delete(name);
  }
}
