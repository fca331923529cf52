/**
 * --from-ec2-metadata URL: the EC2 metadata service layout (API 2009-04-04, as coreos-cloudinit): user-data at
 * `2009-04-04/user-data` (404 = none), and from `2009-04-04/meta-data/`: local-ipv4, public-ipv4, hostname
 * (its first word) and the OpenSSH keys listed under public-keys/ (`N=name` lines, each key at N/openssh-key).
 */
import { MAX_METADATA_KEYS } from '../limits.js';
import { checkedMetadata, MetadataService, type SourceContext } from './common.js';
import type { Datasource, Metadata } from './types.js';

const API = '2009-04-04/';

export function ec2Metadata(root: string, ctx: SourceContext): Datasource {
  const svc = new MetadataService('ec2-metadata', root, ctx);
  return {
    type: 'ec2-metadata',
    location: svc.root.href,
    availabilityChanges: true,
    isAvailable: (signal) => svc.available('2009-04-04', signal),
    fetchUserdata: () => svc.userdata(`${API}user-data`),
    async fetchMetadata(): Promise<Metadata> {
      const md = `${API}meta-data/`;
      const keys: string[] = [];
      const list = (await svc.text(`${md}public-keys`)) ?? '';
      for (const line of list.split('\n').slice(0, MAX_METADATA_KEYS)) {
        const index = /^(\d+)=/.exec(line.trim())?.[1];
        if (index === undefined) continue;
        const key = await svc.text(`${md}public-keys/${index}/openssh-key`);
        if (key !== undefined) keys.push(key);
      }
      return checkedMetadata('ec2-metadata', ctx.warn, {
        hostname: (await svc.text(`${md}hostname`))?.split(' ')[0],
        privateIpv4: await svc.text(`${md}local-ipv4`),
        publicIpv4: await svc.text(`${md}public-ipv4`),
        sshPublicKeys: keys,
      });
    },
  };
}
