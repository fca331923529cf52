/**
 * The data sources behind one interface (types.ts), built from coreos-cloudinit's flags (--from-url,
 * --from-configdrive, --from-ec2-metadata, ...; --oem presets), plus what cli.ts does with what they return:
 * user-data bytes to text (gzip inflated, bounded), and the metadata's hostname and SSH keys merged into the
 * document as coreos-cloudinit does (the document's hostname wins; the keys are added for core).
 */
import { decodeUtf8, gunzip } from '../encoding.js';
import { errorMessage } from '../../lib/errors.js';
import { MAX_DOCUMENT_BYTES } from '../limits.js';
import type { CloudConfig } from '../types.js';
import { configDrive } from './configdrive.js';
import { digitalOceanMetadata } from './digitalocean.js';
import { ec2Metadata } from './ec2.js';
import { gceMetadata } from './gce.js';
import { packetMetadata } from './packet.js';
import { procCmdline } from './proc-cmdline.js';
import { urlSource } from './url.js';
import { waagent } from './waagent.js';
import type { SourceContext } from './common.js';
import { selectDatasource, type SelectOptions } from './select.js';
import { DatasourceError, NoDatasourceError, type Datasource, type Metadata, type Warn } from './types.js';

export { DatasourceError, NoDatasourceError, EMPTY_METADATA, type Datasource, type Metadata } from './types.js';
export { DEFAULT_HTTP, type HttpOptions } from './http.js';
export { DEFAULT_SELECT, selectDatasource, type SelectOptions } from './select.js';
export type { SourceContext } from './common.js';

/** The flags naming a source, as coreos-cloudinit spells them (without --from-file, which cli.ts reads itself). */
export interface SourceFlags {
  readonly url?: string;
  readonly configdrive?: string;
  readonly ec2Metadata?: string;
  readonly gceMetadata?: string;
  readonly digitaloceanMetadata?: string;
  readonly packetMetadata?: string;
  readonly procCmdline?: boolean;
  readonly waagent?: string;
}

/** --oem NAME: the sources a platform's image used (coreos-cloudinit's presets; they override those flags). */
export const OEM_PRESETS: Readonly<Record<string, SourceFlags>> = {
  'ec2-compat': { ec2Metadata: 'http://169.254.169.254/', configdrive: '/media/configdrive' },
  'rackspace-onmetal': { configdrive: '/media/configdrive' },
  digitalocean: { digitaloceanMetadata: 'http://169.254.169.254/' },
  azure: { waagent: '/var/lib/waagent' },
  packet: { packetMetadata: 'https://metadata.packet.net/' },
};

export interface BuildOptions {
  /** where --from-proc-cmdline reads the command line (tests); default systemd's: /proc/cmdline, in a container /proc/1/cmdline */
  readonly procCmdlinePath?: string;
}

/** The sources the flags name, in coreos-cloudinit's order. Throws DatasourceError for a URL that is not http(s). */
export function buildDatasources(flags: SourceFlags, ctx: SourceContext, opts: BuildOptions = {}): Datasource[] {
  const out: Datasource[] = [];
  if (flags.configdrive) out.push(configDrive(flags.configdrive, ctx));
  if (flags.ec2Metadata) out.push(ec2Metadata(flags.ec2Metadata, ctx));
  if (flags.gceMetadata) out.push(gceMetadata(flags.gceMetadata, ctx));
  if (flags.packetMetadata) out.push(packetMetadata(flags.packetMetadata, ctx));
  if (flags.digitaloceanMetadata) out.push(digitalOceanMetadata(flags.digitaloceanMetadata, ctx));
  if (flags.waagent) out.push(waagent(flags.waagent, ctx));
  if (flags.url) out.push(urlSource(flags.url, ctx));
  if (flags.procCmdline) out.push(procCmdline(ctx, opts.procCmdlinePath));
  return out;
}

/** gzip user-data (magic 1f 8b) inflated, at most MAX_DOCUMENT_BYTES; anything else as it is. Throws
 * DecodeError or ContentTooLargeError. */
export function inflateUserdata(bytes: Buffer): Buffer {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzip(bytes, MAX_DOCUMENT_BYTES) : bytes;
}

/** A document with no settings: what is applied when only metadata is there (no or failed user-data, a script). */
export function emptyConfig(): CloudConfig {
  return { sshAuthorizedKeys: [], users: [], writeFiles: [], coreos: { units: [] } };
}

/** The metadata's hostname (unless the document sets one: a warning) and SSH keys (added) in `config`. */
export function mergeMetadata(config: CloudConfig, md: Metadata, warn: Warn): CloudConfig {
  let hostname = config.hostname;
  if (md.hostname !== undefined) {
    if (hostname !== undefined && hostname !== '') warn(`the document's hostname ${JSON.stringify(hostname)} wins over the metadata's ${JSON.stringify(md.hostname)}`);
    else hostname = md.hostname;
  }
  return {
    ...config,
    ...(hostname !== undefined ? { hostname } : {}),
    sshAuthorizedKeys: [...config.sshAuthorizedKeys, ...md.sshPublicKeys],
  };
}

export interface Fetched {
  readonly source: Datasource;
  /** The user-data as text ('' when the source has none, or when it could not be had: see `error`). */
  readonly text: string;
  /** Why the user-data could not be had (fetching, inflating or decoding it), naming the source. */
  readonly error?: string;
  readonly metadata: Metadata;
}

/**
 * Picks the first available source, then reads its user-data (inflated if gzip, decoded as UTF-8) and its
 * metadata. A user-data failure is reported in `error` (coreos-cloudinit carried on with the metadata); none
 * available throws NoDatasourceError, failing metadata throws DatasourceError.
 */
export async function fetchFromDatasources(sources: readonly Datasource[], select: SelectOptions): Promise<Fetched> {
  const source = await selectDatasource(sources, select);
  if (source === undefined) {
    const tried = sources.map((s) => `${s.type} ${s.location}`).join(', ');
    throw new NoDatasourceError(`no data source was available within ${select.timeoutMs / 1000} s (tried ${tried})`);
  }
  let text = '';
  let error: string | undefined;
  try {
    text = decodeUtf8(inflateUserdata(await source.fetchUserdata()));
  } catch (err) {
    error = err instanceof DatasourceError ? err.message : `${source.type} (${source.location}): user-data ${errorMessage(err)}`;
  }
  const metadata = await source.fetchMetadata();
  return { source, text, ...(error !== undefined ? { error } : {}), metadata };
}
