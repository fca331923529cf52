/**
 * fleetd's HTTP API server: fleet's v1 API (+ status, journal, plan, metrics) on the unix socket, an optional
 * TCP listener (bearer token and/or TLS client certificates), or sockets passed by systemd.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { Registry } from '../../lib/registry/index.js';
import {
  EtcdRequestError,
  InvalidKeyError,
  RegistryConflictError,
  RolloutNotFoundError,
  RolloutRefusedError,
  UnitExistsError,
  UnitNotFoundError,
} from '../../lib/registry/index.js';
import { RequirementsError, UnitFileError, UnitNameError } from '../../lib/unit/index.js';
import { UnknownUnitError } from '../../lib/schedule/index.js';
import { logger } from '../../lib/log.js';
import { Slots } from '../../lib/limit.js';
import { RegistryBackend, type FleetBackend } from '../../lib/api/backend.js';
import type { Ctx } from './context.js';
import { ApiError, BusyError } from '../../lib/api/errors.js';
import { HttpPeerForwarder } from './forward.js';
import { MAX_BUFFERED_BODY_BYTES, chargeBodiesTo, drainBody, sendError } from './http.js';
import { MAX_JOURNAL_STREAMS, MAX_STATUS_PROCESSES, type PeerForwarder } from './inspect.js';
import type { UnitInspector } from '../machine/inspector.js';
import { ListenError, activationFds, closeListener, listenFd, listenTcp, listenUnix, type Listener } from './listeners.js';
import { ApiMetrics } from './metrics.js';
import { resolve } from './router.js';
import { StateStreams, UnitStreams, type StateStreamOptions } from './state-stream.js';
import { goJson } from '../../lib/api/wire.js';
import { fleetRequirementsMessage } from './go-errors.js';
import { errorMessage } from '../../lib/errors.js';

const log = logger('api');

/** The fleetd options the API server reads (fleetd/config.ts's FleetConfig extends it); the API's own are ours, token_limit is fleet's. */
export interface ApiConfig {
  /** unix socket of the API; '' turns it off (systemd socket activation overrides) */
  apiSocket: string;
  /** host:port of a TCP listener; '' = none */
  apiListen: string;
  /** bearer token required on TCP; '' = none */
  apiToken: string;
  apiTlsCertfile: string;
  apiTlsKeyfile: string;
  /** CA of accepted client certificates; set = client certificates required on TCP */
  apiTlsCafile: string;
  tokenLimit: number;
}

export interface ApiServerOptions {
  /** The cluster registry. Either this or `backend`. */
  registry?: Registry;
  /** Overrides the registry-backed backend. */
  backend?: FleetBackend;
  config: ApiConfig;
  /** This machine's id (decides whether status/journal are served here or forwarded). */
  machineId: string;
  /** Reported in `Server: fleetd/<version>`. */
  version: string;
  /** Runs systemctl/journalctl for units on this machine; without it status/journal of local units answer 501. */
  inspector?: UnitInspector;
  /** Relays status/journal to other machines; default: HTTP(S) to <publicIP>:<port of api_listen>. */
  forwarder?: PeerForwarder;
  /** Whether this fleetd's engine leads, for the `fleet_engine_leader` gauge. */
  isEngineLeader?: () => boolean;
  /** Environment for socket activation (default process.env). LISTEN_* are removed after use. */
  env?: NodeJS.ProcessEnv;
  /** Mode of the unix socket file (default 0o660). */
  socketMode?: number;
  /** Bounds of the unit state and unit streams (`GET /fleet/v1/watch/state`, `/watch/units`; defaults in state-stream.ts); false: no such routes, as in fleet. */
  stateStreams?: StateStreamOptions | false;
  /** False to answer 503 until setAvailable(true) (fleet: until the machine registered). Default true. */
  available?: boolean;
  /** Dry runs (`POST /plan`) of a cluster this large (units) plan in a worker thread (default: plan.ts). */
  planInWorkerAbove?: number;
}

export interface ApiServer {
  listen(): Promise<void>;
  close(): Promise<void>;
  /** Where it listens (after listen()). */
  readonly listeners: readonly Listener[];
  /** Request, registry and engine metrics served at /metrics; fleetd may add its own. */
  readonly metrics: ApiMetrics;
  setAvailable(available: boolean): void;
}

/** Maps any error a handler throws to an HTTP answer; unexpected ones become 500 and are logged. */
export function errorStatus(err: unknown): { status: number; message: string; unexpected: boolean } {
  const msg = errorMessage(err);
  if (err instanceof ApiError) return { status: err.status, message: msg, unexpected: false };
  if (err instanceof RequirementsError) return { status: 400, message: fleetRequirementsMessage(err) ?? msg, unexpected: false };
  if (err instanceof UnitNameError || err instanceof UnitFileError || err instanceof RequirementsError || err instanceof InvalidKeyError) {
    return { status: 400, message: msg, unexpected: false };
  }
  if (err instanceof UnitNotFoundError || err instanceof UnknownUnitError) return { status: 404, message: 'unit does not exist', unexpected: false };
  if (err instanceof UnitExistsError || err instanceof RolloutRefusedError) return { status: 409, message: msg, unexpected: false };
  if (err instanceof RolloutNotFoundError) return { status: 404, message: msg, unexpected: false };
  if (err instanceof EtcdRequestError) return { status: 503, message: `fleet server unable to communicate with etcd: ${msg}`, unexpected: false };
  if (err instanceof RegistryConflictError) return { status: 503, message: msg, unexpected: false };
  return { status: 500, message: `internal error: ${msg}`, unexpected: true };
}

/** Slowloris bound: a request's headers must arrive within this, the whole request (with body) within the next. */
export const HEADERS_TIMEOUT_MS = 15_000;
export const REQUEST_TIMEOUT_MS = 60_000;
const HTTP_OPTIONS: http.ServerOptions = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionsCheckingInterval: 5_000,
};

/** How long a connection fleetd is done with stays open for its client to close it first (see lingering). */
export const LINGER_MS = 500;

/**
 * Makes Node's close after a last answer a lingering close: fleetd stops sending (FIN) and waits up to LINGER_MS
 * for the client to close before closing itself. Closing at once, as Node does, races a client still finishing its
 * write: that write fails (EPIPE, or a reset) and the client reports it instead of the answer it was sent. Go's
 * HTTP server, fleet's, closes the same way. Not for TLS sockets (the TLS layer closes those).
 */
function lingering(socket: net.Socket): net.Socket {
  socket.destroySoon = function (this: net.Socket): void {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
  return socket;
}

/** List and plan requests (each reads every unit, state or machine) served at once; more get 503. */
export const MAX_WHOLE_REGISTRY_REQUESTS = 32;

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ListenError(`${option} ${path}: ${errorMessage(err)}`);
  }
}

export function createApiServer(opts: ApiServerOptions): ApiServer {
  const cfg = opts.config;
  const metrics = new ApiMetrics();
  if (opts.isEngineLeader) {
    const f = opts.isEngineLeader;
    metrics.leader.sample(() => (f() ? 1 : 0));
  }
  if (!opts.backend && !opts.registry) throw new ListenError('createApiServer needs a registry or a backend');
  const backend: FleetBackend = opts.backend ?? new RegistryBackend(opts.registry!, (op, fn) => metrics.timed(op, fn));
  const serverHeader = `fleetd/${opts.version}`;
  let available = opts.available ?? true;
  let forwarder = opts.forwarder;
  if (!forwarder && cfg.apiListen) {
    try {
      forwarder = HttpPeerForwarder.fromConfig({ ...cfg, machineId: opts.machineId });
    } catch (err) {
      log.warn('cannot forward status/journal requests to other machines', { err });
    }
  }
  const deps = {
    machineId: opts.machineId,
    inspector: opts.inspector,
    forwarder,
    journalSlots: new Slots(MAX_JOURNAL_STREAMS),
    statusSlots: new Slots(MAX_STATUS_PROCESSES),
    metricsText: () => metrics.registry.render(),
    stateStreams: opts.stateStreams === false ? undefined : new StateStreams(backend, opts.stateStreams),
    unitStreams: opts.stateStreams === false ? undefined : new UnitStreams(backend, opts.stateStreams),
  };
  const bodyBudget = new Slots(MAX_BUFFERED_BODY_BYTES);
  const wholeRegistrySlots = new Slots(MAX_WHOLE_REGISTRY_REQUESTS);

  /**
   * `needsToken` comes from the listener the connection was accepted on (see onConnection), never from the
   * peer: a reset peer has no address, and an address says nothing about which door a request came through.
   */
  const invited = new WeakSet<http.IncomingMessage>();
  const awaitsInvitation = (req: http.IncomingMessage): boolean => /100-continue/i.test(String(req.headers.expect ?? '')) && !invited.has(req);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, needsToken: boolean): Promise<void> => {
    const t0 = process.hrtime.bigint();
    res.setHeader('Server', serverHeader);
    chargeBodiesTo(req, res, bodyBudget);
    let routeName = 'unknown';
    try {
      const url = new URL(req.url ?? '/', 'http://fleetd');
      if (needsToken && !tokenMatches(req.headers.authorization, cfg.apiToken)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="fleet"');
        throw new ApiError(401, req.headers.authorization ? 'invalid API token' : 'this API requires a bearer token (Authorization: Bearer <api_token>)');
      }
      const route = resolve(req.method ?? 'GET', url.pathname, deps);
      routeName = route.name;
      if (!available && routeName !== '/metrics') throw new ApiError(503, 'fleet server unable to communicate with etcd');
      const ctx: Ctx = { req, res, query: url.searchParams, backend, tokenLimit: cfg.tokenLimit, planInWorkerAbove: opts.planInWorkerAbove };
      if (route.wholeRegistry) {
        if (!wholeRegistrySlots.take()) throw new BusyError(`fleetd is busy: ${wholeRegistrySlots.limit} list or plan requests are running; retry later`);
        try {
          await route.handle(ctx);
        } finally {
          wholeRegistrySlots.give();
        }
      } else {
        await route.handle(ctx);
      }
    } catch (err) {
      const { status, message, unexpected } = errorStatus(err);
      if (unexpected) log.error('request failed', { method: req.method, url: req.url, err });
      else log.debug('request refused', { method: req.method, url: req.url, status, message });
      if (err instanceof BusyError && !res.headersSent) res.setHeader('Retry-After', '1');
      if (!res.headersSent) {
        // A client still sending its body gets its answer after the body (a close under it is a reset); one that
        // waits for an invitation to send it (Expect: 100-continue, not answered) is not waited for.
        if (!awaitsInvitation(req)) await drainBody(req);
        if (!res.headersSent && !res.destroyed) sendError(res, status, message);
      } else {
        res.destroy();
      }
    } finally {
      metrics.requests.inc({ method: req.method ?? '', route: routeName, code: String(res.statusCode) });
      metrics.requestDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9, { route: routeName });
    }
  };

  // Requests Node's parser refuses (bad request line or headers, headers too large) get a JSON error body too.
  const onClientError = (err: Error & { code?: string; reason?: string }, socket: Duplex): void => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message =
      status === 431
        ? 'request headers are too large'
        : status === 408
          ? `request not received in time (headers within ${HEADERS_TIMEOUT_MS / 1000}s, all of it within ${REQUEST_TIMEOUT_MS / 1000}s)`
          : `malformed HTTP request: ${err.reason ?? err.message}`;
    const body = goJson({ error: { code: status, message } });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nServer: ${serverHeader}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
  // `Expect:` other than 100-continue: fleet's JSON error body instead of Node's bare 417.
  const onExpectation = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.setHeader('Server', serverHeader);
    res.shouldKeepAlive = false;
    sendError(res, 417, `unsupported Expect header ${JSON.stringify(String(req.headers.expect ?? '').slice(0, 100))}: only 100-continue is supported`);
  };
  const harden = <S extends http.Server>(srv: S, needsToken: boolean): S => {
    srv.on('clientError', onClientError);
    srv.on('checkExpectation', onExpectation);
    // `Expect: 100-continue`: invite the body only from a client that may send it (else 401 straight away).
    srv.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!needsToken || tokenMatches(req.headers.authorization, cfg.apiToken)) {
        invited.add(req);
        res.writeContinue();
      }
      void handle(req, res, needsToken);
    });
    // These servers never listen themselves (listeners hand them connections), but Node enforces
    // headersTimeout/requestTimeout only from its 'listening' hook: run it, or slow clients are never cut off.
    srv.emit('listening');
    return srv;
  };
  // One HTTP server per trust level; a connection is handed to one of them by the kind of its listener.
  const tokenOnTcp = cfg.apiToken !== '';
  const local = harden(http.createServer(HTTP_OPTIONS, (req, res) => void handle(req, res, false)), false);
  const remote = harden(http.createServer(HTTP_OPTIONS, (req, res) => void handle(req, res, tokenOnTcp)), tokenOnTcp);
  let secure: https.Server | undefined;
  const listeners: Listener[] = [];

  const onConnection = (socket: net.Socket, l: Listener): void => {
    if (l.kind === 'unix') local.emit('connection', lingering(socket));
    else if (secure) secure.emit('connection', socket);
    else remote.emit('connection', lingering(socket));
  };

  const setupTls = (): void => {
    if (!cfg.apiTlsCertfile) return;
    const requireClientCert = cfg.apiTlsCafile !== '';
    secure = https.createServer(
      {
        ...HTTP_OPTIONS,
        cert: readPem(cfg.apiTlsCertfile, 'api_tls_certfile'),
        key: readPem(cfg.apiTlsKeyfile, 'api_tls_keyfile'),
        ...(requireClientCert ? { ca: readPem(cfg.apiTlsCafile, 'api_tls_cafile'), requestCert: true, rejectUnauthorized: true } : {}),
      },
      (req, res) => void handle(req, res, tokenOnTcp),
    );
    secure.on('tlsClientError', (err) => log.debug('TLS handshake failed', { err }));
    harden(secure, tokenOnTcp);
  };

  return {
    metrics,
    get listeners() {
      return listeners;
    },
    setAvailable(a: boolean) {
      available = a;
    },
    async listen() {
      setupTls();
      const env = opts.env ?? process.env;
      const fds = activationFds(env);
      try {
        if (fds.length > 0) {
          delete env.LISTEN_FDS;
          delete env.LISTEN_PID;
          delete env.LISTEN_FDNAMES;
          for (const fd of fds) listeners.push(await listenFd(fd, onConnection));
        } else {
          if (cfg.apiSocket) listeners.push(await listenUnix(cfg.apiSocket, opts.socketMode ?? 0o660, onConnection));
          if (cfg.apiListen) listeners.push(await listenTcp(cfg.apiListen, onConnection));
        }
      } catch (err) {
        await Promise.all(listeners.splice(0).map(closeListener));
        throw err;
      }
      for (const l of listeners) {
        const auth = l.kind === 'unix' ? 'file permissions' : [cfg.apiToken ? 'bearer token' : '', secure && cfg.apiTlsCafile ? 'TLS client certificates' : secure ? 'TLS' : ''].filter(Boolean).join(' + ') || 'NONE';
        log.info('API listening', { address: l.address, kind: l.kind, activated: l.activated, auth });
        if (l.kind === 'tcp' && !cfg.apiToken && !cfg.apiTlsCafile) {
          log.warn('the TCP API has no authentication: anyone who can reach it controls the cluster (set api_token or api_tls_cafile)', { address: l.address });
        }
      }
    },
    async close() {
      await Promise.all(listeners.splice(0).map(closeListener));
      for (const srv of [local, remote, secure]) {
        srv?.close();
        srv?.closeAllConnections();
      }
      await Promise.all([deps.stateStreams?.close(), deps.unitStreams?.close()]);
      if (!opts.forwarder) forwarder?.close?.();
    },
  };
}
