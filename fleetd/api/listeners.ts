/**
 * Where the API listens: systemd socket activation (LISTEN_FDS/LISTEN_PID, fds from 3) if present, else the
 * unix socket api_socket (a stale socket file is removed first) and the TCP address api_listen.
 */
import net from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { FleetError, errorMessage } from '../../lib/errors.js';

export class ListenError extends FleetError {
  override readonly name = 'ListenError';
}

export interface Listener {
  readonly server: net.Server;
  readonly kind: 'unix' | 'tcp';
  /** Socket path, or host:port actually bound (port 0 resolved). */
  readonly address: string;
  /** True for sockets handed over by systemd (never unlinked by us). */
  readonly activated: boolean;
}

export const SD_LISTEN_FDS_START = 3;

/**
 * Open connections one listener accepts; further ones are closed at once by Node. Per listener, so a flood on
 * the TCP port never locks out the unix socket.
 */
export const MAX_CONNECTIONS_PER_LISTENER = 512;

function newServer(): net.Server {
  const server = net.createServer();
  server.maxConnections = MAX_CONNECTIONS_PER_LISTENER;
  return server;
}

/** The fds systemd passed to this process, per sd_listen_fds(3); empty when none or meant for another pid. */
export function activationFds(env: NodeJS.ProcessEnv, pid = process.pid): number[] {
  const n = Number(env.LISTEN_FDS ?? '');
  if (!Number.isInteger(n) || n <= 0) return [];
  if (env.LISTEN_PID !== undefined && env.LISTEN_PID !== '' && Number(env.LISTEN_PID) !== pid) return [];
  return Array.from({ length: n }, (_, i) => SD_LISTEN_FDS_START + i);
}

/**
 * The kind of a listening server, from what it is bound to. Trust is derived from it (unix: local, file
 * permissions; tcp: token/TLS), so it fails closed: anything not positively a unix socket counts as TCP.
 */
function describeAddress(server: net.Server): { kind: 'unix' | 'tcp'; address: string } {
  const a = server.address();
  if (a !== null && typeof a === 'object') {
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { kind: 'tcp', address: `${host}:${a.port}` };
  }
  if (typeof a === 'string') return { kind: 'unix', address: a };
  // An inherited unix fd has no path Node knows of: its handle is a Pipe. Anything else is treated as remote.
  const handle = (server as unknown as { _handle?: { constructor?: { name?: string } } })._handle;
  return { kind: handle?.constructor?.name === 'Pipe' ? 'unix' : 'tcp', address: '' };
}

function listenOn(server: net.Server, arg: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(arg, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function listenFd(fd: number, onConnection: (s: net.Socket, l: Listener) => void): Promise<Listener> {
  const server = newServer();
  try {
    await listenOn(server, { fd } as net.ListenOptions);
  } catch (err) {
    throw new ListenError(`cannot serve the API on socket-activated fd ${fd}: ${errorMessage(err)}`);
  }
  const d = describeAddress(server);
  const l: Listener = { server, kind: d.kind, address: d.address || `fd:${fd}`, activated: true };
  server.on('connection', (s) => onConnection(s, l));
  return l;
}

/** Removes a socket file nobody answers on; refuses to touch anything else. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ListenError(`cannot inspect API socket path ${path}: ${errorMessage(err)}`);
  }
  if (!st.isSocket()) throw new ListenError(`API socket path ${path} exists and is not a socket; remove it or set api_socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.createConnection({ path });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new ListenError(`another process is serving on ${path} (is another fleetd running?)`);
  try {
    unlinkSync(path);
  } catch (err) {
    throw new ListenError(`cannot remove stale API socket ${path}: ${errorMessage(err)}`);
  }
}

export async function listenUnix(path: string, mode: number, onConnection: (s: net.Socket, l: Listener) => void): Promise<Listener> {
  await clearStaleSocket(path);
  const server = newServer();
  try {
    await listenOn(server, { path });
  } catch (err) {
    throw new ListenError(`cannot listen on API socket ${path}: ${errorMessage(err)}`);
  }
  try {
    chmodSync(path, mode);
  } catch (err) {
    server.close();
    throw new ListenError(`cannot set mode ${mode.toString(8)} on API socket ${path}: ${errorMessage(err)}`);
  }
  const l: Listener = { server, kind: 'unix', address: path, activated: false };
  server.on('connection', (s) => onConnection(s, l));
  return l;
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseHostPort(spec: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(spec);
  if (!m) throw new ListenError(`api_listen ${JSON.stringify(spec)} is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new ListenError(`api_listen ${JSON.stringify(spec)}: port out of range`);
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { host, port };
}

export async function listenTcp(spec: string, onConnection: (s: net.Socket, l: Listener) => void): Promise<Listener> {
  const { host, port } = parseHostPort(spec);
  const server = newServer();
  try {
    await listenOn(server, { host, port });
  } catch (err) {
    throw new ListenError(`cannot listen on api_listen ${spec}: ${errorMessage(err)}`);
  }
  const l: Listener = { server, ...describeAddress(server), activated: false };
  server.on('connection', (s) => onConnection(s, l));
  return l;
}

export function closeListener(l: Listener): Promise<void> {
  return new Promise((resolve) => {
    l.server.close(() => {
      if (l.kind === 'unix' && !l.activated) {
        try {
          unlinkSync(l.address);
        } catch {
          // already gone
        }
      }
      resolve();
    });
  });
}
