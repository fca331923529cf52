/** A fleetctl subcommand: its cobra-style usage line, its flags, and a run function over a CommandContext. */
import { UsageError } from '../lib/errors.js';
import type { CommandContext } from './context.js';

export type FlagType = 'boolean' | 'string' | 'number';

/** The values a number flag accepts; anything else is a usage error before any request. */
export interface NumberRange {
  min: number;
  /** The minimum itself is refused (timeouts: greater than 0). */
  aboveMin?: boolean;
  max: number;
  integer?: boolean;
}

/** Counts (--lines, --block-attempts): the API's journal line limit is 9 digits, so the same bound for both. */
export const COUNT_RANGE: NumberRange = { min: 0, max: 999_999_999, integer: true };
export const PORT_RANGE: NumberRange = { min: 1, max: 65535, integer: true };
/** Seconds for a timer: Node's timers hold at most 2^31-1 ms; a longer one would fire at once. */
export const SECONDS_RANGE: NumberRange = { min: 0, aboveMin: true, max: Math.floor((2 ** 31 - 1) / 1000) };

function describeRange(r: NumberRange): string {
  const low = r.aboveMin ? `greater than ${r.min}` : `from ${r.min}`;
  const high = r.aboveMin ? `and at most ${r.max}` : `to ${r.max}`;
  return `${r.integer ? 'an integer' : 'a number'} ${low} ${high}`;
}

/** `raw` as a number within `range`, or why not: 'nan' or the range it must be in (`must be an integer ...`). */
export function checkNumber(raw: unknown, range: NumberRange | undefined): number | { problem: 'nan' | string } {
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(n) || (typeof raw === 'string' && raw.trim() === '')) return { problem: 'nan' };
  if (!range) return n;
  const inRange = (range.aboveMin ? n > range.min : n >= range.min) && n <= range.max && (!range.integer || Number.isInteger(n));
  return inRange ? n : { problem: `must be ${describeRange(range)}` };
}

/** The value of a number flag given on the command line, or a UsageError naming the flag. */
export function parseNumberFlag(flag: string, raw: unknown, range: NumberRange | undefined): number {
  const r = checkNumber(raw, range);
  if (typeof r === 'number') return r;
  throw new UsageError(`invalid argument ${JSON.stringify(String(raw))} for "--${flag}" flag: ${r.problem === 'nan' ? 'not a number' : r.problem}`);
}

export interface FlagSpec {
  type: FlagType;
  describe: string;
  default?: boolean | string | number;
  alias?: string;
  hidden?: boolean;
  /** For number flags: the accepted values. */
  range?: NumberRange;
}

export type FlagValues = Readonly<Record<string, unknown>>;

export interface CommandSpec {
  name: string;
  /** fleet's `Use:` line, e.g. `start [--no-block|--block-attempts=N] UNIT...`. */
  usage: string;
  summary: string;
  description?: string;
  flags: Readonly<Record<string, FlagSpec>>;
  /** False for commands that never talk to the cluster (version, verify, fd-forward). */
  needsClient: boolean;
  hidden?: boolean;
  run(ctx: CommandContext, args: string[], flags: FlagValues): Promise<number>;
}

export function flagBool(f: FlagValues, name: string): boolean {
  return f[name] === true;
}

export function flagString(f: FlagValues, name: string, dflt = ''): string {
  const v = f[name];
  return typeof v === 'string' ? v : v === undefined ? dflt : String(v);
}

export function flagNumber(f: FlagValues, name: string, dflt = 0): number {
  const v = f[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

export const BLOCK_FLAGS = (what: string, global = true): Record<string, FlagSpec> => ({
  'block-attempts': {
    type: 'number',
    default: 0,
    range: COUNT_RANGE,
    describe: `Wait until the units are ${what}, performing up to N attempts before giving up. A value of 0 indicates no limit.${global ? ' Does not apply to global units.' : ''}`,
  },
  'no-block': {
    type: 'boolean',
    default: false,
    describe: `Do not wait until the units are ${what} before exiting.${global ? ' Always the case for global units.' : ''}`,
  },
});

export const SIGN_FLAG: Record<string, FlagSpec> = {
  sign: { type: 'boolean', default: false, describe: 'DEPRECATED - this option cannot be used', hidden: true },
};

export const SIGN_WARNING = 'WARNING: The signed/verified units feature is DEPRECATED and cannot be used.';

export const REPLACE_FLAG = (what: string): Record<string, FlagSpec> => ({
  replace: { type: 'boolean', default: false, describe: `Replace the ${what} units in the cluster with new versions.` },
});
