/**
 * One HTTP/1.1 GET over node:net, for fleetctl's quick path (issue 13: loading and compiling node:http and its
 * streams cost `fleetctl list-machines` about 5 ms of its start-up). Only the plain case is done here: a unix
 * socket or an http:// endpoint, `Connection: close`, an answer whose head is plain HTTP/1.x and whose body is
 * framed by Content-Length, chunked transfer coding or the end of the connection. Everything else — an answer this
 * parser does not fully understand, a connection that ends or fails after it was made, before the answer is
 * complete — resolves with `undefined`, and HttpFleetClient sends the request again over node:http, so what
 * fleetctl prints for odd servers is what node:http's path prints (GETs are idempotent). A failure to connect and
 * a timeout are final here, worded by the caller as the node:http path words them.
 */
import { connect, type Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

/** An answer read in full. */
export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Where to connect and what to send. */
export interface RawGetRequest {
  /** A unix socket path, or a TCP host (no brackets) and port. */
  target: { socketPath: string } | { host: string; port: number };
  /** The Host header. */
  hostHeader: string;
  /** The request target (path and query), already percent-encoded. */
  path: string;
  /** Further request headers (e.g. Accept, Authorization). */
  headers: Record<string, string>;
  timeoutMs: number;
  /** A body larger than this ends the request with `tooLarge`. */
  maxBodyBytes: number;
}

/** How a raw GET ended when not with an answer. */
export type RawGetFailure =
  | { kind: 'connect'; error: Error } // could not connect: final
  | { kind: 'head-timeout' } // no complete head within timeoutMs: final
  | { kind: 'body-timeout' } // the head came, the body did not finish in time: final
  | { kind: 'too-large' }; // the body grew past maxBodyBytes: final

/** How the body of an answer whose head is in ends: `bytes` is the length of the head. */
export interface BodyFraming {
  bytes: number;
  framing: 'length' | 'chunked' | 'eof';
  /** Content-Length, for 'length'. */
  length: number;
}

/** The outcome of parsing what has arrived so far. */
export type ParseResult =
  | { kind: 'incomplete'; head?: BodyFraming }
  | { kind: 'bad' } // not something this parser fully understands: use node:http
  | { kind: 'done'; answer: RawAnswer };

/** A chunked body longer than this is left to node:http (fleetd's pages are far smaller). */
const MAX_CHUNKED_BYTES = 4 * 1024 * 1024;
/** A longer head is left to node:http (whose limit is 16 KiB). */
const MAX_HEAD_BYTES = 8 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: [^\r\n]*)?$/;
/** Header values node:http would send as given (no control characters but tab). */
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const SAFE_PATH = /^\/[\x21-\x7e]*$/;

/** True when the request can be written as is (no character node:http would refuse or encode). */
export function rawGetPossible(req: Pick<RawGetRequest, 'hostHeader' | 'path' | 'headers'>): boolean {
  if (!SAFE_PATH.test(req.path) || !/^[\x21-\x7e]+$/.test(req.hostHeader)) return false;
  return Object.entries(req.headers).every(([k, v]) => TOKEN.test(k) && SAFE_VALUE.test(v));
}

/**
 * Parses a response to a GET from its first byte. `ended`: the connection has closed, so a body without a length
 * ends here. Anything unusual (1xx, a malformed line, folded headers, duplicate or conflicting framing headers,
 * a transfer coding other than chunked, chunk extensions or trailers that do not parse) is `bad`.
 */
export function parseResponse(buf: Buffer, ended: boolean): ParseResult {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd > MAX_HEAD_BYTES || (headEnd < 0 && buf.length > MAX_HEAD_BYTES)) return { kind: 'bad' };
  if (headEnd < 0) return ended ? { kind: 'bad' } : { kind: 'incomplete' };
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) return { kind: 'bad' };
  const status = Number(m[1]);
  if (status < 200) return { kind: 'bad' };
  const headers: IncomingHttpHeaders = {};
  const raw = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { kind: 'bad' };
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return { kind: 'bad' };
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!SAFE_VALUE.test(value)) return { kind: 'bad' };
    const before = raw.get(name);
    if (before !== undefined && (name === 'content-length' || name === 'transfer-encoding' || name === 'set-cookie')) return { kind: 'bad' };
    raw.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  for (const [k, v] of raw) headers[k] = v;
  const body = buf.subarray(headEnd + 4);
  const done = (b: Buffer): ParseResult => ({ kind: 'done', answer: { status, headers, body: Buffer.from(b) } });
  const te = raw.get('transfer-encoding');
  const cl = raw.get('content-length');
  if (status === 204 || status === 304) return te === undefined && (cl === undefined || cl === '0') && body.length === 0 ? done(body) : { kind: 'bad' };
  if (te !== undefined) {
    if (cl !== undefined || te.toLowerCase() !== 'chunked') return { kind: 'bad' };
    return parseChunked(body, ended, done, { bytes: headEnd + 4, framing: 'chunked', length: 0 });
  }
  if (cl !== undefined) {
    if (!/^[0-9]{1,15}$/.test(cl)) return { kind: 'bad' };
    const n = Number(cl);
    if (body.length > n) return { kind: 'bad' };
    if (body.length === n) return done(body);
    return ended ? { kind: 'bad' } : { kind: 'incomplete', head: { bytes: headEnd + 4, framing: 'length', length: n } };
  }
  return ended ? done(body) : { kind: 'incomplete', head: { bytes: headEnd + 4, framing: 'eof', length: 0 } };
}

/** A chunked body: hex size CRLF, data CRLF, ..., `0` CRLF, no trailers, CRLF. */
function parseChunked(body: Buffer, ended: boolean, done: (b: Buffer) => ParseResult, head: BodyFraming): ParseResult {
  const parts: Buffer[] = [];
  let at = 0;
  const incomplete = (): ParseResult => (ended ? { kind: 'bad' } : { kind: 'incomplete', head });
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) return body.length - at > 32 ? { kind: 'bad' } : incomplete();
    const sizeText = body.subarray(at, eol).toString('latin1');
    if (!/^[0-9A-Fa-f]{1,12}$/.test(sizeText)) return { kind: 'bad' };
    const n = parseInt(sizeText, 16);
    const dataAt = eol + 2;
    if (n === 0) {
      if (body.length < dataAt + 2) return incomplete();
      if (body[dataAt] !== 0x0d || body[dataAt + 1] !== 0x0a || body.length !== dataAt + 2) return { kind: 'bad' };
      return done(Buffer.concat(parts));
    }
    if (body.length < dataAt + n + 2) return incomplete();
    if (body[dataAt + n] !== 0x0d || body[dataAt + n + 1] !== 0x0a) return { kind: 'bad' };
    parts.push(body.subarray(dataAt, dataAt + n));
    at = dataAt + n + 2;
  }
}

/**
 * Sends `GET path` and reads the whole answer. Resolves with the answer, with `undefined` when node:http is to
 * handle this request instead, or with a final failure.
 */
export function rawGet(req: RawGetRequest): Promise<RawAnswer | RawGetFailure | undefined> {
  return new Promise((resolve) => {
    const started = Date.now();
    let settled = false;
    let connected = false;
    let chunks: Buffer[] = [];
    /** Set once the head is in; then `bodyRaw` counts the bytes after it, as they arrive. */
    let head: BodyFraming | undefined;
    let bodyRaw = 0;
    let tail = '';
    const sock: Socket = 'socketPath' in req.target ? connect(req.target.socketPath) : connect(req.target.port, req.target.host);
    const finish = (v: RawAnswer | RawGetFailure | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    let timer = setTimeout(() => finish(head ? { kind: 'body-timeout' } : { kind: 'head-timeout' }), req.timeoutMs);
    /** Parses all that arrived (called only when the answer may be complete, so reading stays linear). */
    const attempt = (ended: boolean): void => {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks = [all];
      const r = parseResponse(all, ended);
      if (r.kind === 'done') return finish(r.answer);
      if (r.kind === 'bad') return finish(undefined);
      if (r.head === undefined || head !== undefined) return;
      head = r.head;
      bodyRaw = all.length - head.bytes;
      // As node:http's path: the body gets what is left of the request timeout once the head is in.
      clearTimeout(timer);
      timer = setTimeout(() => finish({ kind: 'body-timeout' }), Math.max(1, req.timeoutMs - (Date.now() - started)));
      checkSize();
    };
    /** A body past the bound: refused (connection-framed, counted as node:http counts it) or left to node:http. */
    const checkSize = (): void => {
      if (head === undefined) return;
      if (head.framing === 'eof' && bodyRaw > req.maxBodyBytes) finish({ kind: 'too-large' });
      if (head.framing === 'length' && head.length > req.maxBodyBytes) finish(undefined);
      if (head.framing === 'chunked' && bodyRaw > MAX_CHUNKED_BYTES) finish(undefined);
    };
    sock.on('connect', () => {
      connected = true;
      let text = `GET ${req.path} HTTP/1.1\r\nHost: ${req.hostHeader}\r\n`;
      for (const [k, v] of Object.entries(req.headers)) text += `${k}: ${v}\r\n`;
      sock.write(Buffer.from(`${text}Connection: close\r\n\r\n`, 'latin1'));
    });
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (head === undefined) return attempt(false);
      bodyRaw += c.length;
      checkSize();
      if (settled) return;
      if (head.framing === 'length' && bodyRaw >= head.length) return attempt(false);
      if (head.framing === 'chunked') {
        // A chunked body (without trailers, the only kind parsed here) can only be complete when it ends in CRLF CRLF.
        tail = (tail + c.toString('latin1', Math.max(0, c.length - 4))).slice(-4);
        if (tail === '\r\n\r\n') attempt(false);
      }
    });
    sock.on('end', () => attempt(true));
    sock.on('error', (error) => finish(connected ? undefined : { kind: 'connect', error }));
    sock.on('close', () => finish(undefined));
  });
}
