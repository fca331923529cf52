/**
 * What the sources share: the context they run in (HTTP bounds, where warnings go), the HTTP metadata service
 * they build on (one root URL; paths below it only), bounded file reads for the file sources, and the checks a
 * metadata value passes before it is used (addresses, host name, one-line SSH keys).
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { errorMessage } from '../../lib/errors.js';
import { isJsonObject } from '../../lib/json.js';
import { MAX_DOCUMENT_BYTES, MAX_METADATA_BYTES, MAX_METADATA_KEYS } from '../limits.js';
import { hostnameProblem } from '../schema.js';
import { answers, getWithRetry, httpUrl, type HttpOptions } from './http.js';
import { DatasourceError, type Metadata, type Warn } from './types.js';

export interface SourceContext {
  readonly http: HttpOptions;
  readonly warn: Warn;
  /** progress of retries (stderr in the CLI) */
  readonly onRetry?: (message: string) => void;
}

/** A metadata service at `root` (a directory URL: a trailing slash is added); it only asks paths below it. */
export class MetadataService {
  readonly root: URL;
  constructor(
    readonly source: string,
    root: string,
    private readonly ctx: SourceContext,
    private readonly headers: Readonly<Record<string, string>> = {},
  ) {
    this.root = httpUrl(source, root.endsWith('/') ? root : `${root}/`);
  }

  url(path: string): URL {
    return new URL(path, this.root);
  }

  available(path: string, signal: AbortSignal): Promise<boolean> {
    return answers(this.source, this.url(path), { maxBytes: MAX_METADATA_BYTES, headers: this.headers, signal }, { ...this.ctx.http, timeoutMs: Math.min(this.ctx.http.timeoutMs, 5_000) });
  }

  /** A metadata answer (undefined for 404), at most MAX_METADATA_BYTES. */
  get(path: string): Promise<Buffer | undefined> {
    return getWithRetry(this.source, this.url(path), this.opts(MAX_METADATA_BYTES), this.ctx.http);
  }

  /** A metadata answer as trimmed text, undefined for 404 or empty. */
  async text(path: string): Promise<string | undefined> {
    const b = await this.get(path);
    const s = b?.toString('utf8').trim();
    return s === undefined || s === '' ? undefined : s;
  }

  /** The JSON answer at `path` (undefined for 404). */
  async json(path: string): Promise<unknown> {
    const b = await this.get(path);
    return b === undefined ? undefined : parseJson(this.source, this.url(path).href, b);
  }

  /** User-data at `path` (empty for 404), at most MAX_DOCUMENT_BYTES. */
  async userdata(path: string): Promise<Buffer> {
    return (await getWithRetry(this.source, this.url(path), this.opts(MAX_DOCUMENT_BYTES), this.ctx.http)) ?? Buffer.alloc(0);
  }

  private opts(maxBytes: number): { maxBytes: number; headers: Readonly<Record<string, string>>; onRetry?: (m: string) => void } {
    return { maxBytes, headers: this.headers, ...(this.ctx.onRetry ? { onRetry: this.ctx.onRetry } : {}) };
  }
}

/**
 * A regular file's content, at most `maxBytes` (undefined when it does not exist). The last component is not
 * followed if it is a link, and anything but a regular file (a FIFO would block) is refused.
 */
export async function readBounded(source: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new DatasourceError(source, path, 'is a symbolic link; not followed');
    throw new DatasourceError(source, path, errorMessage(err));
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new DatasourceError(source, path, 'not a regular file');
    if (st.size > maxBytes) throw new DatasourceError(source, path, `${st.size} bytes is larger than the limit of ${maxBytes} bytes`);
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw new DatasourceError(source, path, `larger than the limit of ${maxBytes} bytes`);
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** Builds Metadata from untrusted values: bad addresses and host names are dropped with a warning, as are keys
 * that are not one line; at most MAX_METADATA_KEYS keys. */
export function checkedMetadata(
  source: string,
  warn: Warn,
  raw: {
    publicIpv4?: unknown;
    privateIpv4?: unknown;
    publicIpv6?: unknown;
    privateIpv6?: unknown;
    hostname?: unknown;
    sshPublicKeys?: readonly unknown[];
    networkConfig?: Buffer;
  },
): Metadata {
  const out: { -readonly [K in keyof Metadata]: Metadata[K] } = { sshPublicKeys: [] };
  const ip = (name: 'publicIpv4' | 'privateIpv4' | 'publicIpv6' | 'privateIpv6', v6: boolean): void => {
    const v = raw[name];
    if (v === undefined || v === null || v === '') return;
    if (typeof v === 'string' && (v6 ? isIPv6(v) : isIPv4(v))) out[name] = v;
    else warn(`${source}: ${name} ${JSON.stringify(v)} is not an IPv${v6 ? 6 : 4} address; ignored`);
  };
  ip('publicIpv4', false);
  ip('privateIpv4', false);
  ip('publicIpv6', true);
  ip('privateIpv6', true);
  if (raw.hostname !== undefined && raw.hostname !== null && raw.hostname !== '') {
    const problem = typeof raw.hostname === 'string' ? hostnameProblem(raw.hostname) : 'not a string';
    if (problem === undefined) out.hostname = raw.hostname as string;
    else warn(`${source}: hostname ${JSON.stringify(raw.hostname)} ignored: ${problem}`);
  }
  const keys: string[] = [];
  for (const k of raw.sshPublicKeys ?? []) {
    if (typeof k !== 'string' || /[\r\n\0]/.test(k.trim()) || k.trim() === '') {
      warn(`${source}: an SSH key that is not one line of text ignored`);
      continue;
    }
    if (keys.length >= MAX_METADATA_KEYS) {
      warn(`${source}: more than ${MAX_METADATA_KEYS} SSH keys; the rest ignored`);
      break;
    }
    keys.push(k.trim());
  }
  out.sshPublicKeys = keys;
  if (raw.networkConfig !== undefined) out.networkConfig = raw.networkConfig;
  return out;
}

/** JSON text from `location`, or DatasourceError. */
export function parseJson(source: string, location: string, b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8')) as unknown;
  } catch (err) {
    throw new DatasourceError(source, location, `not valid JSON (${errorMessage(err)})`);
  }
}

/** `obj[key]` when obj is a plain object. */
export function field(obj: unknown, key: string): unknown {
  return isJsonObject(obj) ? obj[key] : undefined;
}
