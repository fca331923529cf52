/**
 * --from-digitalocean-metadata URL: DigitalOcean's metadata service: user-data at `metadata/v1/user-data`,
 * everything else in `metadata/v1.json`: hostname, public_keys, and the first public/private interface's
 * ipv4/ipv6 `ip_address`. The JSON is kept as the network description (not applied).
 */
import { checkedMetadata, field, parseJson, MetadataService, type SourceContext } from './common.js';
import { DatasourceError, type Datasource, type Metadata } from './types.js';

function firstInterface(doc: unknown, kind: 'public' | 'private', family: 'ipv4' | 'ipv6'): unknown {
  const list = field(field(doc, 'interfaces'), kind);
  return Array.isArray(list) ? field(field(list[0], family), 'ip_address') : undefined;
}

export function digitalOceanMetadata(root: string, ctx: SourceContext): Datasource {
  const svc = new MetadataService('digitalocean-metadata', root, ctx);
  return {
    type: 'digitalocean-metadata',
    location: svc.root.href,
    availabilityChanges: true,
    isAvailable: (signal) => svc.available('metadata/v1', signal),
    fetchUserdata: () => svc.userdata('metadata/v1/user-data'),
    async fetchMetadata(): Promise<Metadata> {
      const raw = await svc.get('metadata/v1.json');
      if (raw === undefined) return { sshPublicKeys: [] };
      const doc = parseJson('digitalocean-metadata', svc.url('metadata/v1.json').href, raw);
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
        throw new DatasourceError('digitalocean-metadata', svc.url('metadata/v1.json').href, 'not a JSON object');
      }
      const keys = field(doc, 'public_keys');
      return checkedMetadata('digitalocean-metadata', ctx.warn, {
        hostname: field(doc, 'hostname'),
        publicIpv4: firstInterface(doc, 'public', 'ipv4'),
        publicIpv6: firstInterface(doc, 'public', 'ipv6'),
        privateIpv4: firstInterface(doc, 'private', 'ipv4'),
        privateIpv6: firstInterface(doc, 'private', 'ipv6'),
        sshPublicKeys: Array.isArray(keys) ? keys : [],
        networkConfig: raw,
      });
    },
  };
}
