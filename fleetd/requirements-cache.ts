/** Requirements of unit contents by hash: contents are immutable, so each hash is fetched and parsed once. */
import { loadUnit, NO_REQUIREMENTS, type Requirements } from '../lib/unit/index.js';
import type { Registry } from '../lib/registry/index.js';
import { errorMessage } from '../lib/errors.js';

export type RequirementsResult = { ok: true; requirements: Requirements } | { ok: false; reason: string };

export class RequirementsCache {
  private readonly byHash = new Map<string, RequirementsResult>();

  constructor(private readonly registry: Registry) {}

  get(hash: string): RequirementsResult | undefined {
    return this.byHash.get(hash);
  }

  /** Fetches what is missing; the name matters for specifiers (%n %p %i). Keyed by name+hash for that reason. */
  async ensure(units: Iterable<{ name: string; hash: string }>): Promise<void> {
    const missing: { name: string; hash: string }[] = [];
    for (const u of units) if (!this.byHash.has(key(u.name, u.hash))) missing.push(u);
    await Promise.all(
      missing.map(async (u) => {
        let result: RequirementsResult;
        try {
          const text = await this.registry.getUnitText(u.hash);
          if (text === undefined) result = { ok: false, reason: `unit contents ${u.hash.slice(0, 7)} are missing from the registry` };
          else result = { ok: true, requirements: loadUnit(u.name, text).requirements };
        } catch (err) {
          result = { ok: false, reason: `unit file cannot be used: ${errorMessage(err)}` };
        }
        this.byHash.set(key(u.name, u.hash), result);
      }),
    );
  }

  lookup(name: string, hash: string): RequirementsResult {
    return this.byHash.get(key(name, hash)) ?? { ok: true, requirements: NO_REQUIREMENTS };
  }

  /** Drops entries of units no longer present, so the cache follows the cluster's size. */
  retain(live: Iterable<{ name: string; hash: string }>): void {
    const keep = new Set<string>();
    for (const u of live) keep.add(key(u.name, u.hash));
    for (const k of this.byHash.keys()) if (!keep.has(k)) this.byHash.delete(k);
  }
}

function key(name: string, hash: string): string {
  return `${name}\u0000${hash}`;
}
