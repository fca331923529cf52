/**
 * One machine's membership of the cluster: what it publishes about itself (its machine state), registration
 * with backoff, the presence and its recovery (re-registration that re-publishes the current state), the watch
 * of its own record (metadata with the API overrides) and the agent wired to all of it. fleetd (server.ts) and
 * the benchmark's hollow machines (bench/hollow/machine.ts) both construct it, so they cannot drift apart.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DuplicateMachineError,
  type MachinePresence,
  type MachineState,
  type Registry,
  type WatchHandle,
} from '../lib/registry/index.js';
import { FleetError, errorMessage } from '../lib/errors.js';
import { logger } from '../lib/log.js';
import { Agent } from './agent/agent.js';
import type { UnitManager } from './agent/unit-manager.js';

const log = logger('fleetd.member');

/** First delay between registration attempts while etcd is unreachable; doubles up to REGISTER_MAX_DELAY_MS. */
const REGISTER_FIRST_DELAY_MS = 1_000;
const REGISTER_MAX_DELAY_MS = 10_000;
/** First delay between re-registration attempts after the presence was lost. */
const REREGISTER_FIRST_DELAY_MS = 250;
/** Re-registration retries back off to at most this: the engine gives a returning machine only agent_ttl. */
const REREGISTER_MAX_DELAY_MS = 1_000;
/** The agent's safety-net reconcile period (its watches drive it otherwise). */
const AGENT_RECONCILE_INTERVAL_MS = 30_000;
/** With disable_watches the agent reconciles this often and only then, as fleet's agent did (every 5 s). */
export const AGENT_POLL_INTERVAL_MS = 5_000;

/** fleetd cannot run; the message says why and what to do. */
export class FatalError extends FleetError {
  override readonly name = 'FatalError';
}

export interface MemberOptions {
  readonly registry: Registry;
  /** systemd, or the hollow machines' in-memory manager */
  readonly manager: UnitManager;
  /** What this machine publishes (its id cannot change later). */
  readonly state: MachineState;
  /** seconds: the presence's lease TTL (agent_ttl), rounded to whole seconds, at least 1 */
  readonly agentTtl: number;
  /** AgentOptions.rejoinSettleMs */
  readonly rejoinSettleMs: number;
  /** Where the machine id came from, for the message when another live machine holds it. */
  readonly machineIdSource?: string;
  /** Aborted when the machine is stopping: registration gives up, recovery ends. */
  readonly signal?: AbortSignal;
  /** disable_watches: registry changes do not wake the agent; it reconciles every agentPollIntervalMs */
  readonly disableWatches?: boolean;
  /** ms, default AGENT_POLL_INTERVAL_MS */
  readonly agentPollIntervalMs?: number;
}

export interface MemberStats {
  /** Times the presence was lost (lease expired, revoked, or its keep-alives failed for a whole TTL). */
  presenceLosses: number;
  /** Registration attempts that failed before the first one succeeded. */
  registerRetries: number;
}

export class Member {
  readonly stats: MemberStats = { presenceLosses: 0, registerRetries: 0 };
  private current: MachineState;
  /** This machine's metadata as the cluster sees it: published, with the API overrides applied. */
  private metadata: Readonly<Record<string, string>>;
  private presenceNow: MachinePresence | undefined;
  private agentNow: Agent | undefined;
  private watch: WatchHandle | undefined;
  private recovering = false;
  private left = false;

  constructor(private readonly opts: MemberOptions) {
    this.current = opts.state;
    this.metadata = opts.state.metadata;
  }

  get machineId(): string {
    return this.current.id;
  }

  /** The machine state as last set (published, or to be published once the presence is back). */
  get state(): MachineState {
    return this.current;
  }

  get presence(): MachinePresence | undefined {
    return this.presenceNow;
  }

  get agent(): Agent | undefined {
    return this.agentNow;
  }

  private get stopping(): boolean {
    return this.left || this.opts.signal?.aborted === true;
  }

  /** Registers (retrying while etcd is unreachable), watches its own record, starts the agent (returned). */
  async start(): Promise<Agent> {
    const presence = await this.register();
    this.presenceNow = presence;
    presence.onLost((err) => {
      this.stats.presenceLosses++;
      this.agentNow?.presenceLost();
      void this.recover(errorMessage(err));
    });
    this.watch = await this.opts.registry.watchMachine(this.machineId, (snapshot) => {
      const me = snapshot.get(this.machineId);
      if (me) this.metadata = me.metadata;
    });
    if (this.stopping) throw new FatalError('stopped while starting');
    this.agentNow = new Agent({
      registry: this.opts.registry,
      presence,
      manager: this.opts.manager,
      metadata: () => this.metadata,
      reconcileIntervalMs: this.opts.disableWatches ? (this.opts.agentPollIntervalMs ?? AGENT_POLL_INTERVAL_MS) : AGENT_RECONCILE_INTERVAL_MS,
      rejoinSettleMs: this.opts.rejoinSettleMs,
      disableWatches: this.opts.disableWatches === true,
    });
    await this.agentNow.start();
    return this.agentNow;
  }

  /** New machine state (e.g. SIGHUP): published now, or on re-registration while the presence is lost. */
  async update(state: MachineState): Promise<void> {
    this.current = state;
    if (this.presenceNow?.alive) await this.presenceNow.update(state);
  }

  /** Registers with backoff while etcd is unreachable; a live machine with our id is fatal. */
  private async register(): Promise<MachinePresence> {
    let delay = REGISTER_FIRST_DELAY_MS;
    const ttl = Math.max(1, Math.round(this.opts.agentTtl));
    for (;;) {
      try {
        return await this.opts.registry.registerMachine(this.current, ttl);
      } catch (err) {
        if (err instanceof DuplicateMachineError) throw new FatalError(this.duplicateMessage(err));
        if (this.stopping) throw new FatalError('stopped before this machine could register');
        this.stats.registerRetries++;
        log.warn('cannot register this machine in etcd yet; retrying', { err: errorMessage(err), retryMs: delay });
        await sleep(delay, undefined, this.opts.signal ? { signal: this.opts.signal } : {}).catch(() => undefined);
        if (this.stopping) throw new FatalError('stopped before this machine could register');
        delay = Math.min(delay * 2, REGISTER_MAX_DELAY_MS);
      }
    }
  }

  private async recover(reason: string): Promise<void> {
    log.warn('machine presence lost; units keep running while it is re-established', { machineId: this.machineId, reason });
    if (this.recovering) return;
    this.recovering = true;
    try {
      await this.reregisterLoop();
    } finally {
      this.recovering = false;
    }
  }

  private async reregisterLoop(): Promise<void> {
    let delay = REREGISTER_FIRST_DELAY_MS;
    let duplicateLogged = false;
    const presence = this.presenceNow;
    while (!this.stopping && presence && !presence.alive) {
      try {
        await presence.reregister();
        // the record was re-created from the state of the last registration: update() may have changed it since
        await presence.update(this.current);
        await this.agentNow?.rejoined();
        log.warn('machine presence re-established', { machineId: this.machineId });
        return;
      } catch (err) {
        if (err instanceof DuplicateMachineError && !duplicateLogged) {
          duplicateLogged = true;
          log.error('cannot re-register: ' + this.duplicateMessage(err));
        } else {
          log.debug('re-registration failed', { err: errorMessage(err) });
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, REREGISTER_MAX_DELAY_MS);
      }
    }
  }

  /** Stops the agent: with `unloadAll` its units are stopped and unloaded, else left running. */
  async stopAgent(opts: { unloadAll: boolean }): Promise<void> {
    await this.agentNow?.stop(opts);
  }

  /** Closes the watch of its own record. */
  async closeWatch(): Promise<void> {
    await this.watch?.close();
  }

  /**
   * Leaves the cluster: with `revoke` the record and unit states go at once (the engine moves the units now),
   * else they expire after agent_ttl (a restarting fleetd's successor takes them over).
   */
  async leave(opts: { revoke: boolean }): Promise<void> {
    this.left = true;
    await this.presenceNow?.close(opts);
  }

  /** All of a stop in order, each step's failure ignored: agent, own-record watch, presence. */
  async stop(opts: { unloadAll: boolean; revoke: boolean }): Promise<void> {
    this.left = true;
    await this.stopAgent({ unloadAll: opts.unloadAll }).catch(() => undefined);
    await this.closeWatch().catch(() => undefined);
    await this.leave({ revoke: opts.revoke }).catch(() => undefined);
  }

  private duplicateMessage(err: DuplicateMachineError): string {
    const where = err.existingPublicIP ? ` at ${err.existingPublicIP}` : '';
    const from = this.opts.machineIdSource ? ` (from ${this.opts.machineIdSource})` : '';
    return (
      `machine id ${this.machineId}${from} is already registered by another live fleetd${where}: ` +
      'every machine needs its own machine id (a copied /etc/machine-id?), or stop the other fleetd'
    );
  }
}
