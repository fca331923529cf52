/** FleetClient over fleet's HTTP API v1 (unix socket, http or https), following nextPageToken. */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { DesiredState } from '../../lib/unit/types.js';
import { compareStrings } from '../../lib/compare.js';
import { API_PREFIX, EXIT_STATUS_HEADER, type ApiMachine, type ApiUnit, type ApiUnitState, type PlanResponse, type PlanUnitRequest } from '../../lib/api/schema.js';
import {
  decodeMachinePage,
  decodePlanResponse,
  decodeUnit,
  decodeUnitPage,
  decodeUnitStatePage,
  errorBodyMessage,
  decodeRestartRequest,
  decodeRollout,
  decodeRolloutList,
  visible,
} from '../../lib/api/decode.js';
import { ApiDecodeError } from '../../lib/api/errors.js';
import type { ApiEndpoint } from './endpoint.js';
import { rawGet, rawGetPossible } from './raw-get.js';
import { ApiRequestError, EndpointError, describeNetError } from './errors.js';
import type { RolloutControl } from '../../lib/rollout/types.js';
import type { ApiRollout, ApiRolloutRequest, FleetClient, InspectTarget, JournalOptions, NewUnit, ApiRestartRequest, StatusResult, UnitStateFilter, UnitStateWatch, UnitWatch } from './types.js';
import { sortStates } from './sort.js';
import { STATE_STREAM, StreamedList, UNIT_STREAM, type StreamKind } from './state-watch.js';
import { goLogLine } from './go-log.js';
import { UsageError, errorMessage } from '../../lib/errors.js';

/** node:https (with tls and crypto) costs fleetctl's start-up tens of ms: loaded only for an https endpoint. */
const requireBuiltin = createRequire(import.meta.url);
function https(): typeof Https {
  return requireBuiltin('node:https') as typeof Https;
}
/** node:http is loaded on first use: with `rawGets` a list command sends its GETs without it (raw-get.ts). */
function http(): typeof Http {
  return requireBuiltin('node:http') as typeof Http;
}

export interface HttpClientOptions {
  endpoint: ApiEndpoint;
  /** Per request, ms. */
  requestTimeoutMs: number;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Bearer token for a TCP API with api_token. */
  token?: string;
  /** Set when --tunnel rewrote the endpoint: what the user asked for, for messages. */
  displayEndpoint?: string;
  /** Set when --tunnel rewrote the endpoint: the one asked for, whose URL the debug lines show (as fleet's did). */
  requestedEndpoint?: ApiEndpoint;
  onClose?: () => Promise<void> | void;
  /** `--debug`/`FLEETCTL_DEBUG`: gets one line per request sent and per answer received, as fleet's client logged them. */
  debug?: (line: string) => void;
  /**
   * GETs to a plain endpoint (unix socket, http://) without --debug go over node:net (raw-get.ts), node:http
   * only when that declines. fleetctl's quick path sets it (issue 13); same answers, errors and messages.
   */
  rawGets?: boolean;
}

/**
 * fleet's client logged each request and each answer at debug level through Go's logger with dates:
 * `2006/01/02 15:04:05 DEBUG http.go:28: HTTP GET <url>` before sending and `... http.go:31: HTTP GET <url> 200 OK`
 * after the head came back (the position names fleet's request and answer lines; docs/fleet-compat.md#fleetctl).
 */
export function httpDebugLine(now: Date, method: string, url: string, status?: { code: number; text: string }): string {
  const where = status === undefined ? 'http.go:28' : 'http.go:31';
  const answer = status === undefined ? '' : ` ${status.code} ${status.text}`.trimEnd();
  return goLogLine(now, 'DEBUG', where, `HTTP ${method} ${url}${answer}`);
}

interface Answer {
  status: number;
  headers: Http.IncomingHttpHeaders;
  body: Buffer;
}

/** A reused keep-alive connection was gone: the request is sent again on a new one. */
class StaleConnectionError extends Error {}

function readTlsFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${errorMessage(err)}`);
  }
}

/**
 * Largest answer body fleetctl keeps (a page of units is far below it): a bigger one comes from a broken or hostile
 * server and is refused before it can exhaust memory.
 */
export const MAX_RESPONSE_BYTES = 128 * 1024 * 1024;
/** An error answer to a journal request is a short JSON error; only this much of one is read. */
const MAX_ERROR_BYTES = 64 * 1024;

export class HttpFleetClient implements FleetClient {
  readonly endpoint: string;
  /** Made on first use over node:http (an https endpoint's at once: it reads the TLS files, whose errors are usage errors). */
  private agentMade: Http.Agent | undefined;
  private readonly opts: HttpClientOptions;
  private readonly basePath: string;

  constructor(opts: HttpClientOptions) {
    this.opts = opts;
    this.endpoint = opts.displayEndpoint ?? opts.endpoint.display;
    const ep = opts.endpoint;
    this.basePath = ep.kind === 'tcp' ? ep.url.pathname.replace(/\/+$/, '') : '';
    if (ep.kind === 'tcp' && ep.tls) {
      this.agentMade = new (https().Agent)({
        keepAlive: true,
        ca: opts.caFile ? readTlsFile(opts.caFile, '--ca-file') : undefined,
        cert: opts.certFile ? readTlsFile(opts.certFile, '--cert-file') : undefined,
        key: opts.keyFile ? readTlsFile(opts.keyFile, '--key-file') : undefined,
      });
    }
  }

  private get agent(): Http.Agent {
    this.agentMade ??= new (http().Agent)({ keepAlive: true });
    return this.agentMade;
  }

  private requestHeaders(headers: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (this.opts.token) h['Authorization'] = `Bearer ${this.opts.token}`;
    return h;
  }

  private requestOptions(method: string, path: string, headers: Record<string, string>): Http.RequestOptions {
    const ep = this.opts.endpoint;
    const h = this.requestHeaders(headers);
    const base: Http.RequestOptions = { method, path: this.basePath + path, headers: h, agent: this.agent };
    if (ep.kind === 'unix') return { ...base, socketPath: ep.socketPath, host: 'domain-sock' };
    return {
      ...base,
      protocol: ep.url.protocol,
      hostname: ep.url.hostname.replace(/^\[|\]$/g, ''),
      port: ep.url.port || (ep.tls ? 443 : 80),
    };
  }

  /** The URL of a request as fleet's client showed it: `http://domain-sock/...` for a unix socket. */
  private requestUrl(path: string): string {
    const ep = this.opts.requestedEndpoint ?? this.opts.endpoint;
    if (ep.kind === 'unix') return `http://domain-sock${path}`;
    return `${ep.url.protocol}//${ep.url.host}${this.basePath}${path}`;
  }

  private unreachable(err: unknown): EndpointError {
    return new EndpointError(`cannot reach the fleet API at ${this.endpoint}: ${describeNetError(err)}`);
  }

  /**
   * Sends one request; resolves with the response head as soon as it arrives. A kept-alive connection the server
   * closed just as it was reused (fleetd restarting during a wait) is retried once on a new connection: the
   * request never reached fleetd, and every API call is idempotent.
   */
  private async open(method: string, path: string, body?: unknown, timeoutMs = this.opts.requestTimeoutMs): Promise<Http.IncomingMessage> {
    try {
      return await this.openOnce(method, path, body, timeoutMs);
    } catch (err) {
      if (!(err instanceof StaleConnectionError)) throw err;
      return this.openOnce(method, path, body, timeoutMs, true);
    }
  }

  private openOnce(method: string, path: string, body: unknown, timeoutMs: number, retried = false): Promise<Http.IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const mod = this.opts.endpoint.kind === 'tcp' && this.opts.endpoint.tls ? https() : http();
    const debug = this.opts.debug;
    const url = debug ? this.requestUrl(path) : '';
    debug?.(httpDebugLine(new Date(), method, url));
    return new Promise((resolve, reject) => {
      const req = mod.request(this.requestOptions(method, path, headers));
      const timer = setTimeout(() => {
        req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000}s`), { code: 'FLEET_TIMEOUT' }));
      }, timeoutMs);
      req.on('response', (res) => {
        clearTimeout(timer);
        debug?.(httpDebugLine(new Date(), method, url, { code: res.statusCode ?? 0, text: res.statusMessage ?? '' }));
        resolve(res);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          reject(new StaleConnectionError());
          return;
        }
        reject(err.code === 'FLEET_TIMEOUT' ? new EndpointError(`fleet API at ${this.endpoint} did not answer within ${timeoutMs / 1000}s (raise --request-timeout?)`) : this.unreachable(err));
      });
      req.end(payload);
    });
  }

  /**
   * A GET over node:net (raw-get.ts) when `rawGets` is set and the endpoint is plain; undefined when node:http is
   * to send it. Failures are worded as openOnce and call word them.
   */
  private async rawCall(path: string): Promise<Answer | undefined> {
    const ep = this.opts.endpoint;
    if (!this.opts.rawGets || this.opts.debug || (ep.kind === 'tcp' && ep.tls)) return undefined;
    const req = {
      target: ep.kind === 'unix' ? { socketPath: ep.socketPath } : { host: ep.url.hostname.replace(/^\[|\]$/g, ''), port: Number(ep.url.port || 80) },
      hostHeader: ep.kind === 'unix' ? 'domain-sock' : ep.url.host,
      path: this.basePath + path,
      headers: this.requestHeaders({}),
      timeoutMs: this.opts.requestTimeoutMs,
      maxBodyBytes: MAX_RESPONSE_BYTES,
    };
    if (!rawGetPossible(req)) return undefined;
    const r = await rawGet(req);
    if (r === undefined || 'status' in r) return r;
    switch (r.kind) {
      case 'connect':
        throw this.unreachable(r.error);
      case 'head-timeout':
        throw new EndpointError(`fleet API at ${this.endpoint} did not answer within ${req.timeoutMs / 1000}s (raise --request-timeout?)`);
      case 'body-timeout':
        throw this.unreachable(new Error('timeout'));
      case 'too-large':
        throw new EndpointError(`fleet API at ${this.endpoint} sent an answer larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB; refusing it`);
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const raw = method === 'GET' && body === undefined ? await this.rawCall(path) : undefined;
    if (raw !== undefined) {
      this.checkAuth(raw);
      return raw;
    }
    const started = Date.now();
    const res = await this.open(method, path, body);
    const remaining = Math.max(1, this.opts.requestTimeoutMs - (Date.now() - started));
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => res.destroy(new Error('timeout')), remaining);
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          clearTimeout(timer);
          res.destroy();
          reject(new EndpointError(`fleet API at ${this.endpoint} sent an answer larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB; refusing it`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(this.unreachable(err));
      });
    });
    const answer = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
    this.checkAuth(answer);
    return answer;
  }

  private checkAuth(a: Answer): void {
    if (a.status === 401 || a.status === 403) {
      const msg = errorMessageOf(a) ?? `HTTP ${a.status}`;
      const hint = a.status === 401 ? ' (give --api-token or FLEETCTL_API_TOKEN)' : '';
      throw new EndpointError(`fleet API at ${this.endpoint} refused the request: ${msg}${hint}`);
    }
  }

  /** The body parsed and checked by `decode`; a body that is not JSON or not of that shape is an EndpointError. */
  private json<T>(a: Answer, what: string, decode: (v: unknown) => T): T {
    let parsed: unknown;
    try {
      parsed = JSON.parse(a.body.toString('utf8'));
    } catch {
      throw new EndpointError(`fleet API at ${this.endpoint} sent ${what} that is not JSON (is this a fleet API endpoint?)`);
    }
    try {
      return decode(parsed);
    } catch (err) {
      if (err instanceof ApiDecodeError) throw new EndpointError(`fleet API at ${this.endpoint} sent a malformed ${what}: ${err.message}`);
      throw err;
    }
  }

  /**
   * A failed answer from one of fleet's own routes, worded as fleet's client (Google's generated API client) showed
   * it: `googleapi: Error 400: <message>`, or for an error body without a message `googleapi: got HTTP response code
   * 404 with body: <body>` (docs/fleet-compat.md#fleetctl). Anything that is not fleet's error body is ours.
   */
  private fleetFail(a: Answer): ApiRequestError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(a.body.toString('utf8'));
    } catch {
      return this.fail(a);
    }
    const e = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
    if (typeof e !== 'object' || e === null) return this.fail(a);
    const c = (e as { code?: unknown }).code;
    const code = typeof c === 'number' && Number.isInteger(c) && c !== 0 ? c : a.status;
    const message = errorBodyMessage(parsed);
    if (message !== undefined) return new ApiRequestError(a.status, `googleapi: Error ${code}: ${message}`.trim());
    return new ApiRequestError(a.status, `googleapi: got HTTP response code ${code} with body: ${visible(a.body.toString('utf8'))}`);
  }

  private fail(a: Answer): ApiRequestError {
    return new ApiRequestError(a.status, errorMessageOf(a) ?? `HTTP ${a.status} from ${this.endpoint}`);
  }

  /** Every page of a list, following nextPageToken; a token that comes back a second time is an EndpointError. */
  private async list<P extends { nextPageToken?: string }, T>(
    path: string,
    query: URLSearchParams,
    decode: (v: unknown, at: string) => P,
    pick: (p: P) => T[] | undefined,
  ): Promise<T[]> {
    const all: T[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
      const q = new URLSearchParams(query);
      if (token) q.set('nextPageToken', token);
      const a = await this.call('GET', fleetRoute(path, q));
      if (a.status !== 200) throw this.fleetFail(a);
      const page = this.json(a, `${path} page`, (v) => decode(v, `${path} page`));
      all.push(...(pick(page) ?? []));
      token = page.nextPageToken;
      if (!token) return all;
      if (seen.has(token)) throw new EndpointError(`fleet API at ${this.endpoint} sent the ${path} page token ${JSON.stringify(token)} twice: the listing would never end`);
      seen.add(token);
    }
  }

  units(): Promise<ApiUnit[]> {
    return this.list('units', new URLSearchParams(), decodeUnitPage, (p) => p.units);
  }

  async unit(name: string): Promise<ApiUnit | undefined> {
    const a = await this.call('GET', fleetRoute(`units/${encodeURIComponent(name)}`));
    if (a.status === 404) return undefined;
    if (a.status !== 200) throw this.fleetFail(a);
    return this.json(a, 'unit', (v) => decodeUnit(v));
  }

  async unitStates(filter: UnitStateFilter = {}): Promise<ApiUnitState[]> {
    const q = new URLSearchParams();
    if (filter.machineID) q.set('machineID', filter.machineID);
    if (filter.unitName) q.set('unitName', filter.unitName);
    return sortStates(await this.list('state', q, decodeUnitStatePage, (p) => p.states));
  }

  /**
   * fleetd's unit state stream (ours). Any answer but a 200 stream (fleet's 404, a fleetd at its limit, a proxy
   * in between), or no current states within the request timeout, is undefined: the caller polls as before.
   */
  watchUnitStates(filter: UnitStateFilter = {}): Promise<UnitStateWatch | undefined> {
    const q = new URLSearchParams();
    if (filter.machineID) q.set('machineID', filter.machineID);
    if (filter.unitName) q.set('unitName', filter.unitName);
    return this.stream('state', q, STATE_STREAM);
  }

  watchUnits(unitName?: string): Promise<UnitWatch | undefined> {
    return this.stream('units', new URLSearchParams(unitName ? { unitName } : {}), UNIT_STREAM);
  }

  private async stream<T extends { name: string; machineID?: string }>(what: string, q: URLSearchParams, kind: StreamKind<T>): Promise<StreamedList<T> | undefined> {
    const query = q.toString();
    let res: Http.IncomingMessage;
    try {
      res = await this.open('GET', `${API_PREFIX}/watch/${what}${query ? `?${query}` : ''}`);
    } catch {
      return undefined;
    }
    if (res.statusCode !== 200 || !/^application\/x-ndjson\b/.test(String(res.headers['content-type'] ?? ''))) {
      res.destroy();
      return undefined;
    }
    const w = new StreamedList(kind, res);
    return (await w.ready(this.opts.requestTimeoutMs)) ? w : undefined;
  }

  async machines(): Promise<ApiMachine[]> {
    const all = await this.list('machines', new URLSearchParams(), decodeMachinePage, (p) => p.machines);
    return all.sort((a, b) => compareStrings(a.id, b.id));
  }

  async createUnit(unit: NewUnit): Promise<void> {
    const a = await this.call('PUT', fleetRoute(`units/${encodeURIComponent(unit.name)}`), unit);
    if (a.status !== 201 && a.status !== 204) throw this.fleetFail(a);
  }

  async setDesiredState(name: string, state: DesiredState): Promise<void> {
    const a = await this.call('PUT', fleetRoute(`units/${encodeURIComponent(name)}`), { name, desiredState: state });
    if (a.status !== 204 && a.status !== 201) throw this.fleetFail(a);
  }

  async destroyUnit(name: string): Promise<boolean> {
    const a = await this.call('DELETE', fleetRoute(`units/${encodeURIComponent(name)}`));
    if (a.status === 404) return false;
    if (a.status !== 204) throw this.fleetFail(a);
    return true;
  }

  async requestRestart(name: string, machineId: string): Promise<string> {
    const a = await this.call('POST', `${API_PREFIX}/units/${encodeURIComponent(name)}/restart/${encodeURIComponent(machineId)}`, {});
    if (a.status !== 201) throw this.fail(a);
    return this.json(a, 'restart request', (v) => decodeRestartRequest(v).token);
  }

  async restartRequest(name: string, machineId: string): Promise<ApiRestartRequest | undefined> {
    const a = await this.call('GET', `${API_PREFIX}/units/${encodeURIComponent(name)}/restart/${encodeURIComponent(machineId)}`);
    if (a.status === 404) return undefined;
    if (a.status !== 200) throw this.fail(a);
    return this.json(a, 'restart request', (v) => decodeRestartRequest(v));
  }

  async createRollout(req: ApiRolloutRequest): Promise<ApiRollout> {
    const a = await this.call('POST', `${API_PREFIX}/rollouts`, req);
    if (a.status !== 201) throw this.fail(a);
    return this.json(a, 'rollout', (v) => decodeRollout(v));
  }

  async rollout(id: string): Promise<ApiRollout | undefined> {
    const a = await this.call('GET', `${API_PREFIX}/rollouts/${encodeURIComponent(id)}`);
    if (a.status === 404) return undefined;
    if (a.status !== 200) throw this.fail(a);
    return this.json(a, 'rollout', (v) => decodeRollout(v));
  }

  async rollouts(): Promise<ApiRollout[]> {
    const a = await this.call('GET', `${API_PREFIX}/rollouts`);
    if (a.status !== 200) throw this.fail(a);
    return this.json(a, 'rollouts', (v) => decodeRolloutList(v));
  }

  async controlRollout(id: string, control: RolloutControl): Promise<void> {
    const a = await this.call('POST', `${API_PREFIX}/rollouts/${encodeURIComponent(id)}/control`, { control });
    if (a.status !== 200) throw this.fail(a);
  }

  async status(name: string, target: InspectTarget = {}): Promise<StatusResult> {
    const q = target.machineID ? `?machineID=${encodeURIComponent(target.machineID)}` : '';
    const a = await this.call('GET', `${API_PREFIX}/units/${encodeURIComponent(name)}/status${q}`);
    if (a.status !== 200) throw this.fail(a);
    const code = Number(a.headers[EXIT_STATUS_HEADER] ?? '0');
    return { output: a.body.toString('utf8'), exitCode: Number.isInteger(code) ? code : 1 };
  }

  async journal(name: string, opts: JournalOptions, target: InspectTarget = {}): Promise<Readable> {
    const q = new URLSearchParams({ lines: String(opts.lines), follow: String(opts.follow), output: opts.output });
    if (target.machineID) q.set('machineID', target.machineID);
    const res = await this.open('GET', `${API_PREFIX}/units/${encodeURIComponent(name)}/journal?${q.toString()}`);
    if (res.statusCode !== 200) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res) {
        size += (c as Buffer).length;
        if (size > MAX_ERROR_BYTES) break;
        chunks.push(c as Buffer);
      }
      res.destroy();
      const a = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
      this.checkAuth(a);
      throw this.fail(a);
    }
    return res;
  }

  async plan(units: PlanUnitRequest[]): Promise<PlanResponse> {
    const a = await this.call('POST', `${API_PREFIX}/plan`, { units });
    if (a.status !== 200) throw this.fail(a);
    return this.json(a, 'plan', (v) => decodePlanResponse(v));
  }

  async close(): Promise<void> {
    this.agentMade?.destroy();
    await this.opts.onClose?.();
  }
}

/** The server's message from an error body, when the body is one. */
/**
 * The path of a request to one of fleet's own routes as fleet's client sent it: `alt=json` (its generated API
 * client asked for JSON that way; fleetd ignores it) and the query keys in Go's sorted order, so a request logs
 * (`--debug`) and reaches a proxy's log as fleet's did. Our own routes (restart, status, journal, plan) have none.
 */
function fleetRoute(path: string, query: URLSearchParams = new URLSearchParams()): string {
  const q = new URLSearchParams(query);
  q.set('alt', 'json');
  q.sort();
  return `${API_PREFIX}/${path}?${q.toString()}`;
}

function errorMessageOf(a: Answer): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.body.toString('utf8'));
  } catch {
    return undefined;
  }
  return errorBodyMessage(parsed);
}

