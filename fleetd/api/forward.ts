/** Relays status/journal requests to the TCP API of the machine hosting the unit. */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from '../../lib/api/errors.js';
import type { PeerForwarder } from './inspect.js';
import { EXIT_STATUS_HEADER, FORWARDED_HEADER, type ApiMachine } from '../../lib/api/schema.js';

export interface HttpForwarderOptions {
  /** This machine's id, sent along so the peer never forwards again. */
  machineId: string;
  /** TCP port of the peers' API (the cluster shares one api_listen port). */
  port: number;
  /** Use https; `ca` verifies the peers (host names are not checked: peers are addressed by IP). */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Bearer token of the peers' API. */
  token?: string;
  /** ms until the peer must answer with headers. */
  timeoutMs: number;
  /** Overrides the peer address (tests, NAT): base URL like `http://10.0.0.2:49153`. */
  peerUrl?: (machine: ApiMachine) => string | undefined;
}

export class HttpPeerForwarder implements PeerForwarder {
  private readonly agent: http.Agent;

  constructor(private readonly opts: HttpForwarderOptions) {
    this.agent = opts.tls
      ? new https.Agent({ keepAlive: true, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key, checkServerIdentity: () => undefined })
      : new http.Agent({ keepAlive: true });
  }

  static fromConfig(cfg: {
    machineId: string;
    apiListen: string;
    apiToken: string;
    apiTlsCertfile: string;
    apiTlsKeyfile: string;
    apiTlsCafile: string;
    timeoutMs?: number;
  }): HttpPeerForwarder | undefined {
    const m = /:(\d+)$/.exec(cfg.apiListen);
    if (!m) return undefined;
    const tls = cfg.apiTlsCertfile
      ? {
          cert: readFileSync(cfg.apiTlsCertfile),
          key: readFileSync(cfg.apiTlsKeyfile),
          ...(cfg.apiTlsCafile ? { ca: readFileSync(cfg.apiTlsCafile) } : {}),
        }
      : undefined;
    return new HttpPeerForwarder({
      machineId: cfg.machineId,
      port: Number(m[1]),
      ...(tls ? { tls } : {}),
      ...(cfg.apiToken ? { token: cfg.apiToken } : {}),
      timeoutMs: cfg.timeoutMs ?? 10000,
    });
  }

  private baseUrl(machine: ApiMachine): string {
    const custom = this.opts.peerUrl?.(machine);
    if (custom) return custom.replace(/\/+$/, '');
    if (!machine.primaryIP) throw new ApiError(502, `machine ${machine.id} publishes no public IP; its API cannot be reached`);
    const host = machine.primaryIP.includes(':') ? `[${machine.primaryIP}]` : machine.primaryIP;
    return `${this.opts.tls ? 'https' : 'http'}://${host}:${this.opts.port}`;
  }

  async forward(machine: ApiMachine, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(this.baseUrl(machine) + path);
    const headers: Record<string, string> = { Accept: String(req.headers.accept ?? '*/*'), [FORWARDED_HEADER]: this.opts.machineId };
    if (this.opts.token) headers['Authorization'] = `Bearer ${this.opts.token}`;
    const mod = url.protocol === 'https:' ? https : http;
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = mod.request(url, { method: 'GET', headers, agent: this.agent });
      const timer = setTimeout(() => r.destroy(new Error(`no answer within ${this.opts.timeoutMs / 1000}s`)), this.opts.timeoutMs);
      r.on('response', (up) => {
        clearTimeout(timer);
        resolve(up);
      });
      r.on('error', (err) => {
        clearTimeout(timer);
        reject(new ApiError(502, `cannot reach the API of machine ${machine.id} at ${url.origin}: ${err.message}`));
      });
      res.on('close', () => r.destroy());
      r.end();
    });
    res.statusCode = upstream.statusCode ?? 502;
    for (const h of ['content-type', EXIT_STATUS_HEADER, 'cache-control']) {
      const v = upstream.headers[h];
      if (v !== undefined) res.setHeader(h, v);
    }
    res.flushHeaders();
    await new Promise<void>((resolve) => {
      upstream.on('end', () => {
        res.end();
        resolve();
      });
      upstream.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', () => {
        upstream.destroy();
        resolve();
      });
      upstream.pipe(res, { end: false });
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
