/**
 * A real etcd for tests: /usr/bin/etcd on free loopback ports with a throw-away data dir. Every instance is
 * stopped by t.teardown, on process exit, on SIGINT/SIGTERM/SIGHUP, and by a watchdog process if this Node
 * process dies without cleaning up. Also a TCP proxy to cut one client off etcd (partition tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { openEtcd } from '../../lib/registry/index.js';
import type { Teardownable } from './teardown.js';

export const ETCD_BIN = process.env.FLEET_TEST_ETCD ?? '/usr/bin/etcd';

export interface EtcdInstance {
  /** Client URL, e.g. http://127.0.0.1:40123 */
  readonly endpoint: string;
  readonly clientUrls: readonly string[];
  readonly clientPort: number;
  readonly dataDir: string;
  /** A client connected to this etcd (closed by stop()). */
  readonly client: Etcd3;
  /** Current etcd pid (changes on restart()). */
  readonly pid: number;
  /** Opens another client (closed by stop()). */
  newClient(opts?: { endpoint?: string; requestTimeoutMs?: number }): Etcd3;
  /** SIGTERM, then SIGKILL after 5 s; closes the clients and removes the data dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops etcd (SIGTERM) and starts it again on the same ports and data. */
  restart(): Promise<void>;
  /** SIGSTOP: etcd stops answering without closing connections. */
  pause(): void;
  /** SIGCONT */
  resume(): void;
}

/**
 * SIGSTOP reaches a multi-threaded process asynchronously: a thread may still answer a request sent right after
 * kill() returned. Waits (at most 2 s) until every thread of `pid` is stopped (state T in /proc).
 */
function waitStopped(pid: number): void {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    let all = true;
    try {
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state !== 'T' && state !== 't') all = false;
      }
    } catch {
      return; // gone
    }
    if (all) return;
    Atomics.wait(tick, 0, 0, 1);
  }
}

const live = new Set<{ kill(): void }>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const l of [...live]) l.kill();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const l of [...live]) l.kill();
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Once `parentPid` is gone: SIGKILLs `etcdPid` (unless that pid is no longer our etcd, checked by its data dir
 * on the command line) and removes the data dir. Exits quietly when etcd stops first (stop/restart).
 */
function spawnWatchdog(parentPid: number, etcdPid: number, dataDir: string): ChildProcess {
  const script = `
    while kill -0 ${parentPid} 2>/dev/null && kill -0 ${etcdPid} 2>/dev/null; do sleep 1; done
    kill -0 ${parentPid} 2>/dev/null && exit 0
    if kill -0 ${etcdPid} 2>/dev/null && tr '\\0' ' ' < /proc/${etcdPid}/cmdline | grep -qF -- "$1"; then
      kill -KILL ${etcdPid}
      sleep 1
    fi
    rm -rf -- "$1"`;
  const wd = spawn('/bin/sh', ['-c', script, 'etcd-watchdog', dataDir], { stdio: 'ignore', detached: true });
  wd.unref();
  return wd;
}

function healthy(url: string, tls?: https.RequestOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const get = tls ? https.get : http.get;
    const req = get(url, { agent: false, timeout: 1000, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(/"health"\s*:\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function waitHealthy(
  url: string,
  proc: ChildProcess,
  logs: () => string,
  timeoutMs: number,
  tls?: https.RequestOptions,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`etcd exited (${proc.exitCode ?? proc.signalCode}) before becoming healthy:\n${logs()}`);
    }
    if (await healthy(`${url}/health`, tls)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${url} not healthy after ${timeoutMs} ms:\n${logs()}`);
}

function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts a single-member etcd; pass the tap test so it is stopped at teardown. */
export interface EtcdTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** Require client certificates signed by caFile (the harness's clients present certFile/keyFile). */
  readonly clientCertAuth?: boolean;
}

export async function startEtcd(
  t?: Teardownable,
  opts: { extraArgs?: string[]; tls?: EtcdTls } = {},
): Promise<EtcdInstance> {
  installExitHooks();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fleet-etcd-'));
  let clientPort = 0;
  let peerPort = 0;
  let proc: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let logTail = '';
  const clients: Etcd3[] = [];
  let stopped = false;

  const entry = {
    kill(): void {
      if (proc?.pid && proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      if (watchdog?.pid) {
        try {
          process.kill(watchdog.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  live.add(entry);

  const url = (port: number): string => `http://127.0.0.1:${port}`;
  const tls = opts.tls;
  const clientUrl = (port: number): string => (tls ? `https://127.0.0.1:${port}` : url(port));
  const tlsArgs = tls
    ? [
        '--cert-file',
        tls.certFile,
        '--key-file',
        tls.keyFile,
        ...(tls.clientCertAuth ? ['--client-cert-auth', '--trusted-ca-file', tls.caFile] : []),
      ]
    : [];
  const healthTls = tls
    ? { ca: readFileSync(tls.caFile), cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), servername: '' }
    : undefined;

  const launch = async (): Promise<void> => {
    logTail = '';
    const p = spawn(
      ETCD_BIN,
      [
        '--name',
        'test',
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        clientUrl(clientPort),
        '--advertise-client-urls',
        clientUrl(clientPort),
        '--listen-peer-urls',
        url(peerPort),
        '--initial-advertise-peer-urls',
        url(peerPort),
        '--initial-cluster',
        `test=${url(peerPort)}`,
        '--initial-cluster-state',
        'new',
        '--logger',
        'zap',
        '--log-level',
        'warn',
        ...tlsArgs,
        ...(opts.extraArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer): void => {
      logTail = (logTail + chunk.toString('utf8')).slice(-8000);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    proc = p;
    if (!p.pid) throw new Error(`cannot start ${ETCD_BIN}`);
    if (watchdog?.pid && alive(watchdog.pid)) process.kill(watchdog.pid, 'SIGKILL');
    watchdog = spawnWatchdog(process.pid, p.pid, dataDir);
    await waitHealthy(clientUrl(clientPort), p, () => logTail, 20000, healthTls);
  };

  const terminate = async (): Promise<void> => {
    const p = proc;
    if (!p?.pid || p.exitCode !== null || p.signalCode !== null) return;
    try {
      process.kill(p.pid, 'SIGCONT');
      process.kill(p.pid, 'SIGTERM');
    } catch {
      return;
    }
    if (!(await waitExit(p, 5000))) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await waitExit(p, 5000);
    }
  };

  for (let attempt = 0; ; attempt++) {
    clientPort = await freePort();
    peerPort = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      await terminate();
      rmSync(dataDir, { recursive: true, force: true });
      if (attempt >= 2 || !/address already in use/.test(logTail)) {
        entry.kill();
        live.delete(entry);
        throw err;
      }
    }
  }

  const newClient = (o: { endpoint?: string; requestTimeoutMs?: number } = {}): Etcd3 => {
    const c = openEtcd({
      endpoints: [o.endpoint ?? clientUrl(clientPort)],
      requestTimeoutMs: o.requestTimeoutMs ?? 5000,
      ...(tls ? { tls: { ca: tls.caFile, cert: tls.certFile, key: tls.keyFile } } : {}),
    });
    clients.push(c);
    return c;
  };
  const client = newClient();

  const inst: EtcdInstance = {
    endpoint: clientUrl(clientPort),
    clientUrls: [clientUrl(clientPort)],
    clientPort,
    dataDir,
    client,
    get pid() {
      return proc?.pid ?? -1;
    },
    newClient,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.close();
      await terminate();
      entry.kill();
      live.delete(entry);
    },
    async restart() {
      await terminate();
      await launch();
    },
    pause() {
      if (!proc?.pid) return;
      process.kill(proc.pid, 'SIGSTOP');
      waitStopped(proc.pid);
    },
    resume() {
      if (proc?.pid) process.kill(proc.pid, 'SIGCONT');
    },
  };
  t?.teardown(() => inst.stop());
  return inst;
}

/** True while a process with this pid exists (for tests asserting cleanup). */
export function pidAlive(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}
