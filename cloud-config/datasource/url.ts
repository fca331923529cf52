/**
 * --from-url URL: user-data is whatever the URL answers (a 404 is an error here, unlike the metadata services);
 * there is no metadata. Only that URL is asked (and http(s) redirects from it).
 */
import { MAX_DOCUMENT_BYTES } from '../limits.js';
import type { SourceContext } from './common.js';
import { answers, getWithRetry, httpUrl } from './http.js';
import { DatasourceError, EMPTY_METADATA, type Datasource } from './types.js';

export function urlSource(text: string, ctx: SourceContext, type = 'url'): Datasource {
  const url = httpUrl(type, text);
  return {
    type,
    location: url.href,
    availabilityChanges: true,
    isAvailable: (signal) => answers(type, url, { maxBytes: MAX_DOCUMENT_BYTES, signal }, { ...ctx.http, timeoutMs: Math.min(ctx.http.timeoutMs, 5_000) }),
    async fetchUserdata(): Promise<Buffer> {
      const body = await getWithRetry(type, url, { maxBytes: MAX_DOCUMENT_BYTES, ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) }, ctx.http);
      if (body === undefined) throw new DatasourceError(type, url.href, 'HTTP 404 (not found)');
      return body;
    },
    fetchMetadata: () => Promise.resolve(EMPTY_METADATA),
  };
}
