/**
 * --from-proc-cmdline: the kernel command line names the user-data URL as `cloud-config-url=URL`
 * (`cloud_config_url` too; the last one wins, one without a value is skipped, as coreos-cloudinit). The URL is
 * then read like --from-url. No metadata. Tests point it at another file.
 * Which command line: the one systemd reads. On a host that is /proc/cmdline; in a container (systemd marks one
 * with /run/systemd/container) /proc/cmdline is the host's, and systemd reads its own arguments instead
 * (/proc/1/cmdline, NUL-separated: what e.g. `systemd-nspawn --boot -- ARGS` passes), so we do too.
 */
import { existsSync } from 'node:fs';
import { MAX_METADATA_BYTES } from '../limits.js';
import { readBounded, type SourceContext } from './common.js';
import { urlSource } from './url.js';
import { DatasourceError, EMPTY_METADATA, type Datasource } from './types.js';

export const PROC_CMDLINE = '/proc/cmdline';
/** PID 1's arguments: systemd's kernel command line in a container */
export const PID1_CMDLINE = '/proc/1/cmdline';
/** written by systemd when it runs as PID 1 in a container */
export const CONTAINER_MARKER = '/run/systemd/container';

/** The file systemd takes its kernel command line from: PID1_CMDLINE in a container, else PROC_CMDLINE. */
export function commandLinePath(containerMarker = CONTAINER_MARKER): string {
  return existsSync(containerMarker) ? PID1_CMDLINE : PROC_CMDLINE;
}

/**
 * The value of the last `cloud-config-url=` on a command line, or undefined. A text with NULs is an argument
 * vector (/proc/1/cmdline: one word per argument); otherwise words are separated by white space.
 */
export function findCloudConfigUrl(cmdline: string): string | undefined {
  let url: string | undefined;
  const words = cmdline.includes('\0') ? cmdline.split('\0') : cmdline.trim().split(/\s+/);
  for (const token of words) {
    const eq = token.indexOf('=');
    const key = (eq < 0 ? token : token.slice(0, eq)).replace(/_/g, '-');
    if (key !== 'cloud-config-url' || eq < 0) continue;
    url = token.slice(eq + 1);
  }
  return url;
}

export function procCmdline(ctx: SourceContext, path = commandLinePath()): Datasource {
  const read = async (): Promise<string | undefined> => {
    const b = await readBounded('proc-cmdline', path, MAX_METADATA_BYTES);
    return b === undefined ? undefined : findCloudConfigUrl(b.toString('utf8'));
  };
  return {
    type: 'proc-cmdline',
    location: path,
    availabilityChanges: false,
    async isAvailable(): Promise<boolean> {
      try {
        return (await read()) !== undefined;
      } catch {
        return false;
      }
    },
    async fetchUserdata(): Promise<Buffer> {
      const url = await read();
      if (url === undefined) throw new DatasourceError('proc-cmdline', path, 'no cloud-config-url= on the command line');
      return urlSource(url, ctx, 'proc-cmdline').fetchUserdata();
    },
    fetchMetadata: () => Promise.resolve(EMPTY_METADATA),
  };
}
