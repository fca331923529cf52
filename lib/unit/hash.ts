/** Content hash of a unit: SHA-1 of its canonical serialization, so equivalent spellings hash the same. */
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { UnitHashError } from './errors.js';
import { serializeUnitFile } from './serialize.js';
import type { UnitFile } from './types.js';

/**
 * node:crypto is loaded on the first hash: fleetctl's list commands import this module (through the API decoders)
 * for isUnitHash alone, and loading node:crypto cost their start-up about 5 ms of CPU (issue 13).
 */
let crypto: typeof Crypto | undefined;

export function unitHash(unit: UnitFile): string {
  crypto ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto;
  return crypto.createHash('sha1').update(serializeUnitFile(unit), 'utf8').digest('hex');
}

/** The 7-character form of a unit hash that fleetctl shows without --full and that messages quote. */
export function shortHash(hash: string): string {
  return hash.slice(0, 7);
}

export function isUnitHash(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s);
}

/** The 20 byte values fleet stores as `UnitHash` in `job/<unit>/object`. */
export function hashToBytes(hash: string): number[] {
  if (!isUnitHash(hash)) throw new UnitHashError(`not a unit hash (40 lowercase hex digits): ${JSON.stringify(hash)}`);
  return [...Buffer.from(hash, 'hex')];
}

export function hashFromBytes(bytes: readonly number[]): string {
  if (bytes.length !== 20 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new UnitHashError(`a unit hash is 20 byte values, got ${JSON.stringify(bytes)}`);
  }
  return Buffer.from(bytes).toString('hex');
}
