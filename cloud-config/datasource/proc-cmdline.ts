/**
 * --from-proc-cmdline: the kernel command line (/proc/cmdline) names the user-data URL as
 * `cloud-config-url=URL` (`cloud_config_url` too; the last one wins, one without a value is skipped, as
 * coreos-cloudinit). The URL is then read like --from-url. No metadata. Tests point it at another file.
 */
import { MAX_METADATA_BYTES } from '../limits.js';
import { readBounded, type SourceContext } from './common.js';
import { urlSource } from './url.js';
import { DatasourceError, EMPTY_METADATA, type Datasource } from './types.js';

export const PROC_CMDLINE = '/proc/cmdline';

/** The value of the last `cloud-config-url=` on a kernel command line, or undefined. */
export function findCloudConfigUrl(cmdline: string): string | undefined {
  let url: string | undefined;
  for (const token of cmdline.trim().split(/\s+/)) {
    const eq = token.indexOf('=');
    const key = (eq < 0 ? token : token.slice(0, eq)).replace(/_/g, '-');
    if (key !== 'cloud-config-url' || eq < 0) continue;
    url = token.slice(eq + 1);
  }
  return url;
}

export function procCmdline(ctx: SourceContext, path = PROC_CMDLINE): Datasource {
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
