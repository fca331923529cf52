/**
 * Rescue of a stalled lease keep-alive stream, for the machine presence (presence.ts) and the engine election
 * (election.ts). etcd3 keeps a lease's keep-alive stream on one member and gives up on it only after twice the
 * TTL, long after etcd expired the lease. A member that stops answering without closing the connection (frozen,
 * partitioned) would so cost every lease whose stream it holds, though the other members answer: machines would
 * lose their registration (and the engine move their units), the engine leader its term. So after STALL_SHARE of
 * the TTL without a renewal, single keep-alives with a short deadline go out on fresh streams (each to a member
 * etcd3 picks at random), RESCUES_IN_FLIGHT at once, topped up every TTL/8 as they fail, until one is answered.
 * Several at once, not one per tick: one at a time reaches the frozen member again with a third of a chance each
 * (3 members), so four ticks in a row could all miss the healthy ones before the term's deadline; three at once
 * miss together 1 time in 27, and their three deadline failures open that member's circuit breaker
 * (lib/registry/etcd.ts), so the next ones skip it.
 */
import type { Clock, Timer } from '../clock.js';
import { errorMessage } from '../errors.js';

/** Share of the TTL without a renewal after which rescue keep-alives go out. */
const STALL_SHARE = 0.4;
/** Rescue keep-alives in flight at once while the lease is stalled. */
const RESCUES_IN_FLIGHT = 3;

export interface LeaseRescue {
  /** the lease (etcd3's Lease): only its single keep-alive on a fresh stream is used */
  readonly lease: { keepaliveOnce(options: { deadline: number }): Promise<unknown> };
  readonly ttlMs: number;
  readonly clock: Clock;
  /** ms since the lease was last renewed (by its stream or by a rescue) */
  sinceRenewalMs(): number;
  /** a rescue keep-alive sent at `sentAt` (clock time) was answered */
  renewed(sentAt: number): void;
  /** a rescue keep-alive failed (it is tried again) */
  failed?(err: string): void;
}

/** Starts rescuing `o.lease` when its renewals stall; cancel the returned timer when the lease is done with. */
export function rescueStalledKeepAlive(o: LeaseRescue): Timer {
  const period = Math.max(100, Math.floor(o.ttlMs / 8));
  const deadlineMs = Math.max(500, Math.floor(o.ttlMs / 6));
  let inFlight = 0;
  let cancelled = false;
  const timer = o.clock.every(
    period,
    () => {
      if (o.sinceRenewalMs() <= o.ttlMs * STALL_SHARE) return;
      while (inFlight < RESCUES_IN_FLIGHT) {
        inFlight++;
        const sentAt = o.clock.now();
        o.lease
          .keepaliveOnce({ deadline: Date.now() + deadlineMs })
          .then(
            () => {
              if (!cancelled) o.renewed(sentAt);
            },
            (err: unknown) => {
              if (!cancelled) o.failed?.(errorMessage(err));
            },
          )
          .finally(() => {
            inFlight--;
          });
      }
    },
    { unref: true },
  );
  return {
    cancel() {
      cancelled = true;
      timer.cancel();
    },
  };
}

/**
 * When etcd last renewed a lease, as far as its holder can know: the send time of the keep-alive answered last.
 * etcd renews on receipt, after the send and before the answer; counting from the answer's arrival, as etcd3's
 * `keepaliveSucceeded` invites, lets a slow answer carry the holder's own deadline past etcd's expiry, so a
 * deposed engine leader would go on believing it leads while its successor already does. Stream keep-alives are
 * answered in order, so each answer belongs to the oldest unanswered send; a new stream forgets the old sends.
 */
export class RenewalTimes {
  private readonly unanswered: number[] = [];
  private last: number;

  constructor(private readonly clock: Pick<Clock, 'now'>) {
    this.last = clock.now();
  }

  /** A keep-alive went out on the lease's stream (etcd3's `keepaliveFired`). */
  sent(): void {
    this.unanswered.push(this.clock.now());
    if (this.unanswered.length > 64) this.unanswered.shift();
  }

  /** The lease's stream answered a keep-alive (`keepaliveSucceeded`). */
  answered(): void {
    const at = this.unanswered.shift();
    if (at !== undefined) this.renewedAt(at);
  }

  /** A new keep-alive stream (`keepaliveEstablished`): sends on the old one will not be answered. */
  newStream(): void {
    this.unanswered.length = 0;
  }

  /** etcd renewed the lease no earlier than `at` (a grant's or a rescue's send time). */
  renewedAt(at: number): void {
    if (at > this.last) this.last = at;
  }

  /** ms since the last renewal etcd is known to have made */
  since(): number {
    return this.clock.now() - this.last;
  }
}
