/**
 * `coreos.fleet`, `coreos.etcd2`, `coreos.etcd` (etcd 0.4), `coreos.flannel`, `coreos.locksmith` and
 * `coreos.update`: the option tables (name, type, environment variable, in coreos-cloudinit's order), the
 * rendering of the `20-cloudinit.conf` drop-in that carries them as `Environment=` lines, and of the plain
 * `VAR=value` lines of an environment file (flannel's options.env).
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

/** An option whose environment variable is not its upper-cased name with a prefix. */
const named = <K extends string>(key: K, env: string, kind: EnvKind, extra: Partial<EnvOption> = {}): EnvOption & { key: K } => ({
  ...extra,
  key,
  env,
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

const ETCD2_ONLY = 'etcd2 options no longer work for etcd';

/** `coreos.etcd`: etcd 0.4's options, written to etcd.service's drop-in as coreos-cloudinit did. */
export const ETCD_OPTIONS = [
  etcd('addr', 'string'),
  etcd('advertise_client_urls', 'string', { deprecated: ETCD2_ONLY }),
  etcd('bind_addr', 'string'),
  etcd('ca_file', 'string'),
  etcd('cert_file', 'string'),
  etcd('cluster_active_size', 'int', { min: 0 }),
  etcd('cluster_remove_delay', 'float', { min: 0 }),
  etcd('cluster_sync_interval', 'float', { min: 0 }),
  named('cors', 'ETCD_CORS', 'string'),
  etcd('data_dir', 'string', { check: absolutePath }),
  etcd('discovery', 'string', { check: urlList }),
  etcd('discovery_fallback', 'string', { deprecated: ETCD2_ONLY }),
  etcd('discovery_srv', 'string', { deprecated: ETCD2_ONLY }),
  etcd('discovery_proxy', 'string', { deprecated: ETCD2_ONLY }),
  etcd('election_timeout', 'int', { min: 0, deprecated: ETCD2_ONLY }),
  etcd('force_new_cluster', 'bool', { deprecated: ETCD2_ONLY }),
  etcd('graphite_host', 'string'),
  etcd('heartbeat_interval', 'int', { min: 0, deprecated: ETCD2_ONLY }),
  etcd('http_read_timeout', 'float', { min: 0 }),
  etcd('http_write_timeout', 'float', { min: 0 }),
  etcd('initial_advertise_peer_urls', 'string', { deprecated: ETCD2_ONLY }),
  etcd('initial_cluster', 'string', { deprecated: ETCD2_ONLY }),
  etcd('initial_cluster_state', 'string', { deprecated: ETCD2_ONLY }),
  etcd('initial_cluster_token', 'string', { deprecated: ETCD2_ONLY }),
  etcd('key_file', 'string'),
  etcd('listen_client_urls', 'string', { deprecated: ETCD2_ONLY }),
  etcd('listen_peer_urls', 'string', { deprecated: ETCD2_ONLY }),
  etcd('max_result_buffer', 'int', { min: 0 }),
  etcd('max_retry_attempts', 'int', { min: 0 }),
  etcd('max_snapshots', 'int', { min: 0, deprecated: ETCD2_ONLY }),
  etcd('max_wals', 'int', { min: 0, deprecated: ETCD2_ONLY }),
  etcd('name', 'string'),
  etcd('peer_addr', 'string'),
  etcd('peer_bind_addr', 'string'),
  etcd('peer_ca_file', 'string'),
  etcd('peer_cert_file', 'string'),
  etcd('peer_election_timeout', 'int', { min: 0 }),
  etcd('peer_heartbeat_interval', 'int', { min: 0 }),
  etcd('peer_key_file', 'string'),
  etcd('peers', 'string'),
  etcd('peers_file', 'string'),
  etcd('proxy', 'string', { deprecated: ETCD2_ONLY }),
  etcd('retry_interval', 'float', { min: 0 }),
  etcd('snapshot', 'bool'),
  named('snapshot_count', 'ETCD_SNAPSHOTCOUNT', 'int', { min: 0 }),
  named('trace', 'ETCD_TRACE', 'string'),
  etcd('verbose', 'bool'),
  etcd('very_verbose', 'bool'),
  etcd('very_very_verbose', 'bool'),
] as const;

/** The etcd client TLS files of flanneld and locksmithd, as `<daemon>_ETCD_*` variables. */
const etcdTlsFiles = (daemon: string) =>
  [
    named('etcd_cafile', `${daemon}_ETCD_CAFILE`, 'string'),
    named('etcd_certfile', `${daemon}_ETCD_CERTFILE`, 'string'),
    named('etcd_keyfile', `${daemon}_ETCD_KEYFILE`, 'string'),
  ] as const;

/** The etcd credentials of flanneld and locksmithd (the password is a secret: files carrying it are 0600). */
const etcdCredentials = (daemon: string) =>
  [named('etcd_username', `${daemon}_ETCD_USERNAME`, 'string'), named('etcd_password', `${daemon}_ETCD_PASSWORD`, 'string', { secret: true })] as const;

/** `coreos.flannel`: written as plain `VAR=value` lines to /run/flannel/options.env, which flanneld reads. */
export const FLANNEL_OPTIONS = [
  named('etcd_endpoints', 'FLANNELD_ETCD_ENDPOINTS', 'string', { check: urlList }),
  ...etcdTlsFiles('FLANNELD'),
  named('etcd_prefix', 'FLANNELD_ETCD_PREFIX', 'string'),
  ...etcdCredentials('FLANNELD'),
  named('ip_masq', 'FLANNELD_IP_MASQ', 'string'),
  named('subnet_file', 'FLANNELD_SUBNET_FILE', 'string', { check: absolutePath }),
  named('interface', 'FLANNELD_IFACE', 'string'),
  named('public_ip', 'FLANNELD_PUBLIC_IP', 'string'),
] as const;

const WINDOW_START = /^((?:sun|mon|tue|wed|thu|fri|sat) )?0*([0-9]|1[0-9]|2[0-3]):0*([0-9]|[1-5][0-9])$/i;
const WINDOW_LENGTH = /^[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+$/;

/** `coreos.locksmith`: locksmithd.service's drop-in. */
export const LOCKSMITH_OPTIONS = [
  named('endpoint', 'LOCKSMITHD_ENDPOINT', 'string', { check: urlList }),
  ...etcdTlsFiles('LOCKSMITHD'),
  ...etcdCredentials('LOCKSMITHD'),
  named('group', 'LOCKSMITHD_GROUP', 'string'),
  named('window_start', 'REBOOT_WINDOW_START', 'string', {
    check: (v) => (WINDOW_START.test(v) ? undefined : `${JSON.stringify(v)} is not a time such as "Thu 04:00" or "04:00"`),
  }),
  named('window_length', 'REBOOT_WINDOW_LENGTH', 'string', {
    check: (v) => (WINDOW_LENGTH.test(v) ? undefined : `${JSON.stringify(v)} is not a duration such as "1h30m"`),
  }),
] as const;

export const REBOOT_STRATEGIES = ['etcd-lock', 'reboot', 'off'] as const;

/** `coreos.update`: set in /etc/coreos/update.conf (its other lines kept). */
export const UPDATE_OPTIONS = [
  named('reboot_strategy', 'REBOOT_STRATEGY', 'string', { oneOf: REBOOT_STRATEGIES }),
  named('group', 'GROUP', 'string'),
  named('server', 'SERVER', 'string', { check: urlList }),
] as const;

export type FleetKey = (typeof FLEET_OPTIONS)[number]['key'];
export type Etcd2Key = (typeof ETCD2_OPTIONS)[number]['key'];
export type EtcdKey = (typeof ETCD_OPTIONS)[number]['key'];
export type FlannelKey = (typeof FLANNEL_OPTIONS)[number]['key'];
export type LocksmithKey = (typeof LOCKSMITH_OPTIONS)[number]['key'];
export type UpdateKey = (typeof UPDATE_OPTIONS)[number]['key'];

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
  const lines = environmentAssignments(options, values).map(([env, v]) => `Environment="${env}=${quoteEnvironmentValue(v)}"`);
  return lines.length === 0 ? undefined : `[Service]\n${lines.join('\n')}\n`;
}

/** `VAR=value` for each option set to a non-zero value, in table order (what an environment file carries). */
export function environmentAssignments(
  options: readonly EnvOption[],
  values: Readonly<Record<string, EnvValue | undefined>>,
): Array<[string, string]> {
  return options.filter((o) => !isZero(values[o.key])).map((o) => [o.env, String(values[o.key])]);
}
