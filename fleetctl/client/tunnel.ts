/**
 * --tunnel: one OpenSSH process forwarding a local unix socket to the fleet API (a unix socket or host:port)
 * or a local TCP port to etcd, as seen from the bastion host.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EndpointError } from './errors.js';
import { baseSshOptions, splitHostPort, type SshSettings } from './ssh.js';

export interface Tunnel {
  /** Local unix socket (API) or 127.0.0.1:port (etcd) to connect to instead. */
  readonly local: string;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** `remote` is a socket path (absolute) or host:port, as reachable from the bastion. */
export async function openTunnel(s: SshSettings, remote: string): Promise<Tunnel> {
  const [host, port] = splitHostPort(s.tunnel, 22);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleetctl-tunnel-'));
  const unix = remote.startsWith('/');
  const local = unix ? path.join(dir, 'api.sock') : `127.0.0.1:${await freePort()}`;
  const args = [
    ...baseSshOptions(s, port),
    '-N',
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'StreamLocalBindUnlink=yes',
    '-L', `${local}:${remote}`,
    '--', host,
  ];
  const child = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'], env: s.env });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const cleanup = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = (): Promise<boolean> =>
    unix
      ? Promise.resolve(existsSync(local))
      : new Promise((resolve) => {
          const [h, p] = local.split(':');
          const c = net.createConnection({ host: h, port: Number(p) });
          c.once('connect', () => {
            c.destroy();
            resolve(true);
          });
          c.once('error', () => resolve(false));
        });
  const deadline = Date.now() + (s.timeout + 5) * 1000;
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  for (;;) {
    if (spawnError) {
      await cleanup();
      throw new EndpointError(`cannot open --tunnel ${s.tunnel}: cannot run ssh: ${spawnError.message} (install the OpenSSH client)`);
    }
    if (child.exitCode !== null) {
      await cleanup();
      throw new EndpointError(`cannot open --tunnel ${s.tunnel}: ssh exited with status ${child.exitCode}: ${stderr.trim().split('\n').pop() ?? ''}`);
    }
    if (await ready()) return { local, close: cleanup };
    if (Date.now() > deadline) {
      await cleanup();
      throw new EndpointError(`cannot open --tunnel ${s.tunnel}: no forwarding after ${s.timeout + 5}s ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
