/**
 * One hollow machine: fleetd's own member lifecycle (fleetd/member.ts: registration, presence recovery,
 * metadata watch, the real agent) on an etcd client it may share with other hollow machines, with a
 * MemoryUnitManager instead of systemd, and no engine and no API.
 */
import type { Etcd3 } from 'etcd3';
import { Registry } from '../../lib/registry/index.js';
import type { Agent } from '../../fleetd/agent/agent.js';
import { Member, type MemberStats } from '../../fleetd/member.js';
import { rejoinSettleMs } from '../../fleetd/server.js';
import { VERSION } from '../../lib/version.js';
import { MemoryUnitManager, type MemoryUnitManagerOptions } from '../../fleetd/agent/memory-unit-manager.js';

export interface HollowMachineOptions {
  readonly client: Etcd3;
  readonly prefix?: string;
  readonly id: string;
  readonly publicIp?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** seconds, fleet's agent_ttl */
  readonly agentTtl: number;
  readonly manager?: MemoryUnitManagerOptions;
  /** fleetd's defaults for the engine timings, used for the agent's rejoin settle time */
  readonly engineLeaseTtl?: number;
  readonly engineReconcileInterval?: number;
}

export class HollowMachine {
  readonly manager: MemoryUnitManager;
  readonly registry: Registry;
  readonly member: Member;
  private readonly abort = new AbortController();

  constructor(opts: HollowMachineOptions) {
    this.registry = new Registry(opts.client, opts.prefix);
    this.manager = new MemoryUnitManager(opts.manager);
    this.member = new Member({
      registry: this.registry,
      manager: this.manager,
      state: {
        id: opts.id,
        publicIP: opts.publicIp ?? '198.18.255.254',
        metadata: opts.metadata ?? {},
        version: VERSION,
        disableEngine: true,
        instance: `hollow-${opts.id}`,
      },
      agentTtl: opts.agentTtl,
      rejoinSettleMs: rejoinSettleMs({
        engineLeaseTtl: opts.engineLeaseTtl ?? 4,
        engineReconcileInterval: opts.engineReconcileInterval ?? 2,
      }),
      signal: this.abort.signal,
    });
  }

  get id(): string {
    return this.member.machineId;
  }

  get agent(): Agent | undefined {
    return this.member.agent;
  }

  get stats(): MemberStats {
    return this.member.stats;
  }

  async start(): Promise<void> {
    await this.member.start();
  }

  /** Stops like a fleetd with shutdown_units=keep would, leaving nothing behind in etcd when `revoke`. */
  async stop(opts: { revoke?: boolean } = {}): Promise<void> {
    this.abort.abort();
    await this.member.stop({ unloadAll: false, revoke: opts.revoke ?? true });
    await this.registry.close().catch(() => undefined);
    await this.manager.close();
  }
}
