/** Request/response plumbing of the API: JSON bodies, fleet's error bodies, content types. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Slots } from '../../lib/limit.js';
import { ApiError, BusyError } from '../../lib/api/errors.js';
import { errorBody } from '../../lib/api/schema.js';
import { goJson } from '../../lib/api/wire.js';
import { goDecode } from './go-errors.js';

/** Largest request body accepted (a unit file is small; a plan of many units stays far below this). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** `body` as fleetd wrote it (lib/api/wire.ts: Go's escaping; build fleet's entities with its wire* functions). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = goJson(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, errorBody(status, message));
}

/** A bodiless answer (201, 204); it still says `Content-Type: application/json`, as fleet's PATCH answer did. */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end();
}

/** fleet requires exactly one Content-Type header whose media type is application/json. */
export function requireJsonContentType(req: IncomingMessage): void {
  const raw = req.headersDistinct['content-type'] ?? [];
  if (raw.length !== 1) throw new ApiError(415, `expected 1 Content-Type, got ${raw.length}`);
  const media = raw[0]!.split(';', 1)[0]!.trim().toLowerCase();
  if (media !== 'application/json') throw new ApiError(415, 'only acceptable Content-Type is application/json');
}

/**
 * Request body bytes that all requests of one API server may hold at once (each request also within
 * MAX_BODY_BYTES). A request holds its bytes until its response is closed, since its parsed body lives that long.
 * Past the bound a request gets 503 (BusyError) and the rest of its body is read and dropped.
 */
export const MAX_BUFFERED_BODY_BYTES = 24 * 1024 * 1024;

interface BodyCharge {
  budget: Slots;
  /** Takes `n` more bytes for this request; false when the budget is spent. */
  take(n: number): boolean;
  /** Gives back all this request holds (its body was refused and dropped). */
  release(): void;
}

const charges = new WeakMap<IncomingMessage, BodyCharge>();

/** Makes `req`'s body count against `budget`; the bytes are given back when `res` closes. */
export function chargeBodiesTo(req: IncomingMessage, res: ServerResponse, budget: Slots): void {
  let held = 0;
  charges.set(req, {
    budget,
    take(n: number): boolean {
      if (!budget.take(n)) return false;
      held += n;
      return true;
    },
    release(): void {
      budget.give(held);
      held = 0;
    },
  });
  res.once('close', () => charges.get(req)?.release());
}

function busy(budget: Slots): BusyError {
  return new BusyError(`fleetd is busy: request bodies being processed would exceed ${budget.limit} bytes; retry later`);
}

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const charge = charges.get(req);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new ApiError(413, `request body exceeds ${limit} bytes`));
  if (charge && declared > charge.budget.limit - charge.budget.used) return Promise.reject(busy(charge.budget));
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    // Refuses the rest of the body: stop keeping it, drain it (Node answers and closes or reuses the connection).
    const fail = (err: ApiError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      chunks = [];
      charge?.release();
      req.resume();
      reject(err);
    };
    const onData = (b: Buffer): void => {
      size += b.length;
      if (size > limit) return fail(new ApiError(413, `request body exceeds ${limit} bytes`));
      if (charge && !charge.take(b.length)) return fail(busy(charge.budget));
      chunks.push(b);
    };
    const onEnd = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => fail(new ApiError(400, `request body incomplete: ${err.message}`));
    const onClose = (): void => {
      if (!req.complete) fail(new ApiError(400, 'request body incomplete: the client went away'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Reads and drops what is left of a refused request's body, at most `max` more bytes, before its answer is sent.
 * Answering first and closing while the client still sends would reset the connection, and a client that is
 * still writing then sees the reset instead of the answer. Returns when the body has ended, the connection has
 * gone (Node's request timeout also ends a slow one), or `max` bytes were dropped. A body declared larger than
 * `max` is not waited for.
 */
export function drainBody(req: IncomingMessage, max = MAX_BODY_BYTES): Promise<void> {
  if (req.complete || req.destroyed || Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve();
  return new Promise((resolve) => {
    let dropped = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', done);
      req.off('close', done);
      req.off('error', done);
      resolve();
    };
    const onData = (b: Buffer): void => {
      dropped += b.length;
      if (dropped > max) done();
    };
    req.on('data', onData);
    req.on('end', done);
    req.on('close', done);
    req.on('error', done);
    req.resume();
  });
}

/**
 * The body's first JSON value, read as fleet's Go decoder read it (what follows the value is ignored); a body
 * that is not JSON is 400 with Go's text after `prefix` (fleet: `unable to decode body: ` on PUT, none on PATCH).
 */
export async function readJson(req: IncomingMessage, prefix = 'unable to decode body: '): Promise<unknown> {
  return goDecode(await readBody(req), prefix);
}

