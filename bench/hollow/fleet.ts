/**
 * Many hollow machines in one process. Agent-only machines share etcd clients (one gRPC connection carries many
 * machines' watches, leases and writes) or, with `perClient: 0`, each is a whole FleetServer with its own client
 * as a real fleetd would be. Engine machines are always whole FleetServers (engine enabled) with hollow systemd.
 */
import type { Etcd3 } from 'etcd3';
import { openEtcd } from '../../lib/registry/index.js';
import { FleetServer } from '../../fleetd/server.js';
import type { EngineStats } from '../../fleetd/engine/engine.js';
import { defaultConfig, type FleetConfig } from '../../fleetd/config.js';
import { HollowMachine } from './machine.js';
import { MemoryUnitManager, type MemoryUnitManagerOptions } from '../../fleetd/agent/memory-unit-manager.js';
import { eachLimited } from '../../lib/limit.js';

export interface HollowFleetSpec {
  readonly endpoints: readonly string[];
  readonly prefix?: string;
  /** agent-only machines (disable_engine) */
  readonly machines: number;
  /** machines with an engine (whole FleetServers) */
  readonly engines?: number;
  /** machine ids are `<idPrefix>w<n>` (workers) and `<idPrefix>e<n>` (engines) */
  readonly idPrefix?: string;
  /** agent-only machines per shared etcd client; 0 = every machine is a whole FleetServer with its own client */
  readonly perClient?: number;
  readonly workerMetadata?: Readonly<Record<string, string>>;
  readonly engineMetadata?: Readonly<Record<string, string>>;
  /** seconds */
  readonly agentTtl?: number;
  readonly engineLeaseTtl?: number;
  readonly engineReconcileInterval?: number;
  /** seconds; fleetd's etcd_request_timeout */
  readonly etcdRequestTimeout?: number;
  readonly manager?: MemoryUnitManagerOptions;
  /** machines registering at once */
  readonly startConcurrency?: number;
}

export interface HollowFleetStats {
  machines: number;
  engines: number;
  etcdClients: number;
  unitsLoaded: number;
  unitsActive: number;
  agentTasks: number;
  agentTaskFailures: number;
  /** whole hollow fleetds that reported a fatal error */
  fatal: number;
  presenceLosses: number;
  registerRetries: number;
  leader: string | undefined;
  /** counters of the leading engine (passes, ops written, duration of its last pass) */
  leaderEngine?: EngineStats;
}

interface Member {
  readonly id: string;
  readonly manager: MemoryUnitManager;
  readonly server?: FleetServer;
  readonly machine?: HollowMachine;
}

export class HollowFleet {
  private readonly members: Member[] = [];
  private readonly clients: Etcd3[] = [];
  private stopped = false;
  /** what made a whole hollow fleetd give up (its 'fatal' event) */
  readonly fatal: string[] = [];

  private constructor(private readonly spec: HollowFleetSpec) {}

  static async start(spec: HollowFleetSpec): Promise<HollowFleet> {
    const fleet = new HollowFleet(spec);
    try {
      await fleet.startAll();
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  get servers(): FleetServer[] {
    return this.members.flatMap((m) => (m.server ? [m.server] : []));
  }

  /** Engine servers, for leadership events. */
  get engineServers(): FleetServer[] {
    return this.servers.filter((s) => s.engine !== undefined);
  }

  machineIds(): string[] {
    return this.members.map((m) => m.id);
  }

  manager(id: string): MemoryUnitManager | undefined {
    return this.members.find((m) => m.id === id)?.manager;
  }

  stats(): HollowFleetStats {
    const leading = this.engineServers.find((e) => e.engine?.isLeader);
    const s: HollowFleetStats = {
      machines: this.members.length,
      engines: this.engineServers.length,
      etcdClients: this.clients.length + this.servers.length,
      unitsLoaded: 0,
      unitsActive: 0,
      agentTasks: 0,
      agentTaskFailures: 0,
      fatal: this.fatal.length,
      presenceLosses: 0,
      registerRetries: 0,
      leader: leading?.machineId,
      ...(leading?.engine ? { leaderEngine: { ...leading.engine.stats } } : {}),
    };
    for (const m of this.members) {
      for (const st of m.manager.snapshot().values()) {
        s.unitsLoaded++;
        if (st.activeState === 'active') s.unitsActive++;
      }
      const agent = m.server?.agent ?? m.machine?.agent;
      s.agentTasks += agent?.stats.tasks ?? 0;
      s.agentTaskFailures += agent?.stats.taskFailures ?? 0;
      const member = m.server?.member ?? m.machine?.member;
      s.presenceLosses += member?.stats.presenceLosses ?? 0;
      s.registerRetries += member?.stats.registerRetries ?? 0;
    }
    return s;
  }

  private config(id: string, engine: boolean): FleetConfig {
    const sp = this.spec;
    const d = defaultConfig();
    return {
      ...d,
      etcdServers: [...sp.endpoints],
      etcdKeyPrefix: sp.prefix ?? d.etcdKeyPrefix,
      etcdRequestTimeout: sp.etcdRequestTimeout ?? d.etcdRequestTimeout,
      engineReconcileInterval: sp.engineReconcileInterval ?? d.engineReconcileInterval,
      engineLeaseTtl: sp.engineLeaseTtl ?? d.engineLeaseTtl,
      agentTtl: sp.agentTtl ?? d.agentTtl,
      publicIp: '198.18.255.254',
      metadata: { ...((engine ? sp.engineMetadata : sp.workerMetadata) ?? {}) },
      disableEngine: !engine,
      apiSocket: '',
      apiListen: '',
      unitsDirectory: `/nonexistent/hollow/${id}/units/`,
      machineIdFile: '/nonexistent/hollow/machine-id',
    };
  }

  private async startServer(id: string, engine: boolean): Promise<void> {
    const manager = new MemoryUnitManager(this.spec.manager);
    const server = new FleetServer(this.config(id, engine), {
      unitManager: async () => manager,
      machineId: id,
      instance: `hollow-${id}`,
    });
    server.on('fatal', (msg) => this.fatal.push(`hollow fleetd ${id}: ${msg}`));
    this.members.push({ id, manager, server });
    await server.start();
  }

  private async startAll(): Promise<void> {
    const sp = this.spec;
    const pre = sp.idPrefix ?? 'hollow-';
    const perClient = sp.perClient ?? 100;
    const timeoutMs = (sp.etcdRequestTimeout ?? defaultConfig().etcdRequestTimeout) * 1000;
    for (let i = 0; i < (sp.engines ?? 0); i++) await this.startServer(`${pre}e${i + 1}`, true);
    const jobs: (() => Promise<void>)[] = [];
    for (let i = 0; i < sp.machines; i++) {
      const id = `${pre}w${i + 1}`;
      if (perClient <= 0) {
        jobs.push(() => this.startServer(id, false));
        continue;
      }
      if (i % perClient === 0) this.clients.push(openEtcd({ endpoints: sp.endpoints, prefix: sp.prefix, requestTimeoutMs: timeoutMs }));
      const machine = new HollowMachine({
        client: this.clients[this.clients.length - 1]!,
        prefix: sp.prefix,
        id,
        metadata: sp.workerMetadata,
        agentTtl: sp.agentTtl ?? 30,
        manager: sp.manager,
        engineLeaseTtl: sp.engineLeaseTtl,
        engineReconcileInterval: sp.engineReconcileInterval,
      });
      this.members.push({ id, manager: machine.manager, machine });
      jobs.push(() => machine.start());
    }
    await runLimited(jobs, sp.startConcurrency ?? 50);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await runLimited(
      this.members.map((m) => () => (m.server ? m.server.stop() : m.machine!.stop())),
      100,
    );
    for (const c of this.clients) c.close();
  }
}

/** Runs the jobs, at most `limit` at a time; rejects with the first failure after all settled. */
export function runLimited(jobs: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  return eachLimited(jobs, limit, (job) => job());
}
