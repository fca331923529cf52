/**
 * The ceiling for anything fleet does through etcd: how many small transactions per second this etcd takes from
 * the same client library (etcd3), with N requests in flight, each a compare-and-put on its own key.
 */
import type { Etcd3 } from 'etcd3';
import { cmp, op, txn } from '../lib/registry/etcd.js';
import { round } from './stats.js';

export interface CeilingResult {
  readonly concurrency: number;
  readonly seconds: number;
  readonly txns: number;
  readonly txnsPerSec: number;
}

export async function txnRate(client: Etcd3, opts: { concurrency: number; seconds: number; prefix: string }): Promise<CeilingResult> {
  let count = 0;
  const started = Date.now();
  const deadline = started + opts.seconds * 1000;
  const worker = async (i: number): Promise<void> => {
    const key = `${opts.prefix}${i}`;
    let n = 0;
    while (Date.now() < deadline) {
      await txn(client, [cmp.version(key, '>', -1)], [op.put(key, `v${n++}`)]);
      count++;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => worker(i)));
  const seconds = (Date.now() - started) / 1000;
  await client.delete().prefix(opts.prefix).exec();
  return { concurrency: opts.concurrency, seconds: round(seconds, 2), txns: count, txnsPerSec: round(count / seconds) };
}

/** The best rate over a few concurrency levels. */
export async function txnCeiling(client: Etcd3, levels: readonly number[], seconds: number): Promise<{ best: CeilingResult; runs: CeilingResult[] }> {
  const runs: CeilingResult[] = [];
  for (const concurrency of levels) runs.push(await txnRate(client, { concurrency, seconds, prefix: `/bench/ceiling/${concurrency}/` }));
  const best = runs.reduce((a, b) => (b.txnsPerSec > a.txnsPerSec ? b : a));
  return { best, runs };
}
