/**
 * Builds the FleetClient the global flags ask for (--driver, --endpoint, TLS files, --tunnel). The CLI passes the
 * flags in (ClientSettings, a subset of fleetctl/globals.ts's GlobalOptions) and a sink for warnings, so this
 * package does not import the CLI.
 */
import type { SshSettings } from './ssh.js';
import { DEFAULT_ENDPOINT, DEFAULT_ETCD_ENDPOINTS, parseApiEndpoint, parseEtcdEndpoints, type ApiEndpoint } from './endpoint.js';
import { UsageError } from '../../lib/errors.js';
import { HttpFleetClient } from './http.js';
import type { FleetClient } from './types.js';

/** The global flags a client is built from, by their GlobalOptions names. */
export interface ClientSettings {
  driver: string;
  endpoint: string;
  experimentalApi: boolean;
  /** seconds */
  requestTimeout: number;
  etcdKeyPrefix: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  apiToken: string;
  sshUsername: string;
  tunnel: string;
  strictHostKeyChecking: boolean;
  knownHostsFile: string;
  /** seconds */
  sshTimeout: number;
  /** --debug / FLEETCTL_DEBUG: the API driver logs each request and answer to the warning sink. */
  debug: boolean;
  /** Not a flag: the quick path of the list commands sets it, for HttpClientOptions' `rawGets` (GETs over node:net). */
  rawGets?: boolean;
}

/** Where warnings go (one line each): fleetctl's stderr. */
export type Warn = (line: string) => void;

function looksLikeEtcd(endpoint: string): boolean {
  try {
    const u = new URL(endpoint.split(',')[0]!.trim());
    return u.port === '4001' || u.port === '2379';
  } catch {
    return false;
  }
}

export function sshSettings(g: ClientSettings, env: NodeJS.ProcessEnv): SshSettings {
  return {
    env,
    user: g.sshUsername,
    tunnel: g.tunnel && !g.tunnel.includes(':') ? `${g.tunnel}:22` : g.tunnel,
    strictHostKeyChecking: g.strictHostKeyChecking,
    knownHostsFile: g.knownHostsFile,
    timeout: g.sshTimeout,
  };
}

function oldVersionWarning(ours: string, theirs: string): string {
  return [
    '####################################################################',
    `WARNING: fleetctl (${ours}) is older than the latest registered`,
    `version of fleet found in the cluster (${theirs}). You are strongly`,
    'recommended to upgrade fleetctl to prevent incompatibility issues.',
    '####################################################################',
  ].join('\n');
}

/** The TLS file flags in effect (given on the command line or as FLEETCTL_*), by their names. */
function tlsFlagsGiven(g: ClientSettings): string[] {
  return [
    ...(g.caFile ? ['--ca-file'] : []),
    ...(g.certFile ? ['--cert-file'] : []),
    ...(g.keyFile ? ['--key-file'] : []),
  ];
}

/** TLS files for an endpoint without TLS are not used: one warning line, so nobody believes otherwise. */
function warnUnusedTls(g: ClientSettings, ep: ApiEndpoint, warn: Warn): void {
  if (ep.kind === 'tcp' && ep.tls) return;
  const flags = tlsFlagsGiven(g);
  if (flags.length === 0) return;
  const why = ep.kind === 'unix' ? 'is a unix socket' : 'is plain http://';
  warn(`WARNING: ${flags.join(', ')} ignored: the endpoint ${ep.display} ${why}, which does not use TLS`);
}

export async function createClient(g: ClientSettings, warn: Warn, env: NodeJS.ProcessEnv): Promise<FleetClient> {
  let driver = g.driver;
  let endpoint = g.endpoint;
  if (!g.experimentalApi) {
    driver = 'etcd';
    if (endpoint === DEFAULT_ENDPOINT) endpoint = DEFAULT_ETCD_ENDPOINTS;
  }
  if (driver === '' && looksLikeEtcd(endpoint)) driver = 'etcd';
  const ssh = sshSettings(g, env);
  const timeoutMs = g.requestTimeout * 1000;

  if (driver.toLowerCase() === 'api') {
    const debug = g.debug ? { debug: warn } : {};
    const { endpoint: ep, ignored } = parseApiEndpoint(endpoint);
    if (ignored.length > 0) warn(`WARNING: multiple endpoints provided but only the first (${ep.display}) is used`);
    warnUnusedTls(g, ep, warn);
    if (!ssh.tunnel) {
      const raw = g.rawGets === true ? { rawGets: true } : {};
      return new HttpFleetClient({ endpoint: ep, requestTimeoutMs: timeoutMs, caFile: g.caFile, certFile: g.certFile, keyFile: g.keyFile, token: g.apiToken, ...debug, ...raw });
    }
    const remote = ep.kind === 'unix' ? ep.socketPath : `${ep.url.hostname}:${ep.url.port || (ep.tls ? 443 : 80)}`;
    const { openTunnel } = await import('./tunnel.js');
    const tunnel = await openTunnel(ssh, remote);
    const local: ApiEndpoint =
      ep.kind === 'unix'
        ? { kind: 'unix', socketPath: tunnel.local, display: tunnel.local }
        : { kind: 'tcp', url: new URL(`${ep.url.protocol}//${tunnel.local}${ep.url.pathname}`), tls: ep.tls, display: tunnel.local };
    return new HttpFleetClient({
      endpoint: local,
      requestTimeoutMs: timeoutMs,
      caFile: g.caFile,
      certFile: g.certFile,
      keyFile: g.keyFile,
      token: g.apiToken,
      displayEndpoint: `${ep.display} (through --tunnel ${ssh.tunnel})`,
      requestedEndpoint: ep,
      onClose: () => tunnel.close(),
      ...debug,
    });
  }

  if (driver === 'etcd') {
    let endpoints = parseEtcdEndpoints(endpoint === DEFAULT_ENDPOINT ? DEFAULT_ETCD_ENDPOINTS : endpoint);
    let onClose: (() => Promise<void>) | undefined;
    if (ssh.tunnel) {
      const first = new URL(endpoints[0]!);
      const { openTunnel } = await import('./tunnel.js');
      const tunnel = await openTunnel(ssh, `${first.hostname}:${first.port || 2379}`);
      endpoints = [`${first.protocol}//${tunnel.local}`];
      onClose = () => tunnel.close();
    }
    const { RegistryFleetClient, compareVersions } = await import('./registry.js');
    const { VERSION } = await import('../../lib/version.js');
    const client = new RegistryFleetClient({
      endpoints,
      prefix: g.etcdKeyPrefix,
      requestTimeoutMs: timeoutMs,
      ...(g.caFile ? { caFile: g.caFile } : {}),
      ...(g.certFile ? { certFile: g.certFile } : {}),
      ...(g.keyFile ? { keyFile: g.keyFile } : {}),
      ssh,
      ...(onClose ? { onClose } : {}),
    });
    try {
      const latest = await client.latestDaemonVersion();
      if (latest && compareVersions(VERSION, latest) < 0) warn(oldVersionWarning(VERSION, latest));
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }
  throw new UsageError(`unrecognized driver ${JSON.stringify(driver)} (use --driver=API or --driver=etcd)`);
}
