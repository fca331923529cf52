/**
 * One fleetd: registers this machine and runs its agent (member.ts), campaigns for the engine, serves the API.
 * Composition only; each part lives in its own package.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { checkEndpoints, checkTlsFiles, openEtcd, Registry, type EtcdOptions, type MachineState } from '../lib/registry/index.js';
import { errorMessage } from '../lib/errors.js';
import { logger, setLogLevel } from '../lib/log.js';
import { VERSION } from '../lib/version.js';
import { CONFIG_KEYS, type FleetConfig } from './config.js';
import { readMachineId, detectPublicIp } from './machine/identity.js';
import { claimInstance } from './machine/instance.js';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unloadInstalled, type Agent } from './agent/agent.js';
import { SystemdUnitManager } from './agent/systemd-manager.js';
import { connectSystemd } from '../lib/systemd/index.js';
import type { UnitManager } from './agent/unit-manager.js';
import { Engine } from './engine/engine.js';
import { createApiServer, type ApiServer } from './api/server.js';
import { LocalInspector } from './machine/inspector.js';
import { exportAgentStats, exportEngineStats } from './stats-metrics.js';
import { Member } from './member.js';
export { FatalError } from './member.js';

const log = logger('fleetd');

export interface ServerHooks {
  /** replaces systemd (the benchmark's hollow machines) */
  unitManager?: () => Promise<UnitManager>;
  /** replaces /etc/machine-id */
  machineId?: string;
  /** replaces the instance token of the runtime dir */
  instance?: string;
  /** an etcd client to use instead of opening one from the config (its owner closes it) */
  etcd?: Etcd3;
  /** replaces the detection of the public IP (when public_ip is not configured) */
  detectPublicIp?: () => string;
  /** ms between re-detections of an unconfigured public IP (default PUBLIC_IP_REFRESH_MS, fleet's minute) */
  publicIpRefreshMs?: number;
  /** ms between the agent's reconciles when disable_watches is set (default AGENT_POLL_INTERVAL_MS) */
  agentPollIntervalMs?: number;
}

/** Options SIGHUP applies to a running fleetd; every other option needs a restart (said at start and on SIGHUP). */
export const RELOADED_ON_SIGHUP = ['verbosity', 'metadata', 'public_ip'] as const;

/** fleet re-read an unconfigured public IP this often (its machine state refresh). */
export const PUBLIC_IP_REFRESH_MS = 60_000;

/** What a SIGHUP did: options applied, and options whose new value waits for a restart. */
export interface ReloadOutcome {
  readonly applied: readonly string[];
  readonly needRestart: readonly string[];
}

export interface ServerEvents {
  /** fleetd cannot go on (e.g. systemd's bus is gone) */
  fatal: [string];
}

export class FleetServer extends EventEmitter<ServerEvents> {
  machineId = '';
  registry!: Registry;
  member: Member | undefined;
  engine: Engine | undefined;
  /** the etcd client this fleetd opened (and closes); undefined with hooks.etcd */
  private client: Etcd3 | undefined;
  private manager: UnitManager | undefined;
  private stopping = false;
  private publicIp = '';
  private api: ApiServer | undefined;
  private instance = '';
  private systemdGone = false;
  private starting: Promise<void> | undefined;
  private stopped: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private publicIpTimer: NodeJS.Timeout | undefined;

  constructor(
    private config: FleetConfig,
    private readonly hooks: ServerHooks = {},
  ) {
    super();
  }

  /** Starts every part; a stop() meanwhile makes it end early (rejecting) once what it began is in place. */
  start(): Promise<void> {
    this.starting ??= this.startParts();
    return this.starting;
  }

  get agent(): Agent | undefined {
    return this.member?.agent;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  private async connectManager(): Promise<UnitManager> {
    return this.hooks.unitManager ? await this.hooks.unitManager() : await SystemdUnitManager.connect(this.config.unitsDirectory);
  }

  private async startParts(): Promise<void> {
    const c = this.config;
    setLogLevel(c.verbosity > 0 ? 'debug' : 'warn');
    this.machineId = this.hooks.machineId ?? readMachineId(c.machineIdFile);
    this.publicIp = c.publicIp || this.detectIp();
    this.instance = this.hooks.instance ?? claimInstance(dirname(c.unitsDirectory.replace(/\/+$/, '')));
    if (!this.hooks.etcd) {
      const etcdOptions: EtcdOptions = {
        endpoints: c.etcdServers,
        prefix: c.etcdKeyPrefix,
        requestTimeoutMs: c.etcdRequestTimeout * 1000,
        tls: c.etcdCafile || c.etcdCertfile ? { ca: c.etcdCafile || undefined, cert: c.etcdCertfile || undefined, key: c.etcdKeyfile || undefined } : undefined,
        auth: c.etcdUsername ? { username: c.etcdUsername, password: c.etcdPassword } : undefined,
      };
      checkTlsFiles({
        ...(c.etcdCafile ? { ca: { option: 'etcd_cafile', file: c.etcdCafile } } : {}),
        ...(c.etcdCertfile ? { cert: { option: 'etcd_certfile', file: c.etcdCertfile } } : {}),
        ...(c.etcdKeyfile ? { key: { option: 'etcd_keyfile', file: c.etcdKeyfile } } : {}),
      });
      this.client = openEtcd(etcdOptions);
      void reportEndpoints(etcdOptions, c.etcdRequestTimeout * 1000);
    }
    this.registry = new Registry(this.hooks.etcd ?? this.client!, c.etcdKeyPrefix);

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

    this.manager = await this.connectManager();
    this.manager.on('disconnected', (err) => void this.systemdLost(errorMessage(err)));

    this.member = new Member({
      registry: this.registry,
      manager: this.manager,
      state: this.machineState(),
      agentTtl: c.agentTtl,
      rejoinSettleMs: rejoinSettleMs(c),
      machineIdSource: c.machineIdFile,
      signal: this.abort.signal,
      disableWatches: c.disableWatches,
      ...(this.hooks.agentPollIntervalMs !== undefined ? { agentPollIntervalMs: this.hooks.agentPollIntervalMs } : {}),
    });
    exportAgentStats(this.api.metrics.registry, await this.member.start());

    if (!c.disableEngine) {
      this.engine = new Engine({
        registry: this.registry,
        machineId: this.machineId,
        leaseTtlSeconds: c.engineLeaseTtl,
        reconcileIntervalMs: c.engineReconcileInterval * 1000,
        machineLostGraceMs: c.machineLostGrace * 1000,
        termSettleMs: c.agentTtl * 1000,
        disableWatches: c.disableWatches,
      });
      exportEngineStats(this.api.metrics.registry, this.engine);
      this.engine.start();
    }
    this.api.setAvailable(true);
    this.publicIpTimer = setInterval(() => void this.refreshPublicIp(), this.hooks.publicIpRefreshMs ?? PUBLIC_IP_REFRESH_MS);
    this.publicIpTimer.unref();
    log.info('fleetd started', {
      machineId: this.machineId,
      publicIp: this.publicIp,
      version: VERSION,
      sighup: `reloads ${RELOADED_ON_SIGHUP.join(', ')}; any other option needs a restart`,
    });
  }

  private detectIp(): string {
    return (this.hooks.detectPublicIp ?? detectPublicIp)();
  }

  /** An unconfigured public IP is detected again now and then, as fleet did; a change is published. */
  private async refreshPublicIp(): Promise<void> {
    if (this.stopping || this.config.publicIp !== '') return;
    const ip = this.detectIp();
    if (ip === this.publicIp) return;
    log.info('public IP changed', { from: this.publicIp, to: ip });
    this.publicIp = ip;
    await this.member?.update(this.machineState()).catch((err: unknown) => log.warn('publishing the new public IP failed', { err: errorMessage(err) }));
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

  /**
   * systemd's bus went away under a running fleetd. A bus that is back at once (D-Bus restarted) keeps the
   * registration: fleetd exits, systemd restarts it and the new fleetd takes the machine over, units in place.
   * A bus that stays away (the machine is going down, or D-Bus is gone for good) means this agent can no longer
   * run units: fleetd leaves the cluster first (best effort, bounded), so the engine moves them now, not after
   * agent_ttl, and only then exits.
   */
  private async systemdLost(reason: string): Promise<void> {
    if (this.stopping || this.systemdGone) return;
    this.systemdGone = true;
    log.warn('lost the connection to systemd', { reason });
    const back = await this.systemdReturns(SYSTEMD_RETURN_MS);
    if (this.stopping) return;
    if (!back && this.member?.presence?.alive) {
      log.warn('systemd stays unreachable: leaving the cluster so that this machine\'s units move now');
      await bounded('leaving the cluster', this.member.leave({ revoke: true }), STOP_STEP_MS);
    }
    if (!this.stopping) this.emit('fatal', `lost the connection to systemd: ${reason}`);
  }

  /** Whether a new connection to systemd succeeds within `ms`. */
  private async systemdReturns(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.stopping) {
      try {
        const probe = await connectSystemd(undefined, { connectTimeoutMs: Math.max(100, deadline - Date.now()) });
        await probe.close().catch(() => undefined);
        return true;
      } catch {
        if (Date.now() + 200 >= deadline) return false;
        await sleep(200);
      }
    }
    return false;
  }

  /**
   * SIGHUP: what can change without touching units (RELOADED_ON_SIGHUP) is applied; fleet restarted all of its
   * components instead, so every other option that changed is named in a warning as waiting for a restart
   * (docs/fleet-compat.md#fleetd-configuration).
   */
  async reload(next: FleetConfig): Promise<ReloadOutcome> {
    const needRestart = changedOptions(this.config, next).filter((o) => !(RELOADED_ON_SIGHUP as readonly string[]).includes(o));
    this.config = { ...this.config, verbosity: next.verbosity, metadata: next.metadata, publicIp: next.publicIp };
    setLogLevel(next.verbosity > 0 ? 'debug' : 'warn');
    this.publicIp = next.publicIp || this.detectIp();
    // while the presence is lost the new state is published on re-registration
    await this.member?.update(this.machineState());
    if (needRestart.length > 0) {
      log.warn(`configuration reloaded (${RELOADED_ON_SIGHUP.join(', ')}); changed but applied only after a restart of fleetd: ${needRestart.join(', ')}`);
    } else {
      log.warn(`configuration reloaded (${RELOADED_ON_SIGHUP.join(', ')})`);
    }
    return { applied: [...RELOADED_ON_SIGHUP], needRestart };
  }

  /**
   * Clean stop: step down as leader, then keep or stop units as configured, then leave the cluster.
   * Also before or during start(): units left by an earlier fleetd are stopped if the policy says so.
   * `keepUnits` (a failed start, not a requested stop) leaves units alone whatever the policy.
   */
  stop(opts: { keepUnits?: boolean } = {}): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.abort.abort();
      clearInterval(this.publicIpTimer);
      this.stopped = this.stopParts(opts.keepUnits ?? false);
    }
    return this.stopped;
  }

  private async stopParts(keepUnits: boolean): Promise<void> {
    await this.starting?.catch(() => undefined);
    // the engine leader of a machine that leaves the cluster stays leader until its machine is gone, and moves
    // that machine's units itself at once: a successor would first give missing machines agent_ttl to come back
    // (a new term's settle time). Otherwise, and always on a restart, it steps down first.
    const handOff = this.engine?.isLeader === true && !keepUnits && this.config.shutdownUnits === 'stop';
    // parts that talk to etcd must not hold up the units' policy when etcd is unreachable
    let engineStopped = this.engine && !handOff ? bounded('stopping the engine', this.engine.stop(), STOP_STEP_MS) : undefined;
    const manager =
      this.manager ??
      (keepUnits ? undefined : await this.connectManager().catch((err: unknown) => {
        log.warn('cannot reach systemd; units are left as they are', { err: errorMessage(err) });
        return undefined;
      }));
    const restarting = (await manager?.selfRestarting().catch(() => false)) ?? false;
    const unloadAll = this.config.shutdownUnits === 'stop' && !restarting && !keepUnits;
    log.info('stopping', { restarting, unloadAll });
    if (this.member?.agent) await this.member.stopAgent({ unloadAll });
    else if (unloadAll && manager) await unloadInstalled(manager).catch((err: unknown) => log.warn('stopping units failed', { err: errorMessage(err) }));
    if (manager !== this.manager) await manager?.close().catch(() => undefined);
    if (this.engine && handOff && !unloadAll) engineStopped = bounded('stopping the engine', this.engine.stop(), STOP_STEP_MS);
    await Promise.all([
      engineStopped,
      this.api && bounded('closing the API', this.api.close(), STOP_STEP_MS),
      this.member && bounded('closing the machine watch', this.member.closeWatch(), STOP_STEP_MS),
    ]);
    // a restarting fleetd leaves its record to its next incarnation, so the engine sees no machine leave;
    // so does one that keeps its units: they move only if fleetd stays away longer than agent_ttl
    if (this.member) await bounded('leaving the cluster', this.member.leave({ revoke: unloadAll }), STOP_STEP_MS);
    if (this.engine && handOff && unloadAll) {
      await bounded("moving this machine's units to other machines", this.unitsMovedAway(this.engine), STOP_STEP_MS);
      await bounded('stopping the engine', this.engine.stop(), STOP_STEP_MS);
    }
    if (this.registry) await bounded('closing the registry', this.registry.close(), STOP_STEP_MS);
    if (this.manager) await bounded('closing the systemd connection', this.manager.close(), STOP_STEP_MS);
    this.client?.close();
  }

  /** Until nothing is scheduled to this machine any more, or the leading engine ran two passes without moving it all. */
  private async unitsMovedAway(engine: Engine): Promise<void> {
    const passes = engine.stats.reconciles;
    while (engine.isLeader && engine.stats.reconciles < passes + 2) {
      if ((await this.registry.listSchedule(this.machineId)).length === 0) return;
      await sleep(100);
    }
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

/** The options (by their config-file names) whose values differ between two configurations. */
export function changedOptions(a: FleetConfig, b: FleetConfig): string[] {
  return Object.entries(CONFIG_KEYS)
    .filter(([, key]) => JSON.stringify(a[key]) !== JSON.stringify(b[key]))
    .map(([name]) => name);
}

/** Long enough for a new engine leader to take over and place a rejoined machine's units again. */
export function rejoinSettleMs(c: Pick<FleetConfig, 'engineLeaseTtl' | 'engineReconcileInterval'>): number {
  return Math.max(5_000, (c.engineLeaseTtl + 2 * c.engineReconcileInterval) * 1000);
}

const STOP_STEP_MS = 3_000;
/** How long a lost systemd bus may take to come back before fleetd leaves the cluster (a D-Bus restart). */
const SYSTEMD_RETURN_MS = 2_000;

/** Waits for one step of a stop, at most `ms`; a failure or a timeout is logged and the stop goes on. */
async function bounded(what: string, step: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const outcome = await Promise.race([
    step.then(
      () => 'done' as const,
      (err: unknown) => {
        log.warn(`${what} failed`, { err: errorMessage(err) });
        return 'failed' as const;
      },
    ),
    timeout,
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') log.warn(`${what} took longer than ${ms / 1000}s; going on without it`);
}

/**
 * Once at start, in the background: a warning naming each etcd endpoint that does not answer (or refuses the
 * credentials), and an error when none does. fleetd keeps retrying either way, as it does for an etcd outage.
 */
async function reportEndpoints(opts: EtcdOptions, timeoutMs: number): Promise<void> {
  const checks = await checkEndpoints(opts, timeoutMs);
  const failed = checks.filter((r) => r.error !== undefined);
  if (failed.length === checks.length) {
    log.error(`no etcd endpoint answers (etcd_servers); retrying: ${failed.map((r) => `${r.endpoint}: ${r.error}`).join('; ')}`);
    return;
  }
  for (const r of failed) log.warn(`etcd endpoint ${r.endpoint} (etcd_servers) does not answer; using the others: ${r.error}`);
}

