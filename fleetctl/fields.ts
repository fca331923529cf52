/** --fields / --no-legend / --full / --output for the list commands. */
import type { FlagSpec, FlagValues } from './command.js';
import { flagBool, flagString } from './command.js';
import type { Output } from './output.js';
import { goQuote } from '../lib/unit/fleet-words.js';
import { tabwrite } from './tabwriter.js';

export type Field<T> = (item: T, full: boolean) => string;

export function listFlags(fields: readonly string[], dflt: string, what: string, shortFull: boolean): Record<string, FlagSpec> {
  return {
    full: { type: 'boolean', default: false, describe: 'Do not ellipsize fields on output', ...(shortFull ? { alias: 'l' } : {}) },
    'no-legend': { type: 'boolean', default: false, describe: 'Do not print a legend (column headers)' },
    fields: { type: 'string', default: dflt, describe: `Columns to print for each ${what}. Valid fields are ${goQuote(fields.join(','))}` },
    output: { type: 'string', default: 'table', describe: 'Output format: table (fleet\'s) or json (every field, unabbreviated)' },
  };
}

/** Validates --fields like fleet; undefined after printing the error. */
export function selectColumns(out: Output, flags: FlagValues, known: Readonly<Record<string, unknown>>): string[] | undefined {
  const spec = flagString(flags, 'fields');
  if (spec === '') {
    out.err('Must define output format');
    return undefined;
  }
  const cols = spec.split(',');
  for (const c of cols) {
    if (!Object.hasOwn(known, c)) {
      out.err(`Invalid key in output format: ${goQuote(c)}`);
      return undefined;
    }
  }
  return cols;
}

/** Validates --output; undefined after printing the error. */
export function outputFormat(out: Output, flags: FlagValues): 'table' | 'json' | undefined {
  const f = flagString(flags, 'output', 'table');
  if (f === 'table' || f === 'json') return f;
  out.err(`Invalid output format ${goQuote(f)}: use table or json`);
  return undefined;
}

export function printTable<T>(out: Output, flags: FlagValues, cols: readonly string[], fields: Readonly<Record<string, Field<T>>>, items: readonly T[]): void {
  const full = flagBool(flags, 'full');
  const lines: string[] = [];
  if (!flagBool(flags, 'no-legend')) lines.push(cols.join('\t').toUpperCase());
  for (const item of items) lines.push(cols.map((c) => fields[c]!(item, full)).join('\t'));
  if (lines.length > 0) out.write(tabwrite(lines.join('\n') + '\n'));
}

export function printJson(out: Output, value: unknown): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}
