/**
 * fleet's page tokens: URL-safe base64 (with padding) of the little-endian struct {Limit uint16, Page uint16}.
 * A token is only valid with the server's token_limit and a page of at least 1.
 */
import { ApiError } from '../../lib/api/errors.js';
import { goBase64Url, goReadFull } from './go-errors.js';

export interface PageToken {
  limit: number;
  page: number;
}

export function encodePageToken(tok: PageToken): string {
  const buf = Buffer.alloc(4);
  buf.writeUInt16LE(tok.limit, 0);
  buf.writeUInt16LE(tok.page, 2);
  return buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Throws ApiError 400 with the texts fleet answered (Go's base64 and binary errors, go-errors.ts). */
export function decodePageToken(value: string): PageToken {
  const buf = goBase64Url(value);
  goReadFull(buf, 4);
  return { limit: buf.readUInt16LE(0), page: buf.readUInt16LE(2) };
}

/** The token of a list request (`?nextPageToken=`), or page 1 when there is none. */
export function requestPageToken(query: URLSearchParams, tokenLimit: number): PageToken {
  const values = query.getAll('nextPageToken');
  if (values.length > 1) throw new ApiError(400, 'too many values for page token');
  if (values.length === 0) return { limit: tokenLimit, page: 1 };
  const tok = decodePageToken(values[0]!);
  if (tok.limit !== tokenLimit) throw new ApiError(400, `token limit must be ${tokenLimit}`);
  if (tok.page === 0) throw new ApiError(400, 'token page must be greater than zero');
  return tok;
}

/** The slice of `all` a token selects and the token of the next page, if that page could hold anything. */
export function paginate<T>(all: readonly T[], tok: PageToken): { items: T[]; next?: string } {
  const start = (tok.page - 1) * tok.limit;
  const stop = tok.page * tok.limit;
  if (start >= all.length) return { items: [] };
  if (stop > all.length) return { items: all.slice(start) };
  // Like fleet, a full page always carries a next token (the next page may be empty); pages are uint16.
  if (tok.page >= 0xffff) return { items: all.slice(start, stop) };
  return { items: all.slice(start, stop), next: encodePageToken({ limit: tok.limit, page: tok.page + 1 }) };
}
