/**
 * fleetd's options in one table: name, kind, bounds, secret flag, and the one parser of a value given as text.
 * fleetd's configuration loader (fleet.conf, FLEET_* variables, flags) and cloud-config's `coreos.fleet`
 * validation both parse through here, so a value one accepts the other accepts, with the same bounds; a
 * cloud-config document that validates cannot leave fleetd refusing the drop-in written from it.
 */
import { isIP } from 'node:net';

export type OptionKind =
  /** decimal integer */
  | 'int'
  /** decimal number of seconds, as Go's ParseFloat reads it (`2`, `0.5`, `1e-3`) */
  | 'seconds'
  /** Go duration (`30s`, `1m30s`, `500ms`, `1.5h`, `0`) */
  | 'duration'
  | 'bool'
  | 'string'
  /** absolute path; '' leaves it unset */
  | 'path'
  /** comma-separated http(s) URLs, at least one */
  | 'url-list'
  /** `k=v,k2=v2` */
  | 'metadata'
  /** one of `oneOf` */
  | 'choice'
  /** IPv4 or IPv6 address; '' leaves it unset */
  | 'ip'
  /** etcd key prefix: starts with "/", "/" appended when missing */
  | 'key-prefix'
  /** host:port of a listener; '' leaves it unset */
  | 'host-port';

export interface Bounds {
  readonly min: number;
  /** min itself is refused */
  readonly minExclusive?: boolean;
  readonly max: number;
  /** said after max in messages, e.g. " seconds (about 24 days)" */
  readonly maxNote?: string;
}

export interface FleetOption {
  /** fleet's option name, underscored (FLEET_<NAME> in the environment, --name-with-dashes as a flag) */
  readonly name: string;
  readonly kind: OptionKind;
  readonly bounds?: Bounds;
  readonly oneOf?: readonly string[];
  /** the value is a secret: files carrying it should be readable by their owner only */
  readonly secret?: boolean;
  /** accepted and ignored with a warning: deprecated by fleet, or known but not implemented here */
  readonly ignored?: 'deprecated' | 'not supported';
  /** a bool that may only be false: true is refused with this reason */
  readonly refuseTrue?: string;
  /** an option of this implementation, not fleet's */
  readonly ours?: boolean;
}

/** Node timers take at most 2^31-1 ms and fire after 1 ms for anything longer, so no period may exceed this. */
export const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

const SECONDS: Bounds = { min: 0, minExclusive: true, max: MAX_SECONDS, maxNote: ' seconds (about 24 days)' };

export const FLEET_OPTION_TABLE: readonly FleetOption[] = [
  { name: 'verbosity', kind: 'int', bounds: { min: 0, max: 100 } },
  { name: 'etcd_servers', kind: 'url-list' },
  { name: 'etcd_username', kind: 'string' },
  { name: 'etcd_password', kind: 'string', secret: true },
  { name: 'etcd_keyfile', kind: 'path' },
  { name: 'etcd_certfile', kind: 'path' },
  { name: 'etcd_cafile', kind: 'path' },
  { name: 'etcd_key_prefix', kind: 'key-prefix' },
  { name: 'etcd_request_timeout', kind: 'seconds', bounds: SECONDS },
  { name: 'engine_reconcile_interval', kind: 'seconds', bounds: SECONDS },
  { name: 'engine_lease_ttl', kind: 'seconds', bounds: SECONDS, ours: true },
  { name: 'public_ip', kind: 'ip' },
  { name: 'metadata', kind: 'metadata' },
  { name: 'agent_ttl', kind: 'duration', bounds: SECONDS },
  { name: 'units_directory', kind: 'path' },
  {
    name: 'systemd_user',
    kind: 'bool',
    refuseTrue: 'fleetd drives the system instance of systemd only; run units as another user with User= in the unit',
  },
  { name: 'token_limit', kind: 'int', bounds: { min: 0, minExclusive: true, max: 65535 } },
  { name: 'disable_engine', kind: 'bool' },
  { name: 'disable_watches', kind: 'bool' },
  { name: 'enable_grpc', kind: 'bool', ignored: 'not supported' },
  { name: 'machine_lost_grace', kind: 'duration', bounds: { ...SECONDS, minExclusive: false }, ours: true },
  { name: 'shutdown_units', kind: 'choice', oneOf: ['stop', 'keep'], ours: true },
  { name: 'api_socket', kind: 'path', ours: true },
  { name: 'api_listen', kind: 'host-port', ours: true },
  { name: 'api_token', kind: 'string', secret: true, ours: true },
  { name: 'api_tls_certfile', kind: 'path', ours: true },
  { name: 'api_tls_keyfile', kind: 'path', ours: true },
  { name: 'api_tls_cafile', kind: 'path', ours: true },
  { name: 'machine_id_file', kind: 'path', ours: true },
  { name: 'verify_units', kind: 'bool', ignored: 'deprecated' },
  { name: 'authorized_keys_file', kind: 'string', ignored: 'deprecated' },
];

const BY_NAME = new Map(FLEET_OPTION_TABLE.map((o) => [o.name, o]));

export function fleetOption(name: string): FleetOption | undefined {
  return BY_NAME.get(name);
}

export type OptionValue = number | boolean | string | string[] | Record<string, string>;

/**
 * `problem` says what is wrong without naming the option; `sentence` problems read after the bare name
 * ("token_limit must be ..."), the others after "name: " ("token_limit: "ten" is not an integer").
 */
export type ParsedOption =
  | { readonly ok: true; readonly value: OptionValue; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problem: string; readonly sentence: boolean };

/** A value quoted for a message, cut short so a runaway value cannot flood the one error line. */
export function quoteValue(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

// Go's time.ParseDuration units; the micro sign may be U+00B5 or U+03BC, as Go accepts both.
const DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go's time.ParseDuration without a sign (no fleet period may be negative), in seconds. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0);
    matched = re.lastIndex;
  }
  return matched === s.length && matched > 0 && Number.isFinite(total) ? total : undefined;
}

/** fleet's metadata string `k=v,k2=v2`: spaces trimmed, pairs without `=` ignored, later keys win. */
export function parseMetadata(text: string): { metadata: Record<string, string>; ignored: string[] } {
  const metadata: Record<string, string> = {};
  const ignored: string[] = [];
  for (const pair of text.split(',')) {
    const p = pair.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) {
      ignored.push(p);
      continue;
    }
    metadata[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return { metadata, ignored };
}

/** A comma-separated list; brackets and quotes around items dropped (fleet accepted `["a","b"]` too). */
function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim().replace(/^[\s["]+|[\s\]"]+$/g, ''))
    .filter((s) => s !== '');
}

const TRUE = new Set(['1', 't', 'true', 'yes', 'on', 'y']);
const FALSE = new Set(['0', 'f', 'false', 'no', 'off', 'n', '']);

const QUOTED_KINDS: ReadonlySet<OptionKind> = new Set(['string', 'path', 'ip', 'key-prefix', 'host-port']);

const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function inBounds(v: number, b: Bounds | undefined): string | undefined {
  if (b === undefined) return undefined;
  if (b.minExclusive ? !(v > b.min) : !(v >= b.min)) return `must be ${b.minExclusive ? 'greater than' : 'at least'} ${b.min}, got ${v}`;
  if (!(v <= b.max)) return `must be at most ${b.max}${b.maxNote ?? ''}, got ${v}`;
  return undefined;
}

/** The one parser of an option's value given as text (a fleet.conf line, a variable, a flag, a rendered drop-in). */
export function parseOptionValue(option: FleetOption, raw: string): ParsedOption {
  const trimmed = raw.trim();
  // A text value in double quotes means the text inside (fleet.conf strips one pair itself; a variable may not).
  const v = QUOTED_KINDS.has(option.kind) ? trimmed.replace(/^"(.*)"$/, '$1') : trimmed;
  const ok = (value: OptionValue, warnings: readonly string[] = []): ParsedOption => ({ ok: true, value, warnings });
  const bad = (expected: string): ParsedOption => ({ ok: false, problem: `${quoteValue(raw)} is not ${expected}`, sentence: false });
  const ranged = (n: number): ParsedOption => {
    const problem = inBounds(n, option.bounds);
    return problem === undefined ? ok(n) : { ok: false, problem, sentence: true };
  };
  switch (option.kind) {
    case 'int': {
      const n = Number(v);
      return /^-?\d+$/.test(v) && Number.isSafeInteger(n) ? ranged(n) : bad('an integer');
    }
    case 'seconds': {
      const n = Number(v);
      return FLOAT.test(v) && Number.isFinite(n) ? ranged(n) : bad('a number of seconds');
    }
    case 'duration': {
      const d = parseDuration(v);
      return d === undefined ? bad('a duration (e.g. 30s, 1m30s, 500ms)') : ranged(d);
    }
    case 'bool': {
      const w = v.toLowerCase();
      if (!TRUE.has(w) && !FALSE.has(w)) return bad('a boolean (true or false)');
      if (TRUE.has(w) && option.refuseTrue !== undefined) {
        return { ok: false, problem: `true is not supported: ${option.refuseTrue}`, sentence: false };
      }
      return ok(TRUE.has(w));
    }
    case 'string':
      return ok(v);
    case 'path':
      if (v === '') return ok(v);
      if (!v.startsWith('/')) return bad('an absolute path');
      if (/[\x00-\x1f\x7f]/.test(v)) return { ok: false, problem: `${quoteValue(raw)} contains a control character`, sentence: false };
      return ok(v);
    case 'url-list': {
      const urls = parseList(v);
      if (urls.length === 0) return { ok: false, problem: 'is empty: give at least one etcd URL', sentence: true };
      for (const s of urls) {
        let u: URL;
        try {
          u = new URL(s);
        } catch {
          return { ok: false, problem: `${quoteValue(s)} is not a URL (e.g. http://127.0.0.1:2379)`, sentence: false };
        }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') {
          return { ok: false, problem: `${quoteValue(s)} must use http:// or https://`, sentence: false };
        }
      }
      return ok(urls);
    }
    case 'metadata': {
      const parsed = parseMetadata(v);
      return ok(parsed.metadata, parsed.ignored.map((p) => `${quoteValue(p)} has no "=" and is ignored`));
    }
    case 'choice':
      return option.oneOf?.includes(v) ? ok(v) : bad(`one of ${(option.oneOf ?? []).join('|')}`);
    case 'ip':
      return v === '' || isIP(v) !== 0 ? ok(v) : bad('an IP address');
    case 'key-prefix':
      if (!v.startsWith('/')) return { ok: false, problem: `must start with "/", got ${quoteValue(v)}`, sentence: true };
      return ok(v.endsWith('/') ? v : `${v}/`);
    case 'host-port': {
      const port = Number(v.slice(v.lastIndexOf(':') + 1));
      if (v !== '' && (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/.test(v) || port > 65535)) {
        return bad('host:port with a port up to 65535 (e.g. 0.0.0.0:49153)');
      }
      return ok(v);
    }
  }
}
