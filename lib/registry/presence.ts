import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import { systemClock, type Timer } from '../clock.js';
import { errorMessage } from '../errors.js';
import { logger } from '../log.js';
import { decodeMachineState, encodeMachineState } from './codec.js';
import { DuplicateMachineError, EtcdRequestError, InvalidKeyError, PresenceLostError, RegistryError } from './errors.js';
import { cmp, op, rangeAt, txn } from './etcd.js';
import { checkMachineId, type Keyspace } from './keys.js';
import { rescueStalledKeepAlive } from './lease-rescue.js';
import type { MachineState } from './types.js';

const log = logger('registry.presence');

export type LostListener = (err: PresenceLostError) => void;

/**
 * A machine's registration: `P/machines/<id>/object` bound to an etcd lease kept alive in the background.
 * Unit states published through it share the lease, so they vanish with the machine.
 *
 * The presence counts as lost when etcd reports the lease gone, or when no keep-alive succeeded for a whole
 * TTL (etcd has expired it by then). Listeners registered with onLost() are called once per loss; the owner
 * then calls reregister() (with its own backoff) and republishes its unit states.
 */
export class MachinePresence {
  private lease!: Lease;
  private currentLeaseId = '';
  private current: MachineState;
  private isAlive = false;
  private closed = false;
  private lastKeepAlive = 0;
  private watchdog: Timer | undefined;
  private readonly listeners = new Set<LostListener>();

  private constructor(
    private readonly client: Etcd3,
    private readonly keys: Keyspace,
    state: MachineState,
    readonly ttlSeconds: number,
  ) {
    this.current = state;
  }

  /** @internal use Registry.registerMachine */
  static async register(client: Etcd3, keys: Keyspace, state: MachineState, ttlSeconds: number): Promise<MachinePresence> {
    checkMachineId(state.id);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new InvalidKeyError(`invalid machine TTL ${ttlSeconds}: must be a whole number of seconds >= 1`);
    }
    const p = new MachinePresence(client, keys, state, ttlSeconds);
    await p.acquire();
    return p;
  }

  get machineId(): string {
    return this.current.id;
  }

  /** The lease the machine's keys are bound to (decimal string); changes on reregister(). */
  get leaseId(): string {
    return this.currentLeaseId;
  }

  get state(): MachineState {
    return this.current;
  }

  get alive(): boolean {
    return this.isAlive;
  }

  /** ms since the last successful keep-alive (or registration); Infinity once the presence is lost. */
  get silentMs(): number {
    return this.isAlive ? Date.now() - this.lastKeepAlive : Infinity;
  }

  onLost(listener: LostListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Republishes the machine object (e.g. new metadata or IP); the id cannot change. */
  async update(state: MachineState): Promise<void> {
    if (state.id !== this.current.id) {
      throw new InvalidKeyError(`cannot change machine id from ${this.current.id} to ${state.id} on update`);
    }
    this.assertAlive();
    const key = this.keys.machineObject(state.id);
    let ok: boolean;
    try {
      const res = await txn(
        this.client,
        [cmp.lease(key, '==', this.currentLeaseId)],
        [op.put(key, encodeMachineState(state), this.currentLeaseId)],
      );
      ok = res.succeeded;
    } catch (err) {
      throw this.wrap('updating the machine object', err);
    }
    if (!ok) {
      const err = new PresenceLostError(this.machineId, 'its machine object no longer belongs to this lease');
      this.markLost(err);
      throw err;
    }
    this.current = state;
  }

  /** After a loss: drop the old lease and register again. Throws DuplicateMachineError if the id was taken. */
  async reregister(): Promise<void> {
    if (this.closed) throw new RegistryError(`machine ${this.machineId}: presence was closed, register anew`);
    if (this.isAlive) return;
    await this.acquire();
  }

  /**
   * Stops keeping the lease alive. With `revoke` (default) the machine and its unit states disappear at
   * once; without, they expire after the TTL.
   */
  async close(opts: { revoke?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWatchdog();
    const wasAlive = this.isAlive;
    this.isAlive = false;
    if (opts.revoke === false) {
      this.lease.release();
      return;
    }
    try {
      await this.lease.revoke();
    } catch (err) {
      if (wasAlive) throw this.wrap('revoking the machine lease', err);
    }
  }

  /** @internal throws PresenceLostError when the lease is known to be gone. */
  assertAlive(): void {
    if (this.closed) throw new PresenceLostError(this.machineId, 'presence was closed');
    if (!this.isAlive) throw new PresenceLostError(this.machineId, 'its lease expired or was revoked');
  }

  /** @internal maps an etcd error of a lease-bound write, marking the presence lost when the lease is gone. */
  wrap(what: string, err: unknown): RegistryError {
    if (err instanceof RegistryError) return err;
    if (err instanceof EtcdLeaseInvalidError || /requested lease not found/.test(errorMessage(err))) {
      const lost = new PresenceLostError(this.machineId, 'etcd no longer knows its lease', { cause: err });
      this.markLost(lost);
      return lost;
    }
    return new EtcdRequestError(`${what} for machine ${this.machineId}`, err);
  }

  private async acquire(): Promise<void> {
    // The previous lease is not revoked: that would delete the machine record, and an engine seeing it
    // vanish moves this machine's units. Registering with the same instance rebinds the record to the new
    // lease in one put (no delete event); the old lease is left to expire with whatever it still holds.
    const old = this.lease as Lease | undefined;
    if (old) old.release();
    const lease = this.client.lease(this.ttlSeconds);
    lease.on('lost', () => undefined);
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (err) {
      throw new EtcdRequestError(`granting a lease for machine ${this.machineId}`, err);
    }
    const key = this.keys.machineObject(this.current.id);
    let res;
    try {
      res = await txn(
        this.client,
        [cmp.version(key, '==', 0)],
        [op.put(key, encodeMachineState(this.current), leaseId)],
        [op.get(key)],
      );
    } catch (err) {
      await lease.revoke().catch(() => undefined);
      throw new EtcdRequestError(`registering machine ${this.machineId}`, err);
    }
    if (!res.succeeded) {
      const existing = rangeAt(res, 0)[0];
      const other = existing ? decodeMachineState(existing.value.toString('utf8')) : undefined;
      const ownPrevious = existing && other?.instance !== undefined && other.instance === this.current.instance;
      let takenOver = false;
      if (ownPrevious) {
        try {
          const over = await txn(
            this.client,
            [cmp.modRevision(key, '==', String(existing.mod_revision))],
            [op.put(key, encodeMachineState(this.current), leaseId)],
          );
          takenOver = over.succeeded;
        } catch (err) {
          await lease.revoke().catch(() => undefined);
          throw new EtcdRequestError(`taking over the record of machine ${this.machineId}`, err);
        }
        if (takenOver) log.info('took over the record of this fleetd\'s previous incarnation', { machineId: this.machineId });
      }
      if (!takenOver) {
        await lease.revoke().catch(() => undefined);
        throw new DuplicateMachineError(this.machineId, other?.publicIP);
      }
    }
    this.lease = lease;
    this.currentLeaseId = leaseId;
    this.isAlive = true;
    this.lastKeepAlive = Date.now();
    lease.removeAllListeners('lost');
    lease.on('lost', (err: Error) => {
      if (this.lease !== lease) return;
      this.markLost(new PresenceLostError(this.machineId, `etcd reports the lease lost (${errorMessage(err)})`, { cause: err }));
    });
    lease.on('keepaliveSucceeded', () => {
      if (this.lease === lease) this.lastKeepAlive = Date.now();
    });
    this.startWatchdog();
    log.info('machine registered', { machineId: this.machineId, leaseId, ttlSeconds: this.ttlSeconds });
  }

  /**
   * Marks the presence lost after a whole TTL without a keep-alive (etcd has expired the lease by then), and
   * rescues a keep-alive stream stalled on a member that stopped answering (lease-rescue.ts).
   */
  private startWatchdog(): void {
    this.stopWatchdog();
    const ttlMs = this.ttlSeconds * 1000;
    const lease = this.lease;
    const lost = systemClock.every(
      Math.max(100, Math.floor(ttlMs / 8)),
      () => {
        if (Date.now() - this.lastKeepAlive > ttlMs) this.markLost(new PresenceLostError(this.machineId, `no successful lease keep-alive for ${this.ttlSeconds}s`));
      },
      { unref: true },
    );
    const rescue = rescueStalledKeepAlive({
      lease,
      ttlMs,
      clock: systemClock,
      sinceRenewalMs: () => Date.now() - this.lastKeepAlive,
      renewed: () => {
        // counted from the answer, as the stream's keep-alives are here (agent_ttl leaves the margin)
        if (this.lease === lease) this.lastKeepAlive = Date.now();
      },
      failed: (err) => log.debug('lease keep-alive rescue failed; retrying', { machineId: this.machineId, err }),
    });
    this.watchdog = {
      cancel() {
        lost.cancel();
        rescue.cancel();
      },
    };
  }

  private stopWatchdog(): void {
    this.watchdog?.cancel();
    this.watchdog = undefined;
  }

  private markLost(err: PresenceLostError): void {
    if (!this.isAlive || this.closed) return;
    this.isAlive = false;
    this.stopWatchdog();
    this.lease.release();
    log.warn('machine presence lost', { machineId: this.machineId, err });
    for (const l of [...this.listeners]) {
      try {
        l(err);
      } catch (e) {
        log.error('presence lost listener threw', { err: e });
      }
    }
  }
}
