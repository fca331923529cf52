/** Shared by the bad-input corpus tests: corpus files, a seeded PRNG, child processes, etcd dumps, stack traces. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Etcd3 } from 'etcd3';
import { runNode as run, type Run } from '../harness/run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Corpus data stays in the source tree (test/corpus/data); tests run from dist/test/corpus. */
export const DATA_DIR = path.resolve(here, '../../../test/corpus/data');
export const DIST = path.resolve(here, '../..');

export function dataPath(...parts: string[]): string {
  return path.join(DATA_DIR, ...parts);
}

export function readJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(dataPath(...parts), 'utf8')) as T;
}

/** mulberry32: small, fast, deterministic for a given seed. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)] as (typeof xs)[number] };
}

/**
 * gzip data that inflates to `mib` MiB of zeros: one gzip member of 1 MiB, repeated (gunzip reads concatenated
 * members as one stream). About 1 KB per MiB, as compressing it whole gives, without compressing it whole
 * (seconds of CPU for a GiB).
 */
export function gzipZeros(mib: number): Buffer {
  const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: mib }, () => member));
}

/** A V8 stack frame line (`    at f (file.js:1:2)`) or Node's uncaught-error banner. */
const STACK_LINE = /^\s+at (?:.+ \()?(?:file:|node:|\/|<anonymous>|native).*$/m;

export function hasStackTrace(text: string): boolean {
  return STACK_LINE.test(text) || /^(?:Uncaught |node:internal)/m.test(text);
}

export type { Run } from '../harness/run.js';

/** `node <script> args...` with a clean environment (PATH only, plus `env`), killed after `timeoutMs`. */
export function runNode(script: string, args: readonly string[], o: { env?: Record<string, string>; stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<Run> {
  return run(script, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...o.env }, stdin: o.stdin ?? '', timeoutMs: o.timeoutMs });
}

/** Non-empty lines of a process's output. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

export interface EtcdDump {
  /** Store revision: any write anywhere in etcd raises it. */
  revision: string;
  /** key -> value and mod revision, every key under the prefix. */
  keys: Record<string, { value: string; modRevision: string }>;
}

export async function dumpEtcd(client: Etcd3, prefix: string): Promise<EtcdDump> {
  const res = await client.getAll().prefix(prefix).exec();
  const keys: EtcdDump['keys'] = {};
  for (const kv of res.kvs) keys[kv.key.toString()] = { value: kv.value.toString(), modRevision: String(kv.mod_revision) };
  return { revision: String(res.header.revision), keys };
}
