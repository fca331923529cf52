/** write_files `encoding`: base64 and/or gzip decoding of `content`. */
import { gunzipSync } from 'node:zlib';
import type { Encoding } from './types.js';
import { errorMessage } from '../lib/errors.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

/** Bytes of user-data as text; invalid UTF-8 is an error naming its byte offset and line (go-yaml refused it too)
 * rather than being replaced by U+FFFD. Throws DecodeError. */
export function decodeUtf8(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.includes('\uFFFD')) return text;
  let offset = 0;
  let line = 1;
  for (const ch of text) {
    if (ch === '\uFFFD' && !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)) {
      throw new DecodeError(`invalid UTF-8 at byte offset ${offset} (line ${line}, byte 0x${bytes[offset]!.toString(16).padStart(2, '0')}); user-data must be UTF-8`);
    }
    if (ch === '\n') line++;
    offset += Buffer.byteLength(ch);
  }
  return text;
}

/** Strict standard base64 (whitespace and line breaks between characters are allowed). */
export function decodeBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 !== 0) {
    throw new DecodeError('not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

/** Decoded content would be larger than the bound it was decoded under (see limits.ts). */
export class ContentTooLargeError extends Error {
  override readonly name = 'ContentTooLargeError';
  constructor(readonly limit: number) {
    super(`decodes to more than ${limit} bytes`);
  }
}

/** Inflates gzip data, stopping as soon as the output passes `maxBytes` (zlib's maxOutputLength), so a gzip
 * bomb costs at most that much memory and the time to inflate it. */
export function gunzip(data: Buffer, maxBytes: number): Buffer {
  let out: Buffer;
  try {
    out = gunzipSync(data, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    if (codeOf(err) === 'ERR_BUFFER_TOO_LARGE') throw new ContentTooLargeError(maxBytes);
    throw new DecodeError(`not valid gzip data (${errorMessage(err)})`);
  }
  if (out.length > maxBytes) throw new ContentTooLargeError(maxBytes);
  return out;
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function bounded(data: Buffer, maxBytes: number): Buffer {
  if (data.length > maxBytes) throw new ContentTooLargeError(maxBytes);
  return data;
}

/**
 * Decodes content given as text, or as bytes from a `!!binary` scalar (which count as already base64-decoded).
 * Raw gzip given as text is read one byte per character. Throws DecodeError, or ContentTooLargeError when the
 * result would be larger than `maxBytes` (gzip stops inflating there).
 */
export function decodeContent(content: string | Uint8Array, encoding: Encoding | undefined, maxBytes: number): Buffer {
  const raw = (): Buffer => (typeof content === 'string' ? Buffer.from(content, 'latin1') : Buffer.from(content));
  switch (encoding) {
    case undefined:
      return bounded(typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content), maxBytes);
    case 'b64':
    case 'base64':
      return bounded(typeof content === 'string' ? decodeBase64(content) : Buffer.from(content), maxBytes);
    case 'gz':
    case 'gzip':
      return gunzip(raw(), maxBytes);
    case 'gz+b64':
    case 'gz+base64':
    case 'gzip+b64':
    case 'gzip+base64':
      return gunzip(typeof content === 'string' ? decodeBase64(content) : Buffer.from(content), maxBytes);
  }
}
