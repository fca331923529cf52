/** write_files `encoding`: base64 and/or gzip decoding of `content`. */
import { gunzipSync } from 'node:zlib';
import type { Encoding } from './types.js';

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

export function gunzip(data: Buffer): Buffer {
  try {
    return gunzipSync(data);
  } catch (err) {
    throw new DecodeError(`not valid gzip data (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Decodes content given as text, or as bytes from a `!!binary` scalar (which count as already base64-decoded).
 * Raw gzip given as text is read one byte per character. Throws DecodeError.
 */
export function decodeContent(content: string | Uint8Array, encoding: Encoding | undefined): Buffer {
  const raw = (): Buffer => (typeof content === 'string' ? Buffer.from(content, 'latin1') : Buffer.from(content));
  switch (encoding) {
    case undefined:
      return typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
    case 'b64':
    case 'base64':
      return typeof content === 'string' ? decodeBase64(content) : Buffer.from(content);
    case 'gz':
    case 'gzip':
      return gunzip(raw());
    case 'gz+b64':
    case 'gz+base64':
    case 'gzip+b64':
    case 'gzip+base64':
      return gunzip(typeof content === 'string' ? decodeBase64(content) : Buffer.from(content));
  }
}
