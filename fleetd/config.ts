/**
 * fleetd configuration: defaults, then /etc/fleet/fleet.conf (or --config), then FLEET_* environment, then flags.
 * Option names and defaults are fleet's (docs/fleet-compat.md#fleetd-configuration); options marked "ours" are new.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { FleetError } from '../lib/errors.js';

export class ConfigError extends FleetError {
  override readonly name = 'ConfigError';
}

export type ShutdownPolicy = 'stop' | 'keep';

export interface FleetConfig {
  verbosity: number;
  etcdServers: string[];
  etcdUsername: string;
  etcdPassword: string;
  etcdKeyfile: string;
  etcdCertfile: string;
  etcdCafile: string;
  etcdKeyPrefix: string;
  /** seconds */
  etcdRequestTimeout: number;
  /** seconds: the engine's safety-net full reconcile (watches drive it otherwise) */
  engineReconcileInterval: number;
  /** seconds (ours): TTL of the engine leader's lease, bounds failover time */
  engineLeaseTtl: number;
  publicIp: string;
  metadata: Record<string, string>;
  /** seconds: machine presence lease */
  agentTtl: number;
  unitsDirectory: string;
  systemdUser: boolean;
  tokenLimit: number;
  disableEngine: boolean;
  disableWatches: boolean;
  enableGrpc: boolean;
  /** seconds (ours): how long a lost machine's units wait before they move */
  machineLostGrace: number;
  /** (ours) what a clean stop does with this machine's units: fleet stopped them */
  shutdownUnits: ShutdownPolicy;
  /** (ours) unix socket of the HTTP API; '' turns it off (systemd socket activation overrides) */
  apiSocket: string;
  /** (ours) host:port of a TCP API listener; '' = none */
  apiListen: string;
  /** (ours) bearer token required on TCP; '' = none */
  apiToken: string;
  apiTlsCertfile: string;
  apiTlsKeyfile: string;
  /** CA of accepted client certificates; set = client certificates required on TCP */
  apiTlsCafile: string;
  /** (ours) where the machine id comes from */
  machineIdFile: string;
}

type Kind = 'int' | 'float' | 'bool' | 'string' | 'list' | 'duration' | 'metadata' | 'policy';

interface OptionSpec {
  key: keyof FleetConfig;
  kind: Kind;
  deprecated?: boolean;
  ignored?: boolean;
}

const OPTIONS: Record<string, OptionSpec> = {
  verbosity: { key: 'verbosity', kind: 'int' },
  etcd_servers: { key: 'etcdServers', kind: 'list' },
  etcd_username: { key: 'etcdUsername', kind: 'string' },
  etcd_password: { key: 'etcdPassword', kind: 'string' },
  etcd_keyfile: { key: 'etcdKeyfile', kind: 'string' },
  etcd_certfile: { key: 'etcdCertfile', kind: 'string' },
  etcd_cafile: { key: 'etcdCafile', kind: 'string' },
  etcd_key_prefix: { key: 'etcdKeyPrefix', kind: 'string' },
  etcd_request_timeout: { key: 'etcdRequestTimeout', kind: 'float' },
  engine_reconcile_interval: { key: 'engineReconcileInterval', kind: 'float' },
  engine_lease_ttl: { key: 'engineLeaseTtl', kind: 'float' },
  public_ip: { key: 'publicIp', kind: 'string' },
  metadata: { key: 'metadata', kind: 'metadata' },
  agent_ttl: { key: 'agentTtl', kind: 'duration' },
  units_directory: { key: 'unitsDirectory', kind: 'string' },
  systemd_user: { key: 'systemdUser', kind: 'bool' },
  token_limit: { key: 'tokenLimit', kind: 'int' },
  disable_engine: { key: 'disableEngine', kind: 'bool' },
  disable_watches: { key: 'disableWatches', kind: 'bool' },
  enable_grpc: { key: 'enableGrpc', kind: 'bool', ignored: true },
  machine_lost_grace: { key: 'machineLostGrace', kind: 'duration' },
  shutdown_units: { key: 'shutdownUnits', kind: 'policy' },
  api_socket: { key: 'apiSocket', kind: 'string' },
  api_listen: { key: 'apiListen', kind: 'string' },
  api_token: { key: 'apiToken', kind: 'string' },
  api_tls_certfile: { key: 'apiTlsCertfile', kind: 'string' },
  api_tls_keyfile: { key: 'apiTlsKeyfile', kind: 'string' },
  api_tls_cafile: { key: 'apiTlsCafile', kind: 'string' },
  machine_id_file: { key: 'machineIdFile', kind: 'string' },
  verify_units: { key: 'verbosity', kind: 'string', deprecated: true },
  authorized_keys_file: { key: 'verbosity', kind: 'string', deprecated: true },
};

export const OPTION_NAMES: readonly string[] = Object.keys(OPTIONS);

export const DEFAULT_CONFIG_FILE = '/etc/fleet/fleet.conf';

export function defaultConfig(): FleetConfig {
  return {
    verbosity: 0,
    etcdServers: ['http://127.0.0.1:2379', 'http://127.0.0.1:4001'],
    etcdUsername: '',
    etcdPassword: '',
    etcdKeyfile: '',
    etcdCertfile: '',
    etcdCafile: '',
    etcdKeyPrefix: '/_coreos.com/fleet/',
    etcdRequestTimeout: 1.0,
    engineReconcileInterval: 2.0,
    engineLeaseTtl: 4,
    publicIp: '',
    metadata: {},
    agentTtl: 30,
    unitsDirectory: '/run/fleet/units/',
    systemdUser: false,
    tokenLimit: 100,
    disableEngine: false,
    disableWatches: false,
    enableGrpc: false,
    machineLostGrace: 0,
    shutdownUnits: 'stop',
    apiSocket: '/var/run/fleet.sock',
    apiListen: '',
    apiToken: '',
    apiTlsCertfile: '',
    apiTlsKeyfile: '',
    apiTlsCafile: '',
    machineIdFile: '/etc/machine-id',
  };
}

/** A value quoted for a message, cut short so a runaway value cannot flood the one error line. */
function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go's time.ParseDuration, in seconds ("30s", "1m30s", "500ms"). */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0);
    matched = re.lastIndex;
  }
  return matched === s.length && matched > 0 ? total : undefined;
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

function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim().replace(/^[\s["]+|[\s\]"]+$/g, ''))
    .filter((s) => s !== '');
}

const TRUE = new Set(['1', 't', 'true', 'yes', 'on', 'y']);
const FALSE = new Set(['0', 'f', 'false', 'no', 'off', 'n', '']);

function convert(spec: OptionSpec, raw: string, where: string, name: string): FleetConfig[keyof FleetConfig] {
  const v = raw.trim();
  const bad = (expected: string): never => {
    throw new ConfigError(`${where}: ${name}: ${quote(raw)} is not ${expected}`);
  };
  switch (spec.kind) {
    case 'int':
      return /^-?\d+$/.test(v) ? Number(v) : bad('an integer');
    case 'float':
      return /^-?(\d+(\.\d*)?|\.\d+)$/.test(v) ? Number(v) : bad('a number of seconds');
    case 'bool':
      if (TRUE.has(v.toLowerCase())) return true;
      if (FALSE.has(v.toLowerCase())) return false;
      return bad('a boolean (true or false)');
    case 'duration': {
      const d = parseDuration(v);
      return d === undefined ? bad('a duration (e.g. 30s, 1m30s, 500ms)') : d;
    }
    case 'list':
      return parseList(v);
    case 'metadata':
      return parseMetadata(v).metadata;
    case 'policy':
      return v === 'stop' || v === 'keep' ? v : bad('one of stop|keep');
    case 'string':
      return v.replace(/^"(.*)"$/, '$1');
  }
}

export interface ConfigSources {
  /** path given with --config (must exist) */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** option name (dashes or underscores) -> value, from the command line */
  flags?: Record<string, string>;
}

export interface LoadedConfig {
  config: FleetConfig;
  warnings: string[];
  file?: string;
}

function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/-/g, '_');
}

/** fleet.conf: `key = value` lines at top level, `#`/`;` comments, optional quotes. */
export function parseConfigFile(text: string, file: string): { values: Map<string, { value: string; where: string }>; warnings: string[] } {
  const values = new Map<string, { value: string; where: string }>();
  const warnings: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    const l = line.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
    if (l.startsWith('[')) {
      warnings.push(`${where}: sections are not used in fleet.conf; options belong at the top level`);
      return;
    }
    const eq = l.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${where}: expected "option = value", got ${quote(l)}`);
    const value = l.slice(eq + 1).trim().replace(/^"([^"]*)"$/, '$1');
    values.set(normalizeName(l.slice(0, eq)), { value, where });
  });
  return { values, warnings };
}

export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const config = defaultConfig();
  const warnings: string[] = [];
  const mutable = config as unknown as Record<string, unknown>;
  const origin = new Map<string, string>();

  const apply = (name: string, raw: string, where: string): void => {
    const spec = OPTIONS[name];
    if (!spec) {
      warnings.push(`${where}: unknown option ${quote(name)} ignored`);
      return;
    }
    if (spec.deprecated || spec.ignored) {
      warnings.push(`${where}: option ${name} is ${spec.deprecated ? 'deprecated' : 'not supported'} and ignored`);
      return;
    }
    mutable[spec.key] = convert(spec, raw, where, name);
    origin.set(name, where);
    if (name === 'metadata') {
      for (const p of parseMetadata(raw).ignored) warnings.push(`${where}: metadata: ${quote(p)} has no "=" and is ignored`);
    }
  };

  let file: string | undefined;
  let fileSecrets: string[] = [];
  if (sources.configFile !== undefined) {
    if (!existsSync(sources.configFile)) throw new ConfigError(`config file ${sources.configFile} does not exist`);
    file = sources.configFile;
  } else if (existsSync(DEFAULT_CONFIG_FILE)) {
    file = DEFAULT_CONFIG_FILE;
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    const parsed = parseConfigFile(text, file);
    warnings.push(...parsed.warnings);
    for (const [name, { value, where }] of parsed.values) apply(name, value, where);
    fileSecrets = SECRET_OPTIONS.filter((name) => (parsed.values.get(name)?.value ?? '') !== '');
  }

  const env = sources.env ?? {};
  for (const name of OPTION_NAMES) {
    const envName = `FLEET_${name.toUpperCase()}`;
    const v = env[envName];
    if (v !== undefined) apply(name, v, `environment ${envName}`);
  }

  for (const [raw, v] of Object.entries(sources.flags ?? {})) {
    const name = normalizeName(raw);
    apply(name, v, `flag --${raw}`);
  }

  validate(config, origin);
  warnings.push(...exposedSecrets(file, fileSecrets, config));
  return { config, warnings, file };
}

/** Options whose value is a secret, and options naming a file that holds one (a private key). */
const SECRET_OPTIONS: readonly string[] = ['api_token', 'etcd_password'];
const SECRET_FILE_OPTIONS = ['etcd_keyfile', 'api_tls_keyfile'] as const;

function readableByOthers(path: string): number | undefined {
  try {
    const mode = statSync(path).mode & 0o7777;
    return (mode & 0o044) !== 0 ? mode : undefined;
  } catch {
    return undefined;
  }
}

const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

/**
 * Warnings (logged once at start) for secrets other local users can read: the config file when it sets
 * api_token or etcd_password, and the private key files named by etcd_keyfile / api_tls_keyfile.
 */
function exposedSecrets(file: string | undefined, inFile: readonly string[], c: FleetConfig): string[] {
  const out: string[] = [];
  const fileMode = file !== undefined && inFile.length > 0 ? readableByOthers(file) : undefined;
  if (file !== undefined && fileMode !== undefined) {
    out.push(`${file} sets ${inFile.join(' and ')} but is readable by group or others (mode ${octal(fileMode)}); chmod 600 it`);
  }
  for (const name of SECRET_FILE_OPTIONS) {
    const path = name === 'etcd_keyfile' ? c.etcdKeyfile : c.apiTlsKeyfile;
    const mode = path ? readableByOthers(path) : undefined;
    if (mode !== undefined) out.push(`${path} (${name}) is readable by group or others (mode ${octal(mode)}); chmod 600 it`);
  }
  return out;
}

const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** `origin`: option name -> where its value was set (file:line, environment variable, flag), for the messages. */
function validate(c: FleetConfig, origin: ReadonlyMap<string, string> = new Map()): void {
  const at = (name: string, msg: string): ConfigError => {
    const where = origin.get(name);
    return new ConfigError(where ? `${where}: ${msg}` : msg);
  };
  const positive = (v: number, name: string): void => {
    if (!(v > 0)) throw at(name, `${name} must be greater than 0, got ${v}`);
  };
  // Node timers take at most 2^31-1 ms and silently fire after 1 ms for anything longer.
  const atMost = (v: number, name: string): void => {
    if (!(v <= MAX_SECONDS)) throw at(name, `${name} must be at most ${MAX_SECONDS} seconds (about 24 days), got ${v}`);
  };
  positive(c.agentTtl, 'agent_ttl');
  positive(c.engineReconcileInterval, 'engine_reconcile_interval');
  positive(c.etcdRequestTimeout, 'etcd_request_timeout');
  positive(c.engineLeaseTtl, 'engine_lease_ttl');
  positive(c.tokenLimit, 'token_limit');
  atMost(c.agentTtl, 'agent_ttl');
  atMost(c.engineReconcileInterval, 'engine_reconcile_interval');
  atMost(c.etcdRequestTimeout, 'etcd_request_timeout');
  atMost(c.engineLeaseTtl, 'engine_lease_ttl');
  atMost(c.machineLostGrace, 'machine_lost_grace');
  if (c.tokenLimit > 65535) throw at('token_limit', `token_limit must be at most 65535, got ${c.tokenLimit}`);
  if (c.machineLostGrace < 0) throw at('machine_lost_grace', `machine_lost_grace must not be negative`);
  if (c.etcdServers.length === 0) throw at('etcd_servers', 'etcd_servers is empty: give at least one etcd URL');
  for (const s of c.etcdServers) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw at('etcd_servers', `etcd_servers: ${quote(s)} is not a URL (e.g. http://127.0.0.1:2379)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw at('etcd_servers', `etcd_servers: ${quote(s)} must use http:// or https://`);
    }
  }
  if (!c.etcdKeyPrefix.startsWith('/')) throw at('etcd_key_prefix', `etcd_key_prefix must start with "/", got ${quote(c.etcdKeyPrefix)}`);
  if (!c.etcdKeyPrefix.endsWith('/')) c.etcdKeyPrefix += '/';
  if ((c.etcdCertfile === '') !== (c.etcdKeyfile === '')) {
    throw at(origin.has('etcd_certfile') ? 'etcd_certfile' : 'etcd_keyfile', 'etcd_certfile and etcd_keyfile must be given together');
  }
  if ((c.apiTlsCertfile === '') !== (c.apiTlsKeyfile === '')) {
    throw at(origin.has('api_tls_certfile') ? 'api_tls_certfile' : 'api_tls_keyfile', 'api_tls_certfile and api_tls_keyfile must be given together');
  }
  if (c.apiTlsCafile !== '' && c.apiTlsCertfile === '') {
    throw at('api_tls_cafile', 'api_tls_cafile needs api_tls_certfile and api_tls_keyfile');
  }
  const apiPort = Number(c.apiListen.slice(c.apiListen.lastIndexOf(':') + 1));
  if (c.apiListen !== '' && (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/.test(c.apiListen) || apiPort > 65535)) {
    throw at('api_listen', `api_listen: ${quote(c.apiListen)} is not host:port with a port up to 65535 (e.g. 0.0.0.0:49153)`);
  }
  if (c.publicIp !== '' && isIP(c.publicIp) === 0) {
    throw at('public_ip', `public_ip: ${quote(c.publicIp)} is not an IP address`);
  }
}
