/**
 * An API server on a real etcd for contract tests, plus what the engine and the agents would write (machine
 * presence, schedule, unit states) done through the real registry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { startEtcd, type EtcdInstance } from '../harness/etcd.js';
import type { MachinePresence, Registry, UnitState } from '../../lib/registry/index.js';
import { TestRegistry } from '../harness/registry.js';
import { loadUnit, parseUnitFile } from '../../lib/unit/index.js';
import { defaultConfig, type FleetConfig } from '../../fleetd/config.js';
import { VERSION } from '../../lib/version.js';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../../fleetd/api/server.js';

export const M1 = '113f16a7c2f84b5f8d2e1f6a3b4c5d6e';
export const M2 = '2a9b3c4d5e6f708192a3b4c5d6e7f809';
export const M3 = '3cafe000111122223333444455556666';

export interface Fixture {
  etcd: EtcdInstance;
  registry: TestRegistry;
  server: ApiServer;
  dir: string;
  socket: string;
  /** 127.0.0.1:<port> of the TCP listener, when configured. */
  tcp?: string;
  config: FleetConfig;
}

let prefixCounter = 0;

export async function startApi(
  t: Test,
  opts: {
    etcd?: EtcdInstance;
    prefix?: string;
    config?: Partial<FleetConfig>;
    machineId?: string;
    server?: Partial<ApiServerOptions>;
    tcp?: boolean;
  } = {},
): Promise<Fixture> {
  const etcd = opts.etcd ?? (await startEtcd(t));
  const prefix = opts.prefix ?? `/fleet-api-test-${process.pid}-${++prefixCounter}/`;
  const registry = new TestRegistry(etcd.newClient(), prefix);
  t.teardown(() => registry.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-api-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'fleet.sock');
  const config: FleetConfig = {
    ...defaultConfig(),
    apiSocket: socket,
    apiListen: opts.tcp ? '127.0.0.1:0' : '',
    ...opts.config,
  };
  const server = createApiServer({
    registry,
    config,
    machineId: opts.machineId ?? M1,
    version: '9.9.9-test',
    env: {},
    ...opts.server,
  });
  await server.listen();
  t.teardown(() => server.close());
  const tcp = server.listeners.find((l) => l.kind === 'tcp')?.address;
  return { etcd, registry, server, dir, socket, config, ...(tcp ? { tcp } : {}) };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
}

export interface RequestOpts {
  body?: unknown;
  /** Raw body text (not JSON-encoded). */
  raw?: string;
  headers?: Record<string, string>;
  /** Talk to this TCP address instead of the unix socket. */
  tcp?: string;
  https?: https.RequestOptions;
}

export function request(f: Pick<Fixture, 'socket'>, method: string, p: string, o: RequestOpts = {}): Promise<Answer> {
  const payload = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const headers: Record<string, string> = { ...o.headers };
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type') && o.raw === undefined) {
    headers['Content-Type'] = 'application/json';
  }
  return new Promise((resolve, reject) => {
    const common = { method, path: p, headers, agent: false as const };
    let req: http.ClientRequest;
    if (o.https) {
      const [host, port] = o.tcp!.split(':');
      req = https.request({ ...common, host, port: Number(port), ...o.https });
    } else if (o.tcp) {
      const [host, port] = o.tcp.split(':');
      req = http.request({ ...common, host, port: Number(port) });
    } else {
      req = http.request({ ...common, socketPath: f.socket });
    }
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export function unitOptions(text: string): { section: string; name: string; value: string }[] {
  return parseUnitFile(text).options.map((o) => ({ section: o.section, name: o.name, value: o.value }));
}

export const HELLO = '[Unit]\nDescription=Hello World\n\n[Service]\nExecStart=/bin/sh -c "while true; do echo hi; sleep 1; done"\n';

/** Creates a unit through the registry, as a client would. */
export async function submitUnit(reg: Registry, name: string, text: string, desiredState: 'inactive' | 'loaded' | 'launched' = 'inactive'): Promise<string> {
  const u = loadUnit(name, text);
  await reg.createUnit({ name, text: u.text, hash: u.hash, desiredState, global: u.requirements.global });
  return u.hash;
}

export async function addMachine(
  t: Test,
  reg: Registry,
  id: string,
  publicIP: string,
  metadata: Record<string, string> = {},
  version: string = VERSION,
): Promise<MachinePresence> {
  const p = await reg.registerMachine({ id, publicIP, metadata, version, disableEngine: false }, 30);
  t.teardown(() => p.close({ revoke: true }).catch(() => undefined));
  return p;
}

/** Places a unit on a machine as the engine would (fenced by a key of our own). */
export async function scheduleUnit(reg: TestRegistry, name: string, machineId: string): Promise<void> {
  const fence = await reg.claimFence(`${reg.prefix}test-leader`);
  const u = await reg.getUnit(name);
  if (!u) throw new Error(`no unit ${name}`);
  const desiredState = u.desiredState === 'inactive' ? 'loaded' : u.desiredState;
  const [r] = await reg.applySchedule([{ type: 'place', name, machineId, hash: u.hash, desiredState }], fence);
  if (!r?.applied) throw new Error(`placing ${name} on ${machineId} was not applied`);
}

/** Publishes a unit state as the agent on that machine would. */
export async function publishState(
  reg: Registry,
  presence: MachinePresence,
  name: string,
  s: Partial<Pick<UnitState, 'loadState' | 'activeState' | 'subState' | 'agentState' | 'hash'>> = {},
): Promise<void> {
  const u = await reg.getUnit(name);
  await reg.publishUnitState(presence, {
    name,
    machineId: presence.machineId,
    hash: s.hash ?? u?.hash ?? '0'.repeat(40),
    loadState: s.loadState ?? 'loaded',
    activeState: s.activeState ?? 'active',
    subState: s.subState ?? 'running',
    agentState: s.agentState ?? 'launched',
  });
}

/**
 * Serves the API from a child process (activation-child.ts) on `listeners` handed over systemd-style
 * (LISTEN_FDS, fds from 3), then closes them here without unlinking a unix socket the child serves. Resolves with
 * the child and the listeners it reported; the child is killed at teardown.
 */
export async function startActivated(
  t: Test,
  listeners: net.Server[],
  env: Record<string, string>,
): Promise<{ proc: ChildProcess; reported: unknown }> {
  const fdOf = (s: net.Server): number => (s as unknown as { _handle: { fd: number } })._handle.fd;
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'activation-child.js');
  const proc = spawn('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=${listeners.length} exec "${process.execPath}" "${child}"`], {
    stdio: ['ignore', 'pipe', 'inherit', ...listeners.map(fdOf)],
    env: { ...process.env, ...env },
  });
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    proc.on('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  for (const l of listeners) {
    // Stop accepting here without letting libuv unlink a socket path the child serves.
    const a = l.address();
    if (typeof a === 'string') renameSync(a, `${a}.keep`);
    await new Promise((r) => l.close(r));
    if (typeof a === 'string') renameSync(`${a}.keep`, a);
  }
  return { proc, reported: JSON.parse(line) };
}
