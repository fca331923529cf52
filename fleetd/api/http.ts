/** Request/response plumbing of the API: JSON bodies, fleet's error bodies, content types. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.js';
import type { ApiErrorBody } from './schema.js';

/** Largest request body accepted (a unit file is small; a plan of many units stays far below this). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  const body: ApiErrorBody = { error: { code: status, message } };
  sendJson(res, status, body);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.end();
}

/** fleet requires exactly one Content-Type header whose media type is application/json. */
export function requireJsonContentType(req: IncomingMessage): void {
  const raw = req.headersDistinct['content-type'] ?? [];
  if (raw.length !== 1) throw new ApiError(415, `expected 1 Content-Type, got ${raw.length}`);
  const media = raw[0]!.split(';', 1)[0]!.trim().toLowerCase();
  if (media !== 'application/json') throw new ApiError(415, 'only acceptable Content-Type is application/json');
}

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > limit) throw new ApiError(413, `request body exceeds ${limit} bytes`);
      chunks.push(b);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, `request body incomplete: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  const text = body.toString('utf8');
  if (text.trim() === '') throw new ApiError(400, 'unable to decode body: request body is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(400, `unable to decode body: ${(err as Error).message}`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
