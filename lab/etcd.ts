/** The cluster's etcd: one member on the bridge address (what machines use) and a loopback address. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, loopbackIp } from './names.js';
import { isAlive, sleep, spawnDetached, stopProcess } from './proc.js';
import type { EtcdRecord, LabState } from './state.js';
import { tail } from './logs.js';

export const ETCD_BIN = process.env.FLEET_LAB_ETCD ?? '/usr/bin/etcd';

export function etcdRecord(s: LabState): EtcdRecord {
  return {
    dataDir: join(s.stateDir, 'etcd', 'data'),
    log: join(s.stateDir, 'etcd', 'etcd.log'),
    clientUrl: `http://${s.bridgeIp}:${ETCD_CLIENT_PORT}`,
    loopbackUrl: `http://${loopbackIp(s.subnet)}:${ETCD_CLIENT_PORT}`,
    peerUrl: `http://${s.bridgeIp}:${ETCD_PEER_PORT}`,
  };
}

export async function etcdHealthy(url: string, timeoutMs = 1000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && (body.health === 'true' || body.health === true);
  } catch {
    return false;
  }
}

/**
 * Start etcd unless it runs; `persist` records the pid before waiting for it to be healthy. With `v2` it serves
 * etcd's v2 API too (--enable-v2=true); a running etcd without it is restarted with it (same data).
 */
export async function ensureEtcd(s: LabState, persist: () => Promise<void>, opts: { readonly v2?: boolean } = {}): Promise<EtcdRecord> {
  const rec: EtcdRecord = s.etcd ?? etcdRecord(s);
  s.etcd = rec;
  const v2 = Boolean(opts.v2 || rec.v2);
  if (isAlive(rec.proc) && (await etcdHealthy(rec.clientUrl)) && Boolean(rec.v2) === v2) return rec;
  await stopProcess(rec.proc, 'SIGTERM', 10_000);
  rec.v2 = v2;
  await mkdir(rec.dataDir, { recursive: true, mode: 0o700 });
  const name = `lab-${s.name}`;
  rec.proc = spawnDetached(
    ETCD_BIN,
    [
      `--name=${name}`,
      `--data-dir=${rec.dataDir}`,
      `--listen-client-urls=${rec.clientUrl},${rec.loopbackUrl}`,
      `--advertise-client-urls=${rec.clientUrl}`,
      `--listen-peer-urls=${rec.peerUrl}`,
      `--initial-advertise-peer-urls=${rec.peerUrl}`,
      `--initial-cluster=${name}=${rec.peerUrl}`,
      `--initial-cluster-token=fleet-lab-${s.name}`,
      '--initial-cluster-state=new',
      ...(v2 ? ['--enable-v2=true'] : []),
    ],
    { log: rec.log, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  await persist();
  const deadline = Date.now() + 30_000;
  while (!(await etcdHealthy(rec.clientUrl))) {
    if (!isAlive(rec.proc)) throw new LabError(`etcd exited during start; see ${rec.log}:\n${await tail(rec.log)}`);
    if (Date.now() > deadline) throw new LabError(`etcd at ${rec.clientUrl} not healthy after 30 s; see ${rec.log}`);
    await sleep(100);
  }
  return rec;
}

export async function stopEtcd(rec: EtcdRecord | undefined): Promise<void> {
  await stopProcess(rec?.proc, 'SIGTERM', 10_000);
}
