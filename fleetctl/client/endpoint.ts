/** --endpoint for the API driver: `unix:///path` (or `file://`), `http://host:port`, `https://host:port`. */
import { UsageError } from '../../lib/errors.js';

/** fleetd's default API socket: --endpoint's default. */
export const DEFAULT_ENDPOINT = 'unix:///var/run/fleet.sock';
/** Where the etcd driver looks when --endpoint is left at its default. */
export const DEFAULT_ETCD_ENDPOINTS = 'http://127.0.0.1:2379,http://127.0.0.1:4001';

export type ApiEndpoint =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; url: URL; tls: boolean; display: string };

export function parseApiEndpoint(raw: string): { endpoint: ApiEndpoint; ignored: string[] } {
  const all = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (all.length === 0) throw new UsageError('--endpoint is empty: give e.g. unix:///var/run/fleet.sock or http://10.0.0.1:49153');
  const first = all[0]!;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(first);
  if (!m) throw new UsageError(`--endpoint ${JSON.stringify(first)}: URL scheme undefined (e.g. unix:///var/run/fleet.sock or http://${first})`);
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'unix' || scheme === 'file') {
    const rest = first.slice(m[0].length);
    if (!rest.startsWith('//')) {
      throw new UsageError(`--endpoint ${JSON.stringify(first)}: expected ${scheme}:///path/to/socket`);
    }
    const afterSlashes = rest.slice(2);
    const slash = afterSlashes.indexOf('/');
    const host = slash === -1 ? afterSlashes : afterSlashes.slice(0, slash);
    if (host !== '') {
      throw new UsageError(
        `--endpoint ${JSON.stringify(first)}: unable to connect to host ${JSON.stringify(host)} with scheme ${JSON.stringify(scheme)} (did you mean ${scheme}:///${afterSlashes}?)`,
      );
    }
    const socketPath = decodeURIComponent(afterSlashes.slice(slash).split(/[?#]/, 1)[0]!);
    if (socketPath === '/' || socketPath === '') throw new UsageError(`--endpoint ${JSON.stringify(first)}: no socket path`);
    return { endpoint: { kind: 'unix', socketPath, display: `unix://${socketPath}` }, ignored: all.slice(1) };
  }
  if (scheme === 'http' || scheme === 'https') {
    let url: URL;
    try {
      url = new URL(first);
    } catch {
      throw new UsageError(`--endpoint ${JSON.stringify(first)} is not a valid URL`);
    }
    return { endpoint: { kind: 'tcp', url, tls: scheme === 'https', display: url.origin + url.pathname.replace(/\/$/, '') }, ignored: all.slice(1) };
  }
  throw new UsageError(`--endpoint ${JSON.stringify(first)}: unsupported scheme ${JSON.stringify(scheme)} (use unix://, http:// or https://)`);
}

/** --endpoint for the etcd driver: comma-separated etcd client URLs. */
export function parseEtcdEndpoints(raw: string): string[] {
  const all = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (all.length === 0) throw new UsageError('--endpoint is empty: give etcd URLs, e.g. http://127.0.0.1:2379');
  for (const s of all) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new UsageError(`--endpoint ${JSON.stringify(s)} is not an etcd URL (e.g. http://127.0.0.1:2379)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new UsageError(`--endpoint ${JSON.stringify(s)}: etcd endpoints use http:// or https://`);
    }
  }
  return all;
}
