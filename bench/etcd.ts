/**
 * etcd for benchmarks: the test harness's real etcd (test/harness/etcd.ts: loopback ports, throw-away data dir,
 * watchdog) plus its Prometheus counters, read from /metrics on the client port.
 */
import http from 'node:http';
import { startEtcd, type EtcdInstance } from '../test/harness/etcd.js';
import type { Teardown } from './teardown.js';
import { BenchError } from './errors.js';

export type { EtcdInstance };

export async function startBenchEtcd(teardown: Teardown, extraArgs: string[] = []): Promise<EtcdInstance> {
  return startEtcd(teardown, {
    extraArgs: ['--quota-backend-bytes', String(8 * 1024 ** 3), ...extraArgs],
  });
}

/** One scrape of etcd's /metrics: series (name plus labels, as printed) -> value. */
export type Metrics = Map<string, number>;

export function scrapeMetrics(endpoint: string): Promise<Metrics> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${endpoint}/metrics`, { timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const out: Metrics = new Map();
        for (const line of body.split('\n')) {
          if (line === '' || line.startsWith('#')) continue;
          const sp = line.lastIndexOf(' ');
          const v = Number(line.slice(sp + 1));
          if (Number.isFinite(v)) out.set(line.slice(0, sp), v);
        }
        resolve(out);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new BenchError(`etcd metrics at ${endpoint} did not answer within 10 s`)));
    req.on('error', reject);
  });
}

/** Sum of every series of one metric (optionally only those whose labels pass `filter`). */
export function sum(m: Metrics, name: string, filter: (labels: string) => boolean = () => true): number {
  let total = 0;
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    const n = brace < 0 ? k : k.slice(0, brace);
    if (n === name && filter(brace < 0 ? '' : k.slice(brace))) total += v;
  }
  return total;
}

function label(labels: string, key: string): string | undefined {
  return new RegExp(`${key}="([^"]*)"`).exec(labels)?.[1];
}

/** What etcd served: unary gRPC calls by method, stream messages, MVCC operations, database size. */
export interface EtcdCounters {
  /** completed unary gRPC calls (grpc_server_handled_total, grpc_type="unary"), by method */
  readonly unaryByMethod: Record<string, number>;
  readonly unary: number;
  /** messages received on streams (watch requests, lease keep-alives), by method */
  readonly streamMsgsByMethod: Record<string, number>;
  readonly streamMsgs: number;
  readonly mvccPut: number;
  readonly mvccRange: number;
  readonly mvccTxn: number;
  readonly mvccDelete: number;
  readonly dbSizeBytes: number;
  /** etcd's own CPU seconds and resident memory (process_* series) */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
}

export function counters(m: Metrics): EtcdCounters {
  const unaryByMethod: Record<string, number> = {};
  const streamMsgsByMethod: Record<string, number> = {};
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    if (brace < 0) continue;
    const name = k.slice(0, brace);
    const labels = k.slice(brace);
    const method = label(labels, 'grpc_method') ?? '?';
    const type = label(labels, 'grpc_type');
    if (name === 'grpc_server_handled_total' && type === 'unary') unaryByMethod[method] = (unaryByMethod[method] ?? 0) + v;
    if (name === 'grpc_server_msg_received_total' && type !== 'unary') streamMsgsByMethod[method] = (streamMsgsByMethod[method] ?? 0) + v;
  }
  const total = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    unaryByMethod,
    unary: total(unaryByMethod),
    streamMsgsByMethod,
    streamMsgs: total(streamMsgsByMethod),
    mvccPut: sum(m, 'etcd_debugging_mvcc_put_total'),
    mvccRange: sum(m, 'etcd_debugging_mvcc_range_total'),
    mvccTxn: sum(m, 'etcd_debugging_mvcc_txn_total'),
    mvccDelete: sum(m, 'etcd_debugging_mvcc_delete_total'),
    dbSizeBytes: sum(m, 'etcd_mvcc_db_total_size_in_bytes') || sum(m, 'etcd_debugging_mvcc_db_total_size_in_bytes'),
    cpuSeconds: sum(m, 'process_cpu_seconds_total'),
    rssBytes: sum(m, 'process_resident_memory_bytes'),
  };
}

/** Per-second rates between two scrapes `seconds` apart (sizes are the later value). */
export function rates(a: EtcdCounters, b: EtcdCounters, seconds: number): Record<string, unknown> {
  const r = (x: number, y: number): number => Math.round(((y - x) / seconds) * 10) / 10;
  const byMethod = (x: Record<string, number>, y: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.keys(y)
        .map((k) => [k, r(x[k] ?? 0, y[k]!)] as const)
        .filter(([, v]) => v > 0),
    );
  return {
    seconds: Math.round(seconds * 10) / 10,
    unaryPerSec: r(a.unary, b.unary),
    unaryPerSecByMethod: byMethod(a.unaryByMethod, b.unaryByMethod),
    streamMsgsPerSec: r(a.streamMsgs, b.streamMsgs),
    streamMsgsPerSecByMethod: byMethod(a.streamMsgsByMethod, b.streamMsgsByMethod),
    mvccPutPerSec: r(a.mvccPut, b.mvccPut),
    mvccRangePerSec: r(a.mvccRange, b.mvccRange),
    mvccTxnPerSec: r(a.mvccTxn, b.mvccTxn),
    etcdCpuPercent: Math.round(((b.cpuSeconds - a.cpuSeconds) / seconds) * 1000) / 10,
    etcdRssMiB: Math.round(b.rssBytes / 1024 / 1024),
    dbSizeMiB: Math.round(b.dbSizeBytes / 1024 / 1024),
  };
}
