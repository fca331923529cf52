import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { CompareResult, CompareTarget, Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import type { ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { errorMessage } from '../errors.js';
import { RegistryConfigError } from './errors.js';
import { normalizePrefix } from './keys.js';
import { enableRawRange, rangeRaw } from './raw-range.js';
import type { RawRangeRequest } from './range-codec.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 3000;
/**
 * Largest etcd response accepted (gRPC's default is 4 MiB). Whole-prefix reads come in pages (readPages), so no
 * response grows with the cluster: a page aims at PAGE_BYTES (after a first page of PAGE_KEYS job or state keys,
 * about 1 MiB), a batch of 100 unit texts (MAX_OPS_PER_TXN) is at most 100 times the largest unit file. 64 MiB
 * leaves room for unit files of over 600 KiB.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Keys of the first page of a whole-prefix read (readPages); later pages adapt to the size of the keys. */
export const PAGE_KEYS = 5000;
/** A paged read whose revision was compacted away between two pages starts again this many times in all. */
const PAGED_READ_ATTEMPTS = 3;

const WATCH_BACKOFF_MIN_MS = 100;
const WATCH_BACKOFF_MAX_MS = 2000;

/** Failures in a row after which calls to an endpoint fail fast (another endpoint, if any, is tried instead). */
const BREAKER_FAILURES = 3;
/**
 * How long an endpoint fails fast before one call may probe it. etcd3's default is 5 s: after an etcd outage
 * every fleetd then waits up to 5 s more to re-register, and an engine elected sooner moves their units.
 */
const BREAKER_HALF_OPEN_MS = 500;

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/**
 * Watch stream reconnect delays: jittered exponential from 100 ms, capped at 2 s (etcd3's default cap is 30 s,
 * which would leave agents blind to their schedule that long after an etcd outage).
 */
function watchBackoff(attempt = 0): WatchBackoff {
  const ceiling = Math.min(WATCH_BACKOFF_MAX_MS, WATCH_BACKOFF_MIN_MS * 2 ** attempt);
  return { duration: ceiling / 2 + (Math.random() * ceiling) / 2, next: () => watchBackoff(attempt + 1) };
}

export interface EtcdOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379` or `https://etcd.example:2379`. */
  readonly endpoints: readonly string[];
  /** Key prefix the Registry will use; only validated here so one config object carries both. */
  readonly prefix?: string;
  /** Deadline of every unary etcd call (watches and lease keep-alives are streams and have none). */
  readonly requestTimeoutMs?: number;
  /** PEM data, or a path to a PEM file when given as a string. Without `ca` the system roots are used. */
  readonly tls?: { readonly ca?: string | Buffer; readonly cert?: string | Buffer; readonly key?: string | Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
}

function pem(what: string, v: string | Buffer): Buffer {
  if (Buffer.isBuffer(v)) return v;
  try {
    return readFileSync(v);
  } catch (err) {
    throw new RegistryConfigError(`cannot read etcd TLS ${what} file ${v}: ${errorMessage(err)}`);
  }
}

/** Builds an etcd3 client for the given endpoints. It connects lazily: a bad endpoint shows up on first use. */
export function openEtcd(opts: EtcdOptions): Etcd3 {
  if (opts.endpoints.length === 0) throw new RegistryConfigError('no etcd endpoint configured (etcd_servers is empty)');
  for (const e of opts.endpoints) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      throw new RegistryConfigError(`invalid etcd endpoint ${JSON.stringify(e)}: expected http://host:port or https://host:port`);
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.port) {
      throw new RegistryConfigError(`invalid etcd endpoint ${JSON.stringify(e)}: expected http://host:port or https://host:port`);
    }
  }
  normalizePrefix(opts.prefix);
  const timeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!(timeout > 0)) throw new RegistryConfigError(`invalid etcd request timeout ${timeout} ms: must be positive`);

  // etcd3's default retry (3 attempts on errors another endpoint may not have), given here so the lean range
  // calls of readPages (raw-range.ts) retry the same way
  const global = retry(handleWhen(isRecoverableError), { maxAttempts: 3 });
  const options: IOptions = {
    hosts: [...opts.endpoints],
    dialTimeout: Math.max(timeout, 1000),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    faultHandling: {
      global,
      watchBackoff: watchBackoff(),
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: BREAKER_HALF_OPEN_MS, breaker: new ConsecutiveBreaker(BREAKER_FAILURES) }),
    },
    // a page of a whole-prefix read or a batch of unit texts may pass gRPC's 4 MiB default
    grpcOptions: { 'grpc.max_receive_message_length': MAX_RESPONSE_BYTES },
  };
  if (opts.tls && (opts.tls.ca || opts.tls.cert || opts.tls.key)) {
    const { ca, cert, key } = opts.tls;
    if (Boolean(cert) !== Boolean(key)) {
      throw new RegistryConfigError('etcd TLS client authentication needs both a certificate and a key file');
    }
    options.credentials = {
      rootCertificate: ca ? pem('CA', ca) : Buffer.from(rootCertificates.join('\n')),
      ...(cert && key ? { certChain: pem('certificate', cert), privateKey: pem('key', key) } : {}),
    };
  }
  if (opts.auth) options.auth = { username: opts.auth.username, password: opts.auth.password };
  const client = new Etcd3(options);
  enableRawRange(client, { policy: global, timeoutMs: timeout });
  return client;
}

// Raw transaction building blocks: keys are absolute (the client's root namespace).

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

export const op = {
  put(key: string, value: string, lease?: string): IRequestOp {
    return { request_put: { key: buf(key), value: buf(value), ...(lease ? { lease } : {}) } };
  },
  putWithPrev(key: string, value: string): IRequestOp {
    return { request_put: { key: buf(key), value: buf(value), prev_kv: true } };
  },
  del(key: string): IRequestOp {
    return { request_delete_range: { key: buf(key) } };
  },
  delPrefix(prefix: string): IRequestOp {
    return { request_delete_range: { key: buf(prefix), range_end: prefixEnd(prefix) } };
  },
  /** The key, as of `revision` when given. */
  get(key: string, revision?: string): IRequestOp {
    return { request_range: { key: buf(key), ...(revision !== undefined ? { revision } : {}) } };
  },
  getPrefix(prefix: string): IRequestOp {
    return { request_range: { key: buf(prefix), range_end: prefixEnd(prefix) } };
  },
  txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): IRequestOp {
    return { request_txn: { compare, success, failure } };
  },
};

type Cmp = '==' | '!=' | '>' | '<';
const results: Record<Cmp, CompareResult> = {
  '==': CompareResult.Equal,
  '!=': CompareResult.NotEqual,
  '>': CompareResult.Greater,
  '<': CompareResult.Less,
};

export const cmp = {
  version(key: string, c: Cmp, v: number | string): ICompare {
    return { key: buf(key), target: CompareTarget.Version, result: results[c], version: v };
  },
  createRevision(key: string, c: Cmp, v: number | string): ICompare {
    return { key: buf(key), target: CompareTarget.Create, result: results[c], create_revision: v };
  },
  modRevision(key: string, c: Cmp, v: number | string): ICompare {
    return { key: buf(key), target: CompareTarget.Mod, result: results[c], mod_revision: v };
  },
  /** Fails whenever the key is absent, whatever the comparison. */
  value(key: string, c: Cmp, v: string): ICompare {
    return { key: buf(key), target: CompareTarget.Value, result: results[c], value: buf(v) };
  },
  lease(key: string, c: Cmp, v: string): ICompare {
    return { key: buf(key), target: CompareTarget.Lease, result: results[c], lease: v };
  },
};

export function txn(
  client: Etcd3,
  compare: ICompare[],
  success: IRequestOp[],
  failure: IRequestOp[] = [],
): Promise<ITxnResponse> {
  return client.kv.txn({ compare, success, failure });
}

/** The key-values of the range response at `index` of a transaction. */
export function rangeAt(res: ITxnResponse, index: number): IKeyValue[] {
  return res.responses[index]?.response_range?.kvs ?? [];
}

/** One prefix of a paged read. */
export interface PageRead {
  readonly prefix: string;
  /** keys and revisions only, no values */
  readonly keysOnly?: boolean;
  /** keys per page, every page (default: adaptive, see readPages) */
  readonly pageKeys?: number;
  /** keys of the first page of an adaptive read (default PAGE_KEYS) */
  readonly firstPageKeys?: number;
  /**
   * Takes each page as it arrives (in key order) instead of keeping it for the result (whose kvs for this prefix are
   * then empty), so a large read holds its own records rather than every page's key-value objects. `first` marks
   * the first page of an attempt: pages handed over before it (of an attempt etcd's compaction cut short) are void.
   */
  readonly consume?: (kvs: readonly IKeyValue[], first: boolean) => void;
}

/** What readPages read: the key-values of each prefix (in key order), all at one revision. */
export interface PagedSnapshot {
  readonly revision: string;
  readonly kvs: IKeyValue[][];
}

/**
 * Reads whole prefixes in pages of a bounded number of keys, every page at the revision of the first one, so the
 * result is one consistent snapshot however large (a watch of it starts at revision + 1). The first pages of all
 * prefixes come in one transaction; each prefix then continues after its last key, all prefixes side by side. When
 * etcd compacted that revision away meanwhile, the read starts again (at most PAGED_READ_ATTEMPTS times), unless
 * `revision` was given.
 *
 * Pages are adaptive unless PageRead.pageKeys fixes them: after the first, each holds as many keys as fit PAGE_BYTES
 * at the bytes per key seen so far (at most MAX_PAGE_KEYS), halved while etcd's answer is over the receive limit.
 * Few large pages matter on etcd 3.4: it walks its index from a page's first key to the end of the range for every
 * page, so pages of a fixed 5,000 keys made a 300,000-key prefix cost 60 walks of up to 300,000 keys. The first
 * pages come in etcd3's transaction; the others are plain ranges with the lean decoding of raw-range.ts.
 */
export async function readPages(client: Etcd3, reads: readonly PageRead[], revision?: string): Promise<PagedSnapshot> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readPagesOnce(client, reads, revision);
    } catch (err) {
      if (revision !== undefined || attempt >= PAGED_READ_ATTEMPTS || !/compacted/i.test(errorMessage(err))) throw err;
    }
  }
}

/**
 * Bytes of keys and values a page of an adaptive read aims at (well below MAX_RESPONSE_BYTES). Larger pages cost
 * etcd 3.4 fewer index walks but the client more at once: a page is decoded and taken in one step of the event
 * loop. Pages after the first are decoded by range-codec.ts into views of the message, about a third of the CPU
 * of etcd3's objects, so 4 MiB (about 37,000 job keys) holds the loop about as long as 2 MiB did with etcd3's
 * decoding (0.1–0.2 s at 100,000 units on a loaded box) and halves the walks: etcd's CPU for the 300,000 job keys
 * of 100,000 units went from 1.8–1.9 s to 1.1 s (0.6–0.8 s with 8 MiB pages, whose steps were twice as long).
 */
export const PAGE_BYTES = 4 * 1024 * 1024;
/** Most keys in one page of an adaptive read. */
export const MAX_PAGE_KEYS = 100_000;

/** Keys of the next page of an adaptive read, from the bytes per key of the pages so far. */
export function nextPageKeys(keysRead: number, bytesRead: number, minKeys: number): number {
  if (keysRead === 0) return minKeys;
  const perKey = Math.max(1, bytesRead / keysRead);
  return Math.max(minKeys, Math.min(MAX_PAGE_KEYS, Math.floor(PAGE_BYTES / perKey)));
}

const tooLarge = (err: unknown): boolean => /RESOURCE_EXHAUSTED|larger than max/i.test(errorMessage(err));

async function readPagesOnce(client: Etcd3, reads: readonly PageRead[], atRevision: string | undefined): Promise<PagedSnapshot> {
  const range = (r: PageRead, from: Buffer, limit: number, rev: string | undefined): RawRangeRequest => ({
    key: from,
    range_end: prefixEnd(r.prefix),
    limit,
    ...(r.keysOnly ? { keys_only: true } : {}),
    ...(rev !== undefined ? { revision: rev } : {}),
  });
  const firstKeys = (r: PageRead): number => r.pageKeys ?? r.firstPageKeys ?? PAGE_KEYS;
  const first = await client.kv.txn({
    compare: [],
    success: reads.map((r) => ({ request_range: range(r, buf(r.prefix), firstKeys(r), atRevision) })),
    failure: [],
  });
  const revision = atRevision ?? first.header.revision;
  const out: IKeyValue[][] = [];
  await Promise.all(
    reads.map(async (r, i) => {
      const kvs: IKeyValue[] = [];
      out[i] = kvs;
      let keys = 0;
      let bytes = 0;
      let last: Buffer | undefined;
      const take = (page: readonly IKeyValue[], isFirst: boolean): void => {
        keys += page.length;
        for (const kv of page) bytes += kv.key.length + kv.value.length;
        if (page.length > 0) last = page[page.length - 1]!.key;
        if (r.consume) r.consume(page, isFirst);
        else for (const kv of page) kvs.push(kv);
      };
      const page = first.responses[i]?.response_range;
      take(page?.kvs ?? [], true);
      let shrink = 1;
      let more = page?.more === true;
      while (more && last !== undefined) {
        const after = Buffer.concat([last, Buffer.from([0])]);
        const limit = r.pageKeys ?? Math.max(1, Math.floor(nextPageKeys(keys, bytes, firstKeys(r)) / shrink));
        let res;
        try {
          res = await rangeRaw(client, range(r, after, limit, revision));
        } catch (err) {
          if (r.pageKeys !== undefined || limit === 1 || !tooLarge(err)) throw err;
          shrink *= 2;
          continue;
        }
        more = res.more === true && res.kvs.length > 0;
        take(res.kvs, false);
      }
    }),
  );
  return { revision, kvs: out };
}
