/**
 * One lab cluster: bring it up (idempotently), inspect it, inject faults, tear it down.
 * Every resource is recorded in the state file before it is created.
 */
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectSystemd, systemBusAddressOf } from '../lib/systemd/index.js';
import { logger } from '../lib/log.js';
import { CLOUDINIT, cloudConfigBootstrap, FLEET_UNIT, machineFiles, type BootstrapContext, type MachineBootstrap } from './bootstrap.js';
import { CONFIG_DRIVE_MOUNT, configDriveFiles, DEFAULT_BOOT, ec2Layout, imageFiles, type MachineBoot } from './boot.js';
import { FLEET_FLAVORS, fleetV1Bootstrap, leaveFleetV1, type FleetFlavor } from './fleet-v1.js';
import { ensureMetadata, routeToMetadata, stopMetadata, writeMetadataLayout } from './metadata.js';
import { labUserData } from './user-data.js';
import { clusterPublicKey, ensureHostKeys, knownHostsLines, writeKnownHosts } from './ssh.js';
import { BUSYBOX_BIN, DOCKERD_BIN, dockerBinds, ensureDocker, stopDocker } from './docker.js';
import { fleetctlEnvironment, type EnvOptions } from './endpoint.js';
import { LabError } from './errors.js';
import { ETCD_BIN, ensureEtcd, etcdHealthy, stopEtcd } from './etcd.js';
import {
  ensureEtcdCluster,
  etcdClusterHealthy,
  etcdLeader,
  etcdMemberFault,
  labEtcdClient,
  replaceEtcdMember,
  stopEtcdCluster,
  type EtcdMemberFault,
} from './etcd-cluster.js';
import { bootMachine, machineRunning, NSPAWN_BIN, powerOffMachine, type BootContext } from './machine.js';
import {
  bridgeIp,
  bridgeName,
  DEFAULT_CLUSTER,
  defaultStateDir,
  machineIndex,
  machineIp,
  machineName,
  MAX_MACHINES,
  netnsName,
  netnsPrefix,
  newMachineId,
  validateClusterName,
  vethName,
} from './names.js';
import { deleteLink, deleteMachineNet, deleteNetns, ensureBridge, ensureMachineNet, linkExists, listNetns, setLink } from './net.js';
import { BOOT_TARGET, machinePaths, mountOverlay, unmountUnder, wipeLayers, writeIdentity } from './overlay.js';
import { clusterCgroups, removeCgroupTree } from './cgroup.js';
import { requireRoot, requireTools } from './preflight.js';
import { isAlive } from './proc.js';
import { run, type RunResult } from './run.js';
import { loadState, saveState, withLock, type LabState, type MachineRecord } from './state.js';
import { releaseSubnet, reserveSubnet } from './subnet.js';
import { errorMessage } from '../lib/errors.js';

const log = logger('lab');

export interface LabOptions {
  /** cluster name, default `lab` */
  readonly name?: string;
  /** default /var/lib/fleet-lab/<name> */
  readonly stateDir?: string;
  /** bound read-only at /opt/fleet in every machine; default this checkout */
  readonly projectDir?: string;
  /** how a booted machine becomes a member; default: a #cloud-config user-data applied by coreos-cloudinit */
  readonly bootstrap?: MachineBootstrap;
}

export interface UpOptions {
  /** machines m1..mN, default 1 */
  readonly machines?: number;
  /** fleet metadata per machine, e.g. { m1: 'role=web,az=1' } */
  readonly metadata?: Readonly<Record<string, string>>;
  /** start a Docker engine and give machines its socket */
  readonly docker?: boolean;
  /** agent_ttl for fleet.conf, e.g. '3s' */
  readonly agentTtl?: string;
  /** configure and start fleet.service (default true) */
  readonly fleet?: boolean;
  /**
   * How machines boot, e.g. { m2: { bare: true, from: 'metadata' } } (lab/boot.ts); kept in the machine's record
   * and applied at its next boot. A machine with `from` gets its user-data from there at boot instead of the
   * lab's bootstrap; a bare one gets nothing of ours (install the .deb into it).
   */
  readonly boot?: Readonly<Record<string, Partial<MachineBoot>>>;
  /**
   * which fleetd fleet.service runs: `ours` (default) or `fleet-v1` (real fleet v1.0.0, lab/fleet-v1.ts; etcd then
   * also serves its v2 API). Kept for the cluster; a re-up with the other flavor replaces fleetd in every machine
   * (units of the old flavor are not moved: destroy them first).
   */
  readonly flavor?: FleetFlavor;
  /** the public key file machines authorize for user core (kept for the cluster); default: a key pair fleet-lab generates in `<state>/ssh` */
  readonly sshKey?: string;
  /** start etcd with --enable-v2=true even for our flavor (e.g. to switch flavors later without an etcd restart) */
  readonly etcdV2?: boolean;
  /** etcd as a cluster of this many members (lab/etcd-cluster.ts) instead of the single etcd */
  readonly etcdMembers?: number;
  /** etcd clients (fleetd too) need a certificate of a throwaway CA; implies an etcd cluster */
  readonly etcdTls?: boolean;
  /** etcd auth: a root user and a `fleet` user limited to fleet's prefix; implies an etcd cluster */
  readonly etcdAuth?: boolean;
}

export interface MachineInfo {
  readonly name: string;
  readonly hostname: string;
  readonly machineId: string;
  readonly ip: string;
  readonly metadata: string;
  readonly running: boolean;
  /** host pid of the machine's systemd */
  readonly initPid?: number;
  readonly busAddress?: string;
  readonly cut: boolean;
  readonly netns: string;
  readonly veth: string;
  /** host path of the machine's root (an overlay of /) */
  readonly root: string;
  /** how it boots, when not the lab's default (lab/boot.ts) */
  readonly boot?: MachineBoot;
}

export interface UpResult {
  readonly env: Record<string, string>;
  readonly machines: MachineInfo[];
  /** things that did not work but do not stop the lab (e.g. fleet.service could not be started) */
  readonly warnings: string[];
}

export interface LabStatus {
  readonly name: string;
  readonly stateDir: string;
  readonly exists: boolean;
  readonly subnet?: number;
  readonly bridge?: string;
  readonly bridgeIp?: string;
  readonly etcd?: { readonly url: string; readonly loopbackUrl: string; readonly pid?: number; readonly healthy: boolean };
  readonly docker?: { readonly socket: string; readonly pid?: number; readonly running: boolean; readonly image: string };
  readonly metadataService?: { readonly url: string; readonly pid?: number; readonly running: boolean };
  readonly fleet: boolean;
  readonly machines: MachineInfo[];
  readonly env: Record<string, string>;
}

export interface ExecOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** Environment for commands run inside machines: the box's variables do not belong there. */
export const MACHINE_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  TERM: process.env.TERM ?? 'dumb',
};

/**
 * nsenter into every namespace of a machine's init, with exactly MACHINE_ENV: `env -i` inside, because a
 * spawn hook of the calling process (e.g. a test runner's NODE_OPTIONS injection) may add variables that name
 * host paths the machine cannot see.
 */
export function nsenterArgv(initPid: number, argv: readonly string[]): string[] {
  const env = Object.entries(MACHINE_ENV).map(([k, v]) => `${k}=${v ?? ''}`);
  return ['nsenter', '-t', String(initPid), '-a', '--', '/usr/bin/env', '-i', ...env, ...argv];
}

export function defaultProjectDir(): string {
  return fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
}

export class Lab {
  readonly name: string;
  readonly stateDir: string;
  readonly projectDir: string;
  readonly #bootstrap: MachineBootstrap;
  #saving: Promise<void> = Promise.resolve();

  constructor(opts: LabOptions = {}) {
    this.name = validateClusterName(opts.name ?? DEFAULT_CLUSTER);
    this.stateDir = opts.stateDir ?? defaultStateDir(this.name);
    this.projectDir = opts.projectDir ?? defaultProjectDir();
    this.#bootstrap = opts.bootstrap ?? cloudConfigBootstrap;
  }

  // --- up / down --------------------------------------------------------------------------------

  async up(opts: UpOptions = {}): Promise<UpResult> {
    const count = opts.machines ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_MACHINES) {
      throw new LabError(`--machines must be 1..${MAX_MACHINES}, not ${count}`);
    }
    for (const m of [...Object.keys(opts.metadata ?? {}), ...Object.keys(opts.boot ?? {})]) machineIndex(m);
    requireRoot('up');
    requireTools([
      [NSPAWN_BIN, 'systemd-container'],
      [ETCD_BIN, 'etcd-server'],
      ['/usr/bin/nsenter', 'util-linux'],
      ['/usr/sbin/ip', 'iproute2'],
      ...(opts.docker ? ([[DOCKERD_BIN, 'docker.io'], [BUSYBOX_BIN, 'busybox-static']] as const) : []),
    ]);
    return withLock(this.stateDir, async () => {
      const s = await this.#loadOrCreate();
      s.fleet = opts.fleet ?? true;
      if (opts.agentTtl !== undefined) s.agentTtl = opts.agentTtl;
      if (opts.flavor !== undefined) {
        if (!FLEET_FLAVORS.includes(opts.flavor)) throw new LabError(`flavor must be one of ${FLEET_FLAVORS.join(', ')}, not ${String(opts.flavor)}`);
        s.flavor = opts.flavor;
      }
      if (opts.sshKey !== undefined) s.sshKey = opts.sshKey;
      await clusterPublicKey(s.stateDir, s.name, s.sshKey);
      await this.#save(s);
      await ensureBridge(s.bridge, s.bridgeIp, `fleet-lab:${s.stateDir}`);
      if (opts.etcdMembers !== undefined || opts.etcdTls || opts.etcdAuth || s.etcdCluster) {
        const c = s.etcdCluster;
        const members = opts.etcdMembers ?? c?.members.length ?? 1;
        await ensureEtcdCluster(s, { members, tls: opts.etcdTls ?? Boolean(c?.tls), auth: opts.etcdAuth ?? Boolean(c?.auth) }, () => this.#save(s));
      } else {
        await ensureEtcd(s, () => this.#save(s), { v2: s.flavor === 'fleet-v1' || opts.etcdV2 });
      }
      if (opts.docker) await ensureDocker(s, () => this.#save(s));
      await this.#save(s);

      const wanted: MachineRecord[] = [];
      for (let i = 1; i <= count; i++) {
        const name = machineName(i);
        const m = (s.machines[name] ??= this.#newMachine(s, i));
        const md = opts.metadata?.[name];
        if (md !== undefined) m.metadata = md;
        const boot = opts.boot?.[name];
        if (boot !== undefined) m.boot = { ...DEFAULT_BOOT, ...boot };
        wanted.push(m);
      }
      await this.#save(s);
      await this.#ensureMetadataFor(s, Object.values(s.machines));
      const warnings: string[] = [];
      const dockerUp = Boolean(s.docker && isAlive(s.docker.proc));
      for (const m of wanted) {
        if (machineRunning(m) && dockerUp && !m.docker) {
          warnings.push(`${m.name} was booted without docker; \`fleet-lab poweroff ${m.name}\` and \`poweron ${m.name}\` to give it the engine`);
        }
      }
      await inBatches(wanted, 4, async (m) => {
        if (!machineRunning(m)) await this.#boot(s, m);
      });
      if (s.fleet) {
        await inBatches(wanted, 4, async (m) => {
          try {
            await this.#runBootstrap(s, m);
          } catch (err) {
            warnings.push(`${m.name}: fleet not started: ${errorMessage(err)}`);
          }
        });
      }
      await this.#writeKnownHosts(s);
      return { env: fleetctlEnvironment(s), machines: Object.values(s.machines).map(info), warnings };
    });
  }

  /** Remove everything this cluster made. Safe to repeat, and after a partial `up`. */
  async down(): Promise<void> {
    requireRoot('down');
    await withLock(this.stateDir, async () => {
      let s: LabState | undefined;
      try {
        s = await loadState(this.stateDir);
      } catch (err) {
        log.warn('state file damaged; cleaning up by names', { err });
      }
      const failures: string[] = [];
      const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          failures.push(`${what}: ${errorMessage(err)}`);
        }
      };
      const machines = Object.values(s?.machines ?? {});
      await Promise.all(machines.map((m) => step(`power off ${m.name}`, () => powerOffMachine(this.name, m, 15_000))));
      await step('stop dockerd', () => stopDocker(s?.docker));
      await step('stop etcd', () => stopEtcd(s?.etcd));
      await step('stop etcd members', () => stopEtcdCluster(s?.etcdCluster));
      await step('stop the metadata service', () => stopMetadata(s?.metadataService));
      await step('remove cgroups', async () => {
        for (const cg of clusterCgroups(this.name)) await removeCgroupTree(cg);
      });
      let mounted: string[] = [];
      await step('unmount', async () => {
        mounted = await unmountUnder(this.stateDir);
      });
      for (const m of machines) await step(`remove network of ${m.name}`, () => deleteMachineNet(m.netns, m.veth));
      await step('remove network namespaces', async () => {
        for (const ns of await listNetns()) if (ns.startsWith(netnsPrefix(this.name))) await deleteNetns(ns);
      });
      await step('remove bridge', async () => {
        const bridge = s?.bridge ?? bridgeName(this.name);
        if (linkExists(bridge) && (await linkAlias(bridge)) === `fleet-lab:${this.stateDir}`) await deleteLink(bridge);
      });
      if (s) await step('release subnet', () => releaseSubnet(s.subnet, this.stateDir));
      if (mounted.length > 0) failures.push(`still mounted, so ${this.stateDir} is kept: ${mounted.join(', ')}`);
      else await step(`remove ${this.stateDir}`, () => rm(this.stateDir, { recursive: true, force: true }));
      if (failures.length > 0) throw new LabError(`down of cluster "${this.name}" left things behind:\n${failures.join('\n')}`);
    });
  }

  // --- inspection -------------------------------------------------------------------------------

  async state(): Promise<LabState | undefined> {
    return loadState(this.stateDir);
  }

  async machines(): Promise<MachineInfo[]> {
    const s = await loadState(this.stateDir);
    return Object.values(s?.machines ?? {})
      .sort((a, b) => a.index - b.index)
      .map(info);
  }

  async machine(name: string): Promise<MachineInfo> {
    return info(this.#machineOf(await this.#mustLoad(), name));
  }

  /** State of fleet.service on a running machine (`active/running`, `not-found`, ...), or `-`. */
  async fleetState(name: string): Promise<string> {
    const m = await this.machine(name);
    if (!m.running || !m.busAddress) return '-';
    try {
      const c = await connectSystemd(m.busAddress, { connectTimeoutMs: 3000, callTimeoutMs: 3000 });
      try {
        const st = await c.getUnitState(FLEET_UNIT);
        return st.loadState === 'loaded' ? `${st.activeState}/${st.subState}` : st.loadState;
      } finally {
        await c.close();
      }
    } catch (err) {
      return `? (${errorMessage(err)})`;
    }
  }

  async status(): Promise<LabStatus> {
    const s = await loadState(this.stateDir);
    if (!s) return { name: this.name, stateDir: this.stateDir, exists: false, fleet: false, machines: [], env: {} };
    return {
      name: s.name,
      stateDir: s.stateDir,
      exists: true,
      subnet: s.subnet,
      bridge: s.bridge,
      bridgeIp: s.bridgeIp,
      etcd: s.etcd && {
        url: s.etcd.clientUrl,
        loopbackUrl: s.etcd.loopbackUrl,
        pid: isAlive(s.etcd.proc) ? s.etcd.proc.pid : undefined,
        healthy: s.etcdCluster ? await etcdClusterHealthy(s.etcdCluster) : await etcdHealthy(s.etcd.clientUrl),
      },
      docker: s.docker && {
        socket: s.docker.socket,
        pid: isAlive(s.docker.proc) ? s.docker.proc.pid : undefined,
        running: isAlive(s.docker.proc),
        image: s.docker.image,
      },
      metadataService: s.metadataService && {
        url: s.metadataService.url,
        pid: isAlive(s.metadataService.proc) ? s.metadataService.proc.pid : undefined,
        running: isAlive(s.metadataService.proc),
      },
      fleet: s.fleet,
      machines: Object.values(s.machines)
        .sort((a, b) => a.index - b.index)
        .map(info),
      env: fleetctlEnvironment(s),
    };
  }

  /** FLEETCTL_* for fleetctl on the host: fleetd's TCP API on the first running machine, or etcd */
  async env(opts: EnvOptions = {}): Promise<Record<string, string>> {
    return fleetctlEnvironment(await this.#mustLoad(), opts);
  }

  // --- inside machines --------------------------------------------------------------------------

  /** The host command line that runs `argv` inside a running machine (nsenter into all its namespaces). */
  async execArgv(name: string, argv: readonly string[]): Promise<string[]> {
    const m = await this.machine(name);
    if (!m.running || m.initPid === undefined) throw new LabError(`${name} is powered off; \`fleet-lab poweron ${name}\` first`);
    if (argv.length === 0) throw new LabError('exec needs a command: fleet-lab exec MACHINE -- CMD [ARGS...]');
    return nsenterArgv(m.initPid, argv);
  }

  async exec(name: string, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    const [cmd, ...args] = await this.execArgv(name, argv);
    return run(cmd!, args, { env: MACHINE_ENV, input: opts.input, timeoutMs: opts.timeoutMs ?? 120_000 });
  }

  // --- faults -----------------------------------------------------------------------------------

  async stopFleet(name: string): Promise<void> {
    await this.#fleetJob(name, 'stop');
  }

  async startFleet(name: string): Promise<void> {
    await this.#fleetJob(name, 'start');
  }

  async poweroff(name: string): Promise<void> {
    await withLock(this.stateDir, async () => {
      const s = await this.#mustLoad();
      const m = this.#machineOf(s, name);
      await powerOffMachine(s.name, m);
      await this.#save(s);
    });
  }

  /** Boot a powered-off machine again: same disk, same machine-id, same address. */
  async poweron(name: string): Promise<MachineInfo> {
    return withLock(this.stateDir, async () => {
      const s = await this.#mustLoad();
      const m = this.#machineOf(s, name);
      if (!machineRunning(m)) {
        await this.#ensureMetadataFor(s, [m]);
        await this.#boot(s, m);
        if (s.fleet) await this.#runBootstrap(s, m);
      }
      return info(m);
    });
  }

  /** A new machine in the old one's place: fresh disk and machine-id, same name and address. */
  async replace(name: string): Promise<MachineInfo> {
    return withLock(this.stateDir, async () => {
      const s = await this.#mustLoad();
      const m = this.#machineOf(s, name);
      await powerOffMachine(s.name, m);
      const p = machinePaths(m.dir);
      const left = await unmountUnder(p.root);
      if (left.length > 0) throw new LabError(`${name}: cannot unmount ${left.join(', ')}`);
      await wipeLayers(p);
      m.machineId = newMachineId();
      await this.#save(s);
      await this.#ensureMetadataFor(s, [m]);
      await this.#boot(s, m);
      if (s.fleet) await this.#runBootstrap(s, m);
      return info(m);
    });
  }

  /** Cut the machine off the network (etcd and the other machines); `heal` restores it. */
  async cut(name: string): Promise<void> {
    await this.#setCut(name, true);
  }

  async heal(name: string): Promise<void> {
    await this.#setCut(name, false);
  }

  /** `up --etcd-members`: kill, restart, partition (SIGSTOP) or heal one etcd member (e1, e2, ...). */
  async etcdMember(name: string, fault: EtcdMemberFault): Promise<void> {
    await withLock(this.stateDir, async () => {
      const s = await this.#mustLoad();
      await etcdMemberFault(s, name, fault, () => this.#save(s));
    });
  }

  /** `up --etcd-members`: a new etcd member, empty, in the place of `name`; returns the new member's name. */
  async replaceEtcdMember(name: string): Promise<string> {
    return withLock(this.stateDir, async () => {
      const s = await this.#mustLoad();
      return replaceEtcdMember(s, name, () => this.#save(s));
    });
  }

  /** `up --etcd-members`: the name of the etcd member that leads now (undefined when none answers). */
  async etcdLeader(): Promise<string | undefined> {
    const c = (await this.#mustLoad()).etcdCluster;
    return c ? etcdLeader(c) : undefined;
  }

  // --- internals --------------------------------------------------------------------------------

  async #setCut(name: string, cut: boolean): Promise<void> {
    await withLock(this.stateDir, async () => {
      const s = await this.#mustLoad();
      const m = this.#machineOf(s, name);
      m.cut = cut;
      await this.#save(s);
      if (linkExists(m.veth)) await setLink(m.veth, !cut);
    });
  }

  async #fleetJob(name: string, action: 'start' | 'stop'): Promise<void> {
    const m = await this.machine(name);
    if (!m.running || !m.busAddress) throw new LabError(`${name} is powered off`);
    const c = await connectSystemd(m.busAddress);
    try {
      const job = await c.unitAction(action, FLEET_UNIT, { wait: true });
      if (job.result !== 'done') throw new LabError(`${name}: ${action} ${FLEET_UNIT} ended with "${job.result}"`);
    } finally {
      await c.close();
    }
  }

  /** `<state>/ssh/known_hosts`: every machine's address with its own host keys. */
  async #writeKnownHosts(s: LabState): Promise<void> {
    const lines: string[] = [];
    for (const m of Object.values(s.machines).sort((a, b) => a.index - b.index)) {
      lines.push(...(await knownHostsLines(machinePaths(m.dir).upper, m.ip)));
    }
    await writeKnownHosts(s.stateDir, lines);
  }

  async #loadOrCreate(): Promise<LabState> {
    const existing = await loadState(this.stateDir);
    if (existing) {
      if (existing.name !== this.name) {
        throw new LabError(`${this.stateDir} belongs to cluster "${existing.name}", not "${this.name}"`);
      }
      return existing;
    }
    const subnet = await reserveSubnet(this.name, this.stateDir);
    const s: LabState = {
      version: 1,
      name: this.name,
      stateDir: this.stateDir,
      projectDir: this.projectDir,
      subnet,
      bridge: bridgeName(this.name),
      bridgeIp: bridgeIp(subnet),
      fleet: true,
      machines: {},
    };
    await this.#save(s);
    return s;
  }

  #newMachine(s: LabState, index: number): MachineRecord {
    const name = machineName(index);
    return {
      name,
      index,
      ip: machineIp(s.subnet, index),
      machineId: newMachineId(),
      hostname: name,
      netns: netnsName(s.name, name),
      veth: vethName(s.subnet, name),
      dir: join(s.stateDir, 'machines', name),
      metadata: '',
      cut: false,
      docker: false,
    };
  }

  async #boot(s: LabState, m: MachineRecord): Promise<void> {
    const p = machinePaths(m.dir);
    await mountOverlay(p);
    await writeIdentity(p.root, { hostname: m.hostname, machineId: m.machineId });
    await ensureHostKeys(p.root, p.upper);
    await ensureMachineNet({ netns: m.netns, veth: m.veth, ip: m.ip, bridge: s.bridge, cut: m.cut });
    if (s.metadataService) await routeToMetadata(m.netns);
    const docker = s.docker && isAlive(s.docker.proc) ? s.docker : undefined;
    m.docker = docker !== undefined;
    const binds = docker ? dockerBinds(docker) : [];
    const drive = await this.#prepareBoot(s, m);
    if (drive) binds.push([drive, CONFIG_DRIVE_MOUNT, true]);
    const ctx: BootContext = { cluster: s.name, projectDir: s.projectDir, binds };
    await bootMachine(m, ctx, () => this.#save(s));
    await this.#save(s);
  }

  /** Start the metadata service (or restart it, if it died) when one of `machines` boots from it. */
  async #ensureMetadataFor(s: LabState, machines: readonly MachineRecord[]): Promise<void> {
    if (!machines.some((m) => m.boot?.from === 'metadata' || m.boot?.from === 'cmdline')) return;
    await ensureMetadata(s, () => this.#save(s));
    await this.#save(s);
  }

  /**
   * For a machine booted `from` a source: its user-data put there (metadata layout, config drive, or the
   * metadata service for the command line's URL) and, unless bare, the lab's image files (lab/boot.ts
   * imageFiles: coreos-cloudinit and the boot units from /opt/fleet). Returns the config drive's host directory.
   */
  async #prepareBoot(s: LabState, m: MachineRecord): Promise<string | undefined> {
    const from = m.boot?.from;
    if (!from || !s.etcd) return undefined;
    const bare = m.boot?.bare ?? false;
    const etcd = await labEtcdClient(s);
    const doc = labUserData({
      cluster: s.name,
      machine: m.name,
      etcdServers: etcd.servers,
      ...(etcd.client ? { etcdClient: etcd.client } : {}),
      metadata: m.metadata,
      agentTtl: s.agentTtl,
      fleetUnit: bare ? undefined : await readFile(join(s.projectDir, 'units', FLEET_UNIT), 'utf8'),
      ip: from === 'cmdline' ? m.ip : undefined,
      sshAuthorizedKeys: [await clusterPublicKey(s.stateDir, s.name, s.sshKey)],
    });
    await writeFile(join(m.dir, 'user-data'), doc);
    const facts = { name: m.name, ip: m.ip, hostname: m.hostname, machineId: m.machineId };
    const root = machinePaths(m.dir).root;
    if (!bare) {
      const unitsDir = join(s.projectDir, 'units', 'boot');
      const units: Record<string, string> = {};
      for (const f of await readdir(unitsDir)) units[f] = await readFile(join(unitsDir, f), 'utf8');
      for (const [path, [content, mode]] of Object.entries(imageFiles(from, units, { cloudinit: CLOUDINIT, bootTarget: BOOT_TARGET }))) {
        const host = join(root, path);
        await mkdir(dirname(host), { recursive: true });
        await rm(host, { force: true });
        if (content.startsWith('link:')) {
          await symlink(content.slice('link:'.length), host);
        } else {
          await writeFile(host, content);
          await chmod(host, mode);
        }
      }
    }
    if (from === 'configdrive') {
      const drive = join(m.dir, 'configdrive');
      await rm(drive, { recursive: true, force: true });
      for (const [path, content] of Object.entries(configDriveFiles(doc, facts))) {
        await mkdir(dirname(join(drive, path)), { recursive: true });
        await writeFile(join(drive, path), content);
      }
      return drive;
    }
    if (!s.metadataService) throw new LabError(`${m.name} boots from ${from} but the cluster has no metadata service; run \`fleet-lab up\` again`);
    await writeMetadataLayout(s.metadataService, m.ip, ec2Layout(doc, facts));
    return undefined;
  }

  async #runBootstrap(s: LabState, m: MachineRecord): Promise<void> {
    if (!machineRunning(m) || !m.init || !s.etcd) return;
    // a machine that boots from a source configures itself at boot; a bare one has nothing of ours to run
    if (m.boot?.from || m.boot?.bare) return;
    const pid = m.init.pid;
    const etcd = await labEtcdClient(s);
    const ctx: BootstrapContext = {
      cluster: s.name,
      machineDir: m.dir,
      exec: (argv, o) => {
        const [cmd, ...args] = nsenterArgv(pid, argv);
        return run(cmd!, args, { env: MACHINE_ENV, timeoutMs: o?.timeoutMs ?? 120_000 });
      },
      machine: { name: m.name, ip: m.ip, machineId: m.machineId, metadata: m.metadata },
      busAddress: systemBusAddressOf(m.init.pid),
      etcdServers: etcd.servers,
      ...(etcd.client ? { etcdClient: etcd.client } : {}),
      agentTtl: s.agentTtl,
      projectDir: s.projectDir,
      machineRoot: machinePaths(m.dir).root,
      sshAuthorizedKeys: [await clusterPublicKey(s.stateDir, s.name, s.sshKey)],
      ...machineFiles(machinePaths(m.dir).root),
    };
    if (s.flavor === 'fleet-v1') {
      await fleetV1Bootstrap(ctx);
    } else {
      await leaveFleetV1(ctx);
      await this.#bootstrap(ctx);
    }
  }

  #save(s: LabState): Promise<void> {
    const next = this.#saving.then(() => saveState(s));
    this.#saving = next.catch(() => undefined);
    return next;
  }

  async #mustLoad(): Promise<LabState> {
    const s = await loadState(this.stateDir);
    if (!s) throw new LabError(`no cluster "${this.name}" at ${this.stateDir}; run \`fleet-lab up\` first`);
    return s;
  }

  #machineOf(s: LabState, name: string): MachineRecord {
    const m = s.machines[name];
    if (!m) {
      const known = Object.keys(s.machines).join(', ') || 'none';
      throw new LabError(`cluster "${s.name}" has no machine ${JSON.stringify(name)} (machines: ${known})`);
    }
    return m;
  }
}

function info(m: MachineRecord): MachineInfo {
  const running = machineRunning(m);
  return {
    name: m.name,
    hostname: m.hostname,
    machineId: m.machineId,
    ip: m.ip,
    metadata: m.metadata,
    running,
    initPid: running ? m.init?.pid : undefined,
    busAddress: running && m.init ? systemBusAddressOf(m.init.pid) : undefined,
    cut: m.cut,
    netns: m.netns,
    veth: m.veth,
    root: machinePaths(m.dir).root,
    ...(m.boot ? { boot: m.boot } : {}),
  };
}

async function linkAlias(name: string): Promise<string> {
  try {
    return (await readFile(`/sys/class/net/${name}/ifalias`, 'utf8')).trim();
  } catch {
    return '';
  }
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  const errors: unknown[] = [];
  for (let i = 0; i < items.length; i += size) {
    const results = await Promise.allSettled(items.slice(i, i + size).map(fn));
    for (const r of results) if (r.status === 'rejected') errors.push(r.reason);
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new LabError(errors.map((e) => errorMessage(e)).join('\n'));
}

