/** A fleetctl subcommand: its cobra-style usage line, its flags, and a run function over a CommandContext. */
import type { CommandContext } from './context.js';

export type FlagType = 'boolean' | 'string' | 'number';

export interface FlagSpec {
  type: FlagType;
  describe: string;
  default?: boolean | string | number;
  alias?: string;
  hidden?: boolean;
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
