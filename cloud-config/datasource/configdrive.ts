/**
 * --from-configdrive DIR: a mounted config drive (config-2). OpenStack layout: openstack/latest/user_data and
 * openstack/latest/meta_data.json (hostname, public_keys, network_config.content_path: the network data file,
 * read only when it lies inside openstack/). EC2 layout on the same drive: ec2/latest/user-data when there is
 * no OpenStack user_data, and ec2/latest/meta-data.json for the addresses (local-ipv4, public-ipv4) and, when
 * the OpenStack file lacks them, hostname and public-keys. Missing files mean "none". Files are read only as
 * regular files, bounded.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { MAX_DOCUMENT_BYTES, MAX_METADATA_BYTES } from '../limits.js';
import { checkedMetadata, field, parseJson, readBounded, type SourceContext } from './common.js';
import { DatasourceError, type Datasource, type Metadata } from './types.js';

const SOURCE = 'configdrive';

function keysOf(v: unknown): unknown[] {
  if (typeof v !== 'object' || v === null) return [];
  if (Array.isArray(v)) return v;
  // OpenStack: {"name": "ssh-rsa ..."}; EC2 JSON: {"0": {"openssh-key": "ssh-rsa ..."}}
  return Object.keys(v)
    .sort()
    .map((k) => {
      const e = (v as Record<string, unknown>)[k];
      return typeof e === 'string' ? e : field(e, 'openssh-key');
    });
}

export function configDrive(root: string, ctx: SourceContext): Datasource {
  const dir = resolve(root);
  const openstack = join(dir, 'openstack');
  const file = (rel: string, max: number): Promise<Buffer | undefined> => readBounded(SOURCE, join(dir, rel), max);
  const json = async (rel: string): Promise<unknown> => {
    const b = await file(rel, MAX_METADATA_BYTES);
    return b === undefined || b.length === 0 ? undefined : parseJson(SOURCE, join(dir, rel), b);
  };
  return {
    type: SOURCE,
    location: dir,
    availabilityChanges: true,
    async isAvailable(): Promise<boolean> {
      try {
        return (await stat(dir)).isDirectory();
      } catch {
        return false;
      }
    },
    async fetchUserdata(): Promise<Buffer> {
      return (await file('openstack/latest/user_data', MAX_DOCUMENT_BYTES)) ?? (await file('ec2/latest/user-data', MAX_DOCUMENT_BYTES)) ?? Buffer.alloc(0);
    },
    async fetchMetadata(): Promise<Metadata> {
      const os = await json('openstack/latest/meta_data.json');
      const ec2 = await json('ec2/latest/meta-data.json');
      let networkConfig: Buffer | undefined;
      const contentPath = field(field(os, 'network_config'), 'content_path');
      if (typeof contentPath === 'string' && contentPath !== '') {
        const target = join(openstack, contentPath);
        const rel = relative(openstack, target);
        if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
          throw new DatasourceError(SOURCE, join(dir, 'openstack/latest/meta_data.json'), `network_config.content_path ${JSON.stringify(contentPath)} leaves the drive's openstack directory`);
        }
        networkConfig = await readBounded(SOURCE, target, MAX_METADATA_BYTES);
      }
      const osKeys = keysOf(field(os, 'public_keys'));
      return checkedMetadata(SOURCE, ctx.warn, {
        hostname: field(os, 'hostname') ?? field(ec2, 'hostname'),
        privateIpv4: field(ec2, 'local-ipv4'),
        publicIpv4: field(ec2, 'public-ipv4'),
        sshPublicKeys: osKeys.length > 0 ? osKeys : keysOf(field(ec2, 'public-keys')),
        ...(networkConfig !== undefined ? { networkConfig } : {}),
      });
    },
  };
}
