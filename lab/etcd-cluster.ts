/**
 * A lab cluster's etcd as a real cluster (`fleet-lab up --etcd-members 3 [--etcd-tls] [--etcd-auth]`): N members
 * on the bridge address, each on its own client/peer port pair (member i: 2379+10(i-1) / 2380+10(i-1)). All on
 * the host, not one network namespace each: the faults the suite needs (kill, SIGSTOP partition, restart,
 * replace) act on the member's process, and machines reach every member through the bridge as before.
 * With TLS, clients must present a certificate of the lab's throwaway CA (lab/pki.ts); peers talk plain HTTP.
 * With auth, there is a root user and a `fleet` user whose role may read and write fleet's key prefix only.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { DEFAULT_PREFIX, openEtcd, type EtcdOptions } from '../lib/registry/index.js';
import { errorMessage } from '../lib/errors.js';
import { LabError } from './errors.js';
import { ETCD_BIN, etcdHealthy } from './etcd.js';
import { tail } from './logs.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT } from './names.js';
import { clientPem, ensurePki, type ClientPem } from './pki.js';
import { isAlive, signal, sleep, spawnDetached, stopProcess } from './proc.js';
import type { EtcdClusterRecord, EtcdMemberRecord, EtcdRecord, LabState } from './state.js';

export type { EtcdClusterRecord, EtcdMemberRecord };

export interface EtcdClusterOptions {
  readonly members: number;
  readonly tls?: boolean;
  readonly auth?: boolean;
}

/** What fleetd on a lab machine needs to reach the etcd cluster besides etcd_servers. */
export interface LabEtcdClient {
  readonly tls?: ClientPem;
  readonly auth?: { readonly username: string; readonly password: string };
}

const MAX_MEMBERS = 5;

function memberRecord(s: LabState, slot: number, scheme: string, name = `e${slot}`): EtcdMemberRecord {
  const dir = join(s.stateDir, 'etcd', name);
  return {
    name,
    slot,
    dataDir: join(dir, 'data'),
    log: join(dir, 'etcd.log'),
    clientUrl: `${scheme}://${s.bridgeIp}:${ETCD_CLIENT_PORT + 10 * (slot - 1)}`,
    peerUrl: `http://${s.bridgeIp}:${ETCD_PEER_PORT + 10 * (slot - 1)}`,
  };
}

/** Client options for a host-side client of the cluster: as root (to administer it) or as fleet's user. */
export function etcdClusterOptions(c: EtcdClusterRecord, opts: { root?: boolean; endpoints?: readonly string[] } = {}): EtcdOptions {
  return {
    endpoints: opts.endpoints ?? c.members.map((m) => m.clientUrl),
    ...(c.tls ? { tls: { ca: c.tls.caFile, cert: c.tls.clientCert, key: c.tls.clientKey } } : {}),
    ...(c.auth && c.authEnabled
      ? { auth: opts.root ? { username: 'root', password: c.auth.rootPassword } : { username: c.auth.username, password: c.auth.password } }
      : {}),
  };
}

async function healthy(c: EtcdClusterRecord, m: EtcdMemberRecord): Promise<boolean> {
  if (!c.tls) return etcdHealthy(m.clientUrl);
  const [ca, cert, key] = await Promise.all([readFile(c.tls.caFile), readFile(c.tls.clientCert), readFile(c.tls.clientKey)]);
  return new Promise((resolve) => {
    const req = https.get(`${m.clientUrl}/health`, { ca, cert, key, agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && /"health"\s*:\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function initialCluster(members: readonly EtcdMemberRecord[]): string {
  return members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
}

async function launch(c: EtcdClusterRecord, m: EtcdMemberRecord, state: 'new' | 'existing', cluster: string): Promise<void> {
  await mkdir(m.dataDir, { recursive: true, mode: 0o700 });
  const tls = c.tls
    ? [`--cert-file=${c.tls.serverCert}`, `--key-file=${c.tls.serverKey}`, '--client-cert-auth', `--trusted-ca-file=${c.tls.caFile}`]
    : [];
  m.proc = spawnDetached(
    ETCD_BIN,
    [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${cluster}`,
      `--initial-cluster-token=${c.token}`,
      `--initial-cluster-state=${state}`,
      ...tls,
    ],
    { log: m.log, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  m.paused = false;
}

async function waitHealthy(c: EtcdClusterRecord, members: readonly EtcdMemberRecord[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const m of members) {
    while (!(await healthy(c, m))) {
      if (!isAlive(m.proc)) throw new LabError(`etcd member ${m.name} exited during start; see ${m.log}:\n${await tail(m.log)}`);
      if (Date.now() > deadline) throw new LabError(`etcd member ${m.name} at ${m.clientUrl} not healthy after ${timeoutMs / 1000} s; see ${m.log}`);
      await sleep(100);
    }
  }
}

async function withClient<T>(c: EtcdClusterRecord, root: boolean, fn: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = openEtcd({ ...etcdClusterOptions(c, { root }), requestTimeoutMs: 5000 });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Root user, `fleet` role (read/write on fleet's prefix) and user, then auth on. Once. */
async function enableAuth(c: EtcdClusterRecord, persist: () => Promise<void>): Promise<void> {
  if (!c.auth || c.authEnabled) return;
  const auth = c.auth;
  await withClient(c, false, async (client) => {
    await client.user('root').create(auth.rootPassword);
    await client.user('root').addRole('root');
    const role = client.role('fleet');
    await role.create();
    await role.grant({ permission: 'Readwrite', range: client.range({ prefix: DEFAULT_PREFIX }) });
    await client.user(auth.username).create(auth.password);
    await client.user(auth.username).addRole('fleet');
    await client.auth.authEnable({});
  });
  c.authEnabled = true;
  await persist();
}

/**
 * Starts the members unless they run (restarting a dead one on its data), waits until all are healthy, and
 * sets up auth. Also sets s.etcd to the first member, so the rest of the lab (status, `env --etcd`) has one URL.
 */
export async function ensureEtcdCluster(s: LabState, opts: EtcdClusterOptions, persist: () => Promise<void>): Promise<EtcdClusterRecord> {
  if (!Number.isInteger(opts.members) || opts.members < 1 || opts.members > MAX_MEMBERS) {
    throw new LabError(`--etcd-members must be 1..${MAX_MEMBERS}, not ${opts.members}`);
  }
  let c = s.etcdCluster;
  if (!c) {
    const tls = opts.tls ? await ensurePki(s.stateDir, [s.bridgeIp]) : undefined;
    const scheme = tls ? 'https' : 'http';
    const pw = (): string => randomBytes(12).toString('hex');
    c = {
      members: Array.from({ length: opts.members }, (_, i) => memberRecord(s, i + 1, scheme)),
      token: `fleet-lab-${s.name}`,
      ...(tls ? { tls } : {}),
      ...(opts.auth ? { auth: { rootPassword: pw(), username: 'fleet', password: pw() } } : {}),
    };
    s.etcdCluster = c;
  } else if (c.members.length !== opts.members || Boolean(c.tls) !== Boolean(opts.tls) || Boolean(c.auth) !== Boolean(opts.auth)) {
    throw new LabError('the cluster\'s etcd was made with other --etcd-members/--etcd-tls/--etcd-auth; `fleet-lab down` first');
  }
  const first = c.members[0]!;
  s.etcd = { dataDir: first.dataDir, log: first.log, clientUrl: first.clientUrl, loopbackUrl: first.clientUrl, peerUrl: first.peerUrl } satisfies EtcdRecord;
  const cluster = initialCluster(c.members);
  for (const m of c.members) {
    if (isAlive(m.proc)) continue;
    await launch(c, m, 'new', cluster);
  }
  await persist();
  await waitHealthy(c, c.members);
  await enableAuth(c, persist);
  return c;
}

/** Whether a majority of the members answer /health (what `fleet-lab status` shows for an etcd cluster). */
export async function etcdClusterHealthy(c: EtcdClusterRecord): Promise<boolean> {
  const up = await Promise.all(c.members.map((m) => (m.paused ? Promise.resolve(false) : healthy(c, m))));
  return up.filter(Boolean).length > c.members.length / 2;
}

export async function stopEtcdCluster(c: EtcdClusterRecord | undefined): Promise<void> {
  for (const m of c?.members ?? []) {
    if (m.proc && isAlive(m.proc)) signal(m.proc, 'SIGCONT');
  }
  await Promise.all((c?.members ?? []).map((m) => stopProcess(m.proc, 'SIGTERM', 10_000)));
}

/** etcd_servers and the client files/credentials for fleetd on the lab's machines. */
export async function labEtcdClient(s: LabState): Promise<{ servers: string[]; client?: LabEtcdClient }> {
  const c = s.etcdCluster;
  if (!c) return { servers: s.etcd ? [s.etcd.clientUrl] : [] };
  return {
    servers: c.members.map((m) => m.clientUrl),
    client: {
      ...(c.tls ? { tls: await clientPem(c.tls) } : {}),
      ...(c.auth ? { auth: { username: c.auth.username, password: c.auth.password } } : {}),
    },
  };
}

function memberOf(c: EtcdClusterRecord | undefined, name: string): EtcdMemberRecord {
  const m = c?.members.find((x) => x.name === name || `e${x.slot}` === name);
  if (!c || !m) throw new LabError(`no etcd member ${JSON.stringify(name)} (members: ${c?.members.map((x) => x.name).join(', ') ?? 'none: not an --etcd-members cluster'})`);
  return m;
}

/** The member that leads now, by asking each live member; undefined when none knows. */
export async function etcdLeader(c: EtcdClusterRecord): Promise<string | undefined> {
  for (const m of c.members) {
    if (!isAlive(m.proc) || m.paused) continue;
    try {
      const name = await withClient({ ...c, members: [m] }, true, async (client) => {
        const st = await client.maintenance.status();
        const list = await client.cluster.memberList({});
        return list.members.find((x) => x.ID === st.leader)?.name;
      });
      if (name) return name;
    } catch {
      // try the next member
    }
  }
  return undefined;
}

export type EtcdMemberFault = 'kill' | 'restart' | 'partition' | 'heal';

/**
 * kill: SIGKILL. restart: start a killed member again on its data (or SIGTERM and start a live one). partition:
 * SIGSTOP, so the member stops answering peers and clients without closing connections; heal: SIGCONT.
 */
export async function etcdMemberFault(s: LabState, name: string, fault: EtcdMemberFault, persist: () => Promise<void>): Promise<void> {
  const c = s.etcdCluster;
  const m = memberOf(c, name);
  if (!c) return;
  switch (fault) {
    case 'kill':
      if (m.proc && isAlive(m.proc)) {
        signal(m.proc, 'SIGKILL');
        await stopProcess(m.proc, 'SIGKILL', 5000);
      }
      return persist();
    case 'partition':
      if (m.proc && isAlive(m.proc)) signal(m.proc, 'SIGSTOP');
      m.paused = true;
      return persist();
    case 'heal':
      if (m.proc && isAlive(m.proc)) signal(m.proc, 'SIGCONT');
      m.paused = false;
      return persist();
    case 'restart':
      if (m.proc && isAlive(m.proc)) {
        signal(m.proc, 'SIGCONT');
        await stopProcess(m.proc, 'SIGTERM', 10_000);
      }
      await launch(c, m, 'new', initialCluster(c.members));
      await persist();
      return waitHealthy(c, [m]);
  }
}

/**
 * A member replaced by a new one: the old one is stopped and removed from the cluster (`member remove`), its
 * data wiped, and a new member (new name, same ports, empty data dir) added (`member add`) and started with
 * --initial-cluster-state=existing; it catches up from the others.
 */
export async function replaceEtcdMember(s: LabState, name: string, persist: () => Promise<void>): Promise<string> {
  const c = s.etcdCluster;
  const m = memberOf(c, name);
  if (!c) throw new LabError('not an --etcd-members cluster');
  if (m.proc && isAlive(m.proc)) signal(m.proc, 'SIGCONT');
  await stopProcess(m.proc, 'SIGTERM', 10_000);
  const others = c.members.filter((x) => x !== m);
  const opts = { root: true, endpoints: others.map((x) => x.clientUrl) };
  const client = openEtcd({ ...etcdClusterOptions(c, opts), requestTimeoutMs: 5000 });
  try {
    const list = await client.cluster.memberList({});
    const old = list.members.find((x) => x.name === m.name || x.peerURLs.includes(m.peerUrl));
    if (old) await client.cluster.memberRemove({ ID: old.ID });
    await rm(join(s.stateDir, 'etcd', m.name), { recursive: true, force: true });
    const n = (m.replaced ?? 0) + 1;
    const next = memberRecord(s, m.slot, c.tls ? 'https' : 'http', `e${m.slot}r${n}`);
    next.replaced = n;
    await client.cluster.memberAdd({ peerURLs: [next.peerUrl] });
    c.members = c.members.map((x) => (x === m ? next : x));
    await launch(c, next, 'existing', initialCluster(c.members));
    await persist();
    await waitHealthy(c, [next], 60_000);
    return next.name;
  } catch (err) {
    throw new LabError(`replacing etcd member ${m.name}: ${errorMessage(err)}`);
  } finally {
    client.close();
  }
}
