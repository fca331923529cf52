/**
 * --from-packet-metadata URL: Packet's metadata service: user-data at `userdata`, JSON at `metadata`:
 * hostname, ssh_keys, and network.addresses[] (address_family 4/6, public true/false, address): the first
 * public and private IPv4 and the first public and private IPv6 address. The JSON's network part is kept as
 * the network description (not applied).
 */
import { checkedMetadata, field, MetadataService, type SourceContext } from './common.js';
import { DatasourceError, type Datasource, type Metadata } from './types.js';

export function packetMetadata(root: string, ctx: SourceContext): Datasource {
  const svc = new MetadataService('packet-metadata', root, ctx);
  return {
    type: 'packet-metadata',
    location: svc.root.href,
    availabilityChanges: true,
    isAvailable: (signal) => svc.available('', signal),
    fetchUserdata: () => svc.userdata('userdata'),
    async fetchMetadata(): Promise<Metadata> {
      const doc = await svc.json('metadata');
      if (doc === undefined) return { sshPublicKeys: [] };
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
        throw new DatasourceError('packet-metadata', svc.url('metadata').href, 'not a JSON object');
      }
      const found: { publicIpv4?: unknown; privateIpv4?: unknown; publicIpv6?: unknown; privateIpv6?: unknown } = {};
      const addresses = field(field(doc, 'network'), 'addresses');
      for (const a of Array.isArray(addresses) ? addresses : []) {
        const family = field(a, 'address_family');
        const pub = field(a, 'public') === true;
        const name = family === 4 ? (pub ? 'publicIpv4' : 'privateIpv4') : family === 6 ? (pub ? 'publicIpv6' : 'privateIpv6') : undefined;
        if (name !== undefined && found[name] === undefined) found[name] = field(a, 'address');
      }
      const keys = field(doc, 'ssh_keys');
      const network = field(doc, 'network');
      return checkedMetadata('packet-metadata', ctx.warn, {
        ...found,
        hostname: field(doc, 'hostname'),
        sshPublicKeys: Array.isArray(keys) ? keys : [],
        ...(network !== undefined ? { networkConfig: Buffer.from(JSON.stringify(network)) } : {}),
      });
    },
  };
}
