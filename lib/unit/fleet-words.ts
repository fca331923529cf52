/**
 * fleet's own words where fleetd and fleetctl both show them: Go's %q quoting, and the texts fleet v1.0 refused
 * [X-Fleet] combinations with (its api.ValidateOptions, run by fleetd on every request and by fleetctl before
 * creating a unit). Here, in lib, so fleetd's API answers and fleetctl's messages are the same text
 * (docs/fleet-compat.md#http-api, #fleetctl). Written from the observable behaviour.
 */
import type { RequirementsError } from './errors.js';

/** Go's %q of a string (strconv.Quote) for the characters a request can carry; non-ASCII stays as it is. */
export function goQuote(s: string): string {
  return `"${[...s].map((c) => goEscape(c, '"')).join('')}"`;
}

/** Go's %q of one character (strconv.QuoteRune). */
export function goQuoteRune(c: string): string {
  return `'${goEscape(c, "'")}'`;
}

const SHORT: Readonly<Record<string, string>> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\' };

function goEscape(c: string, quote: string): string {
  if (c === quote) return `\\${c}`;
  const short = SHORT[c];
  if (short) return short;
  const code = c.codePointAt(0)!;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code === 0xfffd && c !== '\ufffd') return '\\ufffd';
  return c;
}

/** fleet's words for the [X-Fleet] combinations it refused (it called MachineOf "Peers"). */
const COMBINATIONS: Readonly<Record<string, string>> = {
  'MachineID+MachineOf': 'MachineID cannot be used with Peers',
  'MachineID+Conflicts': 'MachineID cannot be used with Conflicts',
  'MachineID+Global': 'MachineID cannot be used with Global',
  'MachineID+Replaces': 'MachineID cannot be used with Replaces',
  'Global+MachineOf': 'Global cannot be used with Peers',
  'Global+Replaces': 'Global cannot be used with Replaces',
  'Conflicts+Replaces': 'Conflicts cannot be used with Replaces',
};

/** fleet's text for a RequirementsError of a rule fleet also had; undefined for our own rules. */
export function fleetRequirementsMessage(err: RequirementsError): string | undefined {
  const combined = COMBINATIONS[err.rule];
  if (combined) return combined;
  const m = /MachineOf peer ("(?:[^"\\]|\\.)*") matches (Conflicts|Replaces) glob ("(?:[^"\\]|\\.)*")/.exec(err.message);
  if (!m) return undefined;
  const peer = JSON.parse(m[1]!) as string;
  const glob = JSON.parse(m[3]!) as string;
  return `unresolvable requirements: peer ${goQuote(peer)} matches ${m[2] === 'Conflicts' ? 'conflict' : 'replace'} ${goQuote(glob)}`;
}
