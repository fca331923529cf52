/**
 * The interface every user-data source implements (coreos-cloudinit's datasources: a metadata service, a config
 * drive, the kernel command line, ...): whether it is there, its user-data (raw bytes, maybe gzip) and the
 * machine's metadata (addresses, hostname, SSH keys), plus the typed error that names the source and where.
 */
import { FleetError } from '../../lib/errors.js';

/** The machine's metadata as a source tells it; every field is optional (an empty source tells nothing). */
export interface Metadata {
  readonly publicIpv4?: string;
  readonly privateIpv4?: string;
  readonly publicIpv6?: string;
  readonly privateIpv6?: string;
  readonly hostname?: string;
  /** One OpenSSH public key a line, in the source's order. */
  readonly sshPublicKeys: readonly string[];
  /** The source's network description as given (config drive content_path, DigitalOcean's JSON); not applied. */
  readonly networkConfig?: Buffer;
}

export const EMPTY_METADATA: Metadata = { sshPublicKeys: [] };

export interface Datasource {
  /** coreos-cloudinit's type name, the flag without `--from-`: `ec2-metadata`, `configdrive`, ... */
  readonly type: string;
  /** The URL or path it reads. */
  readonly location: string;
  /** false when asking again cannot change the answer (a file, the kernel command line). */
  readonly availabilityChanges: boolean;
  /** One quick check, no retries; `signal` aborts it once another source won. */
  isAvailable(signal: AbortSignal): Promise<boolean>;
  /** The raw user-data, empty when the source has none. Throws DatasourceError. */
  fetchUserdata(): Promise<Buffer>;
  /** Throws DatasourceError. */
  fetchMetadata(): Promise<Metadata>;
}

/** Reading a source failed; the message names the source and the URL or path. */
export class DatasourceError extends FleetError {
  override readonly name = 'DatasourceError';
  constructor(
    readonly source: string,
    readonly location: string,
    readonly reason: string,
    /** whether asking again may help (a network error, a 5xx, a timeout) */
    readonly retryable = false,
  ) {
    super(`${source} (${location}): ${reason}`);
  }
}

/** Where a source reports what it skipped (a bad address, a key with a line break). */
export type Warn = (message: string) => void;

/** None of the sources given was available within the time allowed. */
export class NoDatasourceError extends FleetError {
  override readonly name = 'NoDatasourceError';
}
