/**
 * fleetd configuration: defaults, then /etc/fleet/fleet.conf (or --config), then FLEET_* environment, then flags.
 * Option names and defaults are fleet's (docs/fleet-compat.md#fleetd-configuration); options marked "ours" are new.
 * Each value is parsed and bounded by lib/fleet-options.ts, the table cloud-config validates `coreos.fleet` with.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { FleetError, errorMessage } from '../lib/errors.js';
import type { ApiConfig } from './api/server.js';
import { FLEET_OPTION_TABLE, fleetOption, parseDuration, parseMetadata, parseOptionValue, quoteValue as quote } from '../lib/fleet-options.js';

export class ConfigError extends FleetError {
  override readonly name = 'ConfigError';
}

export type ShutdownPolicy = 'stop' | 'keep';

/** fleetd's options; the API server's own (api_socket, api_listen, api_token, api_tls_*, token_limit) are ApiConfig's. */
export interface FleetConfig extends ApiConfig {
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
  disableEngine: boolean;
  disableWatches: boolean;
  enableGrpc: boolean;
  /** seconds (ours): how long a lost machine's units wait before they move */
  machineLostGrace: number;
  /** (ours) what a clean stop does with this machine's units: fleet stopped them */
  shutdownUnits: ShutdownPolicy;
  /** (ours) where the machine id comes from */
  machineIdFile: string;
}

/** Where each option of lib/fleet-options.ts lands in FleetConfig (ignored options land nowhere). */
export const CONFIG_KEYS: Readonly<Record<string, keyof FleetConfig>> = {
  verbosity: 'verbosity',
  etcd_servers: 'etcdServers',
  etcd_username: 'etcdUsername',
  etcd_password: 'etcdPassword',
  etcd_keyfile: 'etcdKeyfile',
  etcd_certfile: 'etcdCertfile',
  etcd_cafile: 'etcdCafile',
  etcd_key_prefix: 'etcdKeyPrefix',
  etcd_request_timeout: 'etcdRequestTimeout',
  engine_reconcile_interval: 'engineReconcileInterval',
  engine_lease_ttl: 'engineLeaseTtl',
  public_ip: 'publicIp',
  metadata: 'metadata',
  agent_ttl: 'agentTtl',
  units_directory: 'unitsDirectory',
  systemd_user: 'systemdUser',
  token_limit: 'tokenLimit',
  disable_engine: 'disableEngine',
  disable_watches: 'disableWatches',
  machine_lost_grace: 'machineLostGrace',
  shutdown_units: 'shutdownUnits',
  api_socket: 'apiSocket',
  api_listen: 'apiListen',
  api_token: 'apiToken',
  api_tls_certfile: 'apiTlsCertfile',
  api_tls_keyfile: 'apiTlsKeyfile',
  api_tls_cafile: 'apiTlsCafile',
  machine_id_file: 'machineIdFile',
};

export const OPTION_NAMES: readonly string[] = FLEET_OPTION_TABLE.map((o) => o.name);

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

export { parseDuration, parseMetadata };

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
    const option = fleetOption(name);
    const key = CONFIG_KEYS[name];
    if (!option) {
      warnings.push(`${where}: unknown option ${quote(name)} ignored`);
      return;
    }
    if (option.ignored !== undefined || key === undefined) {
      warnings.push(`${where}: option ${name} is ${option.ignored === 'deprecated' ? 'deprecated' : 'not supported'} and ignored`);
      return;
    }
    const parsed = parseOptionValue(option, raw);
    if (!parsed.ok) throw new ConfigError(`${where}: ${name}${parsed.sentence ? ' ' : ': '}${parsed.problem}`);
    mutable[key] = parsed.value;
    origin.set(name, where);
    for (const w of parsed.warnings) warnings.push(`${where}: ${name}: ${w}`);
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
      throw new ConfigError(`cannot read config file ${file}: ${errorMessage(err)}`);
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
const SECRET_OPTIONS: readonly string[] = FLEET_OPTION_TABLE.filter((o) => o.secret === true).map((o) => o.name);
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

/**
 * Checks across options (each value's own syntax and bounds are checked as it is read, by lib/fleet-options.ts).
 * `origin`: option name -> where its value was set (file:line, environment variable, flag), for the messages. */
function validate(c: FleetConfig, origin: ReadonlyMap<string, string> = new Map()): void {
  const at = (name: string, msg: string): ConfigError => {
    const where = origin.get(name);
    return new ConfigError(where ? `${where}: ${msg}` : msg);
  };
  if ((c.etcdCertfile === '') !== (c.etcdKeyfile === '')) {
    throw at(origin.has('etcd_certfile') ? 'etcd_certfile' : 'etcd_keyfile', 'etcd_certfile and etcd_keyfile must be given together');
  }
  if ((c.apiTlsCertfile === '') !== (c.apiTlsKeyfile === '')) {
    throw at(origin.has('api_tls_certfile') ? 'api_tls_certfile' : 'api_tls_keyfile', 'api_tls_certfile and api_tls_keyfile must be given together');
  }
  if (c.apiTlsCafile !== '' && c.apiTlsCertfile === '') {
    throw at('api_tls_cafile', 'api_tls_cafile needs api_tls_certfile and api_tls_keyfile');
  }
}
