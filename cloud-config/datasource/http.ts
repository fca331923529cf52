/**
 * HTTP GET for the metadata and URL sources, bounded in every direction: a timeout per request, a size bound
 * on the body (refused as soon as it is passed, so memory stays at the bound), retries with capped exponential
 * backoff for network errors, timeouts and 5xx answers (as coreos-cloudinit's GetRetry; a 404 is an answer,
 * other 4xx fail at once), redirects only to http(s) and at most `maxRedirects`. No proxy is used.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { errorMessage } from '../../lib/errors.js';
import { DatasourceError } from './types.js';

export interface HttpOptions {
  /** one request, connect to last body byte */
  readonly timeoutMs: number;
  /** requests in all for one fetch (the first one included) */
  readonly attempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxRedirects: number;
}

/** coreos-cloudinit's client: 10 s timeout, 15 tries, backoff doubling up to 5 s; Go's 10 redirects. */
export const DEFAULT_HTTP: HttpOptions = { timeoutMs: 10_000, attempts: 15, initialBackoffMs: 100, maxBackoffMs: 5_000, maxRedirects: 10 };

export interface GetOptions {
  readonly maxBytes: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** called before each retry with what failed and how long it waits */
  readonly onRetry?: (message: string) => void;
  readonly signal?: AbortSignal;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** An http(s) URL, or DatasourceError naming `source`. */
export function httpUrl(source: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DatasourceError(source, text, 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DatasourceError(source, text, `only http and https URLs are read, not ${url.protocol}`);
  return url;
}

interface Answer {
  readonly status: number;
  readonly location?: string;
  readonly body: Buffer;
}

function once(source: string, url: URL, opts: GetOptions, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const fail = (reason: string, retryable: boolean): void => reject(new DatasourceError(source, url.href, reason, retryable));
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      headers: { ...opts.headers, 'accept-encoding': 'identity' },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const timer = setTimeout(() => {
      req.destroy();
      fail(`no complete answer within ${timeoutMs} ms`, true);
    }, timeoutMs);
    const done = (): void => clearTimeout(timer);
    req.on('error', (err) => {
      done();
      fail(errorMessage(err), true);
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        res.on('end', done);
        resolve({ status, ...(typeof res.headers.location === 'string' ? { location: res.headers.location } : {}), body: Buffer.alloc(0) });
        req.destroy();
        done();
        return;
      }
      const declared = Number(res.headers['content-length'] ?? NaN);
      if (declared > opts.maxBytes) {
        done();
        req.destroy();
        fail(`answer of ${declared} bytes is larger than the limit of ${opts.maxBytes} bytes`, false);
        return;
      }
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > opts.maxBytes) {
          done();
          req.destroy();
          fail(`answer is larger than the limit of ${opts.maxBytes} bytes`, false);
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        done();
        resolve({ status, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => {
        done();
        fail(errorMessage(err), true);
      });
    });
    req.end();
  });
}

/** One GET following http(s) redirects; undefined for 404. Throws DatasourceError (retryable for 5xx). */
async function getFollowing(source: string, start: URL, opts: GetOptions, http: HttpOptions): Promise<Buffer | undefined> {
  let url = start;
  for (let hop = 0; ; hop++) {
    const a = await once(source, url, opts, http.timeoutMs);
    if (a.status >= 200 && a.status < 300) return a.body;
    if (a.status === 404) return undefined;
    if (REDIRECTS.has(a.status) && a.location !== undefined) {
      if (hop >= http.maxRedirects) throw new DatasourceError(source, start.href, `more than ${http.maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(a.location, url);
      } catch {
        throw new DatasourceError(source, url.href, `redirect to an invalid URL ${JSON.stringify(a.location)}`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new DatasourceError(source, url.href, `redirect to ${JSON.stringify(a.location)} refused: only http and https are followed`);
      }
      url = next;
      continue;
    }
    throw new DatasourceError(source, url.href, `HTTP ${a.status}`, a.status >= 500);
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** The next backoff: doubled, capped. */
export function nextBackoff(ms: number, max: number): number {
  return Math.min(ms * 2, max);
}

/**
 * GET `url` with retries: the body, or undefined for a 404. Throws DatasourceError: at once for a 4xx, an
 * oversized answer or a refused redirect; after `attempts` tries for network errors, timeouts and 5xx.
 */
export async function getWithRetry(source: string, url: URL, opts: GetOptions, http: HttpOptions): Promise<Buffer | undefined> {
  let wait = http.initialBackoffMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await getFollowing(source, url, opts, http);
    } catch (err) {
      if (!(err instanceof DatasourceError) || !err.retryable || opts.signal?.aborted) throw err;
      if (attempt >= http.attempts) throw new DatasourceError(source, url.href, `gave up after ${attempt} attempts: ${err.reason}`);
      opts.onRetry?.(`${err.message}; attempt ${attempt} of ${http.attempts}, retrying in ${wait} ms`);
      await sleep(wait, opts.signal);
      wait = nextBackoff(wait, http.maxBackoffMs);
    }
  }
}

/** One GET without retries, for availability checks: true for a 2xx answer. */
export async function answers(source: string, url: URL, opts: GetOptions, http: HttpOptions): Promise<boolean> {
  try {
    return (await getFollowing(source, url, opts, http)) !== undefined;
  } catch {
    return false;
  }
}
