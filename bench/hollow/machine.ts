/**
 * One hollow machine: the real agent (fleetd/agent/agent.ts) with fleetd's registration, presence recovery and
 * metadata watch, on an etcd client it may share with other hollow machines, and a HollowUnitManager instead of
 * systemd. fleetd's FleetServer opens its own etcd client and cannot take one, so for shared clients this
 * repeats its agent-side composition (register, watch own record, agent; no engine, no API).
 */
import type { Etcd3 } from 'etcd3';
import { Registry, DuplicateMachineError, type MachinePresence, type WatchHandle } from '../../lib/registry/index.js';
import { Agent } from '../../fleetd/agent/agent.js';
import { rejoinSettleMs } from '../../fleetd/server.js';
import { VERSION } from '../../lib/version.js';
import { errorMessage } from '../../lib/errors.js';
import { logger } from '../../lib/log.js';
import { MemoryUnitManager as HollowUnitManager, type MemoryUnitManagerOptions as HollowUnitManagerOptions } from '../../fleetd/agent/memory-unit-manager.js';

const log = logger('bench.hollow');

export interface HollowMachineOptions {
  readonly client: Etcd3;
  readonly prefix?: string;
  readonly id: string;
  readonly publicIp?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** seconds, fleet's agent_ttl */
  readonly agentTtl: number;
  readonly manager?: HollowUnitManagerOptions;
  /** fleetd's defaults for the engine timings, used for the agent's rejoin settle time */
  readonly engineLeaseTtl?: number;
  readonly engineReconcileInterval?: number;
}

export interface HollowMachineStats {
  presenceLosses: number;
  registerRetries: number;
}

export class HollowMachine {
  readonly manager: HollowUnitManager;
  readonly registry: Registry;
  readonly stats: HollowMachineStats = { presenceLosses: 0, registerRetries: 0 };
  agent: Agent | undefined;
  private presence: MachinePresence | undefined;
  private watch: WatchHandle | undefined;
  private metadata: Readonly<Record<string, string>>;
  private stopping = false;

  constructor(private readonly opts: HollowMachineOptions) {
    this.registry = new Registry(opts.client, opts.prefix);
    this.manager = new HollowUnitManager(opts.manager);
    this.metadata = opts.metadata ?? {};
  }

  get id(): string {
    return this.opts.id;
  }

  async start(): Promise<void> {
    const state = {
      id: this.opts.id,
      publicIP: this.opts.publicIp ?? '198.18.255.254',
      metadata: this.metadata,
      version: VERSION,
      disableEngine: true,
      instance: `hollow-${this.opts.id}`,
    };
    let delay = 200;
    for (;;) {
      try {
        this.presence = await this.registry.registerMachine(state, this.opts.agentTtl);
        break;
      } catch (err) {
        if (err instanceof DuplicateMachineError || this.stopping) throw err;
        this.stats.registerRetries++;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    const presence = this.presence;
    presence.onLost((err) => {
      this.stats.presenceLosses++;
      this.agent?.presenceLost();
      void this.recover(errorMessage(err));
    });
    this.watch = await this.registry.watchMachine(this.opts.id, (snapshot) => {
      const me = snapshot.get(this.opts.id);
      if (me) this.metadata = me.metadata;
    });
    this.agent = new Agent({
      registry: this.registry,
      presence,
      manager: this.manager,
      metadata: () => this.metadata,
      reconcileIntervalMs: 30_000,
      rejoinSettleMs: rejoinSettleMs({
        engineLeaseTtl: this.opts.engineLeaseTtl ?? 4,
        engineReconcileInterval: this.opts.engineReconcileInterval ?? 2,
      }),
    });
    await this.agent.start();
  }

  private async recover(reason: string): Promise<void> {
    log.warn('hollow machine lost its presence', { machine: this.opts.id, reason });
    let delay = 250;
    while (!this.stopping && this.presence && !this.presence.alive) {
      try {
        await this.presence.reregister();
        await this.agent?.rejoined();
        return;
      } catch (err) {
        log.debug('hollow re-registration failed', { err: errorMessage(err) });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  /** Stops like a fleetd with shutdown_units=keep would, leaving nothing behind in etcd when `revoke`. */
  async stop(opts: { revoke?: boolean } = {}): Promise<void> {
    this.stopping = true;
    await this.agent?.stop({ unloadAll: false }).catch(() => undefined);
    await this.watch?.close().catch(() => undefined);
    await this.presence?.close({ revoke: opts.revoke ?? true }).catch(() => undefined);
    await this.registry.close().catch(() => undefined);
    await this.manager.close();
  }
}
