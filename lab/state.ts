/**
 * The record of one cluster: everything `up` created, written before it is created, so `down`
 * can undo a partial `up`. Kept as <state dir>/state.json, replaced atomically.
 */
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { isAlive, record, sleep, type ProcRecord } from './proc.js';
import type { MachineBoot } from './boot.js';
import type { LabPki } from './pki.js';
import { errorMessage } from '../lib/errors.js';

export interface MachineRecord {
  readonly name: string;
  readonly index: number;
  readonly ip: string;
  machineId: string;
  readonly hostname: string;
  readonly netns: string;
  readonly veth: string;
  /** <state dir>/machines/<name>: upper, work, root (the overlay mount point), console.log */
  readonly dir: string;
  /** `k=v,k2=v2` for fleet.conf */
  metadata: string;
  nspawn?: ProcRecord;
  /** the machine's systemd (PID 1 inside) */
  init?: ProcRecord;
  /** its network is cut off (host side veth down) */
  cut: boolean;
  /** booted with the docker socket and client bound in */
  docker: boolean;
  /** how it boots (bare, user-data source, init arguments); absent: the lab's default */
  boot?: MachineBoot;
}

export interface EtcdRecord {
  proc?: ProcRecord;
  readonly dataDir: string;
  readonly log: string;
  /** on the bridge: what machines use */
  readonly clientUrl: string;
  /** on the cluster's own loopback address */
  readonly loopbackUrl: string;
  readonly peerUrl: string;
  /** started with --enable-v2=true (the fleet-v1 flavor needs etcd's v2 API) */
  v2?: boolean;
}

/** One member of an `up --etcd-members` etcd (lab/etcd-cluster.ts). */
export interface EtcdMemberRecord {
  /** etcd member name: e<slot>, or e<slot>r<n> after the n-th replacement */
  name: string;
  /** 1-based: fixes the ports */
  readonly slot: number;
  proc?: ProcRecord;
  dataDir: string;
  readonly log: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** SIGSTOPped by the `partition` fault, until `heal` */
  paused?: boolean;
  replaced?: number;
}

/** An `up --etcd-members` etcd (lab/etcd-cluster.ts). */
export interface EtcdClusterRecord {
  members: EtcdMemberRecord[];
  readonly token: string;
  readonly tls?: LabPki;
  readonly auth?: { readonly rootPassword: string; readonly username: string; readonly password: string };
  authEnabled?: boolean;
}

export interface DockerRecord {
  proc?: ProcRecord;
  /** the containerd dockerd supervises, so `down` can stop it if dockerd dies first */
  containerd?: ProcRecord;
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pidfile: string;
  readonly log: string;
  /** the docker client binary bound into machines */
  readonly client: string;
  readonly image: string;
}

/** The cluster's EC2-style metadata service (lab/metadata.ts), started when a machine boots from it. */
export interface MetadataRecord {
  proc?: ProcRecord;
  /** the layouts (<machine ip>.json), the server's log and its ready mark */
  readonly dir: string;
  readonly log: string;
  /** its own network namespace, with a veth into the bridge */
  readonly netns: string;
  readonly veth: string;
  /** as machines reach it */
  readonly url: string;
}

/** Which fleetd a lab runs in its machines: ours, or real fleet v1.0.0 (lab/fleet-v1.ts). */
export type FleetFlavor = 'ours' | 'fleet-v1';

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly stateDir: string;
  readonly projectDir: string;
  readonly subnet: number;
  readonly bridge: string;
  readonly bridgeIp: string;
  /** configure and start fleet.service on machines */
  fleet: boolean;
  agentTtl?: string;
  /** which fleetd runs as fleet.service; absent: ours */
  flavor?: FleetFlavor;
  /** the public key file machines authorize (`up --ssh-key`); absent: the cluster's own key (lab/ssh.ts) */
  sshKey?: string;
  etcd?: EtcdRecord;
  /** `up --etcd-members N`: the members (lab/etcd-cluster.ts); `etcd` then names the first */
  etcdCluster?: EtcdClusterRecord;
  docker?: DockerRecord;
  metadataService?: MetadataRecord;
  machines: Record<string, MachineRecord>;
}

export const stateFile = (stateDir: string): string => join(stateDir, 'state.json');

export async function loadState(stateDir: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(stateDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const s = JSON.parse(text) as LabState;
    if (s.version !== 1 || typeof s.subnet !== 'number' || typeof s.machines !== 'object') throw new Error('bad shape');
    return s;
  } catch (err) {
    throw new LabError(`${stateFile(stateDir)} is damaged (${errorMessage(err)}); \`fleet-lab down\` still cleans up`);
  }
}

export async function saveState(s: LabState): Promise<void> {
  await mkdir(s.stateDir, { recursive: true });
  const tmp = `${stateFile(s.stateDir)}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(s, null, 2) + '\n');
  await rename(tmp, stateFile(s.stateDir));
}

/**
 * One fleet-lab operation at a time per cluster (a lock file holding the owner's pid and start time).
 * A lock whose owner is gone is taken over.
 */
export async function withLock<T>(stateDir: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  await mkdir(stateDir, { recursive: true });
  const lock = join(stateDir, 'lock');
  const me = record(process.pid);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: ProcRecord | undefined;
    try {
      owner = JSON.parse(await readFile(lock, 'utf8')) as ProcRecord;
    } catch {
      owner = undefined;
    }
    if (owner && owner.pid === process.pid) {
      throw new LabError(`${lock}: this process already holds the lock (nested fleet-lab operation)`);
    }
    const stale = owner ? !isAlive(owner) : await olderThan(lock, 5000);
    if (stale) {
      await rm(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new LabError(`${lock}: another fleet-lab (pid ${owner?.pid ?? '?'}) is working on this cluster; try again later`);
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function olderThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ms;
  } catch {
    return true;
  }
}
