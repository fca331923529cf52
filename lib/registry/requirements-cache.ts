/**
 * Requirements of unit contents by name and hash: contents are immutable, so each (name, hash) is read and
 * parsed once. Only definitive answers are kept (contents parsed, contents missing, contents unusable); a
 * failed etcd read is retried by the next ensure().
 */
import { loadUnit, shortHash, type Requirements } from '../unit/index.js';
import { InvalidKeyError, type Registry } from './index.js';
import { errorMessage } from '../errors.js';
import { eachLimited } from '../limit.js';

export type RequirementsResult = { ok: true; requirements: Requirements } | { ok: false; reason: string };

/** Unit texts read from etcd at the same time. */
const CONCURRENCY = 16;

export class RequirementsCache {
  private readonly byKey = new Map<string, RequirementsResult>();

  constructor(private readonly registry: Pick<Registry, 'getUnitText'>) {}

  /**
   * Reads and parses what is not cached yet; the name matters for specifiers (%n %p %i). Returns the units whose
   * text could not be read this time (etcd unreachable...); they stay unresolved and are read again next call.
   */
  async ensure(units: Iterable<{ name: string; hash: string }>): Promise<{ name: string; hash: string }[]> {
    const missing: { name: string; hash: string }[] = [];
    for (const u of units) if (!this.byKey.has(key(u.name, u.hash))) missing.push(u);
    const unread: { name: string; hash: string }[] = [];
    await eachLimited(missing, CONCURRENCY, async (u) => {
      const r = await this.read(u.name, u.hash);
      if (r === undefined) unread.push(u);
      else this.byKey.set(key(u.name, u.hash), r);
    });
    return unread;
  }

  private async read(name: string, hash: string): Promise<RequirementsResult | undefined> {
    let text: string | undefined;
    try {
      text = await this.registry.getUnitText(hash);
    } catch (err) {
      if (err instanceof InvalidKeyError) return { ok: false, reason: `unit ${name} has an invalid hash: ${errorMessage(err)}` };
      return undefined;
    }
    if (text === undefined) return { ok: false, reason: `unit contents ${shortHash(hash)} are missing from the registry` };
    return parse(name, text);
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
