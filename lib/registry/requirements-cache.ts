/**
 * Requirements of unit contents by name and hash: contents are immutable, so each (name, hash) is read and
 * parsed once. Only definitive answers are kept (contents parsed, contents missing, contents unusable); a
 * failed etcd read is retried by the next ensure(). The texts missing from the cache are read together
 * (getUnitTexts: one etcd request per 100 texts, in chunks of READ_CHUNK), not one request per unit.
 */
import { loadUnit, shortHash, type Requirements } from '../unit/index.js';
import type { Registry } from './index.js';
import { isUnitHash } from '../unit/hash.js';
import { eachLimited } from '../limit.js';
import { errorMessage } from '../errors.js';

/**
 * Texts asked for with one getUnitTexts call (10 etcd transactions of 100): an engine that starts leading with
 * 100,000 unread units keeps what each chunk read even when a later one fails, and no single call grows with them.
 */
const READ_CHUNK = 1000;
/** Chunks read at the same time. */
const CHUNKS_IN_FLIGHT = 2;

export type RequirementsResult = { ok: true; requirements: Requirements } | { ok: false; reason: string };

export class RequirementsCache {
  private readonly byKey = new Map<string, RequirementsResult>();

  constructor(private readonly registry: Pick<Registry, 'getUnitTexts'>) {}

  /**
   * Reads and parses what is not cached yet; the name matters for specifiers (%n %p %i). Returns the units whose
   * text could not be read this time (etcd unreachable...); they stay unresolved and are read again next call.
   */
  async ensure(units: Iterable<{ name: string; hash: string }>): Promise<{ name: string; hash: string }[]> {
    const missing: { name: string; hash: string }[] = [];
    for (const u of units) {
      if (this.byKey.has(key(u.name, u.hash))) continue;
      if (isUnitHash(u.hash)) missing.push(u);
      else this.byKey.set(key(u.name, u.hash), { ok: false, reason: `unit ${u.name} has an invalid hash: ${JSON.stringify(u.hash)}` });
    }
    const unread: { name: string; hash: string }[] = [];
    const chunks: { name: string; hash: string }[][] = [];
    for (let i = 0; i < missing.length; i += READ_CHUNK) chunks.push(missing.slice(i, i + READ_CHUNK));
    await eachLimited(chunks, CHUNKS_IN_FLIGHT, async (chunk) => {
      let texts: Map<string, string>;
      try {
        texts = await this.registry.getUnitTexts(chunk.map((u) => u.hash));
      } catch {
        unread.push(...chunk);
        return;
      }
      for (const u of chunk) {
        const text = texts.get(u.hash);
        this.byKey.set(
          key(u.name, u.hash),
          text === undefined ? { ok: false, reason: `unit contents ${shortHash(u.hash)} are missing from the registry` } : parse(u.name, text),
        );
      }
    });
    return unread;
  }

  /** Caches the requirements of a text read elsewhere (the agent reads it to load the unit anyway). */
  remember(name: string, hash: string, text: string): void {
    this.byKey.set(key(name, hash), parse(name, text));
  }

  /** The cached answer, or undefined when ensure() has not (successfully) read it yet. */
  resolve(name: string, hash: string): RequirementsResult | undefined {
    return this.byKey.get(key(name, hash));
  }

  /** Like resolve(), with "not read yet" as a failure. */
  lookup(name: string, hash: string): RequirementsResult {
    return this.resolve(name, hash) ?? { ok: false, reason: `unit contents ${shortHash(hash)} of ${name} could not be read from etcd yet` };
  }

  forget(name: string, hash: string): void {
    this.byKey.delete(key(name, hash));
  }

  /** Drops entries of units no longer present, so the cache follows the cluster's size. */
  retain(live: Iterable<{ name: string; hash: string }>): void {
    const keep = new Set<string>();
    for (const u of live) keep.add(key(u.name, u.hash));
    for (const k of this.byKey.keys()) if (!keep.has(k)) this.byKey.delete(k);
  }
}

function parse(name: string, text: string): RequirementsResult {
  try {
    return { ok: true, requirements: loadUnit(name, text).requirements };
  } catch (err) {
    return { ok: false, reason: `unit file cannot be used: ${errorMessage(err)}` };
  }
}

function key(name: string, hash: string): string {
  return `${name}\u0000${hash}`;
}
