/**
 * `coreos.fleet` and `coreos.etcd2`: the option tables (name, type, environment variable, in coreos-cloudinit's
 * order) and the rendering of the `20-cloudinit.conf` drop-in that carries them as `Environment=` lines.
 * `coreos.fleet` values are checked by fleetd's own option parser (lib/fleet-options.ts) on the text the drop-in
 * will carry, so a document that validates never hands fleetd a value it refuses.
 */
import { fleetOption, parseOptionValue, type FleetOption } from '../lib/fleet-options.js';

/** A value of an option in the document: YAML gives strings, numbers and booleans. */
export type EnvValue = string | number | boolean;

export type EnvKind = 'string' | 'bool' | 'int' | 'float';

export interface EnvOption {
  readonly key: string;
  readonly env: string;
  readonly kind: EnvKind;
  /** Smallest allowed value for numbers. */
  readonly min?: number;
  /** Allowed values for strings. */
  readonly oneOf?: readonly string[];
  /** Shown as a warning when the option is used; the option is still written. */
  readonly deprecated?: string;
  /** The value is a secret: a drop-in carrying it is written 0600. */
  readonly secret?: boolean;
  /** Problem with a value, given as the text the drop-in would carry: an error message, or `{ warning }`. */
  readonly check?: (value: string) => string | { warning: string } | undefined;
}

function absolutePath(v: string): string | undefined {
  return v.startsWith('/') ? undefined : `${JSON.stringify(v)} is not an absolute path`;
}

function urlList(v: string): { warning: string } | undefined {
  const bad = v
    .split(',')
    .map((p) => p.trim().replace(/^[["\s]+|[\]"\s]+$/g, ''))
    .filter((p) => p !== '' && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(p));
  return bad.length === 0 ? undefined : { warning: `not a URL: ${bad.join(', ')}` };
}

const FLEETD_IGNORES = 'fleetd ignores it';

/** The YAML type cloud-config expects for each kind of fleet option. */
function yamlKind(o: FleetOption): EnvKind {
  if (o.kind === 'int' || o.kind === 'bool') return o.kind;
  return o.kind === 'seconds' ? 'float' : 'string';
}

/** fleetd's verdict on a value, as an error message naming no option (the path in front names it). */
function fleetdCheck(o: FleetOption): (value: string) => string | { warning: string } | undefined {
  return (value) => {
    const parsed = parseOptionValue(o, value);
    if (!parsed.ok) return parsed.problem;
    return parsed.warnings.length === 0 ? undefined : { warning: `${parsed.warnings.join('; ')} by fleetd` };
  };
}

/** An option of lib/fleet-options.ts as cloud-config takes it: kind, secret flag and checks all from there. */
const fleet = <K extends string>(key: K): EnvOption & { key: K } => {
  const o = fleetOption(key);
  if (o === undefined) throw new Error(`${key} is not in lib/fleet-options.ts`);
  return {
    key,
    env: `FLEET_${key.toUpperCase()}`,
    kind: yamlKind(o),
    ...(o.secret ? { secret: true } : {}),
    // fleetd reads no value of an ignored option, so only its YAML type is checked.
    ...(o.ignored !== undefined ? { deprecated: FLEETD_IGNORES } : { check: fleetdCheck(o) }),
  };
};

const etcd = <K extends string>(key: K, kind: EnvKind, extra: Partial<EnvOption> = {}): EnvOption & { key: K } => ({
  ...extra,
  key,
  env: `ETCD_${key.toUpperCase()}`,
  kind,
});

export const FLEET_OPTIONS = [
  fleet('agent_ttl'),
  fleet('authorized_keys_file'),
  fleet('disable_engine'),
  fleet('engine_reconcile_interval'),
  fleet('etcd_cafile'),
  fleet('etcd_certfile'),
  fleet('etcd_keyfile'),
  fleet('etcd_key_prefix'),
  fleet('etcd_request_timeout'),
  fleet('etcd_servers'),
  fleet('etcd_username'),
  fleet('etcd_password'),
  fleet('metadata'),
  fleet('public_ip'),
  fleet('token_limit'),
  fleet('verbosity'),
  fleet('verify_units'),
  fleet('disable_watches'),
  fleet('units_directory'),
] as const;

export const ETCD2_OPTIONS = [
  etcd('advertise_client_urls', 'string', { check: urlList }),
  etcd('ca_file', 'string', { deprecated: 'ca_file is obsoleted by trusted_ca_file and client_cert_auth' }),
  etcd('cert_file', 'string'),
  etcd('client_cert_auth', 'bool'),
  etcd('cors', 'string'),
  etcd('data_dir', 'string', { check: absolutePath }),
  etcd('debug', 'bool'),
  etcd('discovery', 'string', { check: urlList }),
  etcd('discovery_fallback', 'string', { oneOf: ['exit', 'proxy'] }),
  etcd('discovery_srv', 'string'),
  etcd('discovery_proxy', 'string'),
  etcd('election_timeout', 'int', { min: 0 }),
  etcd('enable_pprof', 'bool'),
  etcd('force_new_cluster', 'bool'),
  etcd('heartbeat_interval', 'int', { min: 0 }),
  etcd('initial_advertise_peer_urls', 'string', { check: urlList }),
  etcd('initial_cluster', 'string'),
  etcd('initial_cluster_state', 'string', { oneOf: ['new', 'existing'] }),
  etcd('initial_cluster_token', 'string'),
  etcd('key_file', 'string'),
  etcd('listen_client_urls', 'string', { check: urlList }),
  etcd('listen_peer_urls', 'string', { check: urlList }),
  etcd('log_package_levels', 'string'),
  etcd('max_snapshots', 'int', { min: 0 }),
  etcd('max_wals', 'int', { min: 0 }),
  etcd('name', 'string'),
  etcd('peer_ca_file', 'string', {
    deprecated: 'peer_ca_file is obsoleted by peer_trusted_ca_file and peer_client_cert_auth',
  }),
  etcd('peer_cert_file', 'string'),
  etcd('peer_key_file', 'string'),
  etcd('peer_client_cert_auth', 'bool'),
  etcd('peer_trusted_ca_file', 'string'),
  etcd('proxy', 'string', { oneOf: ['on', 'off', 'readonly'] }),
  etcd('proxy_dial_timeout', 'int', { min: 0 }),
  etcd('proxy_failure_wait', 'int', { min: 0 }),
  etcd('proxy_read_timeout', 'int', { min: 0 }),
  etcd('proxy_refresh_interval', 'int', { min: 0 }),
  etcd('proxy_write_timeout', 'int', { min: 0 }),
  etcd('snapshot_count', 'int', { min: 0 }),
  etcd('strict_reconfig_check', 'bool'),
  etcd('trusted_ca_file', 'string'),
  etcd('wal_dir', 'string', { check: absolutePath }),
] as const;

export type FleetKey = (typeof FLEET_OPTIONS)[number]['key'];
export type Etcd2Key = (typeof ETCD2_OPTIONS)[number]['key'];

export const CLOUDINIT_DROP_IN = '20-cloudinit.conf';

/** A value as systemd reads it inside `Environment="..."`: backslash, quote and `%` escaped. */
export function quoteEnvironmentValue(v: string): string {
  return v.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, '%%');
}

function isZero(v: EnvValue | undefined): boolean {
  return v === undefined || v === '' || v === 0 || v === false;
}

/**
 * The drop-in text for the given options in table order, one `Environment="VAR=value"` line per option that
 * is set to a non-zero value; undefined when nothing is set (no drop-in is written then).
 */
/** Whether any option marked secret is set (so the drop-in must not be world-readable). */
export function holdsSecret(options: readonly EnvOption[], values: Readonly<Record<string, EnvValue | undefined>>): boolean {
  return options.some((o) => o.secret === true && !isZero(values[o.key]));
}

export function renderEnvironmentDropIn(
  options: readonly EnvOption[],
  values: Readonly<Record<string, EnvValue | undefined>>,
): string | undefined {
  const lines: string[] = [];
  for (const o of options) {
    const v = values[o.key];
    if (isZero(v)) continue;
    lines.push(`Environment="${o.env}=${quoteEnvironmentValue(String(v))}"`);
  }
  return lines.length === 0 ? undefined : `[Service]\n${lines.join('\n')}\n`;
}
