/**
 * One fleetd: registers this machine, runs its agent, campaigns for the engine, serves the API.
 * Composition only; each part lives in its own package.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { openEtcd, Registry, DuplicateMachineError, type MachinePresence, type MachineState, type WatchHandle } from '../lib/registry/index.js';
import { FleetError, errorMessage } from '../lib/errors.js';
import { logger, setLogLevel } from '../lib/log.js';
import { VERSION } from '../lib/version.js';
import type { FleetConfig } from './config.js';
import { readMachineId, detectPublicIp } from './machine/identity.js';
import { claimInstance } from './machine/instance.js';
import { dirname } from 'node:path';
import { Agent } from './agent/agent.js';
import { SystemdUnitManager } from './agent/systemd-manager.js';
import type { UnitManager } from './agent/unit-manager.js';
import { Engine } from './engine/engine.js';
import { createApiServer, type ApiServer } from './api/server.js';
import { LocalInspector } from './machine/inspector.js';

const log = logger('fleetd');

/** fleetd cannot run; the message says why and what to do. */
export class FatalError extends FleetError {
  override readonly name = 'FatalError';
}

export interface ServerHooks {
  /** replaces systemd (the benchmark's hollow machines) */
  unitManager?: () => Promise<UnitManager>;
  /** replaces /etc/machine-id */
  machineId?: string;
  /** replaces the instance token of the runtime dir */
  instance?: string;
}

export interface ServerEvents {
  /** fleetd cannot go on (e.g. systemd's bus is gone) */
  fatal: [string];
}

export class FleetServer extends EventEmitter<ServerEvents> {
  machineId = '';
  registry!: Registry;
  agent: Agent | undefined;
  engine: Engine | undefined;
  private client: Etcd3 | undefined;
  private presence: MachinePresence | undefined;
  private manager: UnitManager | undefined;
  private machinesWatch: WatchHandle | undefined;
  private metadata: Readonly<Record<string, string>> = {};
  private stopping = false;
  private publicIp = '';
  private api: ApiServer | undefined;
  private instance = '';

  constructor(
    private config: FleetConfig,
    private readonly hooks: ServerHooks = {},
  ) {
    super();
  }

  async start(): Promise<void> {
    const c = this.config;
    setLogLevel(c.verbosity > 0 ? 'debug' : 'warn');
    this.machineId = this.hooks.machineId ?? readMachineId(c.machineIdFile);
    this.publicIp = c.publicIp || detectPublicIp();
    this.metadata = c.metadata;
    this.instance = this.hooks.instance ?? claimInstance(dirname(c.unitsDirectory.replace(/\/+$/, '')));
    this.client = openEtcd({
      endpoints: c.etcdServers,
      prefix: c.etcdKeyPrefix,
      requestTimeoutMs: c.etcdRequestTimeout * 1000,
      tls: c.etcdCafile || c.etcdCertfile ? { ca: c.etcdCafile || undefined, cert: c.etcdCertfile || undefined, key: c.etcdKeyfile || undefined } : undefined,
      auth: c.etcdUsername ? { username: c.etcdUsername, password: c.etcdPassword } : undefined,
    });
    this.registry = new Registry(this.client, c.etcdKeyPrefix);

    this.api = createApiServer({
      registry: this.registry,
      config: c,
      machineId: this.machineId,
      version: VERSION,
      inspector: new LocalInspector(),
      isEngineLeader: () => this.engine?.isLeader ?? false,
      available: false,
    });
    await this.api.listen();

    this.presence = await this.register();
    this.presence.onLost((err) => void this.recoverPresence(errorMessage(err)));

    this.machinesWatch = await this.registry.watchMachines((snapshot) => {
      const me = snapshot.get(this.machineId);
      if (me) this.metadata = me.metadata;
    });

    this.manager = this.hooks.unitManager ? await this.hooks.unitManager() : await SystemdUnitManager.connect(c.unitsDirectory);
    this.manager.on('disconnected', (err) => {
      if (!this.stopping) this.emit('fatal', `lost the connection to systemd: ${errorMessage(err)}`);
    });
    this.agent = new Agent({
      registry: this.registry,
      presence: this.presence,
      manager: this.manager,
      metadata: () => this.metadata,
      reconcileIntervalMs: 30_000,
    });
    await this.agent.start();

    if (!c.disableEngine) {
      this.engine = new Engine({
        registry: this.registry,
        machineId: this.machineId,
        leaseTtlSeconds: c.engineLeaseTtl,
        reconcileIntervalMs: c.engineReconcileInterval * 1000,
        machineLostGraceMs: c.machineLostGrace * 1000,
        disableWatches: c.disableWatches,
      });
      this.engine.start();
    }
    this.api.setAvailable(true);
    log.info('fleetd started', { machineId: this.machineId, publicIp: this.publicIp, version: VERSION });
  }

  private machineState(): MachineState {
    return {
      id: this.machineId,
      publicIP: this.publicIp,
      metadata: this.config.metadata,
      version: VERSION,
      disableEngine: this.config.disableEngine,
      instance: this.instance,
    };
  }

  /** Registers with backoff while etcd is unreachable; a live machine with our id is fatal. */
  private async register(): Promise<MachinePresence> {
    let delay = 1000;
    for (;;) {
      try {
        return await this.registry.registerMachine(this.machineState(), Math.max(1, Math.round(this.config.agentTtl)));
      } catch (err) {
        if (err instanceof DuplicateMachineError) {
          throw new FatalError(
            `another fleetd with machine id ${this.machineId} is alive (${errorMessage(err)}); ` +
              `give this machine its own /etc/machine-id, or stop the other fleetd`,
          );
        }
        if (this.stopping) throw err;
        log.warn('cannot register this machine in etcd yet; retrying', { err: errorMessage(err), retryMs: delay });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }

  private async recoverPresence(reason: string): Promise<void> {
    log.warn('machine presence lost; units keep running while it is re-established', { reason });
    let delay = 500;
    while (!this.stopping && this.presence && !this.presence.alive) {
      try {
        await this.presence.reregister();
        await this.agent?.republish();
        log.warn('machine presence re-established');
        return;
      } catch (err) {
        log.debug('re-registration failed', { err: errorMessage(err) });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /** SIGHUP: what can change without touching units (verbosity, metadata, public IP). */
  async reload(next: FleetConfig): Promise<void> {
    this.config = { ...this.config, verbosity: next.verbosity, metadata: next.metadata, publicIp: next.publicIp };
    setLogLevel(next.verbosity > 0 ? 'debug' : 'warn');
    this.publicIp = next.publicIp || detectPublicIp();
    await this.presence?.update(this.machineState());
    log.warn('configuration reloaded (verbosity, metadata, public_ip); other options need a restart');
  }

  /** Clean stop: step down as leader, then keep or stop units as configured, then leave the cluster. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.engine?.stop().catch((err: unknown) => log.warn('engine stop failed', { err }));
    const restarting = (await this.manager?.selfRestarting().catch(() => false)) ?? false;
    const unloadAll = this.config.shutdownUnits === 'stop' && !restarting;
    log.info('stopping', { restarting, unloadAll });
    await this.agent?.stop({ unloadAll });
    await this.api?.close().catch(() => undefined);
    await this.machinesWatch?.close().catch(() => undefined);
    // a restarting fleetd leaves its record to its next incarnation, so the engine sees no machine leave
    await this.presence?.close({ revoke: !restarting }).catch((err: unknown) => log.debug('presence close failed', { err }));
    await this.registry?.close().catch(() => undefined);
    await this.manager?.close().catch(() => undefined);
    this.client?.close();
  }

  /** SIGUSR1: what this fleetd knows, for operators. */
  dump(): Record<string, unknown> {
    return {
      machineId: this.machineId,
      leader: this.engine?.election.leader,
      isLeader: this.engine?.isLeader ?? false,
      agent: this.agent ? { stats: this.agent.stats, units: Object.fromEntries(this.agent.units()) } : undefined,
      engine: this.engine ? { stats: this.engine.stats, pending: this.engine.plan.pending } : undefined,
    };
  }
}
