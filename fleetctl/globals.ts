/** fleetctl's global flags (docs/fleet-compat.md#fleetctl), settable as FLEETCTL_<FLAG> when not given on the command line. */
import { checkNumber, SECONDS_RANGE, type FlagSpec } from './command.js';
import { UsageError } from '../lib/errors.js';
import { DEFAULT_ENDPOINT } from './client/endpoint.js';

export const CLI_DESCRIPTION = 'fleetctl is a command-line interface to fleet, the cluster-wide CoreOS init system.';

export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  help: { type: 'boolean', default: false, alias: 'h', describe: 'Print usage information and exit' },
  debug: { type: 'boolean', default: false, describe: 'Print out more debug information to stderr' },
  version: { type: 'boolean', default: false, describe: 'Print the version and exit' },
  driver: { type: 'string', default: 'API', describe: 'Adapter used to execute fleetctl commands. Options include "API" and "etcd".' },
  endpoint: {
    type: 'string',
    default: DEFAULT_ENDPOINT,
    describe: 'Location of the fleet API if --driver=API (unix://, http://, https://). Alternatively, if --driver=etcd, location of the etcd API (comma-separated).',
  },
  'etcd-key-prefix': { type: 'string', default: '/_coreos.com/fleet/', describe: 'Keyspace for fleet data in etcd (development use only!)' },
  'key-file': { type: 'string', default: '', describe: 'Location of TLS key file used to secure communication with the fleet API or etcd' },
  'cert-file': { type: 'string', default: '', describe: 'Location of TLS cert file used to secure communication with the fleet API or etcd' },
  'ca-file': { type: 'string', default: '', describe: 'Location of TLS CA file used to secure communication with the fleet API or etcd' },
  'api-token': { type: 'string', default: '', describe: 'Bearer token of a TCP fleet API that requires one (fleetd api_token)' },
  'known-hosts-file': {
    type: 'string',
    default: '~/.fleetctl/known_hosts',
    describe: 'File used to store remote machine fingerprints. Ignored if strict host key checking is disabled.',
  },
  'strict-host-key-checking': {
    type: 'boolean',
    default: true,
    describe: 'Verify host keys presented by remote machines before initiating SSH connections.',
  },
  'ssh-timeout': { type: 'number', default: 10, range: SECONDS_RANGE, describe: 'Amount of time in seconds to allow for SSH connection initialization before failing.' },
  tunnel: { type: 'string', default: '', describe: 'Establish an SSH tunnel through the provided address for communication with fleet and etcd.' },
  'request-timeout': { type: 'number', default: 3, range: SECONDS_RANGE, describe: 'Amount of time in seconds to allow a single request before considering it failed.' },
  'ssh-username': { type: 'string', default: 'core', describe: 'Username to use when connecting to CoreOS instance.' },
  'experimental-api': { type: 'boolean', default: true, describe: 'DEPRECATED: do not use this flag.', hidden: true },
  'etcd-keyfile': { type: 'string', default: '', describe: 'DEPRECATED: do not use this flag.', hidden: true },
  'etcd-certfile': { type: 'string', default: '', describe: 'DEPRECATED: do not use this flag.', hidden: true },
  'etcd-cafile': { type: 'string', default: '', describe: 'DEPRECATED: do not use this flag.', hidden: true },
};

/** Go's strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

export function envName(flag: string): string {
  return `FLEETCTL_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Defaults of the global flags with FLEETCTL_* applied (an empty variable counts as unset, like fleet). */
export function globalDefaults(env: NodeJS.ProcessEnv): Record<string, boolean | string | number> {
  const out: Record<string, boolean | string | number> = {};
  for (const [name, spec] of Object.entries(GLOBAL_FLAGS)) {
    const raw = env[envName(name)];
    if (raw === undefined || raw === '' || name === 'help' || name === 'version') {
      out[name] = spec.default as boolean | string | number;
      continue;
    }
    if (spec.type === 'boolean') {
      const b = parseGoBool(raw);
      if (b === undefined) throw new UsageError(`${envName(name)}=${JSON.stringify(raw)} is not a boolean (true or false)`);
      out[name] = b;
    } else if (spec.type === 'number') {
      const n = checkNumber(raw, spec.range);
      if (typeof n !== 'number') {
        throw new UsageError(`${envName(name)}=${JSON.stringify(raw)} ${n.problem === 'nan' ? 'is not a number' : n.problem}`);
      }
      out[name] = n;
    } else {
      out[name] = raw;
    }
  }
  return out;
}

export interface GlobalOptions {
  debug: boolean;
  driver: string;
  endpoint: string;
  endpointGiven: boolean;
  etcdKeyPrefix: string;
  keyFile: string;
  certFile: string;
  caFile: string;
  apiToken: string;
  knownHostsFile: string;
  strictHostKeyChecking: boolean;
  sshTimeout: number;
  tunnel: string;
  requestTimeout: number;
  sshUsername: string;
  experimentalApi: boolean;
}

/** GlobalOptions from parsed global flag values (by flag name; defaults included). */
export function globalOptions(v: Readonly<Record<string, unknown>>): GlobalOptions {
  const str = (k: string): string => (typeof v[k] === 'string' ? (v[k] as string) : '');
  const num = (k: string): number => (typeof v[k] === 'number' ? (v[k] as number) : Number(GLOBAL_FLAGS[k]!.default));
  return {
    debug: v.debug === true,
    driver: str('driver'),
    endpoint: str('endpoint'),
    endpointGiven: false,
    etcdKeyPrefix: str('etcd-key-prefix'),
    keyFile: str('key-file') || str('etcd-keyfile'),
    certFile: str('cert-file') || str('etcd-certfile'),
    caFile: str('ca-file') || str('etcd-cafile'),
    apiToken: str('api-token'),
    knownHostsFile: str('known-hosts-file'),
    strictHostKeyChecking: v['strict-host-key-checking'] !== false,
    sshTimeout: num('ssh-timeout'),
    tunnel: str('tunnel'),
    requestTimeout: num('request-timeout'),
    sshUsername: str('ssh-username'),
    experimentalApi: v['experimental-api'] !== false,
  };
}
