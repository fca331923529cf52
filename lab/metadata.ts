/**
 * The cluster's metadata service (lab/metadata-server.ts), started on demand by `up` and recorded like etcd and
 * dockerd. It runs in a network namespace of its own with 169.254.169.254 and a veth into the bridge, so every
 * lab has the real EC2 address at port 80 and several labs can run at once (one host socket could serve only
 * one of them). Machines reach it through a route via host0; it answers by their source address.
 */
import { mkdir, rm, writeFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { METADATA_IP, type MetadataLayout } from './boot.js';
import { LabError } from './errors.js';
import { tail } from './logs.js';
import { netnsPrefix, subnetCidr, vethName } from './names.js';
import { deleteNetns, linkExists, netnsExists } from './net.js';
import { isAlive, sleep, spawnDetached, stopProcess } from './proc.js';
import { run, runOk } from './run.js';
import type { LabState, MetadataRecord } from './state.js';

const SERVER = fileURLToPath(new URL('./metadata-server.js', import.meta.url));

export function metadataRecord(s: LabState): MetadataRecord {
  const dir = join(s.stateDir, 'metadata');
  return { dir, log: join(dir, 'server.log'), netns: `${netnsPrefix(s.name)}md`, veth: vethName(s.subnet, 'md'), url: `http://${METADATA_IP}/` };
}

/** The service's namespace: `md0` with 169.254.169.254/32 in the bridge, a route back to the machines. */
async function ensureMetadataNet(rec: MetadataRecord, bridge: string, subnet: number): Promise<void> {
  if (!netnsExists(rec.netns)) await runOk('ip', ['netns', 'add', rec.netns]);
  const inner = await run('ip', ['-n', rec.netns, 'link', 'show', 'md0']);
  if (!linkExists(rec.veth) || inner.code !== 0) {
    if (linkExists(rec.veth)) await runOk('ip', ['link', 'del', rec.veth]);
    await run('ip', ['-n', rec.netns, 'link', 'del', 'md0']);
    await runOk('ip', ['link', 'add', rec.veth, 'type', 'veth', 'peer', 'name', 'md0', 'netns', rec.netns]);
  }
  await runOk('ip', ['link', 'set', rec.veth, 'master', bridge]);
  await runOk('ip', ['link', 'set', rec.veth, 'up']);
  await runOk('ip', ['-n', rec.netns, 'addr', 'replace', `${METADATA_IP}/32`, 'dev', 'md0']);
  await runOk('ip', ['-n', rec.netns, 'link', 'set', 'md0', 'up']);
  await runOk('ip', ['-n', rec.netns, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', rec.netns, 'route', 'replace', subnetCidr(subnet), 'dev', 'md0']);
}

/** Start the service unless it runs; `persist` records its pid before waiting for it to listen. */
export async function ensureMetadata(s: LabState, persist: () => Promise<void>): Promise<MetadataRecord> {
  const rec: MetadataRecord = s.metadataService ?? metadataRecord(s);
  s.metadataService = rec;
  await mkdir(rec.dir, { recursive: true });
  await ensureMetadataNet(rec, s.bridge, s.subnet);
  if (isAlive(rec.proc)) return rec;
  const ready = join(rec.dir, 'ready');
  await rm(ready, { force: true });
  rec.proc = spawnDetached('ip', ['netns', 'exec', rec.netns, process.execPath, SERVER, rec.dir, METADATA_IP, '80'], {
    log: rec.log,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  await persist();
  const deadline = Date.now() + 30_000;
  while (!existsSync(ready)) {
    if (!isAlive(rec.proc)) throw new LabError(`the metadata service exited during start; ${rec.log}:\n${await tail(rec.log)}`);
    if (Date.now() > deadline) throw new LabError(`the metadata service did not listen within 30 s; see ${rec.log}`);
    await sleep(50);
  }
  return rec;
}

/** What the service answers the machine at `ip` (written atomically). */
export async function writeMetadataLayout(rec: MetadataRecord, ip: string, layout: MetadataLayout): Promise<void> {
  await mkdir(rec.dir, { recursive: true });
  const file = join(rec.dir, `${ip}.json`);
  await writeFile(`${file}.tmp`, JSON.stringify(layout, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}

export async function stopMetadata(rec: MetadataRecord | undefined): Promise<void> {
  if (!rec) return;
  await stopProcess(rec.proc, 'SIGTERM', 10_000);
  await deleteNetns(rec.netns);
}

/** A machine's route to the service (machines have no default route). */
export async function routeToMetadata(netns: string): Promise<void> {
  await runOk('ip', ['-n', netns, 'route', 'replace', `${METADATA_IP}/32`, 'dev', 'host0']);
}
