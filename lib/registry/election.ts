/**
 * Engine leader election on an etcd lease and one key (Keyspace.engineLeader). The leader's key carries the
 * lease; its create revision is the fence every schedule write compares (Registry.applySchedule), so a deposed
 * leader (paused, partitioned) can never write. The record is encoded and validated in codec.ts: a malformed
 * record (written by anyone) names no leader and is logged, never trusted.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { logger } from '../log.js';
import { decodeLeaderRecord, encodeLeaderRecord } from './codec.js';
import { RegistryError } from './errors.js';
import { checkMachineId, type Keyspace } from './keys.js';
import { RenewalTimes, rescueStalledKeepAlive } from './lease-rescue.js';
import type { Fence, LeaderRecord } from './types.js';

export interface ElectionEvents {
  elected: [Fence];
  deposed: [string];
  leader: [string | undefined];
}

const log = logger('registry.election');
/** How often the term's watchdog looks at the lease's renewals; the term ends this long before etcd's expiry. */
const WATCHDOG_MS = 250;

export class Election extends EventEmitter<ElectionEvents> {
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private fence: Fence | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** Counts watch events, so a change that lands while a campaign request is in flight is not slept through. */
  private changes = 0;
  private knownLeader: string | undefined;
  /** Ends the current term with a reason (resignation, key gone, lease lost, stop). */
  private endTerm: ((reason: string) => void) | undefined;
  private looping: Promise<void> | undefined;
  /** Mod revision of the last malformed record logged, so one bad write is logged once. */
  private loggedMalformed: string | undefined;
  /** full etcd key of the leader record */
  readonly key: string;

  /** @internal use Registry.election */
  constructor(
    private readonly client: Etcd3,
    keys: Keyspace,
    private readonly machineId: string,
    private readonly ttlSeconds: number,
    /** the term's watchdog, retry pauses and the record's `since` run on it (the engine's clock) */
    private readonly clock: Clock = systemClock,
  ) {
    super();
    checkMachineId(machineId);
    this.key = keys.engineLeader;
  }

  get current(): Fence | undefined {
    return this.fence;
  }

  get leader(): string | undefined {
    return this.knownLeader;
  }

  start(): void {
    if (this.looping || this.stopped) return;
    this.looping = this.loop();
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      try {
        await this.campaignOnce();
        backoff = 100;
      } catch (err) {
        if (this.stopped) break;
        log.debug('campaign failed, retrying', { err, backoffMs: backoff });
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  private async ensureWatch(): Promise<void> {
    if (this.watcher) return;
    const w = await this.client.watch().key(this.key).create();
    w.on('delete', (kv) => this.onKeyChange(kv, true));
    w.on('put', (kv) => this.onKeyChange(kv, false));
    w.on('disconnected', () => this.poke());
    w.on('connected', () => this.poke());
    this.watcher = w;
  }

  private onKeyChange(kv: IKeyValue, deleted: boolean): void {
    const fence = this.fence;
    // a late event from before this term (the watch may lag behind our own campaign) says nothing about it
    if (!fence || BigInt(kv.mod_revision) > BigInt(fence.createRevision)) {
      const record = deleted ? undefined : this.decode(kv);
      // a put that keeps our create revision leaves our fence valid: we still lead, whatever it wrote
      const ours = fence !== undefined && !deleted && String(kv.create_revision) === fence.createRevision;
      if (!ours) this.noteLeader(record?.machineId);
      if (fence && !ours) this.endTerm?.(deleted ? 'leadership key was deleted' : 'leadership key was taken over');
    }
    this.poke();
  }

  /** The record of a leader key; a malformed one is logged (once per write) and names no leader. */
  private decode(kv: IKeyValue): LeaderRecord | undefined {
    const rec = decodeLeaderRecord(kv.value.toString('utf8'));
    const rev = String(kv.mod_revision);
    if (!rec && this.loggedMalformed !== rev) {
      this.loggedMalformed = rev;
      log.warn('engine leader key holds a malformed record: it names no leader', {
        key: this.key,
        modRevision: rev,
        onLease: String(kv.lease) !== '0',
      });
    }
    return rec;
  }

  private noteLeader(id: string | undefined): void {
    if (id !== this.knownLeader) {
      this.knownLeader = id;
      this.emit('leader', id);
    }
  }

  /** One lease: campaign with it until elected, lead until the term ends, or throw when the lease is lost. */
  private async campaignOnce(): Promise<void> {
    await this.ensureWatch();
    const granting = this.clock.now();
    const lease = this.client.lease(Math.max(1, Math.ceil(this.ttlSeconds)), { autoKeepAlive: true });
    this.lease = lease;
    const renewals = new RenewalTimes(this.clock);
    let lostReason: string | undefined;
    const lose = (reason: string): void => {
      if (lostReason !== undefined) return;
      lostReason = reason;
      this.endTerm?.(reason);
      this.poke();
    };
    lease.on('lost', (err) => lose(`lease lost: ${err.message}`));
    lease.on('keepaliveEstablished', () => renewals.newStream());
    lease.on('keepaliveFired', () => renewals.sent());
    lease.on('keepaliveSucceeded', () => renewals.answered());
    // The client library declares a lease lost only after twice its TTL; etcd expires it after one, counted from
    // when it received the last keep-alive. The term ends one watchdog period before that, so a leader cut off
    // from etcd steps down before etcd can elect its successor (RenewalTimes).
    const deadlineMs = this.ttlSeconds * 1000 - WATCHDOG_MS;
    const watchdog = this.clock.every(WATCHDOG_MS, () => {
      if (renewals.since() > deadlineMs) lose('lease not renewed within its TTL');
    });
    // a keep-alive stream stalled on a member that stopped answering would cost the term: lease-rescue.ts
    const rescue = rescueStalledKeepAlive({
      lease,
      ttlMs: this.ttlSeconds * 1000,
      clock: this.clock,
      sinceRenewalMs: () => renewals.since(),
      renewed: (sentAt) => renewals.renewedAt(sentAt),
      failed: (err) => log.debug('engine lease keep-alive rescue failed; retrying', { engine: this.machineId, err }),
    });
    let revoke = false;
    try {
      const leaseId = await lease.grant();
      renewals.renewedAt(granting);
      while (!this.stopped && lostReason === undefined) {
        const seen = this.changes;
        // `since` is the start of the term this attempt may begin, not of the campaign (which may wait long)
        const record: LeaderRecord = { machineId: this.machineId, since: new Date(this.clock.now()).toISOString() };
        const res = await this.client
          .if(this.key, 'Create', '==', 0)
          .then(this.client.put(this.key).value(encodeLeaderRecord(record)).lease(leaseId), this.client.get(this.key))
          .else(this.client.get(this.key))
          .commit();
        const kv = (res.succeeded ? res.responses[1] : res.responses[0])?.response_range?.kvs?.[0];
        if (res.succeeded && kv && lostReason === undefined && !this.stopped) {
          await this.lead({ key: this.key, createRevision: String(kv.create_revision) });
          revoke = lostReason === undefined;
          return;
        }
        if (!kv) {
          await this.pause(100);
          continue;
        }
        const holder = this.decode(kv);
        this.noteLeader(holder?.machineId);
        // A record left by this machine's previous fleetd (machine ids are unique among live fleetds), or a
        // malformed one on no lease (nothing would ever remove it): removed, unless it changed meanwhile.
        const stale = holder ? holder.machineId === this.machineId && String(kv.lease) !== leaseId : String(kv.lease) === '0';
        if (stale) {
          await this.client.if(this.key, 'Mod', '==', String(kv.mod_revision)).then(this.client.delete().key(this.key)).commit();
          continue;
        }
        if (this.changes === seen) await this.pause(Math.max(1000, this.ttlSeconds * 1000));
      }
      if (lostReason !== undefined) throw new RegistryError(`engine election: ${lostReason}`);
    } finally {
      watchdog.cancel();
      rescue.cancel();
      this.lease = undefined;
      if (this.stopped || revoke) await lease.revoke().catch(() => undefined);
      else lease.release();
    }
  }

  /** Holds the term until it ends; returns why. */
  private async lead(fence: Fence): Promise<string> {
    this.fence = fence;
    this.noteLeader(this.machineId);
    log.info('elected engine leader', { engine: this.machineId, fence: fence.createRevision });
    const ended = new Promise<string>((resolve) => {
      this.endTerm = resolve;
    });
    this.emit('elected', fence);
    const reason = await ended;
    this.endTerm = undefined;
    this.fence = undefined;
    if (!this.stopped) {
      log.warn('engine leadership lost', { engine: this.machineId, reason });
      this.emit('deposed', reason);
    }
    return reason;
  }

  /** Sleeps until the timeout or the next poke (watch event, lease loss, stop). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer: Timer = this.clock.after(ms, done);
      function done(): void {
        timer.cancel();
        resolve();
      }
      this.wake = done;
    });
  }

  private poke(): void {
    this.changes++;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * Gives up the current term (revoking its lease) and campaigns again, e.g. after a fenced write failed. With a
   * fence, only if that fence is still the current term's (a late failure of an old term leaves a new one alone).
   */
  resign(fence?: Fence): void {
    if (fence !== undefined && (this.fence === undefined || this.fence.createRevision !== fence.createRevision)) return;
    this.endTerm?.('resigned');
  }

  /** Steps down (revoking the lease so a successor takes over at once) and stops campaigning. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.endTerm?.('stopped');
    this.poke();
    const lease = this.lease;
    this.fence = undefined;
    if (lease) await lease.revoke().catch(() => undefined);
    await this.looping;
    if (this.watcher) await this.watcher.cancel().catch(() => undefined);
    this.watcher = undefined;
  }
}
