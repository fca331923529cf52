/**
 * One etcd Range call whose answer is decoded by range-codec.ts instead of etcd3's protobufjs objects: the later
 * pages of whole-prefix reads (readPages), where decoding was most of a 100,000-unit listing's CPU. The call goes
 * through etcd3's own connection pool (host choice, circuit breakers, auth metadata, gRPC channel options) and the
 * retry policy openEtcd gave that client, so it fails and retries as etcd3's calls do. etcd3 has no public way to
 * pass a decoder: the pool is reached through a protected field, checked for the one method used, and any client
 * without it (or a stale auth token, which etcd3 renews only inside its own calls) takes etcd3's kv.range.
 */
import { castGrpcError, EtcdInvalidAuthTokenError, type Etcd3 } from 'etcd3';
import type { IPolicy } from 'cockatiel';
import { decodeRangeResponse, encodeRangeRequest, type RawRangeRequest, type RawRangeResponse } from './range-codec.js';

/** The part of a gRPC client (grpc-js Client) used here. */
interface UnaryClient {
  makeUnaryRequest(
    method: string,
    serialize: (req: RawRangeRequest) => Buffer,
    deserialize: (buf: Buffer) => RawRangeResponse,
    argument: RawRangeRequest,
    metadata: unknown,
    options: { deadline?: number },
    callback: (err: Error | null, res?: RawRangeResponse) => void,
  ): unknown;
}

/** The part of etcd3's ConnectionPool used here. */
interface KvPool {
  withConnection<T>(service: 'KV', fn: (args: { client: UnaryClient; metadata: unknown }) => Promise<T>): Promise<T>;
}

interface RawSettings {
  readonly policy: IPolicy;
  readonly timeoutMs: number;
}

const settings = new WeakMap<Etcd3, RawSettings>();

/** openEtcd: the retry policy it gave `client` (etcd3's `faultHandling.global`) and its unary deadline. */
export function enableRawRange(client: Etcd3, s: RawSettings): void {
  settings.set(client, s);
}

function poolOf(client: Etcd3): KvPool | undefined {
  const pool: unknown = (client as unknown as { pool?: unknown }).pool;
  if (typeof pool !== 'object' || pool === null) return undefined;
  return typeof (pool as { withConnection?: unknown }).withConnection === 'function' ? (pool as KvPool) : undefined;
}

/** etcd3's own call and decoding. */
async function viaEtcd3(client: Etcd3, req: RawRangeRequest): Promise<RawRangeResponse> {
  const res = await client.kv.range(req);
  return { header: { revision: res.header.revision }, kvs: res.kvs, more: res.more, count: res.count };
}

type RangeObserver = (req: RawRangeRequest) => Promise<void> | void;
const observers = new WeakMap<Etcd3, RangeObserver>();

/**
 * Calls `fn` (and waits for it) before each range call rangeRaw makes through `client`, until the returned function
 * is called: tests use it to count pages and to write between two pages of a read.
 */
export function observeRanges(client: Etcd3, fn: RangeObserver): () => void {
  observers.set(client, fn);
  return () => {
    if (observers.get(client) === fn) observers.delete(client);
  };
}

/** A Range call; `client` must come from openEtcd for the lean decoding, any other takes etcd3's. */
export async function rangeRaw(client: Etcd3, req: RawRangeRequest): Promise<RawRangeResponse> {
  await observers.get(client)?.(req);
  const s = settings.get(client);
  const pool = s && poolOf(client);
  if (!s || !pool) return viaEtcd3(client, req);
  try {
    return await s.policy.execute(() =>
      pool.withConnection('KV', ({ client: grpc, metadata }) =>
        new Promise<RawRangeResponse>((resolve, reject) => {
          grpc.makeUnaryRequest(
            '/etcdserverpb.KV/Range',
            encodeRangeRequest,
            decodeRangeResponse,
            req,
            metadata,
            { deadline: Date.now() + s.timeoutMs },
            (err, res) => (err || !res ? reject(castGrpcError(err ?? new Error('empty etcd range response'))) : resolve(res)),
          );
        }),
      ),
    );
  } catch (err) {
    if (err instanceof EtcdInvalidAuthTokenError) return viaEtcd3(client, req);
    throw err;
  }
}
